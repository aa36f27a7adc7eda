// Package wire is the cluster's contract on the wire: the subjects
// ("ticket:created" and the five others), the six payloads with the
// checks a consumer runs on them, the JetStream stream every service
// provisions (StreamName capturing Subjects), and the mappings from a
// domain's committed changes to its events (FromTicketChange, FromOrder).
//
// The payloads are exactly those of the cluster's Node services: field
// order as the Node code writes it, money as a JSON number of currency
// units, times as JavaScript's toISOString writes them, an unset orderId
// left out. The golden files in testdata pin the bytes Go writes, and the
// Node samples there are decoded by the tests.
//
// It is a package of its own, apart from the typed pub/sub of package
// events, so that events, the transports and the outbox know no
// application; it sits above the domains (it maps their changes) and
// below the adapters and services that publish and consume.
package wire
