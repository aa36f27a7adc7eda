package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/tickets"
)

// flaky fails publishes while down is set, or for chosen message ids.
type flaky struct {
	events.Transport
	down   atomic.Bool
	mu     sync.Mutex
	failID map[string]bool
}

func (f *flaky) fails(m events.Outgoing) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down.Load() || f.failID[m.ID]
}

func (f *flaky) Publish(ctx context.Context, m events.Outgoing) error {
	if f.fails(m) {
		return errors.New("broker down")
	}
	return f.Transport.Publish(ctx, m)
}

func (f *flaky) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = f.Publish(ctx, m)
	}
	return errs
}

type relayFixture struct {
	store *tickets.MemoryStore
	svc   *tickets.Service
	rec   *eventstest.Recorder
	net   *flaky
	relay *events.Relay
}

func newRelayFixture(t *testing.T, opts ...events.Option) *relayFixture {
	t.Helper()
	f := &relayFixture{store: tickets.NewMemoryStore(), rec: eventstest.NewRecorder(nil)}
	f.svc = tickets.NewService(f.store)
	f.net = &flaky{Transport: f.rec, failID: make(map[string]bool)}
	var err error
	f.relay, err = events.NewRelay(f.store, f.net, append([]events.Option{events.Backoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *relayFixture) create(t *testing.T, title string) tickets.Ticket {
	t.Helper()
	ch, err := f.svc.Create(context.Background(), "owner", tickets.Input{Title: title, Price: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ch.Ticket
}

func (f *relayFixture) rename(t *testing.T, id, title string) {
	t.Helper()
	if _, err := f.svc.Update(context.Background(), id, "owner", tickets.Input{Title: title, Price: 1000}); err != nil {
		t.Fatal(err)
	}
}

func (f *relayFixture) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// versionsByTicket lists, per ticket, the versions published in order.
func versionsByTicket(t *testing.T, rec *eventstest.Recorder) map[string][]int64 {
	out := make(map[string][]int64)
	for _, e := range eventstest.Published[events.TicketCreated](t, rec) {
		out[e.ID] = append(out[e.ID], e.Version)
	}
	for _, m := range rec.Messages() {
		if m.Subject != string(events.SubjectTicketUpdated) {
			continue
		}
		e, err := events.Decode[events.TicketUpdated](m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[e.ID] = append(out[e.ID], e.Version)
	}
	return out
}

func TestRelayPublishesEveryChangeInVersionOrder(t *testing.T) {
	f := newRelayFixture(t, events.BatchSize(3))
	a, b := f.create(t, "a"), f.create(t, "b")
	for _, title := range []string{"a1", "a2", "a3"} {
		f.rename(t, a.ID, title)
	}
	f.rename(t, b.ID, "b1")
	f.flush(t)
	got := versionsByTicket(t, f.rec)
	if len(got[a.ID]) != 4 || len(got[b.ID]) != 2 {
		t.Fatalf("published %v", got)
	}
	for id, vs := range got {
		for i, v := range vs {
			if v != int64(i) {
				t.Fatalf("ticket %s published versions %v, want 0.. in order", id, vs)
			}
		}
	}
	updated := eventstest.Published[events.TicketUpdated](t, f.rec)
	if last := updated[len(updated)-1]; last.ID != b.ID || last.Title != "b1" {
		t.Fatalf("last update = %+v", last)
	}
	pending, _ := f.store.Pending(context.Background(), 10)
	if len(pending) != 0 {
		t.Fatalf("%d changes still pending after Flush", len(pending))
	}
	for _, m := range f.rec.Messages() {
		if m.ID == "" {
			t.Fatal("a relayed message has no id")
		}
	}
}

func TestRelayRunWakesOnWrite(t *testing.T) {
	// An hour-long poll: only the store's wake-up can publish in time.
	f := newRelayFixture(t, events.PollInterval(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.relay.Run(ctx) }()
	tk := f.create(t, "prompt")
	eventstest.Await(t, f.rec, func(e events.TicketCreated) bool { return e.ID == tk.ID })
	f.rename(t, tk.ID, "prompter")
	eventstest.Await(t, f.rec, func(e events.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
}

func TestRelayLosesNothingWhileTheBrokerIsDown(t *testing.T) {
	f := newRelayFixture(t, events.PollInterval(time.Hour))
	f.net.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.relay.Run(ctx) }()

	var ids []string
	for i := range 5 {
		tk := f.create(t, "down")
		ids = append(ids, tk.ID)
		for j := range i {
			f.rename(t, tk.ID, string(rune('a'+j)))
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := f.relay.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while down = %v, want deadline exceeded", err)
	}
	if n := len(f.rec.Messages()); n != 0 {
		t.Fatalf("%d messages got through a down broker", n)
	}
	f.net.down.Store(false)
	// Run retries on its own; Flush only waits for the outbox to empty.
	f.flush(t)
	got := versionsByTicket(t, f.rec)
	for i, id := range ids {
		if len(got[id]) < i+1 {
			t.Fatalf("ticket %d: published %v, want versions 0..%d", i, got[id], i)
		}
		for v, pv := range got[id] {
			if pv != int64(v) {
				t.Fatalf("ticket %d published %v, want in version order", i, got[id])
			}
		}
	}
	cancel()
	<-done
}

func TestRelayRepublishesAfterAPartialFailureKeepingOrder(t *testing.T) {
	f := newRelayFixture(t)
	tk := f.create(t, "v0")
	f.rename(t, tk.ID, "v1")
	f.rename(t, tk.ID, "v2")
	// Version 1 fails once; version 2 goes through in the same round.
	v1 := events.MessageID(events.SubjectTicketUpdated, tk.ID, 1)
	f.net.mu.Lock()
	f.net.failID[v1] = true
	f.net.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = f.relay.Flush(ctx)
	f.net.mu.Lock()
	delete(f.net.failID, v1)
	f.net.mu.Unlock()
	f.flush(t)
	// Version 2 may go out twice, but never marked before version 1.
	got := versionsByTicket(t, f.rec)[tk.ID]
	firstSeen := map[int64]int{}
	for i, v := range got {
		if _, ok := firstSeen[v]; !ok {
			firstSeen[v] = i
		}
	}
	if len(firstSeen) != 3 {
		t.Fatalf("published versions %v, want all of 0, 1, 2", got)
	}
	if got[len(got)-1] != 2 || got[len(got)-2] != 1 {
		t.Fatalf("published %v: after version 1 finally goes out, version 2 must follow it", got)
	}
}

// crashingOutbox fails MarkPublished while crash is set: a relay dying
// between publishing and marking.
type crashingOutbox struct {
	tickets.Outbox
	crash atomic.Bool
}

func (c *crashingOutbox) MarkPublished(ctx context.Context, published []tickets.Change) error {
	if c.crash.Load() {
		return errors.New("process died")
	}
	return c.Outbox.MarkPublished(ctx, published)
}

// countingOutbox records every MarkPublished call, as "id@version" lists.
type countingOutbox struct {
	tickets.Outbox
	mu    sync.Mutex
	calls [][]string
}

func (c *countingOutbox) MarkPublished(ctx context.Context, published []tickets.Change) error {
	var call []string
	for _, ch := range published {
		call = append(call, fmt.Sprintf("%s@%d", ch.Ticket.ID, ch.Ticket.Version))
	}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	return c.Outbox.MarkPublished(ctx, published)
}

func TestRelayMarksARoundInOneCall(t *testing.T) {
	f := newRelayFixture(t)
	outbox := &countingOutbox{Outbox: f.store}
	relay, err := events.NewRelay(outbox, f.net, events.Backoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := f.create(t, "a"), f.create(t, "b"), f.create(t, "c")
	f.rename(t, a.ID, "a1")
	f.rename(t, a.ID, "a2")
	f.rename(t, b.ID, "b1")
	f.rename(t, b.ID, "b2")
	// b's version 1 fails: b is marked up to version 0 only, and its
	// version 2, published in the same round, is not marked.
	b1 := events.MessageID(events.SubjectTicketUpdated, b.ID, 1)
	f.net.mu.Lock()
	f.net.failID[b1] = true
	f.net.mu.Unlock()

	// Flush retries b until ctx ends; the rounds after the first have
	// nothing to mark, and call nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = relay.Flush(ctx)
	outbox.mu.Lock()
	got := fmt.Sprint(outbox.calls)
	outbox.mu.Unlock()
	want := fmt.Sprint([][]string{{a.ID + "@2", b.ID + "@0", c.ID + "@0"}})
	if got != want {
		t.Fatalf("MarkPublished calls = %s, want %s: one call for the first round", got, want)
	}
	pending, _ := f.store.Pending(context.Background(), 10)
	if len(pending) != 2 || pending[0].Ticket.Version != 1 || pending[1].Ticket.Version != 2 {
		t.Fatalf("pending after the first round = %+v, want b's versions 1 and 2", pending)
	}

	f.net.mu.Lock()
	delete(f.net.failID, b1)
	f.net.mu.Unlock()
	outbox.mu.Lock()
	outbox.calls = nil
	outbox.mu.Unlock()
	if err := relay.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	outbox.mu.Lock()
	defer outbox.mu.Unlock()
	if got := fmt.Sprint(outbox.calls); got != fmt.Sprint([][]string{{b.ID + "@2"}}) {
		t.Fatalf("the next round marked %s, want only %s@2", got, b.ID)
	}
}

func TestRelayAfterACrashRepublishesWithTheSameMessageID(t *testing.T) {
	store := tickets.NewMemoryStore()
	svc := tickets.NewService(store)
	rec := eventstest.NewRecorder(nil)
	outbox := &crashingOutbox{Outbox: store}
	outbox.crash.Store(true)
	dying, err := events.NewRelay(outbox, rec, events.Backoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := svc.Create(context.Background(), "owner", tickets.Input{Title: "t", Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = dying.Flush(ctx)
	before := rec.Messages()
	if len(before) == 0 {
		t.Fatal("the dying relay published nothing")
	}

	restarted, err := events.NewRelay(store, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := rec.Messages()
	if len(all) != len(before)+1 {
		t.Fatalf("restarted relay published %d messages, want 1", len(all)-len(before))
	}
	want := events.MessageID(events.SubjectTicketCreated, ch.Ticket.ID, 0)
	for _, m := range all {
		if m.ID != want {
			t.Fatalf("message id %s, want %s on every publish of the event", m.ID, want)
		}
	}
}
