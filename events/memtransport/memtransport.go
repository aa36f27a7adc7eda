// Package memtransport is an in-memory events.Transport for tests,
// examples and single-process runs. It keeps NATS Streaming's semantics for
// everything ticketkit relies on, so code that works here works there:
// order per subject, queue groups (each message to one member), durable
// positions kept across close and re-subscribe, redelivery of unacknowledged
// messages after the ack wait, deliver-all-available for a new durable, and
// a bound on messages in flight per subscriber. Like NATS Streaming, it has
// no negative acknowledgement: Nack does nothing and the ack wait decides.
//
// A Broker plays the server; each Transport from Broker.Connect is a client
// connection, so a test can close one and resume a durable from another.
package memtransport

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ticketkit/ticketkit/events"
)

// ErrClosed is returned for calls on a closed Transport or Subscription.
var ErrClosed = errors.New("memtransport: closed")

// Broker is the in-memory server. Its zero value is not usable; call
// NewBroker.
type Broker struct {
	mu       sync.Mutex
	subjects map[string][]stored
	groups   map[groupKey]*group
}

type stored struct {
	data   []byte
	ts     time.Time
	header events.Header
}

// groupKey identifies consumer state: a durable, a queue group, or (with
// sub set) a plain subscription of its own.
type groupKey struct {
	subject, queue, durable string
	sub                     *subscription
}

// group is one consumer's position and unacknowledged messages, shared by
// the members of a queue group.
type group struct {
	key     groupKey
	next    uint64 // the next sequence to hand out
	pending map[uint64]*delivery
	members []*subscription
	rr      int
	timer   *time.Timer
}

type delivery struct {
	seq      uint64
	member   *subscription // nil once its member left
	deadline time.Time
	count    int
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{subjects: make(map[string][]stored), groups: make(map[groupKey]*group)}
}

// Connect returns a new client connection to b.
func (b *Broker) Connect() *Transport {
	return &Transport{b: b, subs: make(map[*subscription]bool)}
}

// New returns a Transport on a broker of its own: the one-liner for tests
// and local runs.
func New() *Transport { return NewBroker().Connect() }

// Transport is a client connection to a Broker. It is safe for concurrent
// use.
type Transport struct {
	b      *Broker
	closed bool                   // guarded by b.mu
	subs   map[*subscription]bool // guarded by b.mu
}

var _ events.Transport = (*Transport)(nil)

// CarriesHeaders implements events.HeaderCarrier: headers travel, as on
// JetStream.
func (t *Transport) CarriesHeaders() bool { return true }

// Broker returns the broker t is connected to.
func (t *Transport) Broker() *Broker { return t.b }

// Publish implements events.Transport. The message is stored before it
// returns, which is all an ack means.
func (t *Transport) Publish(ctx context.Context, msg events.Outgoing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if msg.Subject == "" {
		return errors.New("memtransport: empty subject")
	}
	b.subjects[msg.Subject] = append(b.subjects[msg.Subject], stored{data: slices.Clone(msg.Data), ts: time.Now(), header: msg.Header.Clone()})
	for _, g := range b.groups {
		if g.key.subject == msg.Subject {
			b.pump(g)
		}
	}
	return nil
}

// PublishBatch implements events.Transport.
func (t *Transport) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = t.Publish(ctx, m)
	}
	return errs
}

// Subscribe implements events.Transport.
func (t *Transport) Subscribe(ctx context.Context, subject string, opts events.SubscribeOptions, deliver func(events.Message)) (events.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if subject == "" || deliver == nil {
		return nil, errors.New("memtransport: subscribe needs a subject and a callback")
	}
	if opts.AckWait <= 0 {
		opts.AckWait = events.DefaultAckWait
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = events.DefaultMaxInFlight
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	s := &subscription{t: t, opts: opts, deliver: deliver, wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	key := groupKey{subject: subject, queue: opts.QueueGroup, durable: opts.Durable}
	if opts.QueueGroup == "" && opts.Durable == "" {
		key.sub = s
	}
	g, ok := b.groups[key]
	if !ok {
		g = &group{key: key, next: uint64(len(b.subjects[subject])) + 1, pending: make(map[uint64]*delivery)}
		if opts.DeliverAll {
			g.next = 1
		}
		b.groups[key] = g
	}
	s.g = g
	g.members = append(g.members, s)
	t.subs[s] = true
	go s.run()
	b.pump(g)
	return s, nil
}

// Close implements events.Transport: it closes the connection's
// subscriptions (durables keep their position) and refuses further calls.
func (t *Transport) Close(ctx context.Context) error {
	t.b.mu.Lock()
	t.closed = true
	subs := make([]*subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.b.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// pump hands out due redeliveries and then new messages to members with
// room in flight, and arms the redelivery timer. b.mu must be held.
func (b *Broker) pump(g *group) {
	now := time.Now()
	msgs := b.subjects[g.key.subject]
	var due []*delivery
	for _, d := range g.pending {
		if !d.deadline.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(x, y *delivery) int { return cmp.Compare(x.seq, y.seq) })
	for _, d := range due {
		m := g.pick()
		if m == nil {
			break
		}
		if d.member != nil {
			d.member.inflight--
		}
		m.assign(d, msgs[d.seq-1], now)
	}
	for g.next <= uint64(len(msgs)) {
		m := g.pick()
		if m == nil {
			break
		}
		d := &delivery{seq: g.next}
		g.next++
		if m.opts.ManualAck {
			g.pending[d.seq] = d
		}
		m.assign(d, msgs[d.seq-1], now)
	}
	b.arm(g, now)
}

// arm schedules the next pump for the earliest redelivery deadline.
func (b *Broker) arm(g *group, now time.Time) {
	var next time.Time
	for _, d := range g.pending {
		if next.IsZero() || d.deadline.Before(next) {
			next = d.deadline
		}
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if next.IsZero() || len(g.members) == 0 {
		return
	}
	g.timer = time.AfterFunc(max(next.Sub(now), time.Millisecond), func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.groups[g.key] == g {
			b.pump(g)
		}
	})
}

// pick returns the next member, round robin, with room in flight.
func (g *group) pick() *subscription {
	for range g.members {
		g.rr = (g.rr + 1) % len(g.members)
		if m := g.members[g.rr]; m.inflight < m.opts.MaxInFlight {
			return m
		}
	}
	return nil
}

type subscription struct {
	t       *Transport
	g       *group
	opts    events.SubscribeOptions
	deliver func(events.Message)

	// guarded by t.b.mu
	queue    []*message
	inflight int
	closed   bool

	wake   chan struct{}
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when run returns
}

// assign queues d for delivery to s. b.mu must be held.
func (s *subscription) assign(d *delivery, m stored, now time.Time) {
	d.count++
	d.member = s
	d.deadline = now.Add(s.opts.AckWait)
	if s.opts.ManualAck {
		s.inflight++
	}
	s.queue = append(s.queue, &message{s: s, seq: d.seq, count: d.count, data: m.data, meta: events.Metadata{
		Subject:       s.g.key.subject,
		Sequence:      d.seq,
		Redelivered:   d.count > 1,
		DeliveryCount: d.count,
		Timestamp:     m.ts,
		Header:        m.header.Clone(),
	}})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run calls deliver for queued messages one at a time, like a NATS
// Streaming subscription's callback.
func (s *subscription) run() {
	defer close(s.exited)
	mu := &s.t.b.mu
	for {
		mu.Lock()
		if s.closed {
			mu.Unlock()
			return
		}
		if len(s.queue) == 0 {
			mu.Unlock()
			select {
			case <-s.wake:
			case <-s.done:
			}
			continue
		}
		m := s.queue[0]
		s.queue = s.queue[1:]
		mu.Unlock()
		s.deliver(m)
	}
}

// Close implements events.Subscription: deliveries stop, unacknowledged
// messages go to other members (or wait for a resumed durable) after their
// ack wait, and a durable or queue group keeps its position. It waits for
// a running callback to return, as long as ctx allows.
func (s *subscription) Close(ctx context.Context) error {
	b := s.t.b
	b.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		delete(s.t.subs, s)
		g := s.g
		g.members = slices.DeleteFunc(g.members, func(m *subscription) bool { return m == s })
		for _, d := range g.pending {
			if d.member == s {
				d.member = nil
			}
		}
		if len(g.members) == 0 {
			if g.timer != nil {
				g.timer.Stop()
				g.timer = nil
			}
			if g.key.durable == "" {
				delete(b.groups, g.key)
			}
		} else {
			b.pump(g)
		}
	}
	b.mu.Unlock()
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type message struct {
	s     *subscription
	seq   uint64
	count int
	data  []byte
	meta  events.Metadata
}

func (m *message) Data() []byte              { return m.data }
func (m *message) Metadata() events.Metadata { return m.meta }

// Ack implements events.Message. Like NATS Streaming, an ack through a
// closed subscription fails and the message is redelivered.
func (m *message) Ack() error {
	s := m.s
	b := s.t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.opts.ManualAck {
		return nil
	}
	d, ok := s.g.pending[m.seq]
	if !ok || d.member != s || d.count != m.count {
		return nil // already acknowledged, or redelivered elsewhere since
	}
	delete(s.g.pending, m.seq)
	s.inflight--
	b.pump(s.g)
	return nil
}

// Nack implements events.Message; NATS Streaming has no such call, so
// neither does this: the ack wait brings the message back.
func (m *message) Nack() error { return nil }

// Term implements events.Message by acknowledging, as NATS Streaming must.
func (m *message) Term() error { return m.Ack() }
