package wire_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// catchUpShape is a backlog as the orders service found it in issue 20's
// trial: n ticket:created, of which the last m also have a
// ticket:updated (version 1) that was published ahead of all the
// creations. perEvent is the deadline's allowance for each event (40 ms
// when zero).
type catchUpShape struct {
	n, m     int
	perEvent time.Duration
}

// TestCatchUp: a copy of the tickets that joins with a backlog of
// creations, and early updates ahead of them, on a real broker, converges.
// Each event costs the copy a database round trip (roundTrip), and the
// whole in-flight window takes longer than the ack wait to handle, as it
// did in the trial: the broker redelivers messages still queued in the
// client. Before the Listener skipped redeliveries of what it had
// acknowledged, every such duplicate cost a round trip too, the queue of
// duplicates grew faster than it was worked off, and the copy stopped
// growing (NATS Streaming) or crawled; see BENCHMARKS.md, Issue 20.
func TestCatchUp(t *testing.T) {
	shape := catchUpShape{n: 1500, m: 200}
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) {
			d := catchUp(t, transport, shape, memoryCopy(t, 5*time.Millisecond), time.Second)
			t.Logf("%s: %d creations + %d early updates converged in %v", transport, shape.n, shape.m, d.Round(time.Millisecond))
		})
	}
}

// memoryCopy is a memstore copy whose every call takes roundTrip of a
// database that answers one call at a time, as a busy one does: the
// early updates' refusals take their share of it from the creations.
func memoryCopy(t testing.TB, roundTrip time.Duration) store.Replica[orders.Ticket] {
	r, err := memstore.NewReplica[orders.Ticket](memstore.NewDB(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	return &slowReplica{Replica: r, roundTrip: roundTrip}
}

type slowReplica struct {
	store.Replica[orders.Ticket]
	roundTrip time.Duration
	db        sync.Mutex
}

func (r *slowReplica) Apply(ctx context.Context, id string, version int64, doc orders.Ticket) (events.Ordering, error) {
	r.db.Lock()
	time.Sleep(r.roundTrip) // the database's answer, not a wait for anything
	r.db.Unlock()
	return r.Replica.Apply(ctx, id, version, doc)
}

// catchUp publishes shape on a server of the test's own, then starts the
// copy's two listeners (the orders service's settings: DeliverAll, a
// durable queue group, the default in-flight window) and waits for every
// ticket to reach its last version, within a deadline proportional to the
// backlog and generous. It returns how long that took.
func catchUp(t *testing.T, transport string, shape catchUpShape, copies store.Replica[orders.Ticket], ackWait time.Duration, opts ...events.ListenerOption) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	tr := brokerOfItsOwn(t, transport)

	ids := make([]string, shape.n)
	for i := range ids {
		ids[i] = ticketkit.NewID()
	}
	updated := ids[shape.n-shape.m:]
	ups := make([]wire.TicketUpdated, len(updated))
	for i, id := range updated {
		ups[i] = wire.TicketUpdated{ID: id, Title: "updated", Price: 200, UserID: ticketkit.NewID(), Version: 1}
	}
	publishAll(ctx, t, tr, ups)
	creates := make([]wire.TicketCreated, len(ids))
	for i, id := range ids {
		creates[i] = wire.TicketCreated{ID: id, Title: "created", Price: 100, UserID: ticketkit.NewID()}
	}
	publishAll(ctx, t, tr, creates)

	var applied, calls, duplicates atomic.Int64
	c := wire.TicketCopies{Replica: countingReplica{Replica: copies, applied: &applied, calls: &calls, duplicates: &duplicates}}
	start := time.Now()
	all := append([]events.ListenerOption{
		events.DeliverAll(), events.AckWait(ackWait), events.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	listen(ctx, t, tr, c.OnTicketCreated, all...)
	listen(ctx, t, tr, c.OnTicketUpdated, all...)

	// Proportional to the backlog and generous: 40 ms an event (8 times
	// what the memory copy costs) and a minute for the early updates'
	// waits.
	perEvent := shape.perEvent
	if perEvent == 0 {
		perEvent = 40 * time.Millisecond
	}
	deadline := time.Minute + time.Duration(shape.n+shape.m)*perEvent
	want := int64(shape.n + shape.m)
	lastLog := start
	var peakHeap uint64 // the process's, sampled: what queued redeliveries cost
	var ms runtime.MemStats
	for applied.Load() < want {
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			t.Logf("after %v: %d versions applied in %d calls, %d of them duplicates", time.Since(start).Round(time.Second), applied.Load(), calls.Load(), duplicates.Load())
		}
		if time.Since(start) > deadline {
			t.Fatalf("the copy holds %d of %d versions after %v: it has not caught up", applied.Load(), want, deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%d versions applied in %d calls of the copy, %d of them duplicates; heap at most %.1f MB", applied.Load(), calls.Load(), duplicates.Load(), float64(peakHeap)/1e6)
	// The broker redelivered what was still queued here; those copies of
	// what was applied since must not each cost the copy a round trip
	// (before the fix they were most of the calls, and the stall).
	if d := duplicates.Load(); d > int64(shape.n/10) {
		t.Errorf("%d redelivered duplicates reached the copy, for %d events: the Listener should acknowledge what it applied without the handler", d, shape.n+shape.m)
	}
	// Every ticket at its last version.
	for i, id := range ids {
		rec, err := copies.Get(ctx, id)
		want := int64(0)
		if i >= shape.n-shape.m {
			want = 1
		}
		if err != nil || rec.Version != want {
			t.Fatalf("ticket %d: %+v, %v; want version %d", i, rec, err, want)
		}
	}
	return took
}

// countingReplica counts the versions written.
type countingReplica struct {
	store.Replica[orders.Ticket]
	applied, calls, duplicates *atomic.Int64
}

func (r countingReplica) Apply(ctx context.Context, id string, version int64, doc orders.Ticket) (events.Ordering, error) {
	r.calls.Add(1)
	ord, err := r.Replica.Apply(ctx, id, version, doc)
	switch {
	case err == nil && ord == events.Apply:
		r.applied.Add(1)
	case err == nil && ord == events.Duplicate:
		r.duplicates.Add(1)
	}
	return ord, err
}

// deadLetters is the prefix of the copy's dead-letter subjects.
const deadLetters = "orders-service:dead-letter"

// A copy held at a permanent gap, on a real broker: a ticket:updated
// whose ticket:created never comes is parked on the dead-letter subject,
// bytes unchanged, once its deliveries run out, and says "gap" where the
// transport carries a reason (JetStream's headers). Before, it was
// redelivered for ever (issue 20, finding 9: up to 532 times).
func TestCatchUpParksAPermanentGap(t *testing.T) {
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			tr := brokerOfItsOwn(t, transport)
			dlSubject := deadLetters + "." + string(wire.SubjectTicketUpdated)
			parked := make(chan events.Message, 1)
			var sub events.Subscription
			var err error
			for {
				// On JetStream the dead-letter stream is provisioned in
				// the background.
				sub, err = tr.Subscribe(ctx, dlSubject, events.SubscribeOptions{QueueGroup: "operator", DeliverAll: true, ManualAck: true, AckWait: 5 * time.Second, MaxInFlight: 1},
					func(m events.Message) {
						_ = m.Ack()
						select {
						case parked <- m:
						default:
						}
					})
				if err == nil || !errors.Is(err, jsclient.ErrNoStream) || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Close(context.Background()) })

			r, err := memstore.NewReplica[orders.Ticket](memstore.NewDB(), "tickets")
			if err != nil {
				t.Fatal(err)
			}
			c := wire.TicketCopies{Replica: r}
			orphan := wire.TicketUpdated{ID: ticketkit.NewID(), Title: "never created", Price: 1, UserID: ticketkit.NewID(), Version: 1}
			publishAll(ctx, t, tr, []wire.TicketUpdated{orphan})
			var outcomes [events.Parked + 1]atomic.Int32
			listen(ctx, t, tr, c.OnTicketUpdated, events.DeliverAll(), events.AckWait(time.Second), events.MaxOutOfOrderDeliveries(3),
				events.DeadLetterSubject(dlSubject), events.WithLogger(slog.New(slog.DiscardHandler)),
				events.WithHooks(events.Hooks{Handled: func(_ events.Metadata, _ time.Duration, o events.Outcome) { outcomes[o].Add(1) }}))
			select {
			case m := <-parked:
				want, _ := events.Encode(orphan)
				if string(m.Data()) != string(want) {
					t.Errorf("parked %s, want %s", m.Data(), want)
				}
				if h := m.Metadata().Header; h != nil && !strings.Contains(h.Get(events.HeaderDeadError), "gap") {
					t.Errorf("parked with reason %q, want one that says gap", h.Get(events.HeaderDeadError))
				}
			case <-ctx.Done():
				t.Fatal("the orphan update was never parked")
			}
			for outcomes[events.Parked].Load() == 0 && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			if n := outcomes[events.Parked].Load(); n != 1 {
				t.Errorf("Parked reported %d times, want once", n)
			}
			if _, err := r.Get(ctx, orphan.ID); err == nil {
				t.Error("the orphan update was copied")
			}
		})
	}
}

func brokerOfItsOwn(t *testing.T, transport string) events.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		tr  events.Transport
		err error
	)
	switch transport {
	case "stan":
		srv := testenv.StartStan(t, t.TempDir())
		tr, err = streaming.Connect(ctx, natsclient.Config{URLs: []string{srv.URL()}, ClusterID: srv.ClusterID(), ClientID: testenv.UniqueName(t)})
	case "jetstream":
		srv := testenv.StartJetStream(t, t.TempDir())
		tr, err = jsclient.Connect(ctx, jsclient.Config{
			Config:  natsclient.Config{URLs: []string{srv.URL()}},
			Streams: []jsclient.Stream{{Name: wire.StreamName, Subjects: wire.Subjects()}, jsclient.DeadLetterStream(deadLetters)},
		})
	default:
		t.Fatalf("transport %q", transport)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tr
}

func publishAll[E events.Event](ctx context.Context, t *testing.T, tr events.Transport, es []E) {
	t.Helper()
	p, err := events.NewPublisher[E](tr)
	if err != nil {
		t.Fatal(err)
	}
	for len(es) > 0 {
		batch := es[:min(len(es), 500)]
		es = es[len(batch):]
		for i, err := range p.PublishBatch(ctx, batch) {
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
	}
}

func listen[E events.Event](ctx context.Context, t *testing.T, tr events.Transport, h events.Handler[E], opts ...events.ListenerOption) *events.Listener {
	t.Helper()
	l, err := events.Listen(ctx, tr, "orders-service", h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close listener: %v", err)
		}
	})
	return l
}
