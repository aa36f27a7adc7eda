// Package outboxtest is the conformance suite every outbox store passes:
// memstore in memory, mongostore against a real server. It drives the
// store's outbox.Driver with real Relays on an in-memory transport, through
// the store's own writes.
package outboxtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/outbox"
)

// Instance is one writer on the store under test, as one instance of a
// service would hold it.
type Instance struct {
	Driver outbox.Driver
	// Write commits version of aggregate through the store, with an
	// outbox entry per event: an insert for version 0, otherwise a
	// compare-and-set from version-1. It fails as the store does.
	Write func(ctx context.Context, aggregate string, version int64, evs ...events.Event) error
}

// Store opens instances on one shared store.
type Store interface {
	Open(t *testing.T, opts ...outbox.QueueOption) Instance
}

// Run runs the suite. newStore returns an empty store each time; it may
// register cleanup on t.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(*testing.T, Store)
	}{
		{"PublishesEachEntryOnce", testOnce},
		{"ConcurrentWriters", testConcurrentWriters},
		{"SeveralRelaysNoDuplicates", testSeveralRelays},
		{"DeadWriterIsTakenOver", testTakeover},
		{"CrashBetweenPublishAndBeat", testCrashAfterPublish},
		{"OrderPerAggregate", testOrder},
		{"UnpublishableEntryIsDeadLettered", testUnpublishable},
		{"FlushReturnsByDeadline", testFlushDeadline},
		{"StatsReportBacklog", testStats},
		{"WritesStopWhenTheLeaseLapses", testLeaseFence},
		{"SlowStoreKeepsTheLease", testSlowStore},
		{"CloseRetiresTheLease", testCloseRetires},
		{"DelayedAtTheirTime", testDelayed},
		{"DelayedTakenOverAfterClose", testDelayedTakeover},
		{"DelayedManyInstances", testDelayedManyInstances},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// event is the event of version v of aggregate id.
func event(id string, v int64) events.Event {
	if v == 0 {
		return eventstest.Sample{ID: id, Title: "t", Price: 100, UserID: "u", Version: v}
	}
	return eventstest.SampleUpdated{ID: id, Title: "t", Price: 100 + v, UserID: "u", Version: v}
}

func write(t *testing.T, in Instance, id string, v int64) {
	t.Helper()
	if err := in.Write(testCtx(t), id, v, event(id, v)); err != nil {
		t.Fatalf("write %s version %d: %v", id, v, err)
	}
}

// relay starts a Relay of in on tr, running until the test ends.
func relay(t *testing.T, in Instance, tr events.Transport, opts ...outbox.RelayOption) (*outbox.Relay, context.CancelFunc) {
	t.Helper()
	r, err := outbox.NewRelay(in.Driver, tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return r, stop
}

func flush(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// key is an event's aggregate and version, decoded from the message.
type key struct {
	id string
	v  int64
}

func keyOf(t *testing.T, m events.Outgoing) key {
	t.Helper()
	switch events.Subject(m.Subject) {
	case eventstest.SubjectSample:
		e, err := events.Decode[eventstest.Sample](m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return key{e.ID, e.Version}
	default:
		e, err := events.Decode[eventstest.SampleUpdated](m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return key{e.ID, e.Version}
	}
}

// counts returns how often each event was published, and checks every
// copy of an event carried the same message id.
func counts(t *testing.T, msgs []events.Outgoing) map[key]int {
	t.Helper()
	n := make(map[key]int)
	ids := make(map[key]string)
	for _, m := range msgs {
		k := keyOf(t, m)
		n[k]++
		if id, ok := ids[k]; ok && id != m.ID {
			t.Errorf("%v published with message ids %s and %s", k, id, m.ID)
		}
		ids[k] = m.ID
		if want := events.MessageID(events.Subject(m.Subject), k.id, k.v); m.ID != want {
			t.Errorf("%v has message id %s, want %s", k, m.ID, want)
		}
	}
	return n
}

func assertExactlyOnce(t *testing.T, msgs []events.Outgoing, want []key) {
	t.Helper()
	n := counts(t, msgs)
	for _, k := range want {
		if n[k] != 1 {
			t.Errorf("%v published %d times, want once", k, n[k])
		}
	}
	if len(msgs) != len(want) {
		t.Errorf("published %d messages, want %d", len(msgs), len(want))
	}
}

func awaitAll(t *testing.T, rec *eventstest.Recorder, want []key, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := counts(t, rec.Messages())
		missing := 0
		for _, k := range want {
			if n[k] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events not published within %v", missing, len(want), within)
		}
		wait(rec, 100*time.Millisecond)
	}
}

func testOnce(t *testing.T, s Store) {
	in := s.Open(t)
	rec := eventstest.NewRecorder(nil)
	r, _ := relay(t, in, rec)
	var want []key
	for range 5 {
		id := ticketkit.NewID()
		for v := range int64(3) {
			write(t, in, id, v)
			want = append(want, key{id, v})
		}
	}
	flush(t, r)
	assertExactlyOnce(t, rec.Messages(), want)
	if st := r.Stats(); st.Backlog != 0 || st.Published != uint64(len(want)) {
		t.Errorf("Stats after Flush = %+v, want no backlog and %d published", st, len(want))
	}
}

func testConcurrentWriters(t *testing.T, s Store) {
	in := s.Open(t)
	rec := eventstest.NewRecorder(nil)
	r, _ := relay(t, in, rec)
	const writers, each = 8, 10
	var mu sync.Mutex
	var want []key
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id := ticketkit.NewID()
				if err := in.Write(testCtx(t), id, 0, event(id, 0)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, key{id, 0})
				mu.Unlock()
			}
		}()
	}
	// Racing compare-and-sets on one aggregate: exactly one wins each version.
	hot := ticketkit.NewID()
	write(t, in, hot, 0)
	mu.Lock()
	want = append(want, key{hot, 0})
	mu.Unlock()
	var wins atomic.Int64
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if in.Write(testCtx(t), hot, 1, event(hot, 1)) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent writes of version 1 succeeded, want 1", wins.Load())
	}
	want = append(want, key{hot, 1})
	flush(t, r)
	assertExactlyOnce(t, rec.Messages(), want)
}

func testSeveralRelays(t *testing.T, s Store) {
	rec := eventstest.NewRecorder(nil)
	var ins []Instance
	var relays []*outbox.Relay
	for range 3 {
		in := s.Open(t, outbox.TTL(time.Second))
		r, _ := relay(t, in, rec)
		ins, relays = append(ins, in), append(relays, r)
	}
	var want []key
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = ticketkit.NewID()
		write(t, ins[i%3], ids[i], 0)
		want = append(want, key{ids[i], 0})
	}
	// Each aggregate's next version from another instance.
	for i, id := range ids {
		write(t, ins[(i+1)%3], id, 1)
		want = append(want, key{id, 1})
	}
	for _, r := range relays {
		flush(t, r)
	}
	// Let each see the others beat for longer than the TTL: nobody takes
	// a live writer over.
	time.Sleep(1500 * time.Millisecond)
	for _, r := range relays {
		flush(t, r)
	}
	assertExactlyOnce(t, rec.Messages(), want)
}

// wait returns when rec records a message, or after d at the latest.
func wait(rec *eventstest.Recorder, d time.Duration) {
	select {
	case <-rec.Changed():
	case <-time.After(d):
	}
}

func testTakeover(t *testing.T, s Store) {
	ttl := 500 * time.Millisecond
	dead := s.Open(t, outbox.TTL(ttl)) // writes, then "crashes": no relay ever runs
	var want []key
	for range 10 {
		id := ticketkit.NewID()
		write(t, dead, id, 0)
		want = append(want, key{id, 0})
	}
	live := s.Open(t, outbox.TTL(ttl))
	rec := eventstest.NewRecorder(nil)
	relay(t, live, rec)
	awaitAll(t, rec, want, 20*time.Second)
	assertExactlyOnce(t, rec.Messages(), want)
	awaitRetired(t, live.Driver, dead.Driver.Queue().Writer())
}

func awaitRetired(t *testing.T, d outbox.Driver, writer string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls, err := d.Writers(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ls, func(l outbox.Lease) bool { return l.Writer == writer }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s not retired: %+v", writer, ls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stuckBeat is a Driver whose beats fail: its relay publishes, but the
// store never learns its horizon, as when a process dies between
// publishing and its next beat.
type stuckBeat struct{ outbox.Driver }

func (stuckBeat) Beat(context.Context, outbox.Progress) error { return errors.New("beat lost") }

func testCrashAfterPublish(t *testing.T, s Store) {
	ttl := time.Second
	a := s.Open(t, outbox.TTL(ttl))
	rec := eventstest.NewRecorder(nil)
	ra, stopA := relay(t, Instance{Driver: stuckBeat{a.Driver}}, rec)
	var want []key
	for range 5 {
		id := ticketkit.NewID()
		write(t, a, id, 0)
		want = append(want, key{id, 0})
	}
	flush(t, ra)
	stopA() // the crash
	if n := len(rec.Messages()); n != len(want) {
		t.Fatalf("before the crash %d published, want %d", n, len(want))
	}
	b := s.Open(t, outbox.TTL(ttl))
	relay(t, b, rec)
	deadline := time.Now().Add(20 * time.Second)
	for len(rec.Messages()) < 2*len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("the takeover republished %d of %d", len(rec.Messages())-len(want), len(want))
		}
		wait(rec, 100*time.Millisecond)
	}
	for k, n := range counts(t, rec.Messages()) {
		if n != 2 {
			t.Errorf("%v published %d times, want twice (once before the crash, once by the takeover)", k, n)
		}
	}
	awaitRetired(t, b.Driver, a.Driver.Queue().Writer())
}

// flaky fails the first publish of every third message it sees.
type flaky struct {
	events.Transport
	mu   sync.Mutex
	n    int
	seen map[string]bool
}

func (f *flaky) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	errs := make([]error, len(msgs))
	var pass []int
	f.mu.Lock()
	for i, m := range msgs {
		f.n++
		if f.n%3 == 0 && !f.seen[m.ID] {
			f.seen[m.ID] = true
			errs[i] = errors.New("flaky: dropped")
			continue
		}
		pass = append(pass, i)
	}
	f.mu.Unlock()
	for _, i := range pass {
		errs[i] = f.Transport.Publish(ctx, msgs[i])
	}
	return errs
}

func testOrder(t *testing.T, s Store) {
	in := s.Open(t)
	rec := eventstest.NewRecorder(nil)
	r, err := outbox.NewRelay(in.Driver, &flaky{Transport: rec, seen: map[string]bool{}}, outbox.Backoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = ticketkit.NewID()
	}
	for v := range int64(8) {
		for _, id := range ids {
			write(t, in, id, v)
		}
	}
	flush(t, r)
	next := make(map[string]int64)
	for _, m := range rec.Messages() {
		k := keyOf(t, m)
		switch {
		case k.v == next[k.id]:
			next[k.id]++
		case k.v > next[k.id]:
			t.Fatalf("%s version %d published before version %d", k.id, k.v, next[k.id])
		}
	}
	for _, id := range ids {
		if next[id] != 8 {
			t.Errorf("%s: versions 0..%d published in order, want 0..7", id, next[id]-1)
		}
	}
}

// refusing fails every publish of one aggregate's version 1.
type refusing struct {
	events.Transport
	id string
}

func (f refusing) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if m.ID == events.MessageID(eventstest.SubjectSampleUpdated, f.id, 1) {
			errs[i] = errors.New("refusing: too large")
			continue
		}
		errs[i] = f.Transport.Publish(ctx, m)
	}
	return errs
}

func testUnpublishable(t *testing.T, s Store) {
	in := s.Open(t)
	rec := eventstest.NewRecorder(nil)
	poison := ticketkit.NewID()
	var mu sync.Mutex
	var dead []outbox.Entry
	r, _ := relay(t, in, refusing{rec, poison},
		outbox.MaxAttempts(2), outbox.Backoff(time.Millisecond, 5*time.Millisecond),
		outbox.OnDeadLetter(func(_ context.Context, e outbox.Entry, _ error) {
			mu.Lock()
			dead = append(dead, e)
			mu.Unlock()
		}))
	other := ticketkit.NewID()
	write(t, in, poison, 0)
	write(t, in, poison, 1)
	write(t, in, poison, 2)
	// Other events keep going through between the poison's attempts, so
	// its failures count against it: the broker is fine.
	want := []key{{poison, 0}, {poison, 2}}
	deadline := time.Now().Add(30 * time.Second)
	for v := int64(0); ; v++ {
		mu.Lock()
		n := len(dead)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poison entry was not dead-lettered within 30s (%d other events written)", v)
		}
		write(t, in, other, v)
		want = append(want, key{other, v})
		time.Sleep(5 * time.Millisecond)
	}
	flush(t, r)
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 || dead[0].Aggregate != poison || dead[0].Version != 1 {
		t.Fatalf("dead letters = %+v, want %s version 1", dead, poison)
	}
	if st := r.Stats(); st.DeadLettered != 1 || st.Backlog != 0 {
		t.Errorf("Stats = %+v, want one dead letter and no backlog", st)
	}
	assertExactlyOnce(t, rec.Messages(), want)
}

// hanging blocks every publish until released, ignoring ctx, as a broker
// that froze.
type hanging struct {
	events.Transport
	release chan struct{}
}

func (h hanging) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	<-h.release
	return h.Transport.PublishBatch(ctx, msgs)
}

func testFlushDeadline(t *testing.T, s Store) {
	in := s.Open(t)
	h := hanging{memtransport.New(), make(chan struct{})}
	r, stop := relay(t, in, h)
	t.Cleanup(func() { close(h.release); stop() })
	write(t, in, ticketkit.NewID(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.Flush(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with a hung broker = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Flush returned after %v, its deadline was 200ms", d)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer ccancel()
	if err := r.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a hung broker = %v, want DeadlineExceeded", err)
	}
}

func testStats(t *testing.T, s Store) {
	in := s.Open(t)
	h := hanging{memtransport.New(), make(chan struct{})}
	r, err := outbox.NewRelay(in.Driver, h)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		write(t, in, ticketkit.NewID(), 0)
	}
	time.Sleep(20 * time.Millisecond)
	st := r.Stats()
	if st.Backlog != 3 || st.Oldest < 20*time.Millisecond {
		t.Fatalf("Stats = %+v, want a backlog of 3 at least 20ms old", st)
	}
	close(h.release)
	flush(t, r)
	if st := r.Stats(); st.Backlog != 0 || st.Oldest != 0 {
		t.Fatalf("Stats after Flush = %+v, want empty", st)
	}
}

func testLeaseFence(t *testing.T, s Store) {
	ttl := 200 * time.Millisecond
	in := s.Open(t, outbox.TTL(ttl)) // no relay renews it
	time.Sleep(ttl/2 + 50*time.Millisecond)
	id := ticketkit.NewID()
	err := in.Write(testCtx(t), id, 0, event(id, 0))
	if !errors.Is(err, outbox.ErrLeaseExpired) {
		t.Fatalf("write after the lease lapsed = %v, want ErrLeaseExpired", err)
	}
}

// slowStore is a Driver on a database that answers every lease
// operation in lat: slow, not gone.
type slowStore struct {
	outbox.Driver
	lat time.Duration
}

func (s slowStore) pause(ctx context.Context) error {
	select {
	case <-time.After(s.lat):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slowStore) Beat(ctx context.Context, p outbox.Progress) error {
	if err := s.pause(ctx); err != nil {
		return err
	}
	return s.Driver.Beat(ctx, p)
}

func (s slowStore) Writers(ctx context.Context) ([]outbox.Lease, error) {
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	return s.Driver.Writers(ctx)
}

func (s slowStore) Recover(ctx context.Context, writer string, after uint64) ([]outbox.Entry, error) {
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	return s.Driver.Recover(ctx, writer, after)
}

// A store that takes a fifth of the TTL to answer each lease operation
// is slow, not gone: the lease holds and no write is refused. (Renewals
// that waited for the read of the leases, and for each other, spaced
// them by two round trips, and the fence of half the TTL lapsed in
// every cycle: issue 20, item 10.)
func testSlowStore(t *testing.T, s Store) {
	ttl := 4 * time.Second
	in := s.Open(t, outbox.TTL(ttl))
	rec := eventstest.NewRecorder(nil)
	r, _ := relay(t, Instance{Driver: slowStore{in.Driver, ttl / 5}, Write: in.Write}, rec)
	var want []key
	start := time.Now()
	for time.Since(start) < 2*ttl {
		id := ticketkit.NewID()
		if err := in.Write(testCtx(t), id, 0, event(id, 0)); err != nil {
			t.Fatalf("write %d, %v after the start: %v (lease operations take %v, the TTL is %v)", len(want)+1, time.Since(start).Round(time.Millisecond), err, ttl/5, ttl)
		}
		want = append(want, key{id, 0})
		time.Sleep(20 * time.Millisecond)
	}
	flush(t, r)
	assertExactlyOnce(t, rec.Messages(), want)
	if st := r.Stats(); st.Lapses != 0 || st.Refused != 0 {
		t.Fatalf("Stats = %+v, want no lapse and no refusal", st)
	}
}

func testCloseRetires(t *testing.T, s Store) {
	in := s.Open(t)
	rec := eventstest.NewRecorder(nil)
	r, _ := relay(t, in, rec)
	id := ticketkit.NewID()
	write(t, in, id, 0)
	if err := r.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertExactlyOnce(t, rec.Messages(), []key{{id, 0}})
	ls, err := in.Driver.Writers(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(ls, func(l outbox.Lease) bool { return l.Writer == in.Driver.Queue().Writer() }) {
		t.Fatalf("lease still there after Close: %+v", ls)
	}
	if err := in.Write(testCtx(t), ticketkit.NewID(), 0, event(id, 0)); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("write after Close = %v, want ErrClosed", err)
	}
}
