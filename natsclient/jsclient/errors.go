package jsclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinels for errors.Is. Errors returned by this package wrap one of them
// where one applies, and keep their cause (a context error, a nats or
// jetstream error) wrapped too, so errors.Is finds either.
var (
	// ErrInvalidConfig is wrapped by every error about a bad Config or
	// Stream.
	ErrInvalidConfig = errors.New("jsclient: invalid config")

	// ErrDisconnected means the call needed the server and the connection
	// (or JetStream) did not come back before the caller's context (or
	// Config.PublishWait) ended. A publish that fails with it was not
	// acknowledged; retrying with the same Outgoing.ID is safe: the stream
	// drops the copy within its duplicate window.
	ErrDisconnected = errors.New("jsclient: disconnected")

	// ErrClosed is returned by calls on a Client (or Subscription) that has
	// been closed, including calls that were waiting when Close began.
	ErrClosed = errors.New("jsclient: closed")

	// ErrNoStream means no stream captures the subject, so the server
	// would neither store a publish nor hold a consumer for it. It is not
	// retried: provision a stream whose Subjects match (Config.Streams).
	ErrNoStream = errors.New("jsclient: no stream captures the subject")

	// ErrInvalidSubject is wrapped by errors about subjects that can't be
	// published or consumed as one channel (empty, wildcards, empty
	// tokens, whitespace).
	ErrInvalidSubject = errors.New("jsclient: invalid subject")
)

// errLinkDown stands for the acks a dropped connection will never bring;
// the messages are sent again once it is back.
var errLinkDown = errors.New("jsclient: connection lost before the ack")

// disconnected is the error of a call that waited for the connection in
// vain: ErrDisconnected, why the wait ended, and the last failure seen.
func disconnected(op string, waitErr, last error) error {
	if last == nil {
		return fmt.Errorf("jsclient: %s: %w: %w", op, ErrDisconnected, waitErr)
	}
	return fmt.Errorf("jsclient: %s: %w: %w (last error: %w)", op, ErrDisconnected, waitErr, last)
}

// noStream is the error for a subject no stream captures.
func noStreamError(op, subject string) error {
	return fmt.Errorf("jsclient: %s %s: %w (add it to a stream's Subjects, see Config.Streams)", op, subject, ErrNoStream)
}

// retryable reports errors that waiting, a restored connection or a
// JetStream that finished starting (or electing a leader) can cure.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errLinkDown) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrNoServers) ||
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

// permanentConnectError reports failures of a first Connect that retrying
// cannot fix, so a misconfigured service fails fast instead of waiting out
// its context.
func permanentConnectError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return errors.As(err, &certErr) ||
		errors.Is(err, nats.ErrAuthorization) ||
		errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.Is(err, nats.ErrNkeysNotSupported) ||
		errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted)
}

// checkSubject refuses what can't be one channel: the same rules as
// natsclient, so a subject that works on one transport works on the other.
// ':' is allowed, as in the cluster's "ticket:created".
func checkSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	}
	if subject[0] == '.' || subject[len(subject)-1] == '.' || strings.Contains(subject, "..") ||
		strings.ContainsAny(subject, "*> \t\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	return nil
}
