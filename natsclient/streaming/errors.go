package streaming

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// ErrClientIDRegistered means the server still has a live connection
// under the same client id: another instance of the service, or a crashed
// one whose registration has not expired yet. Connect keeps retrying it
// until the id frees or ctx ends. Every other error wraps natsclient's
// sentinels (natsclient.ErrDisconnected, ...).
var ErrClientIDRegistered = errors.New("streaming: client ID already registered")

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
	case natsconn.ConnRetryable(err),
		errors.Is(err, stan.ErrTimeout),
		errors.Is(err, stan.ErrConnectionClosed),
		errors.Is(err, stan.ErrBadConnection),
		errors.Is(err, stan.ErrMaxPings),
		errors.Is(err, stan.ErrConnectReqTimeout),
		errors.Is(err, stan.ErrSubReqTimeout),
		errors.Is(err, stan.ErrCloseReqTimeout):
		return true
	}
	return sessionInvalid(err)
}

// checkSubject applies the server's channel name rules here, so that the
// server's "invalid publish request" can only mean an unknown connection:
// natsconn's, and no '/', since a channel is a directory of the server's
// file store (JetStream has no such rule).
func checkSubject(subject string) error {
	if err := natsconn.CheckSubject(subject); err != nil {
		return err
	}
	if strings.Contains(subject, "/") {
		return fmt.Errorf("%w: %q", natsclient.ErrInvalidSubject, subject)
	}
	return nil
}
