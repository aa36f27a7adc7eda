// Package service starts and stops a ticketkit service the way the
// cluster runs them, so a service's own code is its stores, handlers and
// routes:
//
//   - configuration from the cluster's environment variables (FromEnv):
//     MongoDB with NATS Streaming or JetStream, or everything in memory
//     when neither is set;
//   - the backends (Open, Memory): the database, this process's outbox
//     writer on it, and the broker connection;
//   - the outbox relay, and listeners with the cluster's queue group, ack
//     wait and a dead-letter subject per source subject (Listen);
//   - HTTP with /healthz, /readyz (a ping of the database and of the
//     broker within ReadyTimeout, outbox lag, stalled listeners, load
//     shedding, shutdown), a deadline per request, load shedding and
//     idempotent POSTs (Handler);
//   - shutdown in dependency order within one deadline (Serve, Shutdown):
//     HTTP, then listeners, then the outbox flush, then the relay, then
//     the broker, then the database.
//
// Run does all of it. examples/tickets-service and
// examples/orders-service are built on it.
package service
