package mongostore_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driverevent "go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
)

// updatedTicket creates a ticket and updates it until it is at version last.
func updatedTicket(t *testing.T, s *mongostore.Store, title string, last int64) tickets.Ticket {
	t.Helper()
	tk := mustCreate(t, s, newTicket("owner", title))
	for tk.Version < last {
		tk.Price++
		var err error
		if tk, err = s.Update(ctx(t), tk, tk.Version); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

// outboxEntries returns the raw outbox entries of doc.
func outboxEntries(t *testing.T, doc bson.Raw) []bson.RawValue {
	t.Helper()
	outboxLen(t, doc) // checks it is an array
	vals, err := doc.Lookup("outbox").Array().Values()
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// TestMarkPublishedBatch marks tickets in every state in one call and
// checks the documents: emptied outboxes lose pendingSince, a ticket
// marked in part keeps its newer entries byte for byte and its
// pendingSince, and nothing else changes.
func TestMarkPublishedBatch(t *testing.T) {
	eachMode(t, func(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database)) {
		s, db := open(t)
		coll := db.Collection(mongostore.DefaultCollection)
		one := updatedTicket(t, s, "one change", 0)
		three := updatedTicket(t, s, "three changes", 2)
		part := updatedTicket(t, s, "marked in part", 4)
		done := updatedTicket(t, s, "already marked", 1)
		if err := s.MarkPublished(ctx(t), []tickets.Change{at(done.ID, 1)}); err != nil {
			t.Fatal(err)
		}
		untouched := updatedTicket(t, s, "not in the batch", 1)
		before := map[string]bson.Raw{}
		for _, tk := range []tickets.Ticket{one, three, part, done, untouched} {
			before[tk.ID] = raw(t, coll, tk.ID)
		}

		err := s.MarkPublished(ctx(t), []tickets.Change{
			at(one.ID, 0), at(three.ID, 1), at(three.ID, 2), at(part.ID, 2), at(part.ID, 0),
			at(done.ID, 1), at(tickets.NewID(), 5), at("not an id", 5),
		})
		if err != nil {
			t.Fatal(err)
		}

		for _, tk := range []tickets.Ticket{one, three, done} {
			doc := raw(t, coll, tk.ID)
			if n := outboxLen(t, doc); n != 0 {
				t.Fatalf("%s: %d entries left in the outbox, want 0", tk.Title, n)
			}
			assertAbsent(t, doc, "pendingSince")
			assertField(t, doc, "version", tk.Version)
			assertField(t, doc, "price", int64(tk.Price))
		}
		doc := raw(t, coll, part.ID)
		got, was := outboxEntries(t, doc), outboxEntries(t, before[part.ID])
		if len(got) != 2 || !bytes.Equal(got[0].Value, was[3].Value) || !bytes.Equal(got[1].Value, was[4].Value) {
			t.Fatalf("outbox of the ticket marked up to version 2 =\n  %v\nwant its versions 3 and 4 as they were:\n  %v", got, was[3:])
		}
		if !bytes.Equal(doc.Lookup("pendingSince").Value, before[part.ID].Lookup("pendingSince").Value) {
			t.Fatalf("pendingSince changed from %s to %s", before[part.ID].Lookup("pendingSince"), doc.Lookup("pendingSince"))
		}
		assertField(t, doc, "version", part.Version)
		if doc := raw(t, coll, untouched.ID); !bytes.Equal(doc, before[untouched.ID]) {
			t.Fatalf("a ticket not in the batch changed:\n  %s\nwas\n  %s", doc, before[untouched.ID])
		}
		var versions []int64
		for _, c := range mustPending(t, s, 100) {
			versions = append(versions, c.Ticket.Version)
		}
		if fmt.Sprint(versions) != "[3 4 0 1]" {
			t.Fatalf("pending versions = %v, want the partly marked ticket's 3 4, then the untouched one's 0 1", versions)
		}
	})
}

// commandLog records the commands a client sends, by name.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := l.names
	l.names = nil
	return names
}

// TestMarkPublishedRoundTrips counts the commands MarkPublished sends: one
// write when every ticket's whole outbox is published, three whatever the
// batch size when some ticket has newer changes than the batch.
func TestMarkPublishedRoundTrips(t *testing.T) {
	db := testenv.Mongo(t)
	log := &commandLog{}
	monitor := &driverevent.CommandMonitor{Started: func(_ context.Context, e *driverevent.CommandStartedEvent) {
		switch e.CommandName {
		case "update", "find", "findAndModify", "delete", "insert", "getMore", "aggregate":
			log.mu.Lock()
			log.names = append(log.names, e.CommandName)
			log.mu.Unlock()
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s, err := mongostore.New(client.Database(db.Name()))
	if err != nil {
		t.Fatal(err)
	}

	var batch []tickets.Change
	for i := range 20 {
		tk := updatedTicket(t, s, fmt.Sprint("ticket ", i), int64(i%3))
		for v := range tk.Version + 1 {
			batch = append(batch, at(tk.ID, v))
		}
	}
	log.take()
	mark := func(cs ...tickets.Change) []string {
		t.Helper()
		if err := s.MarkPublished(ctx(t), cs); err != nil {
			t.Fatal(err)
		}
		return log.take()
	}
	if got := mark(); len(got) != 0 {
		t.Fatalf("an empty batch sent %v, want nothing", got)
	}
	half := 1 + 2 + 3 + 1 + 2 + 3 + 1 + 2 + 3 + 1 // the changes of the first 10 tickets
	if got := mark(batch[:half]...); fmt.Sprint(got) != "[update]" {
		t.Fatalf("marking 10 whole outboxes sent %v, want one update", got)
	}
	restore := mongostore.SetMaxMarkBatch(3)
	got := mark(batch[half:]...)
	restore()
	if fmt.Sprint(got) != "[update update update update]" {
		t.Fatalf("marking 10 tickets, at most 3 per write, sent %v, want four updates", got)
	}
	if p := mustPending(t, s, 100); len(p) != 0 {
		t.Fatalf("%d changes pending after marking every one", len(p))
	}
	log.take()
	if got := mark(batch...); fmt.Sprint(got) != "[update]" {
		t.Fatalf("marking 20 marked outboxes again sent %v, want one update", got)
	}

	var newer []tickets.Change
	marked := make(map[string]int64)
	for i := range 20 {
		tk := updatedTicket(t, s, fmt.Sprint("newer ", i), 3)
		newer = append(newer, at(tk.ID, int64(i%3))) // 1 to 3 entries of 4
		marked[tk.ID] = int64(i % 3)
	}
	log.take()
	if got := mark(newer...); fmt.Sprint(got) != "[update find update]" {
		t.Fatalf("marking 20 outboxes in part sent %v, want update, find, update", got)
	}
	left := make(map[string][]int64)
	for _, c := range mustPending(t, s, 1000) {
		left[c.Ticket.ID] = append(left[c.Ticket.ID], c.Ticket.Version)
	}
	for id, v := range marked {
		var want []int64
		for w := v + 1; w <= 3; w++ {
			want = append(want, w)
		}
		if fmt.Sprint(left[id]) != fmt.Sprint(want) {
			t.Fatalf("ticket %s marked up to %d: pending %v, want %v", id, v, left[id], want)
		}
	}
	log.take()
	if got := mark(at(tickets.NewID(), 3)); fmt.Sprint(got) != "[update find]" {
		t.Fatalf("marking an unknown ticket sent %v, want update, find", got)
	}
}

// TestMarkPublishedWhileUpdating runs two relays on one collection, each
// marking its rounds in one call (one of them in reverse order, so their
// lock sets overlap in opposite orders), while writers update every
// ticket. Each relay sees each ticket's versions in increasing order,
// together they see every version, no update is undone, and the outboxes
// end empty without pendingSince.
func TestMarkPublishedWhileUpdating(t *testing.T) {
	eachMode(t, func(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database)) {
		const (
			ticketCount = 6
			updates     = 12 // per ticket
		)
		s, db := open(t)
		c := ctx(t)
		var ids []string
		for i := range ticketCount {
			ids = append(ids, mustCreate(t, s, newTicket("owner", fmt.Sprint("ticket ", i))).ID)
		}

		done, writerErrs := updateConcurrently(c, s, ids, updates)

		seen := make([]map[string][]int64, 2)
		relayErrs := make([]error, 2)
		var relays sync.WaitGroup
		for r := range 2 {
			seen[r] = make(map[string][]int64)
			relays.Add(1)
			go func() {
				defer relays.Done()
				relayErrs[r] = func() error {
					for {
						finished := false
						select {
						case <-done:
							finished = true
						default:
						}
						batch, err := s.Pending(c, 7)
						if err != nil {
							return err
						}
						if len(batch) == 0 {
							if finished {
								return nil
							}
							time.Sleep(2 * time.Millisecond)
							continue
						}
						for _, ch := range batch {
							tk := ch.Ticket
							if vs := seen[r][tk.ID]; len(vs) > 0 && tk.Version <= vs[len(vs)-1] {
								return fmt.Errorf("ticket %s: version %d pending again after %v was marked", tk.ID, tk.Version, vs)
							}
							seen[r][tk.ID] = append(seen[r][tk.ID], tk.Version)
						}
						if r == 1 {
							slices.Reverse(batch)
						}
						if err := s.MarkPublished(c, batch); err != nil {
							return err
						}
					}
				}()
			}()
		}
		relays.Wait()
		for i, err := range writerErrs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		for r, err := range relayErrs {
			if err != nil {
				t.Fatalf("relay %d: %v", r, err)
			}
		}
		coll := db.Collection(mongostore.DefaultCollection)
		for _, id := range ids {
			all := map[int64]bool{}
			for r := range seen {
				for _, v := range seen[r][id] {
					all[v] = true
				}
			}
			if len(all) != updates+1 {
				t.Fatalf("ticket %s: versions seen %v and %v, want every one of 0..%d", id, seen[0][id], seen[1][id], updates)
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
	})
}
