package natsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/ticketkit/ticketkit/natsclient"
)

// The sentinels both transports wrap; natsclient documents them.
var (
	ErrInvalidConfig  = natsclient.ErrInvalidConfig
	ErrDisconnected   = natsclient.ErrDisconnected
	ErrClosed         = natsclient.ErrClosed
	ErrInvalidSubject = natsclient.ErrInvalidSubject
)

// ErrLinkDown stands for the acks a dropped connection will never bring;
// the messages are sent again once it is back.
var ErrLinkDown = errors.New("connection lost before the ack")

// ConnRetryable reports the nats.go errors, and ErrLinkDown, that a
// restored connection cures. Each driver adds its own (stan's, JetStream's).
func ConnRetryable(err error) bool {
	return err != nil && (errors.Is(err, ErrLinkDown) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrNoServers))
}

// PermanentConnectError reports failures of a first Connect that retrying
// cannot fix, so a misconfigured service fails fast instead of waiting out
// its context.
func PermanentConnectError(err error) bool {
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

// CheckSubject refuses what can't be one channel on either transport:
// empty, wildcards, empty tokens, whitespace. ':' is allowed, as in the
// cluster's "ticket:created".
func CheckSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	}
	if subject[0] == '.' || subject[len(subject)-1] == '.' || strings.Contains(subject, "..") ||
		strings.ContainsAny(subject, "*> \t\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	return nil
}
