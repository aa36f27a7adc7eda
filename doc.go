// Package ticketkit is the overview of a Go toolkit for the services of a
// ticket-resale cluster: services that each own a MongoDB and talk to each
// other only through JSON events on NATS Streaming. With it a team writes
// such a service in Go and drops it into a cluster of Node services,
// which don't notice the difference.
//
// The module is laid out as a domain package and one adapter per
// dependency, with imports pointing one way:
//
//	tickets      the domain: Ticket, exact Money, validation, errors, the
//	             Store contract, the use cases, and the Store conformance
//	             suite (tickets/storetest)
//	events       the cluster's wire contract, a typed Publisher and
//	             Listener over a small Transport driver interface, an
//	             in-memory transport (events/memtransport) and the
//	             transport conformance suite (events/eventstest)
//	outbox       the transactional outbox: entries, the Relay, the Driver
//	             interface of a store, its conformance suite (outboxtest)
//	memstore     the in-memory store: a versioned Collection, its outbox
//	             Driver, the tickets Store
//	natsclient   what the two NATS transports share (the connection
//	             Config, State, errors); its subpackages streaming (NATS
//	             Streaming) and jsclient (JetStream) are the transports,
//	             which reconnect, resubscribe, drain, and return errors
//	             instead of exiting
//	mongostore   MongoDB: the outbox Driver, a versioned Collection for
//	             any document type, the tickets Store, and a
//	             version-ordered replica for consuming services
//	session      the signed-in user of a request, as the cluster's auth
//	             service issues it (the express:sess cookie or a Bearer
//	             HS256 token)
//	examples     a drop-in tickets service, a replica consumer and a
//	             minimal publisher/listener pair
//
// tickets imports no infrastructure; events imports tickets; outbox
// imports events; the adapters import them; session imports no other
// ticketkit package; nothing imports the examples.
//
// Delivery is at least once and nothing is lost: a use case's change and
// its event are committed in one write (the outbox), the relay publishes
// until the broker acknowledges, listeners acknowledge only what their
// handler finished, and events that can never be handled are dead-lettered
// instead of redelivered forever.
package ticketkit
