package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Relay defaults.
const (
	DefaultBatchSize   = 256
	DefaultMaxAttempts = 10
)

// RelayOption configures a Relay. It is its own type, so an option of
// another constructor doesn't compile here.
type RelayOption func(*relayConfig) error

type relayConfig struct {
	logger       *slog.Logger
	batchSize    int
	minBackoff   time.Duration
	maxBackoff   time.Duration
	maxAttempts  int
	beatEvery    time.Duration
	onDeadLetter func(context.Context, Entry, error)
}

func newRelayConfig(q *Queue, opts []RelayOption) (relayConfig, error) {
	c := relayConfig{
		logger:      slog.New(slog.DiscardHandler),
		batchSize:   DefaultBatchSize,
		minBackoff:  50 * time.Millisecond,
		maxBackoff:  5 * time.Second,
		maxAttempts: DefaultMaxAttempts,
		beatEvery:   q.TTL() / 10,
	}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("outbox: nil RelayOption")
		}
		if err := o(&c); err != nil {
			return c, fmt.Errorf("outbox: %w", err)
		}
	}
	if c.beatEvery >= q.TTL()/2 {
		return c, fmt.Errorf("outbox: beat interval %v must be under half the writer TTL %v", c.beatEvery, q.TTL())
	}
	return c, nil
}

// WithLogger sends the Relay's logs to l; by default they are discarded.
// It logs takeovers and recoveries at Info, a failing broker or store at
// Warn (once per outage), and dead letters at Error.
func WithLogger(l *slog.Logger) RelayOption {
	return func(c *relayConfig) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// BatchSize bounds the entries one round publishes as a batch
// (DefaultBatchSize).
func BatchSize(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 {
			return fmt.Errorf("batch size %d is below 1", n)
		}
		c.batchSize = n
		return nil
	}
}

// Backoff bounds the jittered exponential wait before an entry whose
// publish failed is tried again (50ms to 5s by default).
func Backoff(min, max time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if min <= 0 || max < min {
			return fmt.Errorf("backoff bounds %v..%v", min, max)
		}
		c.minBackoff, c.maxBackoff = min, max
		return nil
	}
}

// MaxAttempts dead-letters an entry after n failed publishes that count
// against it: those of a round in which another entry was published (so
// the broker works), and those with a permanent error
// (events.IsPermanent). An outage of the broker counts against nothing.
func MaxAttempts(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 {
			return fmt.Errorf("max attempts %d is below 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// BeatInterval sets how often the Relay renews its writer's lease and
// looks for dead writers (a tenth of the writer TTL by default).
func BeatInterval(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d <= 0 {
			return fmt.Errorf("beat interval %v is not positive", d)
		}
		c.beatEvery = d
		return nil
	}
}

// OnDeadLetter is called with every entry the Relay gives up on, after
// the store recorded it (Driver.DeadLetter), for alerts and metrics.
func OnDeadLetter(hook func(ctx context.Context, e Entry, cause error)) RelayOption {
	return func(c *relayConfig) error {
		if hook == nil {
			return errors.New("nil dead-letter hook")
		}
		c.onDeadLetter = hook
		return nil
	}
}
