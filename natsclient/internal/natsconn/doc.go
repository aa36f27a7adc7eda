// Package natsconn is what the two NATS transports share: natsclient (NATS
// Streaming, on stan.go) and natsclient/jsclient (JetStream). Both keep a
// nats.go connection up by themselves and behave alike around it, so that
// logic lives here once:
//
//   - State and the sentinel errors, which natsclient re-exports and
//     jsclient re-exports from natsclient, so that users see one of each;
//   - Settings, the connection fields both Configs have, their validation
//     and defaults, and their nats.Options;
//   - Conn, the connection's state (Status, OnStateChange), waiting for it
//     within a context or PublishWait, the publish loop around a driver's
//     send, and the bookkeeping of Close;
//   - Gate and Once, a subscription's one-at-a-time deliveries and its
//     Close.
//
// What differs for a reason stays in the drivers: how a connection is made
// and replaced (a stan session the client replaces, against a nats.go
// connection that never gives up), what is worth retrying, publishing and
// consuming.
package natsconn
