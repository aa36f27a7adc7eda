// Package tickets is the domain of a ticket-resale service: the Ticket type,
// exact Money, input validation, the error model, the Store contract and the
// use cases that change tickets.
//
// It imports no infrastructure. Adapters live in their own packages:
// mongostore implements Store on MongoDB, events maps the Changes reported
// here to the cluster's wire payloads, and natsclient carries them.
//
// # Changes and the outbox
//
// Every use case that changes a ticket bumps its version and reports a
// Change: the ticket as it is after the change. A Store records the
// Change's event in its outbox in the same atomic write as the ticket, so a
// saved ticket can never lose its event; an outbox.Relay publishes it.
// Stores (memstore, mongostore) keep a ticket and its events in one
// document and need no multi-document transactions.
//
// # Errors
//
// Every error this package and its Stores return for a domain reason is an
// *Error with a Code (ticketkit.EINVALID, ticketkit.ENOTFOUND, ticketkit.ECONFLICT, ticketkit.EPRECONDITION, ticketkit.ENOTOWNER)
// and a message fit for the end user. Check them with errors.Is against the
// sentinels (ErrNotFound, ticketkit.ErrConflict, ...) or read them with ticketkit.ErrorCode and
// ErrorMessage; anything else is an internal error.
package tickets
