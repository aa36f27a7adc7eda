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
//	             Store and Outbox contracts, the use cases, an in-memory
//	             Store, and its conformance suite (tickets/storetest)
//	events       the cluster's wire contract, a typed Publisher and
//	             Listener over a small Transport driver interface, the
//	             outbox Relay, an in-memory transport (events/memtransport)
//	             and the transport conformance suite (events/eventstest)
//	natsclient   the NATS Streaming transport: reconnects, resubscribes,
//	             drains, and returns errors instead of exiting; its
//	             subpackage jsclient is the JetStream transport
//	mongostore   the Store on MongoDB: optimistic concurrency, the
//	             transactional outbox in one document write, and a
//	             version-ordered replica for consuming services
//	session      the signed-in user of a request, as the cluster's auth
//	             service issues it (the express:sess cookie or a Bearer
//	             HS256 token)
//	examples     a drop-in tickets service, a replica consumer and a
//	             minimal publisher/listener pair
//
// tickets imports no infrastructure; events imports tickets; the adapters
// import both; session imports no other ticketkit package; nothing imports
// the examples.
//
// Delivery is at least once and nothing is lost: a use case's change and
// its event are committed in one write (the outbox), the relay publishes
// until the broker acknowledges, listeners acknowledge only what their
// handler finished, and events that can never be handled are dead-lettered
// instead of redelivered forever.
package ticketkit
