package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ListenerOption configures a Listener (Listen), PublisherOption a
// Publisher (NewPublisher). Each constructor takes only its own kind, so a
// misplaced option doesn't compile; Option, which WithHooks returns, is
// both. Users can't implement them: every option is made here.
type (
	ListenerOption  interface{ listenerOption() option }
	PublisherOption interface{ publisherOption() option }
)

// Option configures both a Publisher and a Listener.
type Option struct{ o option }

func (o Option) listenerOption() option  { return o.o }
func (o Option) publisherOption() option { return o.o }

type option struct {
	name  string
	apply func(*config) error
}

type listenerOnly struct{ o option }

func (o listenerOnly) listenerOption() option { return o.o }

// ErrInvalidOption is wrapped by every error about a bad option.
var ErrInvalidOption = errors.New("events: invalid option")

// The defaults are the cluster's: its Node listeners use a 5 second ack
// wait, manual ack and stan's default of 1024 messages in flight.
const (
	DefaultAckWait     = 5 * time.Second
	DefaultMaxInFlight = 1024
)

type config struct {
	logger         *slog.Logger
	hooks          Hooks
	durable        string
	deliverAll     bool
	manualAck      bool
	ackWait        time.Duration
	maxInFlight    int
	concurrency    int
	maxDeliveries  int
	deadLetter     func(context.Context, DeadLetter) error
	deadSubject    string
	warnOutOfOrder int
	maxOutOfOrder  int
	stallAfter     time.Duration
}

func newConfig(opts []option) (config, error) {
	c := config{
		logger:         discardLogger,
		manualAck:      true,
		ackWait:        DefaultAckWait,
		maxInFlight:    DefaultMaxInFlight,
		concurrency:    1,
		warnOutOfOrder: DefaultWarnOutOfOrderAfter,
		maxOutOfOrder:  DefaultMaxOutOfOrderDeliveries,
		stallAfter:     DefaultStallAfter,
	}
	for _, o := range opts {
		if o.apply == nil {
			return c, fmt.Errorf("%w: nil or zero option", ErrInvalidOption)
		}
		if err := o.apply(&c); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrInvalidOption, o.name, err)
		}
	}
	return c, nil
}

var discardLogger = slog.New(slog.DiscardHandler)

// listenerOptions and publisherOptions unwrap the options; nil ones
// become zero options, which newConfig rejects.
func listenerOptions(opts []ListenerOption) []option {
	out := make([]option, len(opts))
	for i, o := range opts {
		if o != nil {
			out[i] = o.listenerOption()
		}
	}
	return out
}

func publisherOptions(opts []PublisherOption) []option {
	out := make([]option, len(opts))
	for i, o := range opts {
		if o != nil {
			out[i] = o.publisherOption()
		}
	}
	return out
}

func listenerOption(name string, apply func(*config) error) ListenerOption {
	return listenerOnly{option{name: name, apply: apply}}
}

// WithLogger sends the Listener's logs to l. The default discards them. (A
// Publisher logs nothing: its errors are returned.)
func WithLogger(l *slog.Logger) ListenerOption {
	return listenerOption("WithLogger", func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	})
}

// WithHooks reports publishes and handled messages to h, for metrics: a
// Publisher calls h.Published, a Listener h.Handled.
func WithHooks(h Hooks) Option {
	return Option{option{name: "WithHooks", apply: func(c *config) error { c.hooks = h; return nil }}}
}

// Durable sets the durable name. It defaults to the queue group, as the
// cluster's Node listeners do.
func Durable(name string) ListenerOption {
	return listenerOption("Durable", func(c *config) error {
		if name == "" {
			return errors.New("empty durable name")
		}
		c.durable = name
		return nil
	})
}

// DeliverAll makes a new durable start with the oldest stored message
// rather than the next new one. The cluster's listeners all set it.
func DeliverAll() ListenerOption {
	return listenerOption("DeliverAll", func(c *config) error { c.deliverAll = true; return nil })
}

// ManualAck chooses whether the Listener acknowledges after the handler
// (true, the default: at least once) or the transport acknowledges on
// delivery (false: at most once, a failed handler loses the message).
func ManualAck(manual bool) ListenerOption {
	return listenerOption("ManualAck", func(c *config) error { c.manualAck = manual; return nil })
}

// AckWait sets how long the broker waits for an ack before redelivering.
// NATS Streaming refuses less than a second.
func AckWait(d time.Duration) ListenerOption {
	return listenerOption("AckWait", func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("ack wait %v is under one second", d)
		}
		c.ackWait = d
		return nil
	})
}

// MaxInFlight bounds the messages delivered to the listener and not yet
// acknowledged.
func MaxInFlight(n int) ListenerOption {
	return listenerOption("MaxInFlight", func(c *config) error {
		if n < 1 {
			return fmt.Errorf("max in flight %d is below 1", n)
		}
		c.maxInFlight = n
		return nil
	})
}

// Concurrency runs up to n handlers at once. The default, 1, keeps a
// subject's order for a single subscriber; above 1 handlers must not rely
// on order (versioned consumers don't).
func Concurrency(n int) ListenerOption {
	return listenerOption("Concurrency", func(c *config) error {
		if n < 1 {
			return fmt.Errorf("concurrency %d is below 1", n)
		}
		c.concurrency = n
		return nil
	})
}

// MaxDeliveries dead-letters a message whose handler has failed on its
// n-th delivery, instead of retrying it forever. It applies to every error,
// an outage of the handler's database included; to give up on one kind of
// failure only, return Permanent from the handler (it sees DeliveryCount).
// It needs a transport that counts deliveries (Metadata.DeliveryCount); the
// default, 0, never gives up.
func MaxDeliveries(n int) ListenerOption {
	return listenerOption("MaxDeliveries", func(c *config) error {
		if n < 1 {
			return fmt.Errorf("max deliveries %d is below 1", n)
		}
		c.maxDeliveries = n
		return nil
	})
}

// DefaultWarnOutOfOrderAfter is WarnOutOfOrderAfter's default.
const DefaultWarnOutOfOrderAfter = 10

// WarnOutOfOrderAfter logs at Warn, instead of Debug, each further
// delivery of a message its handler keeps refusing with ErrOutOfOrder
// after n of them: its predecessor may never come (see the package
// documentation, Ordering, for how a consumer resyncs). The Handled hook
// sees every such delivery as Deferred.
func WarnOutOfOrderAfter(n int) ListenerOption {
	return listenerOption("WarnOutOfOrderAfter", func(c *config) error {
		if n < 1 {
			return fmt.Errorf("warn after %d is below 1", n)
		}
		c.warnOutOfOrder = n
		return nil
	})
}

// DefaultMaxOutOfOrderDeliveries is MaxOutOfOrderDeliveries' default: at
// the cluster's 5 second ack wait (and, on JetStream, a nak delay of the
// ack wait, as package service sets), about ten minutes of waiting.
const DefaultMaxOutOfOrderDeliveries = 120

// MaxOutOfOrderDeliveries bounds how long an event waits for its
// predecessor: one its handler still refuses as early (ErrOutOfOrder) on
// its n-th delivery is parked, that is dead-lettered with an error
// wrapping ErrGap (its reason on the dead-letter subject says "gap"),
// logged at Warn and reported to the Handled hook and the metrics as
// Parked. The time that gives is about n ack waits (deliveries come one
// ack wait apart; on JetStream, one nak delay). Size it above the time a
// consumer joining with a backlog takes to reach the predecessors it
// needs. See the package documentation, Ordering, for the resync. It
// needs a transport that counts deliveries; on others the Listener counts
// its own.
func MaxOutOfOrderDeliveries(n int) ListenerOption {
	return listenerOption("MaxOutOfOrderDeliveries", func(c *config) error {
		if n < 1 {
			return fmt.Errorf("max out-of-order deliveries %d is below 1", n)
		}
		c.maxOutOfOrder = n
		return nil
	})
}

// DefaultStallAfter is StallAfter's default.
const DefaultStallAfter = 2 * time.Minute

// StallAfter sets how long a Listener may make no progress while messages
// wait before Listener.Stalled says so (and it logs a Warn once).
func StallAfter(d time.Duration) ListenerOption {
	return listenerOption("StallAfter", func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("stall after %v is not positive", d)
		}
		c.stallAfter = d
		return nil
	})
}

// OnDeadLetter replaces the dead-letter hook, which by default logs the
// message. If the hook returns an error the message is not acknowledged,
// so it comes back and the hook runs again.
func OnDeadLetter(hook func(ctx context.Context, dl DeadLetter) error) ListenerOption {
	return listenerOption("OnDeadLetter", func(c *config) error {
		if hook == nil {
			return errors.New("nil hook")
		}
		c.deadLetter = hook
		return nil
	})
}

// DeadLetterSubject republishes dead letters, bytes unchanged, to subject
// on the listener's transport (and logs them), so they can be inspected and
// replayed.
func DeadLetterSubject(subject string) ListenerOption {
	return listenerOption("DeadLetterSubject", func(c *config) error {
		if subject == "" {
			return errors.New("empty subject")
		}
		c.deadSubject = subject
		return nil
	})
}
