package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// openReplica returns a Replica, prepared, on a fresh database that is
// dropped when t ends, and that database.
func openReplica(t *testing.T, opts ...mongostore.ReplicaOption) (ticketReplica, *mongo.Database) {
	t.Helper()
	db := testenv.Mongo(t)
	r, err := newTicketReplica(db, opts...)
	if err != nil {
		t.Fatalf("NewReplica: %v", err)
	}
	if err := r.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return r, db
}

// eachReplicaMode runs test with the Replica's FerretDB 1.x document locks
// on, and with the server's version guard alone keeping writers apart, as
// between processes (see eachMode).
func eachReplicaMode(t *testing.T, test func(t *testing.T, open func(*testing.T, ...mongostore.ReplicaOption) ticketReplica)) {
	t.Run("DocLocks", func(t *testing.T) {
		test(t, func(t *testing.T, opts ...mongostore.ReplicaOption) ticketReplica {
			r, _ := openReplica(t, append(opts, mongostore.WithDocumentLocks())...)
			return r
		})
	})
	t.Run("ServerOnly", func(t *testing.T) {
		test(t, func(t *testing.T, opts ...mongostore.ReplicaOption) ticketReplica {
			r, _ := openReplica(t, opts...)
			return r
		})
	})
}

// history is the events of one ticket, versions 0..n: a TicketCreated and
// n TicketUpdated, each with its own title and price, some reserved.
type history struct {
	created wire.TicketCreated
	updated []wire.TicketUpdated
}

func newHistory(n int) history {
	id, user := ticketkit.NewID(), ticketkit.NewID()
	h := history{created: wire.TicketCreated{ID: id, Title: "v0 of " + id, Price: ticketkit.Cents(1000), UserID: user}}
	for v := 1; v <= n; v++ {
		u := wire.TicketUpdated{ID: id, Title: fmt.Sprintf("v%d of %s", v, id), Price: ticketkit.Cents(int64(1000 + 10*v)), UserID: user, Version: int64(v)}
		if v%2 == 1 {
			u.OrderID = ticketkit.NewID()
		}
		h.updated = append(h.updated, u)
	}
	return h
}

func (h history) id() string  { return h.created.ID }
func (h history) last() int64 { return int64(len(h.updated)) }
func (h history) final() orders.Ticket {
	if len(h.updated) == 0 {
		return orders.Ticket{ID: h.created.ID, Title: h.created.Title, Price: h.created.Price}
	}
	u := h.updated[len(h.updated)-1]
	return orders.Ticket{ID: u.ID, Title: u.Title, Price: u.Price, Version: u.Version}
}

// event is one version of one ticket, as the broker would carry it.
type event struct {
	created *wire.TicketCreated
	updated *wire.TicketUpdated
}

func (e event) key() string {
	if e.created != nil {
		return fmt.Sprintf("%s@%d", e.created.ID, e.created.Version)
	}
	return fmt.Sprintf("%s@%d", e.updated.ID, e.updated.Version)
}

func (e event) deliver(ctx context.Context, r ticketReplica) error {
	if e.created != nil {
		return r.OnTicketCreated(ctx, *e.created, events.Metadata{})
	}
	return r.OnTicketUpdated(ctx, *e.updated, events.Metadata{})
}

func (h history) events() []event {
	out := []event{{created: &h.created}}
	for i := range h.updated {
		out = append(out, event{updated: &h.updated[i]})
	}
	return out
}

// shuffledWithDuplicates returns every event of hs one to three times, in
// a random order drawn from rng.
func shuffledWithDuplicates(rng *rand.Rand, hs []history) []event {
	var out []event
	for _, h := range hs {
		for _, e := range h.events() {
			for range 1 + rng.IntN(3) {
				out = append(out, e)
			}
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// applyLog counts the replica's "applied" debug records per ticket
// version, which is how the tests see that each version was written
// exactly once through handlers that only return an error.
type applyLog struct {
	mu      sync.Mutex
	applied map[string]int
}

func (l *applyLog) Enabled(_ context.Context, lv slog.Level) bool { return true }
func (l *applyLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *applyLog) WithGroup(string) slog.Handler                 { return l }
func (l *applyLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "mongostore: replica applied event" {
		return nil
	}
	var id string
	var version int64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "id":
			id = a.Value.String()
		case "version":
			version = a.Value.Int64()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.applied == nil {
		l.applied = make(map[string]int)
	}
	l.applied[fmt.Sprintf("%s@%d", id, version)]++
	return nil
}

func (l *applyLog) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.applied))
	for k, v := range l.applied {
		out[k] = v
	}
	return out
}

func mustGet(t *testing.T, r ticketReplica, id string) orders.Ticket {
	t.Helper()
	got, err := r.Ticket(ctx(t), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return got
}

// TestReplicaAppliesInVersionOrder walks one ticket through every case:
// early events are refused with ErrOutOfOrder and change nothing, the next
// version is applied, and redeliveries are acknowledged without undoing a
// newer version.
func TestReplicaAppliesInVersionOrder(t *testing.T) {
	eachReplicaMode(t, func(t *testing.T, open func(*testing.T, ...mongostore.ReplicaOption) ticketReplica) {
		r := open(t)
		c := ctx(t)
		h := newHistory(3)
		v1, v2, v3 := h.updated[0], h.updated[1], h.updated[2]

		step := func(name string, got events.Ordering, err error, want events.Ordering) {
			t.Helper()
			switch {
			case want == events.OutOfOrder && !errors.Is(err, events.ErrOutOfOrder):
				t.Fatalf("%s: error %v, want one wrapping ErrOutOfOrder", name, err)
			case want != events.OutOfOrder && err != nil:
				t.Fatalf("%s: %v", name, err)
			case got != want:
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
		ord, err := r.ApplyUpdated(c, v1)
		step("v1 before the ticket exists", ord, err, events.OutOfOrder)
		if _, err := r.Get(c, h.id()); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Fatalf("Get after an early update: %v, want ENOTFOUND (nothing written)", err)
		}
		ord, err = r.ApplyCreated(c, h.created)
		step("v0", ord, err, events.Apply)
		ord, err = r.ApplyCreated(c, h.created)
		step("v0 again", ord, err, events.Duplicate)
		ord, err = r.ApplyUpdated(c, v2)
		step("v2 before v1", ord, err, events.OutOfOrder)
		if got := mustGet(t, r, h.id()); got.Version != 0 || got.Title != h.created.Title || got.Price != h.created.Price {
			t.Fatalf("after v0 and an early v2: %+v, want v0's ticket", got)
		}
		ord, err = r.ApplyUpdated(c, v1)
		step("v1", ord, err, events.Apply)
		ord, err = r.ApplyUpdated(c, v2)
		step("v2", ord, err, events.Apply)
		ord, err = r.ApplyUpdated(c, v1)
		step("v1 redelivered after v2", ord, err, events.Duplicate)
		ord, err = r.ApplyCreated(c, h.created)
		step("v0 redelivered after v2", ord, err, events.Duplicate)
		if got := mustGet(t, r, h.id()); got != (orders.Ticket{ID: h.id(), Title: v2.Title, Price: v2.Price, Version: 2}) {
			t.Fatalf("after redeliveries of v0 and v1: %+v, want v2's ticket (never overwritten by an older version)", got)
		}

		// The handlers say the same with their errors alone.
		if err := r.OnTicketUpdated(c, v1, events.Metadata{}); err != nil {
			t.Fatalf("OnTicketUpdated(duplicate v1) = %v, want nil (acknowledge)", err)
		}
		if err := r.OnTicketCreated(c, h.created, events.Metadata{}); err != nil {
			t.Fatalf("OnTicketCreated(duplicate v0) = %v, want nil (acknowledge)", err)
		}
		other := newHistory(1)
		if err := r.OnTicketUpdated(c, other.updated[0], events.Metadata{}); !errors.Is(err, events.ErrOutOfOrder) {
			t.Fatalf("OnTicketUpdated(v1 of an unknown ticket) = %v, want ErrOutOfOrder (leave unacknowledged)", err)
		}
		if err := r.OnTicketUpdated(c, v3, events.Metadata{}); err != nil {
			t.Fatalf("OnTicketUpdated(v3) = %v", err)
		}
		if got := mustGet(t, r, strings.ToUpper(h.id())); got != h.final() {
			t.Fatalf("Get(upper-case id) = %+v, want %+v", got, h.final())
		}
	})
}

// TestReplicaConvergesFromShuffledDuplicates delivers versions 0..N of
// several tickets, each one to three times, shuffled, to concurrent
// handlers, and hands every event refused as out of order back later, as
// a broker redelivers an unacknowledged message. Every ticket must end at
// its last version, every version must have been written exactly once,
// and nothing but ErrOutOfOrder may fail.
func TestReplicaConvergesFromShuffledDuplicates(t *testing.T) {
	eachReplicaMode(t, func(t *testing.T, open func(*testing.T, ...mongostore.ReplicaOption) ticketReplica) {
		const (
			ticketCount = 4
			versions    = 8 // 0..7 per ticket
			handlers    = 6
		)
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, seed))
		log := &applyLog{}
		r := open(t, mongostore.WithLogger(slog.New(log)))
		c := ctx(t)
		var hs []history
		for range ticketCount {
			hs = append(hs, newHistory(versions-1))
		}
		queue := shuffledWithDuplicates(rng, hs)
		maxDeliveries := 20 * len(queue) // a livelock fails rather than hangs

		// A broker in miniature: hand out the queue to the handlers, put
		// refused events back at the end.
		type result struct {
			e   event
			err error
		}
		work, results := make(chan event), make(chan result)
		var wg sync.WaitGroup
		for range handlers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range work {
					results <- result{e, e.deliver(c, r)}
				}
			}()
		}
		delivered, inflight, early := 0, 0, 0
		for len(queue) > 0 || inflight > 0 {
			var send chan event
			var next event
			if len(queue) > 0 && delivered < maxDeliveries {
				send, next = work, queue[0]
			}
			if send == nil && inflight == 0 {
				break
			}
			select {
			case send <- next:
				queue = queue[1:]
				inflight++
				delivered++
			case res := <-results:
				inflight--
				switch {
				case errors.Is(res.err, events.ErrOutOfOrder):
					early++
					queue = append(queue, res.e) // redelivered later
				case res.err != nil:
					t.Errorf("%s: %v", res.e.key(), res.err)
				}
			}
		}
		close(work)
		wg.Wait()
		t.Logf("%d deliveries, %d refused as early", delivered, early)
		if len(queue) > 0 {
			t.Fatalf("%d events still refused after %d deliveries", len(queue), delivered)
		}

		counts := log.counts()
		for _, h := range hs {
			if got := mustGet(t, r, h.id()); got != h.final() {
				t.Errorf("ticket %s ended as %+v, want %+v", h.id(), got, h.final())
			}
			for v := range int64(versions) {
				if n := counts[fmt.Sprintf("%s@%d", h.id(), v)]; n != 1 {
					t.Errorf("ticket %s version %d written %d times, want exactly once", h.id(), v, n)
				}
			}
		}
	})
}

// TestReplicaThroughNATSStreaming runs the same convergence through the
// real thing: two instances of a consuming service (a client and a
// Replica each, on one database) in one queue group, with the Replica's
// handlers as listeners, and the events published shuffled and duplicated.
// Early events are redelivered by the server after the 1 s ack wait. Every
// ticket must reach its last version, every message must end up
// acknowledged, and nothing may be dead-lettered.
func TestReplicaThroughNATSStreaming(t *testing.T) {
	noLeaks(t)
	const (
		ticketCount = 3
		versions    = 5 // 0..4 per ticket
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	server := startStan(t)
	db := testenv.Mongo(t)

	var (
		mu     sync.Mutex
		acked  = make(map[string]bool) // subject/sequence
		signal = make(chan struct{}, 1)
	)
	hooks := events.Hooks{Handled: func(meta events.Metadata, _ time.Duration, o events.Outcome) {
		if o == events.Acked {
			mu.Lock()
			acked[fmt.Sprintf("%s/%d", meta.Subject, meta.Sequence)] = true
			mu.Unlock()
		}
		select {
		case signal <- struct{}{}:
		default:
		}
	}}
	deadLetter := events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error {
		t.Errorf("dead letter on %s #%d: %v: %s", dl.Subject, dl.Sequence, dl.Err, dl.Data)
		return nil
	})
	group := "orders-" + testenv.UniqueName(t)[2:]
	var replica ticketReplica
	for i := range 2 {
		r, err := newTicketReplica(db)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.EnsureIndexes(ctx(t)); err != nil {
			t.Fatal(err)
		}
		client := connectNATS(t, server, fmt.Sprint("orders-", i))
		opts := []events.ListenerOption{events.DeliverAll(), events.AckWait(time.Second), events.Concurrency(4), events.WithHooks(hooks), deadLetter}
		listen(t, client, group, r.OnTicketCreated, opts...)
		listen(t, client, group, r.OnTicketUpdated, opts...)
		replica = r
	}

	var hs []history
	for range ticketCount {
		hs = append(hs, newHistory(versions-1))
	}
	pubClient := connectNATS(t, server, "tickets")
	created, err := events.NewPublisher[wire.TicketCreated](pubClient)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := events.NewPublisher[wire.TicketUpdated](pubClient)
	if err != nil {
		t.Fatal(err)
	}
	msgs := shuffledWithDuplicates(rng, hs)
	for _, e := range msgs {
		var err error
		if e.created != nil {
			err = created.Publish(ctx(t), *e.created)
		} else {
			err = updated.Publish(ctx(t), *e.updated)
		}
		if err != nil {
			t.Fatalf("publish %s: %v", e.key(), err)
		}
	}

	converged := func() bool {
		for _, h := range hs {
			got, err := replica.Ticket(ctx(t), h.id())
			if errors.Is(err, ticketkit.ErrNotFound) || (err == nil && got != h.final()) {
				return false
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == len(msgs)
	}
	began := time.Now()
	deadline := time.After(wait)
	for !converged() {
		select {
		case <-signal:
		case <-deadline:
			for _, h := range hs {
				got, err := replica.Ticket(ctx(t), h.id())
				t.Logf("ticket %s: %+v %v, want %+v", h.id(), got, err, h.final())
			}
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			t.Fatalf("not converged within %v: %d of %d messages acknowledged", wait, n, len(msgs))
		}
	}
	t.Logf("%d messages converged and acknowledged in %v", len(msgs), time.Since(began).Round(time.Millisecond))
}

// TestReplicaDocumentLayout: a replicated ticket is exactly the document
// the orders service keeps, with the price in exact cents.
func TestReplicaDocumentLayout(t *testing.T) {
	r, db := openReplica(t)
	h := newHistory(1)
	h.updated[0].Price = ticketkit.Cents(1234)
	for _, e := range h.events() {
		if err := e.deliver(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	oid, _ := bson.ObjectIDFromHex(h.id())
	var doc bson.D
	if err := db.Collection("tickets").FindOne(ctx(t), bson.D{{Key: "_id", Value: oid}}).Decode(&doc); err != nil {
		t.Fatalf("the ticket is not in the replica's collection: %v", err)
	}
	want := bson.D{{Key: "_id", Value: oid}, {Key: "version", Value: int64(1)}, {Key: "title", Value: h.updated[0].Title}, {Key: "price", Value: int64(1234)}}
	if fmt.Sprint(doc) != fmt.Sprint(want) {
		t.Fatalf("stored document = %v, want %v", doc, want)
	}
}

// TestReplicaRejectsInvalidEvents: what no Listener would decode is
// EINVALID, and writes nothing.
func TestReplicaRejectsInvalidEvents(t *testing.T) {
	r, db := openReplica(t)
	good := wire.TicketCreated{ID: ticketkit.NewID(), Title: "concert", Price: ticketkit.Cents(100), UserID: "u"}
	for name, e := range map[string]wire.TicketCreated{
		"bad id":           {ID: "not-an-id", Title: "x", Price: 100},
		"operator id":      {ID: `{"$gt":""}`, Title: "x", Price: 100},
		"negative version": {ID: good.ID, Title: "x", Price: 100, Version: -1},
		"zero price":       {ID: good.ID, Title: "x"},
	} {
		if _, err := r.ApplyCreated(ctx(t), e); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("%s: error %v, want EINVALID", name, err)
		}
	}
	if _, err := r.ApplyUpdated(ctx(t), wire.TicketUpdated{ID: good.ID, Title: "x", Price: 100, Version: 1, OrderID: "nope"}); !errors.Is(err, ticketkit.ErrInvalid) {
		t.Errorf("bad order id: error %v, want EINVALID", err)
	}
	if n, err := db.Collection("tickets").CountDocuments(ctx(t), bson.D{}); err != nil || n != 0 {
		t.Fatalf("%d documents written (%v), want none", n, err)
	}
	// Operator-shaped titles are data.
	good.Title = `{"$set":{"version":99}}`
	if _, err := r.ApplyCreated(ctx(t), good); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, r, good.ID); got.Title != good.Title || got.Version != 0 {
		t.Fatalf("stored %+v", got)
	}
}

// TestReplicaHandlerDeadLettersInvalidEvents: through a Listener, an
// invalid event that reaches the handler is dead-lettered on its first
// delivery rather than retried, and a valid one is acknowledged.
func TestReplicaHandlerDeadLettersInvalidEvents(t *testing.T) {
	noLeaks(t)
	r, _ := openReplica(t)
	tr := memtransport.New()
	t.Cleanup(func() { tr.Close(context.Background()) })
	dead := make(chan events.DeadLetter, 1)
	acked := make(chan struct{}, 1)
	// The payload decodes; the handler is handed a broken copy, as a
	// consumer building events by hand could.
	listen(t, tr, "orders", func(ctx context.Context, e wire.TicketCreated, m events.Metadata) error {
		if e.Title == "break me" {
			e.Price = 0
		}
		return r.OnTicketCreated(ctx, e, m)
	},
		events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error { dead <- dl; return nil }),
		events.WithHooks(events.Hooks{Handled: func(_ events.Metadata, _ time.Duration, o events.Outcome) {
			if o == events.Acked {
				acked <- struct{}{}
			}
		}}))
	pub, err := events.NewPublisher[wire.TicketCreated](tr)
	if err != nil {
		t.Fatal(err)
	}
	bad := wire.TicketCreated{ID: ticketkit.NewID(), Title: "break me", Price: 100, UserID: "u"}
	if err := pub.Publish(ctx(t), bad); err != nil {
		t.Fatal(err)
	}
	select {
	case dl := <-dead:
		if dl.DeliveryCount > 1 || !errors.Is(dl.Err, ticketkit.ErrInvalid) {
			t.Fatalf("dead letter on delivery %d with %v, want the first delivery and EINVALID", dl.DeliveryCount, dl.Err)
		}
	case <-acked:
		t.Fatal("an invalid event was acknowledged")
	case <-time.After(wait):
		t.Fatal("the invalid event was not dead-lettered")
	}
	good := wire.TicketCreated{ID: ticketkit.NewID(), Title: "concert", Price: 100, UserID: "u"}
	if err := pub.Publish(ctx(t), good); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
	case dl := <-dead:
		t.Fatalf("a valid event was dead-lettered: %v", dl.Err)
	case <-time.After(wait):
		t.Fatal("the valid event was not acknowledged")
	}
	if got := mustGet(t, r, good.ID); got.Version != 0 || got.Title != "concert" {
		t.Fatalf("stored %+v", got)
	}
}

func TestReplicaGetNotFound(t *testing.T) {
	r, _ := openReplica(t)
	for _, id := range []string{ticketkit.NewID(), "", "zz", `{"$ne":null}`} {
		if _, err := r.Get(ctx(t), id); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ENOTFOUND", id, err)
		}
	}
}

// TestReplicaEnsureIndexesIsIdempotent: again, and on a collection that
// already has tickets, it succeeds and keeps them.
func TestReplicaEnsureIndexesIsIdempotent(t *testing.T) {
	r, db := openReplica(t)
	h := newHistory(0)
	if err := h.events()[0].deliver(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.EnsureIndexes(ctx(t)); err != nil {
			t.Fatalf("EnsureIndexes again: %v", err)
		}
	}
	other, err := newTicketReplica(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes from another Replica: %v", err)
	}
	if got := mustGet(t, other, h.id()); got != h.final() {
		t.Fatalf("after EnsureIndexes: %+v, want %+v", got, h.final())
	}
}

func TestNewReplicaRejectsInvalidOptions(t *testing.T) {
	db := testenv.Mongo(t)
	if _, err := newTicketReplica(nil); err == nil {
		t.Error("NewReplica(nil) succeeded")
	}
	for name, opt := range map[string]mongostore.ReplicaOption{
		"nil option": nil,
		"nil logger": mongostore.WithLogger(nil),
	} {
		if _, err := newTicketReplica(db, opt); err == nil {
			t.Errorf("%s: NewReplica succeeded", name)
		}
	}
}

// TestReplicaDoneContext: a cancelled context fails the handler (so the
// message is redelivered) with an EINTERNAL error that keeps the cause.
func TestReplicaDoneContext(t *testing.T) {
	r, _ := openReplica(t)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	h := newHistory(0)
	err := r.OnTicketCreated(c, h.created, events.Metadata{})
	if ticketkit.ErrorCode(err) != ticketkit.EINTERNAL || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want EINTERNAL wrapping context.Canceled", err)
	}
	if _, err := r.Get(ctx(t), h.id()); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Fatalf("Get after a cancelled apply: %v, want ENOTFOUND", err)
	}
}

// order is an aggregate of another service, replicated generically.
type order struct {
	Status string `bson:"status"`
	Ticket string `bson:"ticketId,omitempty"`
}

// TestGenericReplica: a Replica of any type applies in version order,
// removes a field a later version omits, and reads several ids at once.
func TestGenericReplica(t *testing.T) {
	db := testenv.Mongo(t)
	r, err := mongostore.NewReplica[order](db, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureIndexes(ctx(t)); err != nil {
		t.Fatal(err)
	}
	a, b := ticketkit.NewID(), ticketkit.NewID()
	apply := func(id string, v int64, o order, want events.Ordering) {
		t.Helper()
		got, err := r.Apply(ctx(t), id, v, o)
		if got != want || (want == events.OutOfOrder) != errors.Is(err, events.ErrOutOfOrder) || (want != events.OutOfOrder && err != nil) {
			t.Fatalf("Apply(%s v%d) = %v, %v; want %v", id, v, got, err, want)
		}
	}
	apply(a, 1, order{Status: "cancelled"}, events.OutOfOrder)
	apply(a, 0, order{Status: "created", Ticket: b}, events.Apply)
	apply(a, 0, order{Status: "created", Ticket: b}, events.Duplicate)
	apply(a, 1, order{Status: "cancelled"}, events.Apply)
	apply(b, 0, order{Status: "created"}, events.Apply)
	got, err := r.GetMany(ctx(t), []string{a, strings.ToUpper(b), ticketkit.NewID(), "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a].Version != 1 || got[a].Doc != (order{Status: "cancelled"}) || got[b].Doc.Status != "created" {
		t.Fatalf("GetMany = %+v", got)
	}
	if _, err := r.Apply(ctx(t), "bad", 0, order{}); !errors.Is(err, ticketkit.ErrInvalid) {
		t.Fatalf("Apply with a bad id: %v, want EINVALID", err)
	}
}

// A claim is the replica's own mark: a compare-and-set that Apply leaves
// alone, so of concurrent claimers exactly one wins.
func TestReplicaClaim(t *testing.T) {
	eachReplicaMode(t, func(t *testing.T, open func(*testing.T, ...mongostore.ReplicaOption) ticketReplica) {
		r := open(t)
		c := ctx(t)
		h := newHistory(2)
		if _, err := r.Claim(c, h.id(), "", "a"); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Fatalf("claim of an unknown copy: %v, want ENOTFOUND", err)
		}
		if _, err := r.Claim(c, "$where", "", "a"); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Fatalf("claim of a bad id: %v, want EINVALID", err)
		}
		if _, err := r.ApplyCreated(c, h.created); err != nil {
			t.Fatal(err)
		}
		claim := func(prev, next string, want bool) {
			t.Helper()
			if got, err := r.Claim(c, h.id(), prev, next); err != nil || got != want {
				t.Fatalf("Claim(%q → %q) = %v, %v; want %v", prev, next, got, err, want)
			}
		}
		claim("x", "a", false)
		claim("", "a", true)
		claim("", "b", false)
		claim("a", "b", true)
		if _, err := r.ApplyUpdated(c, h.updated[0]); err != nil {
			t.Fatal(err)
		}
		rec, err := r.Replica.Get(c, h.id())
		if err != nil || rec.Claim != "b" || rec.Version != 1 {
			t.Fatalf("after Apply: %+v, %v; want claim b kept at version 1", rec, err)
		}
		claim("b", "", true)
		claim("", "c", true)
	})
	// Concurrency needs the server's atomic filtered update, or on
	// FerretDB 1.x the document locks (see the package documentation).
	r, _ := openReplica(t, mongostore.WithDocumentLocks())
	c := ctx(t)
	h := newHistory(0)
	if _, err := r.ApplyCreated(c, h.created); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, err := r.Claim(c, h.id(), "", fmt.Sprint(i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 8 concurrent claims won, want exactly 1", n)
	}
}

// ticketReplica is the orders service's copy of the tickets on a
// Replica, with the handlers wire.TicketCopies gives it, as the tests
// drive it.
type ticketReplica struct {
	*mongostore.Replica[orders.Ticket]
}

func newTicketReplica(db *mongo.Database, opts ...mongostore.ReplicaOption) (ticketReplica, error) {
	r, err := mongostore.NewReplica[orders.Ticket](db, "tickets", opts...)
	return ticketReplica{r}, err
}

func (r ticketReplica) ApplyCreated(ctx context.Context, e wire.TicketCreated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, &ticketkit.Error{Code: ticketkit.EINVALID, Message: err.Error()}
	}
	return r.Apply(ctx, e.ID, e.Version, orders.Ticket{Title: e.Title, Price: e.Price})
}

func (r ticketReplica) ApplyUpdated(ctx context.Context, e wire.TicketUpdated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, &ticketkit.Error{Code: ticketkit.EINVALID, Message: err.Error()}
	}
	return r.Apply(ctx, e.ID, e.Version, orders.Ticket{Title: e.Title, Price: e.Price})
}

func (r ticketReplica) OnTicketCreated(ctx context.Context, e wire.TicketCreated, m events.Metadata) error {
	return wire.TicketCopies{Replica: r.Replica}.OnTicketCreated(ctx, e, m)
}

func (r ticketReplica) OnTicketUpdated(ctx context.Context, e wire.TicketUpdated, m events.Metadata) error {
	return wire.TicketCopies{Replica: r.Replica}.OnTicketUpdated(ctx, e, m)
}

// Ticket reads the copy as the orders use cases do.
func (r ticketReplica) Ticket(ctx context.Context, id string) (orders.Ticket, error) {
	return orders.NewTickets(r.Replica).Ticket(ctx, id)
}
