package jsclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Subscribe implements events.Transport with a pull consumer on the stream
// that captures subject:
//
//   - opts.Durable (the Listener sets it to the queue group) names a durable
//     consumer, ConsumerName(subject, durable), shared by every member of
//     the queue group: each member pulls from it, so each message goes to
//     one member, and the consumer keeps the group's position across
//     closes, restarts of the service and restarts of the server.
//   - A queue group without a durable shares a named consumer that the
//     server deletes Consumer.InactiveThreshold after its last member left;
//     neither gives a consumer of its own, deleted likewise.
//
// A new consumer starts at the first stored message with opts.DeliverAll,
// else at the next new one; an existing durable resumes where it was (its
// start is never changed). AckWait, MaxInFlight (as the consumer's
// MaxAckPending, shared by the group) and Config.Consumer are applied to an
// existing consumer too. A subject no stream captures is an error wrapping
// ErrNoStream.
//
// Deliveries are one at a time. Messages are always acknowledged by this
// package: with opts.ManualAck false, before deliver is called (at most
// once), otherwise by Message.Ack. A consumer deleted behind the client's
// back (a memory-stored stream after a server restart, an operator) is
// created again. Subscribe waits for a lost connection like Publish does.
func (c *Client) Subscribe(ctx context.Context, subject string, opts events.SubscribeOptions, deliver func(events.Message)) (events.Subscription, error) {
	opts, err := c.conn.CheckSubscribe(ctx, subject, opts, deliver, checkSubject)
	if err != nil {
		return nil, err
	}
	sub := &subscription{
		c:         c,
		subject:   subject,
		opts:      opts,
		deliver:   deliver,
		gate:      natsconn.NewGate(),
		trouble:   make(chan error, 1),
		superDone: make(chan struct{}),
		close:     natsconn.NewOnce(),
	}
	if opts.Durable != "" {
		sub.name = ConsumerName(subject, opts.Durable)
	} else if opts.QueueGroup != "" {
		sub.name = ConsumerName(subject, opts.QueueGroup)
	}
	sub.ctx, sub.cancel = context.WithCancel(c.conn.Context())

	ctx, cancel := c.conn.Bound(ctx)
	defer cancel()
	err = c.conn.Retry(ctx, "subscribe "+subject, retryable, func(*link) error { return sub.start(ctx) })
	if err != nil {
		sub.cancel()
		return nil, err
	}

	c.conn.Lock()
	closing := c.conn.ClosingLocked()
	if !closing {
		c.subs[sub] = struct{}{}
	}
	c.conn.Unlock()
	if closing {
		sub.stopDelivering()
		close(sub.superDone)
		_ = sub.stopConsuming(ctx)
		return nil, fmt.Errorf("jsclient: subscribe %s: %w", subject, natsclient.ErrClosed)
	}
	go sub.supervise()
	return sub, nil
}

// ConsumerName is the JetStream consumer that Subscribe uses for durable
// (or queue group) name on subject: consumer names are per stream, and one
// queue group often consumes several of a stream's subjects, so the name
// has both. It is readable (characters a name can't have become '_') and
// unique (a hash of both ends it), so an operator can find or pre-create
// it, e.g. to start a migrated service's durable at a point in time rather
// than replay the whole stream (see docs/migration.md).
func ConsumerName(subject, durable string) string {
	sum := sha256.Sum256([]byte(durable + "\x00" + subject))
	readable := sanitize(durable) + "_" + sanitize(subject)
	if len(readable) > 200 {
		readable = readable[:200]
	}
	return readable + "_" + hex.EncodeToString(sum[:5])
}

func sanitize(s string) string { return natsclient.SafeName(s, '_') }

// subscription is the client's record of a subscription, which outlives
// the consumers (and the Consume calls on them) made for it.
type subscription struct {
	c       *Client
	subject string
	opts    events.SubscribeOptions
	deliver func(events.Message)
	name    string // the consumer's; "" for an unnamed one until created

	// ctx ends when deliveries stop; it bounds (re)starting the consumer.
	ctx    context.Context
	cancel context.CancelFunc

	// gate keeps deliveries one at a time even when an old Consume's
	// callback overlaps a new one's, and lets Close stop them and wait for
	// a running callback within a context.
	gate  *natsconn.Gate
	close *natsconn.Once

	trouble   chan error    // Consume errors that may mean the consumer is gone
	superDone chan struct{} // closed when supervise returns

	mu     sync.Mutex
	stream string
	cc     jetstream.ConsumeContext
}

// start finds the subject's stream, creates or updates the consumer and
// starts consuming from it.
func (s *subscription) start(ctx context.Context) error {
	c := s.c
	rctx, cancel := c.request(ctx)
	defer cancel()
	stream, err := c.js.StreamNameBySubject(rctx, s.subject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return noStreamError("subscribe", s.subject)
	}
	if err != nil {
		return requestError(ctx, "subscribe "+s.subject+": find its stream", err)
	}
	cons, err := s.ensureConsumer(ctx, stream)
	if err != nil {
		return err
	}
	batch := min(c.cfg.Consumer.PullBatch, s.opts.MaxInFlight)
	heartbeat := min(max(c.cfg.Consumer.PullExpiry/6, 500*time.Millisecond), 30*time.Second)
	cc, err := cons.Consume(s.handle,
		jetstream.PullMaxMessages(batch),
		jetstream.PullExpiry(c.cfg.Consumer.PullExpiry),
		jetstream.PullHeartbeat(heartbeat),
		jetstream.ConsumeErrHandler(s.consumeError),
	)
	if err != nil {
		return fmt.Errorf("jsclient: subscribe %s: consume: %w", s.subject, err)
	}
	s.mu.Lock()
	s.stream, s.cc = stream, cc
	if s.name == "" {
		s.name = cons.CachedInfo().Name
	}
	s.mu.Unlock()
	return nil
}

// requestError wraps the failure of a JetStream API request. A request that
// timed out on its own (not because ctx ended) is worth retrying.
func requestError(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", nats.ErrTimeout, err)
	}
	return fmt.Errorf("jsclient: %s: %w", op, err)
}

// consumerConfig is what the consumer should be.
func (s *subscription) consumerConfig() jetstream.ConsumerConfig {
	cs := s.c.cfg.Consumer
	cfg := jetstream.ConsumerConfig{
		Name:          s.name,
		Description:   "ticketkit " + s.subject,
		FilterSubject: s.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.opts.AckWait,
		MaxDeliver:    -1,
		BackOff:       slices.Clone(cs.AckBackoff),
		MaxAckPending: s.opts.MaxInFlight,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	if cs.MaxDeliver > 0 {
		cfg.MaxDeliver = cs.MaxDeliver
	}
	if len(cfg.BackOff) > 0 {
		cfg.AckWait = cfg.BackOff[0] // the server's rule
	}
	if s.opts.DeliverAll {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	if s.opts.Durable != "" {
		cfg.Durable = s.name
	} else {
		cfg.InactiveThreshold = cs.InactiveThreshold
	}
	return cfg
}

// ensureConsumer creates the consumer, or updates an existing one's
// settings, keeping where it starts.
func (s *subscription) ensureConsumer(ctx context.Context, stream string) (jetstream.Consumer, error) {
	c := s.c
	want := s.consumerConfig()
	op := "subscribe " + s.subject
	if want.Name == "" {
		rctx, cancel := c.request(ctx)
		defer cancel()
		cons, err := c.js.CreateConsumer(rctx, stream, want)
		if err != nil {
			return nil, consumerError(ctx, op, "", err)
		}
		return cons, nil
	}
	for range 3 {
		rctx, cancel := c.request(ctx)
		cons, err := c.js.Consumer(rctx, stream, want.Name)
		switch {
		case err == nil:
			have := cons.CachedInfo().Config
			if have.FilterSubject != want.FilterSubject {
				cancel()
				return nil, fmt.Errorf("jsclient: %s: consumer %s of stream %s filters %q, not this subject", op, want.Name, stream, have.FilterSubject)
			}
			want.DeliverPolicy, want.OptStartSeq, want.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
			if !sameSettings(have, want) {
				cons, err = c.js.UpdateConsumer(rctx, stream, want)
				if err != nil {
					cancel()
					return nil, consumerError(ctx, op, want.Name, err)
				}
				c.log.Info("jsclient: consumer settings updated", "stream", stream, "consumer", want.Name)
			}
			cancel()
			return cons, nil
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			cons, err = c.js.CreateConsumer(rctx, stream, want)
			cancel()
			if errors.Is(err, jetstream.ErrConsumerExists) {
				continue // another member created it first: use theirs
			}
			if err != nil {
				return nil, consumerError(ctx, op, want.Name, err)
			}
			c.log.Info("jsclient: consumer created", "stream", stream, "consumer", want.Name, "deliver", want.DeliverPolicy.String())
			return cons, nil
		default:
			cancel()
			return nil, consumerError(ctx, op, want.Name, err)
		}
	}
	return nil, fmt.Errorf("jsclient: %s: consumer %s: %w", op, want.Name, natsconn.ErrLinkDown)
}

func consumerError(ctx context.Context, op, name string, err error) error {
	return requestError(ctx, fmt.Sprintf("%s: consumer %s", op, name), err)
}

// sameSettings compares what ensureConsumer may change.
func sameSettings(have, want jetstream.ConsumerConfig) bool {
	return have.AckWait == want.AckWait &&
		have.MaxDeliver == want.MaxDeliver &&
		slices.Equal(have.BackOff, want.BackOff) &&
		have.MaxAckPending == want.MaxAckPending &&
		have.InactiveThreshold == want.InactiveThreshold &&
		have.Description == want.Description
}

// handle is the Consume callback.
func (s *subscription) handle(msg jetstream.Msg) {
	if !s.gate.Enter() {
		s.release(msg)
		return
	}
	defer s.gate.Leave()
	m := &message{m: msg, sub: s}
	if md, err := msg.Metadata(); err == nil {
		m.delivered = md.NumDelivered
		m.meta = events.Metadata{
			Subject:       msg.Subject(),
			Sequence:      md.Sequence.Stream,
			Redelivered:   md.NumDelivered > 1,
			DeliveryCount: int(md.NumDelivered),
			Timestamp:     md.Timestamp,
		}
	} else {
		m.meta = events.Metadata{Subject: msg.Subject()}
	}
	m.meta.Header = headerOf(msg.Headers())
	if !s.opts.ManualAck {
		if err := msg.Ack(); err != nil {
			s.c.log.Debug("jsclient: automatic ack failed; the message will be redelivered",
				"subject", s.subject, "sequence", m.meta.Sequence, "error", err)
		}
	}
	s.deliver(m)
}

// headerOf is a message's headers as events has them: the application's,
// without the broker's own Nats-* ones (the message id, for instance).
func headerOf(h nats.Header) events.Header {
	var out events.Header
	for k, vs := range h {
		if len(vs) == 0 || strings.HasPrefix(k, "Nats-") {
			continue
		}
		if out == nil {
			out = events.Header{}
		}
		out[k] = vs[0]
	}
	return out
}

// release hands a message that arrived while stopping back to the server,
// for another member of the group or a later run.
func (s *subscription) release(msg jetstream.Msg) {
	_ = msg.Nak()
}

// consumeError receives Consume's errors. Some mean the consumer may be
// gone; the supervisor checks.
func (s *subscription) consumeError(_ jetstream.ConsumeContext, err error) {
	switch {
	case errors.Is(err, jetstream.ErrConsumerDeleted),
		errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrNoHeartbeat),
		errors.Is(err, nats.ErrNoResponders):
		select {
		case s.trouble <- err:
		default:
		}
	case errors.Is(err, jetstream.ErrConnectionClosed), errors.Is(err, nats.ErrTimeout):
		return // the client's state says it; a pull expiring is routine
	}
	s.c.log.Debug("jsclient: consume", "subject", s.subject, "error", err)
}

// supervise restarts consuming when the consumer is gone, until
// deliveries stop.
func (s *subscription) supervise() {
	defer close(s.superDone)
	for {
		s.mu.Lock()
		cc := s.cc
		s.mu.Unlock()
		select {
		case <-s.gate.Stopping():
			return
		case <-cc.Closed():
			if s.gate.Stopped() {
				return
			}
			s.c.log.Warn("jsclient: consuming stopped (consumer deleted?); starting again", "subject", s.subject, "consumer", s.name)
		case err := <-s.trouble:
			if !s.consumerGone(err) {
				continue
			}
			s.c.log.Warn("jsclient: consumer gone; creating it again", "subject", s.subject, "consumer", s.name, "error", err)
			cc.Stop()
		}
		if !s.restart() {
			return
		}
	}
}

// consumerGone asks the server whether the consumer still exists.
func (s *subscription) consumerGone(err error) bool {
	if errors.Is(err, jetstream.ErrConsumerDeleted) {
		return true
	}
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	rctx, cancel := s.c.request(s.ctx)
	defer cancel()
	_, err = s.c.js.Consumer(rctx, stream, s.name)
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// restart starts consuming again, retrying with backoff until it works or
// deliveries stop (then it returns false). Unlike Subscribe (Conn.Retry), it
// retries every error, not only retryable ones: nobody is waiting for an
// answer, and the subscription must come back once, say, an operator has
// fixed the stream.
func (s *subscription) restart() bool {
	var last error
	for attempt := 0; ; attempt++ {
		l, err := s.c.conn.WaitLink(s.ctx, "subscribe again to "+s.subject, last)
		if err != nil {
			return false
		}
		if err = s.start(s.ctx); err == nil {
			s.c.log.Info("jsclient: consuming again", "subject", s.subject, "consumer", s.name)
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		if last == nil || err.Error() != last.Error() {
			s.c.log.Warn("jsclient: subscribing again failed; retrying", "subject", s.subject, "error", err)
		}
		last = err
		s.c.conn.Pause(s.ctx, l, attempt)
	}
}

// stopDelivering makes deliveries stop: messages that arrive from now on
// go back to the server.
func (s *subscription) stopDelivering() {
	s.gate.Stop()
	s.cancel()
}

// drain waits, within ctx, for a running callback to return. Callers stop
// deliveries first, so no new one starts.
func (s *subscription) drain(ctx context.Context) error {
	if err := s.gate.Drain(ctx); err != nil {
		return fmt.Errorf("jsclient: close subscription to %s: callback still running: %w", s.subject, err)
	}
	return nil
}

// stopConsuming stops pulling, without deleting the consumer, and waits
// within ctx until Consume has let go.
func (s *subscription) stopConsuming(ctx context.Context) error {
	select {
	case <-s.superDone:
	case <-ctx.Done():
		return fmt.Errorf("jsclient: close subscription to %s: %w", s.subject, ctx.Err())
	}
	s.mu.Lock()
	cc := s.cc
	s.mu.Unlock()
	if cc == nil {
		return nil
	}
	// Stop, not Drain: messages pulled ahead and not yet handled are
	// redelivered after the ack wait, as with NATS Streaming.
	cc.Stop()
	select {
	case <-cc.Closed():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jsclient: close subscription to %s: %w", s.subject, ctx.Err())
	}
}

// Close implements events.Subscription: deliveries stop, a running callback
// is waited for within ctx (or Config.PublishWait for a ctx without
// deadline), and pulling stops without deleting the consumer, so a durable
// keeps its position. Later calls wait for the first and return nil.
func (s *subscription) Close(ctx context.Context) error {
	if first, err := s.close.Begin(ctx); !first {
		if err != nil {
			return fmt.Errorf("jsclient: close subscription to %s: %w", s.subject, err)
		}
		return nil
	}
	defer s.close.End()

	c := s.c
	c.conn.Lock()
	_, registered := c.subs[s]
	delete(c.subs, s)
	c.conn.Unlock()
	if !registered {
		return nil // Client.Close has it
	}
	ctx, cancel := c.conn.Bound(ctx)
	defer cancel()
	s.stopDelivering()
	err := errors.Join(s.drain(ctx), s.stopConsuming(ctx))
	if c.nc.IsConnected() {
		// Acks are fire and forget: see that the server has them, so a
		// durable resumed right after this starts after them.
		if ferr := c.nc.FlushWithContext(ctx); ferr != nil {
			c.log.Debug("jsclient: flush after closing a subscription", "error", ferr)
		}
	}
	return err
}

// message is a delivery, as events.Message.
type message struct {
	m         jetstream.Msg
	sub       *subscription
	meta      events.Metadata
	delivered uint64
}

func (m *message) Data() []byte              { return m.m.Data() }
func (m *message) Metadata() events.Metadata { return m.meta }

// Ack implements events.Message. With automatic acks it does nothing: the
// message was acknowledged before delivery. The ack is not confirmed by the
// server (the interface has no context to bound a wait with): if it is
// lost, the message comes back after the ack wait.
func (m *message) Ack() error {
	if !m.sub.opts.ManualAck {
		return nil
	}
	return m.wrap("ack", m.m.Ack())
}

// Nack implements events.Message with a delayed negative ack: the message
// comes back after Config.Consumer.NakDelays for its delivery count, rather
// than at once (a handler that fails would spin) or after the ack wait.
func (m *message) Nack() error {
	if !m.sub.opts.ManualAck {
		return nil
	}
	delays := m.sub.c.cfg.Consumer.NakDelays
	var delay time.Duration
	if len(delays) > 0 {
		i := min(max(int(m.delivered)-1, 0), len(delays)-1)
		delay = delays[i]
	}
	if delay <= 0 {
		return m.wrap("nak", m.m.Nak())
	}
	return m.wrap("nak", m.m.NakWithDelay(delay))
}

// Term implements events.Message: the server never redelivers the message
// to this consumer, whatever MaxDeliver says.
func (m *message) Term() error {
	if !m.sub.opts.ManualAck {
		return nil
	}
	return m.wrap("term", m.m.Term())
}

func (m *message) wrap(op string, err error) error {
	switch {
	case err == nil, errors.Is(err, jetstream.ErrMsgAlreadyAckd):
		return nil
	case errors.Is(err, nats.ErrConnectionClosed):
		err = fmt.Errorf("%w: %w", natsclient.ErrClosed, err)
	}
	return fmt.Errorf("jsclient: %s %s #%d: %w", op, m.meta.Subject, m.meta.Sequence, err)
}
