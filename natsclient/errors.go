package natsclient

import (
	"errors"

	"github.com/ticketkit/ticketkit/events"
)

// Sentinels for errors.Is. Both transports wrap one of them where one
// applies, and keep their cause (a context error, a nats or stan error)
// wrapped too, so errors.Is finds either. Their texts carry no package
// name: an error that wraps one starts with the name of the package that
// returned it ("jsclient: publish: disconnected: ...").
var (
	// ErrInvalidConfig is wrapped by every error about a bad Config (or, in
	// jsclient, a bad Stream).
	ErrInvalidConfig = errors.New("invalid config")

	// ErrDisconnected means the call needed the server and the connection
	// did not come back before the caller's context (or Config.PublishWait)
	// ended. The message was not acknowledged; retrying later is safe, at
	// the price of a possible duplicate (none on JetStream within its
	// duplicate window, with the same Outgoing.ID).
	ErrDisconnected error = unavailable("disconnected")

	// ErrClosed is returned by calls on a client (or subscription) that has
	// been closed, including calls that were waiting when Close began.
	ErrClosed = errors.New("closed")

	// ErrInvalidSubject is wrapped by errors about subjects that can't be
	// one channel (empty, wildcards, empty tokens, whitespace, and on NATS
	// Streaming '/').
	ErrInvalidSubject = errors.New("invalid subject")
)

// unavailable is an error that is also an events.ErrUnavailable, so the
// typed layer knows to wait it out.
type unavailable string

func (e unavailable) Error() string { return string(e) }

// Is reports events.ErrUnavailable.
func (e unavailable) Is(target error) bool { return target == events.ErrUnavailable }
