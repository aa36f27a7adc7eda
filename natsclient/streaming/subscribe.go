package streaming

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Subscribe implements events.Transport. The subscription belongs to the
// client: when a lost connection is replaced, the client subscribes again
// with the same options and the same deliver, so a durable (queue)
// subscription resumes where it was. A non-durable one resumes at its
// oldest delivered but unacknowledged message, or after the last one
// delivered; the server forgets non-durables with their connection, so
// messages published while it was gone reach it only if they come after
// what it saw.
//
// Messages are always acknowledged by this package, never by stan on its
// own: with opts.ManualAck false, before deliver is called (at most once, as
// events.ManualAck documents), otherwise by Message.Ack. NATS Streaming
// counts the ack wait in whole seconds, so opts.AckWait is rounded up to
// one. Subscribe waits for a lost connection like Publish does.
func (c *Client) Subscribe(ctx context.Context, subject string, opts events.SubscribeOptions, deliver func(events.Message)) (events.Subscription, error) {
	opts, err := c.conn.CheckSubscribe(ctx, subject, opts, deliver, checkSubject)
	if err != nil {
		return nil, err
	}
	opts.AckWait = max(time.Second, (opts.AckWait+time.Second-1)/time.Second*time.Second)
	sub := &subscription{
		c:       c,
		subject: subject,
		opts:    opts,
		deliver: deliver,
		gate:    natsconn.NewGate(),
		close:   natsconn.NewOnce(),
		track:   opts.Durable == "" && opts.ManualAck,
	}
	if sub.track {
		sub.unacked = make(map[uint64]struct{})
	}

	ctx, cancel := c.conn.Bound(ctx)
	defer cancel()
	err = c.conn.Retry(ctx, "subscribe "+subject, retryable, func(l *link) error {
		err := c.subscribeOn(l.Session, sub)
		switch {
		case err == nil:
			return nil
		case !retryable(err): // natsclient.ErrClosed among them
			return fmt.Errorf("streaming: subscribe %s: %w", subject, err)
		case sessionInvalid(err):
			c.sessionLost(l.Session, err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// subscribeOn creates sub on s and registers it, unless s is no longer the
// client's session: then the caller waits for the next one.
func (c *Client) subscribeOn(s *session, sub *subscription) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.conn.Lock()
	closing, current := c.conn.ClosingLocked(), c.sess == s
	c.conn.Unlock()
	switch {
	case closing:
		return natsclient.ErrClosed
	case !current || s.isLost():
		return natsconn.ErrLinkDown
	}
	if err := sub.attach(s); err != nil {
		return err
	}
	c.conn.Lock()
	closing = c.conn.ClosingLocked()
	if !closing {
		c.subs[sub] = struct{}{}
	}
	c.conn.Unlock()
	if closing {
		_ = sub.ss.Close()
		return natsclient.ErrClosed
	}
	return nil
}

// subscription is the client's record of a subscription, which outlives
// the stan subscriptions made for it on successive sessions.
type subscription struct {
	c       *Client
	subject string
	opts    events.SubscribeOptions
	deliver func(events.Message)

	// gate keeps deliveries one at a time even when an old session's
	// callback overlaps a new one's, and lets Close stop them and wait for
	// a running callback within a context.
	gate  *natsconn.Gate
	close *natsconn.Once

	mu   sync.Mutex
	ss   stan.Subscription // on sess
	sess *session
	// For a non-durable with manual acks, where to resume after a new
	// session (see Subscribe); only kept when track is set.
	track   bool
	lastSeq uint64
	unacked map[uint64]struct{}
}

// attach creates the stan subscription for sub on s.
func (sub *subscription) attach(s *session) error {
	opts := []stan.SubscriptionOption{
		// stan's automatic ack comes after the callback, even one we chose
		// not to run (when closing); so we always ack ourselves.
		stan.SetManualAckMode(),
		stan.AckWait(sub.opts.AckWait),
		stan.MaxInflight(sub.opts.MaxInFlight),
	}
	if sub.opts.Durable != "" {
		opts = append(opts, stan.DurableName(sub.opts.Durable))
	}
	if start := sub.resumeAt(); start > 0 {
		opts = append(opts, stan.StartAtSequence(start))
	} else if sub.opts.DeliverAll {
		opts = append(opts, stan.DeliverAllAvailable())
	}
	ss, err := s.sc.QueueSubscribe(sub.subject, sub.opts.QueueGroup, sub.handle, opts...)
	if err != nil {
		return err
	}
	sub.mu.Lock()
	sub.ss, sub.sess = ss, s
	sub.mu.Unlock()
	return nil
}

// resumeAt is the start sequence for a non-durable subscribed again, 0 to
// use the original start position. A durable's position is the server's.
func (sub *subscription) resumeAt() uint64 {
	if sub.opts.Durable != "" {
		return 0
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.lastSeq == 0 {
		return 0
	}
	start := sub.lastSeq + 1
	for seq := range sub.unacked {
		start = min(start, seq)
	}
	return start
}

// current returns the stan subscription if it belongs to s.
func (sub *subscription) current(s *session) stan.Subscription {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.sess != s {
		return nil
	}
	return sub.ss
}

// handle is the stan callback.
func (sub *subscription) handle(m *stan.Msg) {
	if !sub.gate.Enter() {
		return // unacknowledged: the server redelivers it after the ack wait
	}
	defer sub.gate.Leave()
	if sub.opts.Durable == "" {
		sub.mu.Lock()
		sub.lastSeq = max(sub.lastSeq, m.Sequence)
		if sub.track {
			sub.unacked[m.Sequence] = struct{}{}
		}
		sub.mu.Unlock()
	}
	if !sub.opts.ManualAck {
		if err := m.Ack(); err != nil {
			sub.c.log.Debug("streaming: automatic ack failed; the message will be redelivered",
				"subject", sub.subject, "sequence", m.Sequence, "error", err)
		}
	}
	sub.deliver(&message{m: m, sub: sub})
}

// drain waits, within ctx, for a running callback to return. Callers stop
// the gate first, so no new one starts.
func (sub *subscription) drain(ctx context.Context) error {
	if err := sub.gate.Drain(ctx); err != nil {
		return fmt.Errorf("streaming: close subscription to %s: callback still running: %w", sub.subject, err)
	}
	return nil
}

// Close implements events.Subscription: deliveries stop, a running callback
// is waited for within ctx, and the subscription is closed at the server
// without unsubscribing, so a durable keeps its position. If the
// connection is down, Close waits for it (within ctx, or PublishWait) to
// tell the server; a session that was lost meanwhile took the subscription
// with it. Later calls wait for the first and return nil.
func (sub *subscription) Close(ctx context.Context) error {
	if first, err := sub.close.Begin(ctx); !first {
		if err != nil {
			return fmt.Errorf("streaming: close subscription to %s: %w", sub.subject, err)
		}
		return nil
	}
	defer sub.close.End()

	c := sub.c
	sub.gate.Stop()
	c.subMu.Lock()
	c.conn.Lock()
	delete(c.subs, sub)
	c.conn.Unlock()
	c.subMu.Unlock()

	drainErr := sub.drain(ctx)
	sub.mu.Lock()
	ss, s := sub.ss, sub.sess
	sub.mu.Unlock()
	return errors.Join(drainErr, c.closeStanSub(ctx, sub.subject, ss, s))
}

func (c *Client) closeStanSub(ctx context.Context, subject string, ss stan.Subscription, s *session) error {
	ctx, cancel := c.conn.Bound(ctx)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		err := ss.Close()
		switch {
		case err == nil, subClosedAlready(err):
			return nil
		case errors.Is(err, stan.ErrConnectionClosed), s.isLost():
			// The server closes a connection's subscriptions with it,
			// keeping durables, once it drops or replaces the connection.
			return nil
		case !retryable(err):
			return fmt.Errorf("streaming: close subscription to %s: %w", subject, err)
		}
		last = err
		l, werr := c.conn.WaitLink(ctx, "close subscription to "+subject, last)
		if errors.Is(werr, natsclient.ErrClosed) {
			return nil // Client.Close closes the connection, and with it this
		}
		if werr != nil {
			return werr
		}
		if l.Session != s {
			return nil
		}
		c.conn.Pause(ctx, l, attempt)
	}
}

// subClosedAlready reports the answer to closing a subscription twice:
// stan's own error, or the same words from a server that no longer has it.
func subClosedAlready(err error) bool {
	return errors.Is(err, stan.ErrBadSubscription) || err.Error() == stan.ErrBadSubscription.Error()
}

// message is a delivery, as events.Message.
type message struct {
	m   *stan.Msg
	sub *subscription
}

func (m *message) Data() []byte { return m.m.Data }

func (m *message) Metadata() events.Metadata {
	return events.Metadata{
		Subject:       m.m.Subject,
		Sequence:      m.m.Sequence,
		Redelivered:   m.m.Redelivered,
		DeliveryCount: int(m.m.RedeliveryCount) + 1,
		Timestamp:     time.Unix(0, m.m.Timestamp),
	}
}

// Ack implements events.Message. With automatic acks it does nothing: the
// message was acknowledged before delivery. An ack through a subscription
// or client that was closed, or a connection that was replaced since,
// fails, and the server redelivers the message.
func (m *message) Ack() error {
	sub := m.sub
	if !sub.opts.ManualAck {
		return nil
	}
	if err := m.m.Ack(); err != nil {
		if errors.Is(err, stan.ErrBadSubscription) || errors.Is(err, stan.ErrBadConnection) {
			err = fmt.Errorf("%w: %w", natsclient.ErrClosed, err)
		}
		return fmt.Errorf("streaming: ack %s #%d: %w", m.m.Subject, m.m.Sequence, err)
	}
	if sub.track {
		sub.mu.Lock()
		delete(sub.unacked, m.m.Sequence)
		sub.mu.Unlock()
	}
	return nil
}

// Nack implements events.Message. NATS Streaming has no negative ack; the
// ack wait brings the message back.
func (m *message) Nack() error { return nil }

// Term implements events.Message. NATS Streaming can't be told never to
// redeliver, so Term acknowledges.
func (m *message) Term() error { return m.Ack() }
