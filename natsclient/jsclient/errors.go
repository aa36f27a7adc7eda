package jsclient

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// ErrNoStream means no stream captures the subject, so the server would
// neither store a publish nor hold a consumer for it. It is not retried:
// provision a stream whose Subjects match (Config.Streams). Every other
// error wraps natsclient's sentinels (natsclient.ErrDisconnected, ...),
// alike on both transports.
var (
	// ErrNoStream means no stream captures the subject, so the server
	// would neither store a publish nor hold a consumer for it. It is not
	// retried: provision a stream whose Subjects match (Config.Streams).
	ErrNoStream = errors.New("jsclient: no stream captures the subject")

	// ErrStreamUnavailable means the connection is up but the stream (or
	// the JetStream API) did not answer in time: it has no leader, because
	// the nodes holding its replicas are down or electing one, or the
	// cluster has no quorum. It is retried like a lost connection.
	ErrStreamUnavailable error = streamUnavailable("jsclient: the stream did not answer (no leader: its nodes are down or electing, or no quorum)")
)

// noStreamError is the error for a subject no stream captures.
func noStreamError(op, subject string) error {
	return fmt.Errorf("jsclient: %s %s: %w (add it to a stream's Subjects, see Config.Streams)", op, subject, ErrNoStream)
}

// retryable reports errors that waiting, a restored connection or a
// JetStream that finished starting (or electing a leader) can cure.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if natsconn.ConnRetryable(err) || errors.Is(err, ErrStreamUnavailable) ||
		errors.Is(err, nats.ErrStaleConnection) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrServerShutdown) {
		return true
	}
	// 503: JetStream restoring, no quorum, leader election, no
	// resources. Other API errors (a 500 refusing a stream update, 400s)
	// are answers, not outages.
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true
	}
	return false
}

// checkSubject refuses what can't be one channel: natsclient's rules but
// its '/', which only NATS Streaming's file store minds.
var checkSubject = natsconn.CheckSubject

// streamUnavailable is an error that is also an events.ErrUnavailable.
type streamUnavailable string

func (e streamUnavailable) Error() string { return string(e) }

// Is reports events.ErrUnavailable.
func (e streamUnavailable) Is(target error) bool { return target == events.ErrUnavailable }
