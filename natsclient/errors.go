package natsclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"
)

// Sentinels for errors.Is. Errors returned by this package wrap one of them
// where one applies, and keep their cause (a context error, a nats or stan
// error) wrapped too, so errors.Is finds either.
var (
	// ErrInvalidConfig is wrapped by every error about a bad Config.
	ErrInvalidConfig = errors.New("natsclient: invalid config")

	// ErrDisconnected means the call needed the server and the connection
	// did not come back before the caller's context (or Config.PublishWait)
	// ended. The message was not acknowledged; retrying later is safe, at
	// the price of a possible duplicate.
	ErrDisconnected = errors.New("natsclient: disconnected")

	// ErrClosed is returned by calls on a Client (or Subscription) that has
	// been closed, including calls that were waiting when Close began.
	ErrClosed = errors.New("natsclient: closed")

	// ErrClientIDRegistered means the server still has a live connection
	// under the same client id: another instance of the service, or a crashed
	// one whose registration has not expired yet. Connect keeps retrying it
	// until the id frees or ctx ends.
	ErrClientIDRegistered = errors.New("natsclient: client ID already registered")

	// ErrInvalidSubject is wrapped by errors about subjects NATS Streaming
	// refuses as channel names (empty, wildcards, empty tokens, '/').
	ErrInvalidSubject = errors.New("natsclient: invalid subject")
)

// errLinkDown stands for the acks a dropped connection will never bring;
// the messages are sent again once it is back.
var errLinkDown = errors.New("natsclient: connection lost before the ack")

// disconnected is the error of a call that waited for the connection in
// vain: ErrDisconnected, why the wait ended, and the last failure seen.
func disconnected(op string, waitErr, last error) error {
	if last == nil {
		return fmt.Errorf("natsclient: %s: %w: %w", op, ErrDisconnected, waitErr)
	}
	return fmt.Errorf("natsclient: %s: %w: %w (last error: %w)", op, ErrDisconnected, waitErr, last)
}

// stan reports server-side refusals as plain errors.New(text), so the few
// that matter are recognised by their text.
const (
	textClientIDRegistered = "clientID already registered"
	textInvalidPubRequest  = "stan: invalid publish request" // unknown client or connection, given a valid subject
	textUnknownClient      = "stan: unknown clientID"
)

func isClientIDRegistered(err error) bool {
	return err != nil && strings.Contains(err.Error(), textClientIDRegistered)
}

// sessionInvalid reports an answer meaning the server no longer knows this
// connection (it restarted without its store, or expired us during a long
// partition): only a new connection helps.
func sessionInvalid(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return s == textInvalidPubRequest || s == textUnknownClient
}

// retryable reports errors that a new or restored connection can cure.
func retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errLinkDown),
		errors.Is(err, stan.ErrTimeout),
		errors.Is(err, stan.ErrConnectionClosed),
		errors.Is(err, stan.ErrBadConnection),
		errors.Is(err, stan.ErrMaxPings),
		errors.Is(err, stan.ErrConnectReqTimeout),
		errors.Is(err, stan.ErrSubReqTimeout),
		errors.Is(err, stan.ErrCloseReqTimeout),
		errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrNoServers):
		return true
	}
	return sessionInvalid(err)
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

// checkSubject applies the server's channel name rules here, so that the
// server's "invalid publish request" can only mean an unknown connection.
func checkSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	}
	if subject[0] == '.' || subject[len(subject)-1] == '.' || strings.Contains(subject, "..") ||
		strings.ContainsAny(subject, "*>/ \t\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	return nil
}
