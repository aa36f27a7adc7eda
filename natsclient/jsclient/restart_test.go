package jsclient_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/wire"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// The server stops (SIGTERM) or dies (SIGKILL) and comes back on the same
// port and store while a service publishes through the outbox's stable
// IDs and another consumes with a durable. Nothing acknowledged is lost,
// and both carry on by themselves: no application code is involved.
func TestServerRestart(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(*testenv.Process)
	}{
		{"SIGTERM", (*testenv.Process).Stop},
		{"SIGKILL", (*testenv.Process).Kill},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.StartJetStream(t, t.TempDir())
			states := &stateLog{}
			cfg := fast(srv.URL())
			cfg.Streams = []jsclient.Stream{appStream} // file storage
			cfg.OnStateChange = states.add
			pubClient := connect(t, cfg)
			cfg.OnStateChange = nil
			subClient := connect(t, cfg)

			in := newRecorder()
			l, err := events.Listen(ctxFor(t), subClient, "restart-test", in.handle, events.DeliverAll(), events.AckWait(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close(ctxFor(t)) })

			pub := startPublisher(t, pubClient)
			pub.waitAcked(t, 50)
			in.waitAll(t, pub.ackedUpTo(50))

			tt.down(srv)
			downAt := time.Now() // the server is gone: acks from now on are the new one's
			before := pub.acked()
			srv.Restart()
			upAt := time.Now() // it printed "ready" (clients may be back already)

			// Both sides come back: new publishes are acknowledged and
			// delivered.
			pub.waitAcked(t, before+50)
			in.waitAll(t, []int64{int64(before)})
			firstAck, firstDelivery := pub.firstAckAfter(downAt), in.firstAfter(downAt)
			pub.stop()
			acked := pub.ackedUpTo(pub.acked())
			in.waitAll(t, acked)
			t.Logf("%s: server down and back up (ready) in %v; first publish acked %v after the old server exited, first delivery after %v; %d published and acknowledged, all received (%d deliveries)",
				tt.name, upAt.Sub(downAt).Round(time.Millisecond), firstAck.Sub(downAt).Round(time.Millisecond),
				firstDelivery.Sub(downAt).Round(time.Millisecond), len(acked), in.deliveries())

			if got := states.get(); !slices.Contains(got, natsclient.Reconnecting) || got[len(got)-1] != natsclient.Connected {
				t.Fatalf("state changes = %v, want Reconnecting and back to Connected", got)
			}
			if err := l.Close(ctxFor(t)); err != nil {
				t.Fatal(err)
			}
			srv.Stop()
		})
	}
}

type stateLog struct {
	mu     sync.Mutex
	states []natsclient.State
}

func (s *stateLog) add(st natsclient.State, _ error) {
	s.mu.Lock()
	s.states = append(s.states, st)
	s.mu.Unlock()
}

func (s *stateLog) get() []natsclient.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

// publisher publishes versions 0, 1, 2... of one ticket, each until it is
// acknowledged, with the IDs the outbox relay would give them: a retry of
// a message the server stored before it died is deduplicated.
type publisher struct {
	mu      sync.Mutex
	ackedAt []time.Time // ackedAt[n] is when version n was acknowledged
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func startPublisher(t *testing.T, c *jsclient.Client) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(p.stop)
	id := ticketkit.NewID()
	go func() {
		defer close(p.done)
		for n := 0; ctx.Err() == nil; {
			e := wire.TicketCreated{ID: id, Title: "show", Price: ticketkit.Cents(100), UserID: "u", Version: int64(n)}
			data, _ := events.Encode(e)
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Publish(pctx, events.Outgoing{Subject: string(e.Subject()), Data: data, ID: events.MessageID(e.Subject(), id, e.Version)})
			pcancel()
			if err != nil {
				continue // not acknowledged: the relay would try again, with the same ID
			}
			p.mu.Lock()
			p.ackedAt = append(p.ackedAt, time.Now())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			n++
		}
	}()
	return p
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
}

func (p *publisher) acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ackedAt)
}

func (p *publisher) ackedUpTo(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func (p *publisher) firstAckAfter(t0 time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, at := range p.ackedAt {
		if at.After(t0) {
			return at
		}
	}
	return time.Time{}
}

func (p *publisher) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		got, changed := len(p.ackedAt), p.changed
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("only %d publishes acknowledged, want %d", got, n)
		}
	}
}

// recorder records the versions a handler received, and when.
type recorder struct {
	mu      sync.Mutex
	seenAt  map[int64]time.Time
	count   int
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{seenAt: make(map[int64]time.Time), changed: make(chan struct{})}
}

func (r *recorder) handle(_ context.Context, e wire.TicketCreated, _ events.Metadata) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seenAt[e.Version]; !ok {
		r.seenAt[e.Version] = time.Now()
	}
	r.count++
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

func (r *recorder) deliveries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

func (r *recorder) firstAfter(t0 time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, at := range r.seenAt {
		if at.After(t0) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// waitAll waits until every version in want was received.
func (r *recorder) waitAll(t *testing.T, want []int64) {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		var missing []int64
		for _, v := range want {
			if _, ok := r.seenAt[v]; !ok {
				missing = append(missing, v)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			if len(missing) > 10 {
				missing = missing[:10]
			}
			t.Fatalf("acknowledged but never received: %v...", missing)
		}
	}
}

// With the server down, a publish or subscribe waits for it only as long
// as its context allows, then says why; once it is back, both work again.
func TestCallsWhileServerDown(t *testing.T) {
	srv := testenv.StartJetStream(t, t.TempDir())
	cfg := fast(srv.URL())
	cfg.Streams = []jsclient.Stream{appStream}
	cfg.PublishWait = time.Second // for the context without deadline below
	c := connect(t, cfg)
	srv.Kill()

	msg := events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: []byte(`{}`), ID: "while-down"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Publish(ctx, msg)
	if !errors.Is(err, natsclient.ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish with the server down = %v, want ErrDisconnected and the deadline", err)
	}
	// A context without deadline is bounded by PublishWait.
	_, err = c.Subscribe(context.Background(), string(wire.SubjectTicketCreated), events.SubscribeOptions{Durable: "d", QueueGroup: "d", ManualAck: true}, func(events.Message) {})
	if !errors.Is(err, natsclient.ErrDisconnected) {
		t.Fatalf("Subscribe with the server down = %v, want ErrDisconnected", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the calls took %v; they must give up within their bounds", took)
	}
	if c.Status() != natsclient.Reconnecting {
		t.Fatalf("Status = %v with the server down", c.Status())
	}

	srv.Restart()
	if err := c.Publish(ctxFor(t), msg); err != nil {
		t.Fatalf("Publish after the restart: %v", err)
	}
	if c.Status() != natsclient.Connected {
		t.Fatalf("Status = %v after the restart", c.Status())
	}
}
