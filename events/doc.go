// Package events is typed publish and subscribe over any broker, in the
// manner of gocloud.dev/pubsub. It knows no application: an Event is any
// payload type that names its Subject (and may Validate itself), and the
// cluster's own subjects and payloads are package wire's. Publisher and
// Listener are generic over the payload type, so one publisher and one
// listener serve every event, and the subject always comes from the type.
//
// Brokers plug in underneath through the small Transport interface, in the
// manner of gocloud.dev/pubsub: encoding, panic recovery, dead letters,
// logging and metrics hooks live once here; drivers only move bytes.
// memtransport is the in-memory driver, natsclient/streaming the NATS
// Streaming one and natsclient/jsclient the JetStream one; eventstest holds the
// conformance suite that every driver passes, and a Recorder for asserting
// what a service published.
//
// # Delivery
//
// Delivery is at least once. A handler that returns nil gets its message
// acknowledged; an error or a panic leaves it unacknowledged, so the broker
// delivers it again after the ack wait. A message that can't be decoded
// would fail forever, so it is acknowledged and handed to a dead-letter
// hook instead (logged by default, or republished with DeadLetterSubject).
//
// # Ordering
//
// A broker redelivers, and a queue group's members run in parallel, so a
// consumer can see version 3 of a ticket before version 2. Versioned
// payloads carry the aggregate's version; a replica applies an event only
// when it is the next version (CompareVersion), acknowledges duplicates,
// and returns ErrOutOfOrder for early ones, which leaves them to come back.
//
// Such a refusal is not a failure: it is never counted against
// MaxDeliveries (dead-lettering one version would leave every later one
// of the aggregate waiting for it), the Handled hook sees it as Deferred,
// and after WarnOutOfOrderAfter deliveries it is logged at Warn. The
// Listener handles a refused event again only after a backoff (the ack
// wait, doubling, at most four ack waits): deliveries before then go back
// to the broker without a handler call, so events waiting for
// predecessors far back in a backlog don't take the database from the
// events that bring those.
//
// The wait is bounded: an event still early on its
// MaxOutOfOrderDeliveries-th delivery (120 by default, about ten minutes
// at a 5 second ack wait) is parked: dead-lettered with an error wrapping
// ErrGap, whose text (the dead-letter header's reason) says "gap", logged
// at Warn and counted as Parked. Its predecessor never came: it was lost
// before the consumer's durable existed, dead-lettered, or is further
// back in a backlog than the bound allows. The resync: bring the
// aggregate up to date (apply its current state from its owner, or
// replay its subject into a fresh durable with DeliverAll), then
// republish the parked events from the dead-letter subject to their
// source subject (on JetStream the header HeaderDeadSubject names it);
// each is then applied, or acknowledged as a Duplicate. Later versions
// of the aggregate are parked in turn until then, and come back the same
// way. On NATS Streaming, early events wait in the subscription's
// MaxInFlight window meanwhile, so keep MaxInFlight well above the
// number of aggregates that can be waiting at once.
//
// # Catching up
//
// A consumer that joins with a backlog gets MaxInFlight messages at once
// and handles them one by one; when that takes longer than the ack wait,
// the broker delivers again what is still queued in the process. A
// Listener acknowledges a redelivery of a message it has acknowledged
// without calling the handler (the Handled hook sees Redundant), so such
// copies cost no database round trip: before, they outnumbered new
// messages and the consumer stopped advancing for minutes (ticketkit
// issue 20). A consumer that makes no progress while messages wait (none
// acknowledged or dead-lettered for StallAfter, while its handler fails,
// hangs or refuses early events) is reported by Listener.Stalled, which
// package service turns into a readiness check, and logged at Warn.
//
// The outbox that publishes a store's committed events is package outbox;
// MessageID gives each event a stable id that deduplicating brokers use.
package events
