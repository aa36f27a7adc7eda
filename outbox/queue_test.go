package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stored is a Driver whose database holds exactly the entries a test puts
// in it: the writes the Queue could not confirm.
type stored struct {
	q  *outbox.Queue
	mu sync.Mutex
	db []outbox.Entry
}

func (s *stored) Queue() *outbox.Queue                                      { return s.q }
func (s *stored) Beat(context.Context, outbox.Progress) error               { return nil }
func (s *stored) Claim(context.Context, outbox.Lease, string) (bool, error) { return false, nil }
func (s *stored) Retire(context.Context, outbox.Lease) (bool, error)        { return true, nil }
func (s *stored) DeadLetter(context.Context, outbox.Entry, error) error     { return nil }
func (s *stored) Writers(context.Context) ([]outbox.Lease, error) {
	return []outbox.Lease{{Writer: s.q.Writer()}}, nil
}
func (s *stored) Recover(_ context.Context, w string, after uint64) ([]outbox.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []outbox.Entry
	for _, e := range s.db {
		if e.Writer == w && e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func entries(t *testing.T, n int) []outbox.Entry {
	es := make([]outbox.Entry, n)
	for i := range es {
		id := ticketkit.NewID()
		var err error
		es[i], err = outbox.NewEntry(id, 0, wire.TicketCreated{ID: id, Title: "t", Price: 100, UserID: "u"})
		if err != nil {
			t.Fatal(err)
		}
	}
	return es
}

func run(t *testing.T, d outbox.Driver, tr events.Transport) *outbox.Relay {
	r, err := outbox.NewRelay(d, tr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func awaitSettled(t *testing.T, r *outbox.Relay, rec *eventstest.Recorder, published int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if st := r.Stats(); st.Backlog == 0 && len(rec.Messages()) == published {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("Stats %+v, %d published; want no backlog and %d published", r.Stats(), len(rec.Messages()), published)
		case <-rec.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A write whose outcome was unknown is looked up after the TTL: what the
// store holds is published, the rest settled as never written.
func TestUnsureWritesAreLookedUp(t *testing.T) {
	q, err := outbox.NewQueue("w1", outbox.TTL(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	d := &stored{q: q}
	es := entries(t, 2)
	if _, err := q.Stamp(es); err != nil {
		t.Fatal(err)
	}
	d.db = es[:1] // the first write did commit, the second did not
	q.Unsure(es...)
	rec := eventstest.NewRecorder(nil)
	r := run(t, d, rec)
	awaitSettled(t, r, rec, 1)
	if got := rec.Messages()[0].ID; got != es[0].MessageID {
		t.Fatalf("published %s, want the committed entry %s", got, es[0].MessageID)
	}
}

// Past MaxQueued, committed entries are left to the store and read back.
func TestOverflowIsReadBack(t *testing.T) {
	q, err := outbox.NewQueue("w1", outbox.MaxQueued(2))
	if err != nil {
		t.Fatal(err)
	}
	d := &stored{q: q}
	es := entries(t, 5)
	if _, err := q.Stamp(es); err != nil {
		t.Fatal(err)
	}
	d.db = es
	q.Commit(es...)
	rec := eventstest.NewRecorder(nil)
	r := run(t, d, rec)
	awaitSettled(t, r, rec, 5)
}

// Close settles the unsure writes made just before it: a closing Relay
// looks them up once their TTL has passed, rather than wait for beats
// that no longer run until its deadline.
func TestCloseLooksUpUnsureWrites(t *testing.T) {
	q, err := outbox.NewQueue("w1", outbox.TTL(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	d := &stored{q: q}
	es := entries(t, 2)
	if _, err := q.Stamp(es); err != nil {
		t.Fatal(err)
	}
	d.db = es[:1]
	q.Unsure(es...)
	rec := eventstest.NewRecorder(nil)
	r := run(t, d, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close with unsure writes: %v", err)
	}
	if msgs := rec.Messages(); len(msgs) != 1 || msgs[0].ID != es[0].MessageID {
		t.Fatalf("published %d messages, want the committed entry only", len(msgs))
	}
}
