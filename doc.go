// Package ticketkit is the root of a Go toolkit for the services of a
// ticket-resale cluster: services that each own a MongoDB and talk to each
// other only through JSON events on NATS Streaming or JetStream. With it a
// team writes such a service in Go and drops it into a cluster of Node
// services, which don't notice the difference.
//
// This package holds what every other package shares, as WTF Dial keeps
// wtf.Error at its root: the error model (Error, its codes, field errors
// and the generic sentinels, in words that name no domain), the cluster's
// ids (NewID, ValidID, CanonicalID: 24-hex ObjectIDs, because the Node
// services cast them), and exact Money.
//
// The module is laid out as domains, a wire contract and one adapter per
// dependency, with imports pointing one way:
//
//	ticketkit     errors, ids, Money (this package)
//	idempotency   what makes a create safe to retry: the key a request
//	              carries, stored with what it created
//	tickets       the tickets domain: Ticket, validation, the Store
//	              contract, the use cases (tickets/storetest: its suite)
//	orders        the orders domain: Order, the Store and Tickets
//	              contracts, the use cases
//	payments      the payments domain: Payment, the copy of an order,
//	              the Charger port, Pay that charges an order once
//	              (stripecharger: Stripe; memcharger: in memory;
//	              paymentstest: the Charger suite; paymentstore)
//	wire          the cluster's subjects and payloads, and the mappings
//	              from the domains' changes to them
//	events        typed pub/sub over a small Transport driver interface,
//	              knowing no application (memtransport: in memory;
//	              eventstest: the transport conformance suite)
//	outbox        the transactional outbox and its relay, delayed
//	              entries included (outboxtest)
//	memstore      storage in memory
//	mongostore    storage on MongoDB (driver v2)
//	natsclient    the NATS transports: streaming (NATS Streaming) and
//	              jsclient (JetStream), which reconnect, resubscribe,
//	              drain, and return errors instead of exiting
//	httpapi       the cluster's HTTP conventions: error bodies, bounded
//	              JSON input, RequireUser, request limits and logs
//	session       the signed-in user, as the cluster's auth service
//	              issues it (the express:sess cookie or a Bearer token),
//	              and issuing and clearing that cookie
//	password      the Node auth service's scrypt password hashes
//	service       a service's life: configuration from the cluster's
//	              environment, backends, relay, listeners, probes,
//	              ordered shutdown, Main (service/servicetest: the harness
//	              a service's own tests use)
//	testenv       how integration tests find, start, kill and freeze the
//	              servers, and lose their answers (StartProxy)
//	examples      the drop-in services (tickets, orders, payments,
//	              expiration, auth), the whole back end in one command
//	              (cluster), the purchase across them, a replica consumer
//	              and a minimal publisher/listener pair
//	deploy        one Dockerfile for every service and the cluster's
//	              Kubernetes manifests, checked against what each reads
//
// The domains import only this package; wire imports the domains; events,
// the transports, outbox, httpapi and session import no domain (make
// check enforces it); the adapters and service import what they adapt;
// nothing imports the examples.
//
// Delivery is at least once and nothing is lost: a use case's change and
// its event are committed in one write (the outbox), the relay publishes
// until the broker acknowledges, listeners acknowledge only what their
// handler finished, and events that can never be handled are dead-lettered
// instead of redelivered forever.
package ticketkit
