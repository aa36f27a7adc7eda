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
// and after WarnOutOfOrderAfter deliveries it is logged at Warn. A
// predecessor that never comes (lost before the consumer's durable
// existed, or dead-lettered by hand) needs a resync: apply the
// aggregate's current state from its owner (or replay its subject into
// a fresh durable with DeliverAll), after which the early event is a
// Duplicate and is acknowledged. On NATS Streaming, early events wait in
// the subscription's MaxInFlight window until then, so keep MaxInFlight
// well above the number of aggregates that can be waiting at once.
//
// The outbox that publishes a store's committed events is package outbox;
// MessageID gives each event a stable id that deduplicating brokers use.
package events
