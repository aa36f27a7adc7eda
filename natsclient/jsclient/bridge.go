package jsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
)

// BridgeConfig configures a Bridge. Every field has a default.
type BridgeConfig struct {
	// Subjects are the channels to bridge (the cluster's: wire.Subjects()). Required.
	Subjects []string
	// Durable names the bridge's durable queue subscription on the NATS
	// Streaming side (one per subject). A new one starts at the oldest
	// stored message, so JetStream receives the channels' history too.
	// Default: "jetstream-bridge".
	Durable string
	// AckWait is the NATS Streaming ack wait of the bridge's subscriptions:
	// how soon a message comes back if the bridge dies holding it.
	// Default: 30s.
	AckWait time.Duration
	// MaxInFlight bounds the messages NATS Streaming hands the bridge ahead
	// of JetStream's acks, per subject. Default: 256.
	MaxInFlight int
	// Logger receives the bridge's events. Default: the JetStream
	// client's.
	Logger *slog.Logger
}

// DefaultBridgeDurable is BridgeConfig.Durable's default.
const DefaultBridgeDurable = "jetstream-bridge"

// Bridge copies the cluster's messages from NATS Streaming to JetStream,
// so that a cluster can move one service at a time: consumers moved to
// JetStream still see what services left on NATS Streaming publish.
//
// Each message is published unchanged (subject and bytes) with the
// Nats-Msg-Id BridgeMsgID(subject, its NATS Streaming sequence), and
// acknowledged on NATS Streaming only once JetStream acknowledged it. A
// message the bridge published but did not get to acknowledge (it crashed,
// or was stopped) comes back and is published again with the same ID: the
// stream drops it if that happens within its duplicate window.
//
// Order per subject is kept: a subject's messages are forwarded one at a
// time, in NATS Streaming's order, and a message JetStream refuses is
// retried, never skipped (the bridge stalls and logs instead). Run one
// Bridge per cluster: two would share the subjects' messages between them
// (a queue group) and publish them concurrently, out of order.
type Bridge struct {
	from events.Transport
	to   *Client
	cfg  BridgeConfig
	log  *slog.Logger

	// ctx is cancelled when Close gives up waiting: publishes in progress
	// are abandoned (their messages come back on NATS Streaming).
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	subs     []events.Subscription

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}

	// afterPublish, for tests, runs between JetStream's ack and NATS
	// Streaming's; false leaves the message unacknowledged, as a crash
	// there would.
	afterPublish func(subject string, seq uint64) bool
}

// BridgeMsgID is the Nats-Msg-Id of the message the bridge copies from
// NATS Streaming's subject at sequence seq: deterministic, so a copy made
// again is recognised.
func BridgeMsgID(subject string, seq uint64) string {
	return "stan:" + subject + ":" + strconv.FormatUint(seq, 10)
}

// StartBridge subscribes to cfg.Subjects on from (a natsclient.Client) and
// starts copying their messages to to. Stop it with Close.
func StartBridge(ctx context.Context, from events.Transport, to *Client, cfg BridgeConfig) (*Bridge, error) {
	return startBridge(ctx, from, to, cfg, nil)
}

func startBridge(ctx context.Context, from events.Transport, to *Client, cfg BridgeConfig, afterPublish func(string, uint64) bool) (*Bridge, error) {
	if from == nil || to == nil {
		return nil, errors.New("jsclient: bridge: nil transport")
	}
	if len(cfg.Subjects) == 0 {
		return nil, errors.New("jsclient: bridge: no subjects to bridge")
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultBridgeDurable
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = to.conn.Logger
	}
	switch {
	case len(cfg.Subjects) == 0:
		return nil, fmt.Errorf("jsclient: %w: bridge: no subjects", natsclient.ErrInvalidConfig)
	case cfg.AckWait < time.Second:
		return nil, fmt.Errorf("jsclient: %w: bridge: AckWait %v is under a second", natsclient.ErrInvalidConfig, cfg.AckWait)
	case cfg.MaxInFlight < 1:
		return nil, fmt.Errorf("jsclient: %w: bridge: MaxInFlight %d is below 1", natsclient.ErrInvalidConfig, cfg.MaxInFlight)
	}
	for _, s := range cfg.Subjects {
		if err := checkSubject(s); err != nil {
			return nil, fmt.Errorf("jsclient: bridge: %w", err)
		}
	}
	b := &Bridge{from: from, to: to, cfg: cfg, log: cfg.Logger.With("component", "bridge"), closed: make(chan struct{}), afterPublish: afterPublish}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	for _, subject := range cfg.Subjects {
		sub, err := from.Subscribe(ctx, subject, events.SubscribeOptions{
			QueueGroup:  cfg.Durable,
			Durable:     cfg.Durable,
			DeliverAll:  true,
			ManualAck:   true,
			AckWait:     cfg.AckWait,
			MaxInFlight: cfg.MaxInFlight,
		}, b.forwarder(subject))
		if err != nil {
			closeErr := b.Close(context.WithoutCancel(ctx))
			return nil, errors.Join(fmt.Errorf("jsclient: bridge: subscribe %s: %w", subject, err), closeErr)
		}
		b.mu.Lock()
		b.subs = append(b.subs, sub)
		b.mu.Unlock()
	}
	b.log.Info("jsclient: bridge started", "subjects", cfg.Subjects, "durable", cfg.Durable)
	return b, nil
}

// forwarder returns the NATS Streaming callback for subject. The
// transport calls it one message at a time, in order.
func (b *Bridge) forwarder(subject string) func(events.Message) {
	return func(m events.Message) {
		seq := m.Metadata().Sequence
		msg := events.Outgoing{Subject: subject, Data: m.Data(), ID: BridgeMsgID(subject, seq)}
		var last error
		for attempt := 0; ; attempt++ {
			if b.isStopping() || b.ctx.Err() != nil {
				return // unacknowledged: NATS Streaming hands it to the next bridge
			}
			ctx, cancel := context.WithTimeout(b.ctx, b.to.conn.PublishWait)
			err := b.to.Publish(ctx, msg)
			cancel()
			if err == nil {
				if last != nil {
					b.log.Info("jsclient: bridge: publishing again", "subject", subject, "sequence", seq)
				}
				break
			}
			if last == nil || errors.Is(err, ErrNoStream) != errors.Is(last, ErrNoStream) {
				b.log.Error("jsclient: bridge: publish to JetStream failed; retrying (the subject's later messages wait)",
					"subject", subject, "sequence", seq, "error", err)
			}
			last = err
			t := time.NewTimer(b.to.conn.Backoff(attempt))
			select {
			case <-t.C:
			case <-b.ctx.Done():
				t.Stop()
			}
		}
		if b.afterPublish != nil && !b.afterPublish(subject, seq) {
			return
		}
		if err := m.Ack(); err != nil {
			// It comes back after the ack wait; its copy is a duplicate the
			// stream drops within its window.
			b.log.Warn("jsclient: bridge: ack on NATS Streaming failed", "subject", subject, "sequence", seq, "error", err)
		}
	}
}

func (b *Bridge) isStopping() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopping
}

// Close stops the bridge: no new message is forwarded, the ones being
// published finish (within ctx; then they are abandoned and come back on
// NATS Streaming), and the subscriptions close without forgetting the
// durable's position. It does not close either transport. Close is
// idempotent.
func (b *Bridge) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.stopping = true
		subs := b.subs
		b.mu.Unlock()
		stop := context.AfterFunc(ctx, b.cancel) // abandon publishes once ctx ends
		defer stop()
		var errs []error
		for _, sub := range subs {
			if err := sub.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		b.cancel()
		b.closeErr = errors.Join(errs...)
		close(b.closed)
		b.log.Info("jsclient: bridge stopped")
	})
	select {
	case <-b.closed:
		return b.closeErr
	case <-ctx.Done():
		return fmt.Errorf("jsclient: bridge: close: %w", ctx.Err())
	}
}
