package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/outbox"
)

// stalling is a stored Driver whose beats hang, while stall is set,
// until their ctx ends: a database too slow to renew the lease.
type stalling struct {
	*stored
	stall atomic.Bool
}

func (s *stalling) Beat(ctx context.Context, _ outbox.Progress) error {
	if !s.stall.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// records keeps the log records a Relay writes.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
	slog.Handler
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// find returns the first record whose message contains msg.
func (r *records) find(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if strings.Contains(rec.Message, msg) {
			return rec, true
		}
	}
	return slog.Record{}, false
}

func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A lapse is logged once, at Warn, with its cause (here: beats that
// don't return within half the TTL), counted in Stats with the writes it
// refused, and its end is logged at Info.
func TestLapseIsLoggedWithItsCause(t *testing.T) {
	q, err := outbox.NewQueue("w1", outbox.TTL(400*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	d := &stalling{stored: &stored{q: q}}
	d.stall.Store(true)
	logs := &records{}
	r, err := outbox.NewRelay(d, eventstest.NewRecorder(nil), outbox.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var lapse slog.Record
	await(t, "logged a lapse", func() (ok bool) { lapse, ok = logs.find("lease lapsed"); return ok })
	// The cause: the beats still waiting for the store, or the last
	// one's timeout.
	if lapse.Level != slog.LevelWarn || attr(lapse, "oldestInFlight") == "" && !strings.Contains(attr(lapse, "error"), "half the writer TTL") {
		t.Errorf("lapse logged at %v with oldestInFlight %q and error %q, want Warn with the beats in flight or their timeout as the cause",
			lapse.Level, attr(lapse, "oldestInFlight"), attr(lapse, "error"))
	}
	if _, err := q.Stamp(entries(t, 1)); !errors.Is(err, outbox.ErrLeaseExpired) {
		t.Fatalf("Stamp during the lapse = %v, want ErrLeaseExpired", err)
	}
	if st := r.Stats(); st.Lapses != 1 || st.Refused != 1 {
		t.Fatalf("Stats during the lapse = %+v, want 1 lapse and 1 refusal", st)
	}

	d.stall.Store(false)
	var back slog.Record
	await(t, "logged the end of the lapse", func() (ok bool) { back, ok = logs.find("lease is valid again"); return ok })
	if attr(back, "refused") != "1" {
		t.Errorf("end of the lapse logged with refused=%q, want 1", attr(back, "refused"))
	}
	if _, err := q.Stamp(entries(t, 1)); err != nil {
		t.Fatalf("Stamp after the lapse: %v", err)
	}
	if st := r.Stats(); st.Lapses != 1 {
		t.Fatalf("Stats after the lapse = %+v, want 1 lapse", st)
	}
}
