package outboxtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/outbox"
)

// clocked is a transport that records when each message was published,
// by its id, in front of a Recorder.
type clocked struct {
	*eventstest.Recorder
	mu sync.Mutex
	at map[string]time.Time
}

func newClocked() *clocked {
	return &clocked{Recorder: eventstest.NewRecorder(nil), at: map[string]time.Time{}}
}

func (c *clocked) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	now := time.Now()
	c.mu.Lock()
	for _, m := range msgs {
		if _, ok := c.at[m.ID]; !ok {
			c.at[m.ID] = now
		}
	}
	c.mu.Unlock()
	return c.Recorder.PublishBatch(ctx, msgs)
}

// delayedWrite writes version 0 of a new aggregate whose event is due at
// at, and returns its key and message id.
func delayedWrite(t *testing.T, in Instance, at time.Time) (key, string) {
	t.Helper()
	id := ticketkit.NewID()
	e := event(id, 0)
	if err := in.Write(testCtx(t), id, 0, outbox.Delay(e, at)); err != nil {
		t.Fatalf("delayed write: %v", err)
	}
	return key{id, 0}, events.MessageID(e.Subject(), id, 0)
}

// assertNotEarly fails for a message published before its due time, and
// logs how late the others were.
func assertNotEarly(t *testing.T, c *clocked, due map[string]time.Time) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var latest time.Duration
	for id, at := range due {
		got, ok := c.at[id]
		switch {
		case !ok:
			t.Errorf("%s never published", id)
		case got.Before(at.Truncate(time.Millisecond)):
			t.Errorf("%s published %v before its time", id, at.Sub(got))
		default:
			latest = max(latest, got.Sub(at))
		}
	}
	t.Logf("%d delayed events, the latest %v after its time", len(due), latest.Round(time.Millisecond))
}

// A delayed entry is published at its time, not before, once; it is not
// part of the backlog while it waits.
func testDelayed(t *testing.T, s Store) {
	in := s.Open(t)
	c := newClocked()
	r, _ := relay(t, in, c)
	start := time.Now()
	due := map[string]time.Time{}
	var want []key
	first := start.Add(3 * time.Second)
	k, id := delayedWrite(t, in, first)
	want, due[id] = append(want, k), first
	if st := r.Stats(); st.Backlog != 0 || st.Delayed != 1 {
		t.Errorf("Stats with one delayed entry waiting = %+v, want backlog 0 and 1 delayed", st)
	}
	for i := range 10 {
		at := start.Add(time.Duration(300+200*i) * time.Millisecond)
		k, id := delayedWrite(t, in, at)
		want, due[id] = append(want, k), at
	}
	now := ticketkit.NewID()
	write(t, in, now, 0) // due at once, beside them
	want = append(want, key{now, 0})
	awaitAll(t, c.Recorder, want, 30*time.Second)
	assertExactlyOnce(t, c.Messages(), want)
	assertNotEarly(t, c, due)
	flush(t, r)
	if st := r.Stats(); st.Backlog != 0 || st.Delayed != 0 {
		t.Errorf("Stats after = %+v", st)
	}
}

// A Relay that closes leaves its delayed entries in the store, without
// waiting for them, and another instance publishes them at their time,
// and nothing else again.
func testDelayedTakeover(t *testing.T, s Store) {
	ttl := 500 * time.Millisecond
	c := newClocked()
	first := s.Open(t, outbox.TTL(ttl))
	r, _ := relay(t, first, c)
	due := map[string]time.Time{}
	var want []key
	at := time.Now().Add(4 * time.Second)
	for range 10 {
		k, id := delayedWrite(t, first, at)
		want, due[id] = append(want, k), at
	}
	// Entries written after the delayed ones, published at once: the
	// takeover must not publish them again, though they are above the
	// writer's horizon, which the delayed ones hold back.
	var now []key
	for range 10 {
		id := ticketkit.NewID()
		write(t, first, id, 0)
		now = append(now, key{id, 0})
	}
	awaitAll(t, c.Recorder, now, 20*time.Second)
	want = append(want, now...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close with delayed entries waiting: %v", err)
	}
	if n := len(c.Messages()); n != len(now) && time.Now().Before(at) {
		t.Fatalf("%d events published before the delayed ones were due, want the %d written at once", n, len(now))
	}
	second := s.Open(t, outbox.TTL(ttl))
	relay(t, second, c)
	awaitAll(t, c.Recorder, want, 30*time.Second)
	assertExactlyOnce(t, c.Messages(), want)
	assertNotEarly(t, c, due)
}

// Delayed entries written by several instances, each with its Relay, are
// each published once, none early.
func testDelayedManyInstances(t *testing.T, s Store) {
	c := newClocked()
	due := map[string]time.Time{}
	var want []key
	start := time.Now()
	for i := range 3 {
		in := s.Open(t)
		relay(t, in, c)
		for j := range 10 {
			at := start.Add(time.Duration(500+100*(i*10+j)) * time.Millisecond)
			k, id := delayedWrite(t, in, at)
			want, due[id] = append(want, k), at
		}
	}
	awaitAll(t, c.Recorder, want, 30*time.Second)
	assertExactlyOnce(t, c.Messages(), want)
	assertNotEarly(t, c, due)
}
