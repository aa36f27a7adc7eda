// Package streaming is the NATS Streaming driver for events: a Client
// implements events.Transport on stan.go, and keeps its connection up by
// itself so that services built on it need no reconnection code. Its
// connection settings are a natsclient.Config, the same as JetStream's
// (jsclient), and its errors wrap natsclient's sentinels.
//
// # What it adds to stan.go
//
// stan.go connects once. When its connection is lost for good it calls a
// handler and is done; the application must connect again, subscribe
// again, and decide what its publishers do meanwhile. A service that
// exits instead (a fatal log call in the handler, a common pattern) loses its
// in-flight work and relies on its orchestrator to bring it back. Client
// does that work instead:
//
//   - Connect validates its Config, then retries with jittered exponential
//     backoff until the server answers or its context ends, and returns
//     errors: it never exits, logs fatally or panics, whatever the server
//     does.
//   - The connection is recovered in the background and every subscription
//     re-created on it (see Recovery). Status and Config.OnStateChange tell
//     how it stands.
//   - Publish waits for a lost connection within the caller's context and
//     sends again a message whose ack the connection took with it, so a nil
//     error always means the server stored the message.
//   - PublishBatch pipelines with a bounded number of unacknowledged
//     messages, for the outbox relay.
//   - Close is graceful and bounded (see Closing).
//
// # Recovery
//
// Two layers recover, in this order. First nats.go: when the TCP
// connection drops, as when the server restarts, it reconnects with the
// client's backoff and subscribes its inboxes again. A NATS Streaming
// server with a persistent store still knows the client and its
// subscriptions after a restart, so the stan connection simply carries on;
// the client goes Reconnecting and back to Connected, and the server
// redelivers what was unacknowledged after its ack wait. Connected waits
// until the streaming server answers a probe (a ping for a connection
// that doesn't exist), because a restarting server accepts NATS
// connections before it can store messages, and a message published in
// that gap would only be sent again after the whole AckTimeout.
//
// Second, when stan gives the connection up (PingMaxOut pings unanswered
// PingInterval apart, or the server no longer knows the client: a memory
// store, or a partition long enough for the server to expire it), the
// client connects again with the same client id, with backoff, for as long
// as it takes, and subscribes every open Subscription again with its
// options and its callback. A durable queue subscription resumes where the
// group was. The server's answer "invalid publish request" or "unknown
// clientID" to a call means it has forgotten the connection (a restart on
// an empty store): the client does not wait for stan's pings to notice,
// it replaces the session at once and the call is retried on the new one. A "client ID already registered" answer, which means the
// server still sees a live connection with our id, is retried the same way
// and logged at Info/Warn: it clears once that connection goes (the server
// replaces a registration whose owner stopped answering within half a
// second).
//
// While the connection is down, Publish, PublishBatch and Subscribe wait
// for it, bounded by their context, or by Config.PublishWait when the
// context has no deadline, and then fail with an error wrapping
// ErrDisconnected and the context's error. Nothing is dropped silently and
// nothing blocks for ever.
//
// Delivery is at least once: a message whose ack was lost is published
// again, and a message delivered but not acknowledged comes back after the
// ack wait. Consumers tolerate duplicates (see events, Ordering).
//
// # Closing
//
// Close stops delivering (messages arriving meanwhile stay unacknowledged
// and are redelivered, to another member of the queue group or after a
// restart), waits within its context for running callbacks and for
// publishes awaiting acks, closes subscriptions without unsubscribing, so
// durables survive the restart of the service, and closes the connection,
// which frees the client id at once. It stops the reconnect loop and
// leaves no goroutine behind.
package streaming
