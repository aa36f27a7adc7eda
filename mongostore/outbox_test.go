package mongostore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
)

// TestRelayWhileWriting drains the outbox the way events.Relay does
// (Pending, publish, one MarkPublished for the round; wait on Wake when it
// is empty) while writers keep updating the same tickets. Every change
// must be seen exactly once and in version order, no update may be undone
// by a MarkPublished racing it, and the outbox must end empty with no
// pendingSince left behind.
func TestRelayWhileWriting(t *testing.T) {
	eachMode(t, testRelayWhileWriting)
}

func testRelayWhileWriting(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database)) {
	const (
		ticketCount = 3
		updates     = 15 // per ticket
	)
	s, db := open(t)
	c := ctx(t)
	var ids []string
	for i := range ticketCount {
		ids = append(ids, mustCreate(t, s, newTicket("owner", fmt.Sprint("ticket ", i))).ID)
	}

	done, writerErrs := updateConcurrently(c, s, ids, updates)

	// The relay, in this goroutine.
	published := make(map[string][]int64)
	for {
		finished := false
		select {
		case <-done:
			finished = true // no write starts after this; drain and stop
		default:
		}
		batch, err := s.Pending(c, 4) // small, so tickets get cut off
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range batch {
			tk := ch.Ticket
			if want := int64(len(published[tk.ID])); tk.Version != want {
				t.Fatalf("ticket %s: got version %d from the outbox, want %d (published so far %v)", tk.ID, tk.Version, want, published[tk.ID])
			}
			published[tk.ID] = append(published[tk.ID], tk.Version)
		}
		// The whole round at once, each ticket's versions included.
		if err := s.MarkPublished(c, batch); err != nil {
			t.Fatal(err)
		}
		if len(batch) > 0 {
			continue
		}
		if finished {
			break
		}
		select {
		case <-s.Wake():
		case <-done:
		case <-c.Done():
			t.Fatal("relay timed out")
		}
	}
	for i, err := range writerErrs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	coll := db.Collection(mongostore.DefaultCollection)
	for _, id := range ids {
		if n := len(published[id]); n != updates+1 {
			t.Fatalf("ticket %s: %d changes published, want %d", id, n, updates+1)
		}
		got, err := s.Get(c, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != updates || got.Price != tickets.Cents(1250+updates) {
			t.Fatalf("ticket %s ended at version %d price %d, want %d and %d (an update was undone)", id, got.Version, got.Price, updates, 1250+updates)
		}
		doc := raw(t, coll, id)
		if n := outboxLen(t, doc); n != 0 {
			t.Fatalf("ticket %s: %d entries left in the outbox", id, n)
		}
		assertAbsent(t, doc, "pendingSince")
	}
}

// TestConcurrentMarkPublished marks different versions of one ticket from
// many goroutines at once: the outbox ends holding exactly the changes
// above the highest version marked, and pendingSince agrees.
func TestConcurrentMarkPublished(t *testing.T) {
	eachMode(t, testConcurrentMarkPublished)
}

func testConcurrentMarkPublished(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database)) {
	s, db := open(t)
	tk := mustCreate(t, s, newTicket("owner", "concert"))
	for range 9 {
		var err error
		if tk, err = s.Update(ctx(t), tk, tk.Version); err != nil {
			t.Fatal(err)
		}
	}
	// Versions 0..9 are pending; mark 0..6 concurrently, each twice.
	var wg sync.WaitGroup
	for v := range 14 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.MarkPublished(ctx(t), []tickets.Change{at(tk.ID, int64(v%7))}); err != nil {
				t.Errorf("MarkPublished(%d): %v", v%7, err)
			}
		}()
	}
	wg.Wait()
	var versions []int64
	for _, ch := range mustPending(t, s, 100) {
		versions = append(versions, ch.Ticket.Version)
	}
	if fmt.Sprint(versions) != "[7 8 9]" {
		t.Fatalf("pending versions = %v, want [7 8 9]", versions)
	}
	// A version beyond the newest marks everything.
	if err := s.MarkPublished(ctx(t), []tickets.Change{at(tk.ID, 1000)}); err != nil {
		t.Fatal(err)
	}
	if p := mustPending(t, s, 100); len(p) != 0 {
		t.Fatalf("%d changes pending after marking past the newest", len(p))
	}
	assertAbsent(t, raw(t, db.Collection(mongostore.DefaultCollection), tk.ID), "pendingSince")
	// And a new change makes the ticket pending again.
	if _, err := s.Update(ctx(t), tk, tk.Version); err != nil {
		t.Fatal(err)
	}
	if p := mustPending(t, s, 100); len(p) != 1 || p[0].Ticket.Version != 10 {
		t.Fatalf("pending = %+v, want version 10 only", p)
	}
}

// TestPendingOldestFirst: the ticket whose changes have waited longest
// comes first, whatever was written since.
func TestPendingOldestFirst(t *testing.T) {
	s, _ := open(t)
	a := mustCreate(t, s, newTicket("owner", "a"))
	b := mustCreate(t, s, newTicket("owner", "b"))
	if _, err := s.Update(ctx(t), b, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx(t), a, 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range mustPending(t, s, 100) {
		got = append(got, fmt.Sprintf("%s@%d", ch.Ticket.Title, ch.Ticket.Version))
	}
	if fmt.Sprint(got) != "[a@0 a@1 b@0 b@1]" {
		t.Fatalf("pending = %v, want a's changes, then b's", got)
	}
	if p := mustPending(t, s, 3); len(p) != 3 || p[2].Ticket.ID != b.ID || p[2].Ticket.Version != 0 {
		t.Fatalf("Pending(3) = %+v, want a@0 a@1 b@0", p)
	}
	for _, limit := range []int{0, -1} {
		if p := mustPending(t, s, limit); len(p) != 0 {
			t.Fatalf("Pending(%d) returned %d changes, want none", limit, len(p))
		}
	}
}

// TestWakeIsPerStoreAndCoalesced: a Store's Wake fires for its own
// successful writes only, once however many writes it coalesces; another
// Store value on the same collection finds the changes by polling.
func TestWakeIsPerStoreAndCoalesced(t *testing.T) {
	s, db := open(t)
	other, err := mongostore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	tk := mustCreate(t, s, newTicket("owner", "a"))
	mustCreate(t, s, newTicket("owner", "b"))
	if _, err := s.Update(ctx(t), tk, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Wake():
	default:
		t.Fatal("Wake did not fire after three writes")
	}
	select {
	case <-s.Wake():
		t.Fatal("Wake fired twice for writes made before the first receive")
	case <-other.Wake():
		t.Fatal("another Store's Wake fired")
	default:
	}
	if p, err := other.Pending(ctx(t), 100); err != nil || len(p) != 3 {
		t.Fatalf("other Store's Pending = %d changes (%v), want 3", len(p), err)
	}
	// A write that fails wakes nobody.
	if _, err := s.Update(ctx(t), tk, 0); err == nil {
		t.Fatal("stale Update succeeded")
	}
	if err := s.Create(ctx(t), tk); err == nil {
		t.Fatal("duplicate Create succeeded")
	}
	select {
	case <-s.Wake():
		t.Fatal("Wake fired after failed writes")
	default:
	}
}

// TestPendingToleratesForeignDocuments: a document without an outbox, or
// with pendingSince but an empty outbox (as a hand edit could leave it),
// contributes nothing and hides nothing.
func TestPendingToleratesForeignDocuments(t *testing.T) {
	s, db := open(t)
	coll := db.Collection(mongostore.DefaultCollection)
	_, err := coll.InsertMany(ctx(t), []any{
		bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "title", Value: "no outbox"}},
		bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "title", Value: "stale flag"},
			{Key: "outbox", Value: bson.A{}}, {Key: "pendingSince", Value: bson.DateTime(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tk := mustCreate(t, s, newTicket("owner", "real"))
	p := mustPending(t, s, 1)
	if len(p) != 1 || p[0].Ticket.ID != tk.ID {
		t.Fatalf("Pending(1) = %+v, want the real ticket's Created change", p)
	}
}

// updateConcurrently starts a writer per ticket, each raising its price
// updates times, one read and compare-and-set at a time. done closes when
// every writer has stopped; errs then holds each one's error, if any.
func updateConcurrently(c context.Context, s *mongostore.Store, ids []string, updates int) (done <-chan struct{}, errs []error) {
	finished := make(chan struct{})
	errs = make([]error, len(ids))
	var writers sync.WaitGroup
	for i, id := range ids {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range updates {
				cur, err := s.Get(c, id)
				if err != nil {
					errs[i] = err
					return
				}
				cur.Price++
				if _, err := s.Update(c, cur, cur.Version); err != nil {
					errs[i] = fmt.Errorf("Update at version %d: %w", cur.Version, err)
					return
				}
			}
		}()
	}
	go func() { writers.Wait(); close(finished) }()
	return finished, errs
}
