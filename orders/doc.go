// Package orders is the orders service's domain: an Order for one ticket,
// its statuses, and the use cases of the cluster's orders service, over
// two small interfaces, Store (the orders, each write with its event) and
// Tickets (the service's copy of the tickets service's tickets). It
// imports no infrastructure; memstore and mongostore implement both.
//
// # Reserving a ticket
//
// The Node orders service checks that no live order holds a ticket and
// then inserts its order, so two simultaneous orders for one ticket can
// both succeed. Here an order first claims the ticket on the ticket copy,
// a conditional write from the claim it read (Tickets.Hold), and only the
// winner inserts its order: of concurrent orders, exactly one is created,
// the others are refused with ERESERVED.
//
// A claim is live while its order reserves the ticket (Status.Reserves).
// A claim whose order does not exist is a creation that is still running
// or that failed after claiming; it is honoured for HoldGrace after the
// order id's time, then overwritten. A create with an idempotency key
// marks its claim with the key, so that its retry takes over the claim of
// an earlier attempt whose order was never stored, instead of being
// refused for HoldGrace.
//
// # Events without a version
//
// expiration:complete and payment:created carry no version, so a
// redelivery can't be told from the first delivery by its payload. The
// use cases make them idempotent by the order's status instead: an order
// that is already cancelled or complete is not changed again and publishes
// nothing (Change.Changed is false).
package orders
