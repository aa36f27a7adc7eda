package mongostore_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	storesuite "github.com/ticketkit/ticketkit/store/storetest"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/outbox/outboxtest"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/storetest"
	"github.com/ticketkit/ticketkit/wire"
)

// TestMain checks that no test leaves a goroutine behind, the driver's
// included: testenv disconnects every client it hands out.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newOutbox returns a writer on db whose lease stays valid for the test
// (nothing renews it unless a test runs a Relay).
func newOutbox(t testing.TB, db *mongo.Database) *mongostore.Outbox {
	t.Helper()
	ob, err := mongostore.NewOutbox(context.Background(), db, mongostore.WithQueue(outbox.TTL(time.Hour)))
	if err != nil {
		t.Fatalf("NewOutbox: %v", err)
	}
	return ob
}

// open returns a Store, with its indexes, on a fresh database that is
// dropped when t ends, and that database.
func open(t *testing.T, opts ...mongostore.CollectionOption) (*ticketStore, *mongo.Database) {
	t.Helper()
	s, _, db := openWithOutbox(t, opts...)
	return s, db
}

func openWithOutbox(t *testing.T, opts ...mongostore.CollectionOption) (*ticketStore, *mongostore.Outbox, *mongo.Database) {
	t.Helper()
	db := testenv.Mongo(t)
	ob := newOutbox(t, db)
	s, err := newTicketStore(ob, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return s, ob, db
}

// eachMode runs test twice: with the Store's FerretDB 1.x compatibility
// (WithDocumentLocks), and as on MongoDB, where the server's own
// compare-and-set alone keeps writers apart, as between processes. The
// second mode needs a server that applies a filtered update atomically:
// MongoDB, or FerretDB behind devservers' serializing proxy; bare FerretDB
// 1.x fails it, as it fails testenv's smoke test.
func eachMode(t *testing.T, test func(t *testing.T, open func(*testing.T) (*ticketStore, *mongostore.Outbox))) {
	t.Run("DocLocks", func(t *testing.T) {
		test(t, func(t *testing.T) (*ticketStore, *mongostore.Outbox) {
			s, ob, _ := openWithOutbox(t, mongostore.WithDocumentLocks())
			return s, ob
		})
	})
	t.Run("ServerOnly", func(t *testing.T) {
		test(t, func(t *testing.T) (*ticketStore, *mongostore.Outbox) {
			s, ob, _ := openWithOutbox(t)
			return s, ob
		})
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	for name, opts := range map[string][]mongostore.CollectionOption{"DocLocks": {mongostore.WithDocumentLocks()}, "ServerOnly": nil} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Store {
				s, ob, _ := openWithOutbox(t, opts...)
				return storetest.Store{Store: s, Outbox: ob}
			})
		})
	}
}

// doc is what the outbox suite's writes store.
type doc struct {
	N int64 `bson:"n"`
}

// suiteStore opens instances, each a writer with its Outbox, on one
// database.
type suiteStore struct {
	db   *mongo.Database
	opts []mongostore.CollectionOption
}

func (s suiteStore) Open(t *testing.T, opts ...outbox.QueueOption) outboxtest.Instance {
	ob, err := mongostore.NewOutbox(ctx(t), s.db, mongostore.WithQueue(opts...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := mongostore.NewCollection[doc](ob, "docs", s.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureIndexes(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return outboxtest.Instance{
		Driver: ob,
		Write: func(ctx context.Context, id string, v int64, evs ...events.Event) error {
			if v == 0 {
				return c.Insert(ctx, id, doc{}, evs...)
			}
			_, err := c.Update(ctx, id, v-1, doc{N: v}, evs...)
			return err
		},
	}
}

// published flushes ob through a Relay and returns what it published.
func published(t *testing.T, ob *mongostore.Outbox) []events.Outgoing {
	t.Helper()
	rec := eventstest.NewRecorder(nil)
	r, err := outbox.NewRelay(ob, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return rec.Messages()
}

func TestOutboxConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Store { return suiteStore{db: testenv.Mongo(t)} })
}

// The outbox suite again with the inserts gathered (WithGroupCommit).
func TestOutboxConformanceGroupCommit(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Store {
		return suiteStore{db: testenv.Mongo(t), opts: []mongostore.CollectionOption{mongostore.WithGroupCommit()}}
	})
}

// newTicket returns a valid new ticket with millisecond times, as the
// Service makes them.
func newTicket(userID, title string) tickets.Ticket {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tickets.Ticket{
		ID:        ticketkit.NewID(),
		Title:     title,
		Price:     ticketkit.Cents(1250),
		UserID:    userID,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

func mustCreate(t *testing.T, s *ticketStore, tk tickets.Ticket) tickets.Ticket {
	t.Helper()
	if err := s.Create(ctx(t), tk); err != nil {
		t.Fatalf("Create(%s): %v", tk.ID, err)
	}
	return tk
}

// publishedChanges flushes ob and returns its events as the ticket
// changes they stand for, in publish order.
func publishedChanges(t *testing.T, ob *mongostore.Outbox) []tickets.Change {
	t.Helper()
	var out []tickets.Change
	for _, m := range published(t, ob) {
		switch events.Subject(m.Subject) {
		case wire.SubjectTicketCreated:
			e, err := events.Decode[wire.TicketCreated](m.Data)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tickets.Change{Kind: tickets.Created, Ticket: tickets.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, Version: e.Version}})
		default:
			e, err := events.Decode[wire.TicketUpdated](m.Data)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tickets.Change{Kind: tickets.Updated, Ticket: tickets.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, OrderID: e.OrderID, Version: e.Version}})
		}
	}
	return out
}

// TestOutboxStaysSmall: published entries leave their documents without
// a write of their own. A document one instance writes keeps its newest
// entries (an update replaces them once all are published); one that two instances write
// by turns gets entries appended until it holds 16, and the update that
// finds it full keeps only what no horizon covers.
func TestOutboxStaysSmall(t *testing.T) {
	db := testenv.Mongo(t)
	type writer struct {
		c *mongostore.Collection[doc]
		r *outbox.Relay
		o *mongostore.Outbox
	}
	open := func() writer {
		ob := newOutbox(t, db)
		c, err := mongostore.NewCollection[doc](ob, "docs")
		if err != nil {
			t.Fatal(err)
		}
		r, err := outbox.NewRelay(ob, eventstest.NewRecorder(nil))
		if err != nil {
			t.Fatal(err)
		}
		return writer{c, r, ob}
	}
	a, b := open(), open()
	entries := func(id string) int {
		var d struct {
			Outbox []bson.Raw `bson:"outbox"`
		}
		if err := a.c.Collection().FindOne(ctx(t), bson.D{{Key: "_id", Value: mustOID(t, id)}}).Decode(&d); err != nil {
			t.Fatal(err)
		}
		return len(d.Outbox)
	}
	run := func(id string, ws []writer) (most int) {
		ev := func(v int64) events.Event {
			return wire.TicketUpdated{ID: id, Title: "t", Price: 100, UserID: "u", Version: v}
		}
		if err := ws[0].c.Insert(ctx(t), id, doc{}, ev(0)); err != nil {
			t.Fatal(err)
		}
		for v := int64(1); v <= 40; v++ {
			w := ws[int(v)%len(ws)]
			if _, err := w.c.Update(ctx(t), id, v-1, doc{N: v}, ev(v)); err != nil {
				t.Fatalf("update to %d: %v", v, err)
			}
			// Publish, and record the horizon as the next beat would.
			for _, w := range ws {
				if err := w.r.Flush(ctx(t)); err != nil {
					t.Fatal(err)
				}
				if err := w.o.Beat(ctx(t), outbox.Progress{Horizon: 1 << 62, Next: 1 << 62}); err != nil {
					t.Fatal(err)
				}
			}
			most = max(most, entries(id))
		}
		return most
	}
	// The first update comes before the create is published, so it
	// appends; every later one finds all published and replaces.
	if most := run(ticketkit.NewID(), []writer{a}); most > 2 {
		t.Errorf("one writer: the document held up to %d entries, want at most 2", most)
	}
	if most := run(ticketkit.NewID(), []writer{a, b}); most > 16 || most < 2 {
		t.Errorf("two writers: the document held up to %d entries, want 2..16", most)
	}
}

func mustOID(t *testing.T, id string) bson.ObjectID {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		t.Fatal(err)
	}
	return oid
}

func TestStorageConformance(t *testing.T) {
	eachLockMode := func(t *testing.T, run func(t *testing.T, opt mongostore.Option)) {
		t.Run("DocLocks", func(t *testing.T) { run(t, mongostore.WithDocumentLocks()) })
		t.Run("ServerOnly", func(t *testing.T) { run(t, mongostore.WithLogger(slog.New(slog.DiscardHandler))) })
	}
	t.Run("Unique", func(t *testing.T) {
		eachLockMode(t, func(t *testing.T, opt mongostore.Option) {
			storesuite.RunUnique(t, func(t *testing.T) store.Collection[storesuite.UniqueDoc] {
				c, err := mongostore.NewCollection[storesuite.UniqueDoc](newOutbox(t, testenv.Mongo(t)), "users", opt)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.EnsureIndexes(ctx(t)); err != nil {
					t.Fatal(err)
				}
				return c
			})
		})
	})
	t.Run("GroupCommit", func(t *testing.T) {
		storesuite.RunCollection(t, func(t *testing.T) store.Collection[storesuite.Doc] {
			c, err := mongostore.NewCollection[storesuite.Doc](newOutbox(t, testenv.Mongo(t)), "docs", mongostore.WithGroupCommit())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.EnsureIndexes(ctx(t)); err != nil {
				t.Fatal(err)
			}
			return c
		})
		storesuite.RunUnique(t, func(t *testing.T) store.Collection[storesuite.UniqueDoc] {
			c, err := mongostore.NewCollection[storesuite.UniqueDoc](newOutbox(t, testenv.Mongo(t)), "users", mongostore.WithGroupCommit())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.EnsureIndexes(ctx(t)); err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("Collection", func(t *testing.T) {
		eachLockMode(t, func(t *testing.T, opt mongostore.Option) {
			storesuite.RunCollection(t, func(t *testing.T) store.Collection[storesuite.Doc] {
				c, err := mongostore.NewCollection[storesuite.Doc](newOutbox(t, testenv.Mongo(t)), "docs", opt)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.EnsureIndexes(ctx(t)); err != nil {
					t.Fatal(err)
				}
				return c
			})
		})
	})
	t.Run("Replica", func(t *testing.T) {
		eachLockMode(t, func(t *testing.T, opt mongostore.Option) {
			storesuite.RunReplica(t, func(t *testing.T) (store.Replica[storesuite.Doc], store.Replica[storesuite.Doc]) {
				db := testenv.Mongo(t)
				a, err := mongostore.NewReplica[storesuite.Doc](db, "copies", opt)
				if err != nil {
					t.Fatal(err)
				}
				b, err := mongostore.NewReplica[storesuite.Doc](db, "copies", opt)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.EnsureIndexes(ctx(t)); err != nil {
					t.Fatal(err)
				}
				return a, b
			})
		})
	})
}
