package events

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is matched (errors.Is) by a Transport's errors that say
// the broker can't take a message now but will later: the connection is
// down, or the stream has no leader. Retrying is right; giving up is not.
// A Listener never gives up on republishing a dead letter for it: it keeps
// the message unacknowledged, on the broker, until the republish succeeds.
var ErrUnavailable = errors.New("events: the broker can't take the message now")

// Transport is the driver interface: what a message broker must offer for
// the typed Publisher and Listener to run on it. It moves bytes only; JSON,
// panic recovery, dead letters, logging and metrics live once in this
// package, not in each driver. Implementations: memtransport (in memory),
// natsclient/streaming (NATS Streaming) and natsclient/jsclient (JetStream).
// eventstest.Run is the conformance suite every implementation passes.
type Transport interface {
	// Publish sends one message and returns nil only once the server has
	// acknowledged (stored) it.
	Publish(ctx context.Context, msg Outgoing) error

	// PublishBatch sends msgs in order, possibly pipelined, and returns once
	// each has been acknowledged or has failed: errs[i] is msgs[i]'s fate.
	// A message a driver had to send again (its ack was lost with the
	// connection) may be stored after later ones of the same batch;
	// versioned consumers don't mind (see CompareVersion).
	PublishBatch(ctx context.Context, msgs []Outgoing) (errs []error)

	// Subscribe starts delivering messages on subject to deliver, one call
	// at a time, until the Subscription is closed. opts has been validated
	// and defaulted by the Listener.
	Subscribe(ctx context.Context, subject string, opts SubscribeOptions, deliver func(Message)) (Subscription, error)

	// Close releases the transport. Durable subscriptions survive it.
	Close(ctx context.Context) error
}

// Outgoing is a message to publish.
type Outgoing struct {
	Subject string
	Data    []byte
	// ID identifies the message for brokers that deduplicate (JetStream's
	// Nats-Msg-Id). A re-publish of the same event carries the same ID.
	// NATS Streaming does not deduplicate, so there consumers see the
	// duplicates of at-least-once delivery and skip them by version. Empty
	// means the publisher has none; a deduplicating driver then makes one
	// for its own resends.
	ID string
	// Header travels beside Data on transports that carry headers
	// (CarriesHeaders); the others drop it.
	Header Header
}

// SubscribeOptions are the subscription settings a Transport honours.
type SubscribeOptions struct {
	// QueueGroup shares the messages among the group's members: each
	// message goes to one of them.
	QueueGroup string
	// Durable names the subscription whose position the server remembers
	// across closes and restarts.
	Durable string
	// DeliverAll starts a new durable at the first stored message instead
	// of the next new one. An existing durable resumes where it was.
	DeliverAll bool
	// ManualAck leaves acknowledgement to Message.Ack. When false, the
	// transport acknowledges each message as it delivers it.
	ManualAck bool
	// AckWait is how long the server waits for an ack before redelivering.
	AckWait time.Duration
	// MaxInFlight bounds the messages delivered but not yet acknowledged.
	MaxInFlight int
}

// Message is a delivered message, as a Transport hands it to a Listener.
type Message interface {
	Data() []byte
	Metadata() Metadata
	// Ack tells the server the message is done with.
	Ack() error
	// Nack asks for redelivery as soon as the server allows. Transports that
	// have no such call do nothing: the ack wait brings it back.
	Nack() error
	// Term tells the server never to redeliver the message. Transports that
	// have no such call acknowledge it.
	Term() error
}

// Metadata describes one delivery of a message.
type Metadata struct {
	Subject string
	// Sequence is the message's position in its subject (or stream).
	Sequence uint64
	// Redelivered is true when this is not the first delivery.
	Redelivered bool
	// DeliveryCount counts deliveries including this one; 0 when the
	// transport can't tell.
	DeliveryCount int
	// Timestamp is when the server stored the message.
	Timestamp time.Time
	// Header is the message's headers; nil on a transport that carries
	// none (CarriesHeaders).
	Header Header
}

// Subscription is a Transport's live subscription.
type Subscription interface {
	// Close stops deliveries without forgetting a durable's position, so a
	// later Subscribe with the same durable name resumes where this left off.
	Close(ctx context.Context) error
}
