// Package jsclient is the JetStream driver for events, the supported
// successor of NATS Streaming (natsclient/streaming): a Client implements
// events.Transport on github.com/nats-io/nats.go/jetstream, so a service
// moves from one to the other by changing the transport it builds, not its
// publishers and listeners. It keeps its connection up by itself, like
// natsclient, with the same connection fields in its Config, and the same
// Status and Close. Its natsclient.State and its sentinel errors (but ErrNoStream)
// are natsclient's, so errors.Is(err, natsclient.ErrDisconnected) holds
// whichever transport a service runs on.
//
// # Streams
//
// JetStream stores only what a stream captures. Config.Streams are created,
// or updated in place to match, by Connect (and Client.Provision):
// idempotent, so every instance of every service can provision at startup.
// The package knows no application's subjects: the cluster's stream is
// wire.StreamName capturing wire.Subjects() ("ticket:created" and the
// others: ':' is legal in a NATS subject), which the service package
// provisions. Tests publishing under "conformance.>" list those instead:
//
//	cfg.Streams = []jsclient.Stream{{Name: "CONFORMANCE", Subjects: []string{"conformance.>"}}}
//
// or, from the environment, NATS_STREAM and NATS_STREAM_SUBJECTS (see
// FromEnv). A publish or subscribe on a subject no stream captures fails at
// once with ErrNoStream: the server would never acknowledge it.
//
// # Consumers
//
// Subscribe makes one durable pull consumer per (subject, durable name),
// named ConsumerName: the Listener's queue group is its durable name, so
// the group's members share the consumer and each message goes to one of
// them, and the group keeps its position across restarts of the service
// and of the server. Acks are explicit. AckWait comes from the
// subscription; MaxInFlight becomes the consumer's MaxAckPending (for the
// whole group, where NATS Streaming counted per member). A new durable
// starts at the stream's first message with DeliverAll, else at the next
// new one; an existing durable keeps its start. Nack is a nak delayed by
// Config.Consumer.NakDelays, so a failing message returns soon without
// spinning; Term tells the server never to redeliver (the Listener's dead
// letters).
//
// The nak delays are the client's, the ack wait each subscription's, and
// they don't mix: a failed (nacked) message comes back after its nak
// delay, whatever the ack wait; the ack wait brings back only messages
// neither acked nor nacked. On NATS Streaming, which has no nak, a failed
// message comes back after the ack wait, so a Listener's MaxDeliveries
// spans less time here with the default delays. A service that wants NATS
// Streaming's timing sets NakDelays to its ack wait (one per client: see
// ConsumerSettings.NakDelays). Metadata carries the stream sequence, the delivery count
// (NumDelivered) and the stored time. A consumer deleted behind the
// client's back is created again.
//
// # Publishing and deduplication
//
// Publish sends Outgoing.ID as Nats-Msg-Id. The outbox relay's IDs are
// stable across its retries and crashes (events.MessageID), so the stream
// stores each event once as long as the copies arrive within its duplicate
// window (Stream.Duplicates, 2 minutes by default). PublishBatch pipelines
// asynchronous publishes, at most Config.MaxPubAcksInFlight unacknowledged
// at once. Both wait for a lost connection within their context and send
// again what lost its ack: with the same ID, so a resend is never stored
// twice within the window.
//
// # Recovery
//
// nats.go reconnects for ever (MaxReconnects(-1), the client's jittered
// backoff, through auth errors); the client goes natsclient.Reconnecting and back to
// natsclient.Connected (Status, Config.OnStateChange). Pull consumers ask again as
// soon as the connection is back; a server that restarted with its file
// store still has the streams, the durables and their positions, and
// redelivers what was unacknowledged after the ack wait. Nothing in the
// application is involved. While the connection is down, Publish,
// PublishBatch and Subscribe wait for it, bounded by their context (or
// Config.PublishWait when it has no deadline), then fail with an error
// wrapping natsclient.ErrDisconnected.
//
// # Closing
//
// Close stops delivering, waits within its context for running callbacks
// and for publishes awaiting acks, stops the consumers without deleting
// them (durables survive), flushes pending acks and closes the connection,
// leaving no goroutine behind. It is idempotent and safe to call
// concurrently. Messages pulled ahead and not yet handled come back after
// the ack wait, as with NATS Streaming.
//
// # Migrating
//
// Bridge copies the cluster's subjects from NATS Streaming to JetStream,
// deduplicated and in order, so services can move one at a time.
// docs/migration.md is the procedure.
package jsclient
