package mongostore_test

// Benchmarks of the Store against the raw driver on the same server in the
// same run (see internal/benchcmp): each reports "lib-ratio", the Store's
// throughput over the driver's doing the same operation with the same
// document shape, filter, update and projection, on a collection of its
// own with the same indexes. `make bench` runs them on the dev servers;
// without MONGO_URI they skip.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/internal/benchcmp"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"github.com/ticketkit/ticketkit/wire"
)

// rawTicket is the document the Store writes (see the package doc), as an
// application using the driver directly would declare it.
// rawTicket is a ticket document as mongostore lays it out (see the
// package documentation), written by the raw sides with the driver.
type rawTicket struct {
	ID        bson.ObjectID `bson:"_id"`
	Version   int64         `bson:"version"`
	Title     string        `bson:"title"`
	Price     int64         `bson:"price"`
	UserID    string        `bson:"userId"`
	OrderID   string        `bson:"orderId,omitempty"`
	CreatedAt time.Time     `bson:"createdAt"`
	UpdatedAt time.Time     `bson:"updatedAt"`
	Outbox    []rawEntry    `bson:"outbox"`
}

// rawEntry is an outbox entry as mongostore stores it: the encoded event.
type rawEntry struct {
	Writer    string    `bson:"w"`
	Seq       int64     `bson:"s"`
	Version   int64     `bson:"v"`
	Subject   string    `bson:"subject"`
	Data      []byte    `bson:"data"`
	MessageID string    `bson:"mid"`
	Time      time.Time `bson:"at"`
}

// rawEntryOf encodes the event of version of t, as the Store does.
func rawEntryOf(t tickets.Ticket, kind tickets.ChangeKind, seq int64) rawEntry {
	t.Version = max(t.Version, 0)
	e, _ := wire.FromTicketChange(tickets.Change{Kind: kind, Ticket: t})
	data, _ := events.Encode(e)
	return rawEntry{Writer: "raw", Seq: seq, Version: t.Version, Subject: string(e.Subject()), Data: data,
		MessageID: events.MessageID(e.Subject(), t.ID, t.Version), Time: time.Now()}
}

// rawRead is what a read decodes: the ticket without its outbox.
type rawRead struct {
	ID        bson.ObjectID `bson:"_id"`
	Title     string        `bson:"title"`
	Price     int64         `bson:"price"`
	UserID    string        `bson:"userId"`
	OrderID   string        `bson:"orderId,omitempty"`
	Version   int64         `bson:"version"`
	CreatedAt time.Time     `bson:"createdAt"`
	UpdatedAt time.Time     `bson:"updatedAt"`
}

func (d rawRead) ticket() tickets.Ticket {
	return tickets.Ticket{ID: d.ID.Hex(), Title: d.Title, Price: ticketkit.Money(d.Price), UserID: d.UserID,
		OrderID: d.OrderID, Version: d.Version, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

var rawProjection = bson.D{
	{Key: "title", Value: 1}, {Key: "price", Value: 1}, {Key: "userId", Value: 1}, {Key: "orderId", Value: 1},
	{Key: "version", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "updatedAt", Value: 1},
}

const benchUsers = 100

func benchUser(i int) string { return fmt.Sprintf("64b7f0c2a1b2c3d4e5f6%04x", i%benchUsers) }

func benchTicket(i int) tickets.Ticket {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tickets.Ticket{ID: ticketkit.NewID(), Title: "concert", Price: ticketkit.Cents(2000),
		UserID: benchUser(i), CreatedAt: now, UpdatedAt: now}
}

// rawCreate inserts t as Store.Create does: the ticket, its Created
// outbox entry and pendingSince.
func rawCreate(ctx context.Context, coll *mongo.Collection, t tickets.Ticket) error {
	oid, err := bson.ObjectIDFromHex(t.ID)
	if err != nil {
		return err
	}
	_, err = coll.InsertOne(ctx, rawTicket{
		ID: oid, Title: t.Title, Price: int64(t.Price), UserID: t.UserID, OrderID: t.OrderID,
		Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Outbox: []rawEntry{rawEntryOf(t, tickets.Created, 1)},
	})
	return err
}

// rawUpdate is Store.Update's compare-and-set as a relay keeps it: the
// same filter and fields, the encoded event in the outbox, returning the
// new document; the outbox is kept at that one entry, as a trimmed one
// is, so the document stays the size mongostore's do.
func rawUpdate(ctx context.Context, coll *mongo.Collection, t tickets.Ticket, expected int64) (tickets.Ticket, error) {
	oid, err := bson.ObjectIDFromHex(t.ID)
	if err != nil {
		return tickets.Ticket{}, err
	}
	next := t
	next.Version = expected + 1
	set := bson.D{{Key: "title", Value: t.Title}, {Key: "price", Value: int64(t.Price)}, {Key: "updatedAt", Value: t.UpdatedAt}}
	update := bson.D{}
	if t.OrderID != "" {
		set = append(set, bson.E{Key: "orderId", Value: t.OrderID})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "orderId", Value: ""}}})
	}
	set = append(set, bson.E{Key: "version", Value: expected + 1},
		bson.E{Key: "outbox", Value: []rawEntry{rawEntryOf(next, tickets.Updated, expected+2)}})
	update = append(update, bson.E{Key: "$set", Value: set})
	filter := bson.D{{Key: "_id", Value: oid}, {Key: "version", Value: expected}, {Key: "userId", Value: t.UserID}}
	var d rawRead
	err = coll.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	return d.ticket(), err
}

func rawGet(ctx context.Context, coll *mongo.Collection, id string) (tickets.Ticket, error) {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return tickets.Ticket{}, err
	}
	var d rawRead
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}, options.FindOne().SetProjection(rawProjection)).Decode(&d)
	return d.ticket(), err
}

// rawList is Store.List's query: equality filters, _id > cursor, _id
// order, one more than the page.
func rawList(ctx context.Context, coll *mongo.Collection, f tickets.Filter) ([]tickets.Ticket, error) {
	filter := bson.D{}
	if f.UserID != "" {
		filter = append(filter, bson.E{Key: "userId", Value: f.UserID})
	}
	if f.Unreserved {
		filter = append(filter, bson.E{Key: "orderId", Value: nil})
	}
	if f.After != "" {
		after, err := bson.ObjectIDFromHex(f.After)
		if err != nil {
			return nil, err
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(f.PageSize())+1).SetProjection(rawProjection))
	if err != nil {
		return nil, err
	}
	var docs []rawRead
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]tickets.Ticket, len(docs))
	for i, d := range docs {
		out[i] = d.ticket()
	}
	return out, nil
}

// benchStores returns a Store on collection "lib" and the raw collection
// "raw", both with the Store's indexes, in a database dropped when b ends.
func benchStores(b *testing.B) (*ticketStore, *mongo.Collection) {
	b.Helper()
	db := testenv.Mongo(b)
	return benchStoresOn(b, db, newOutbox(b, db))
}

// benchStoresRelayed is benchStores with the Store's Relay running on an
// in-memory transport, as in a service: it settles the entries, and its
// beats record the horizon that lets a full outbox be trimmed.
func benchStoresRelayed(b *testing.B) (*ticketStore, *mongo.Collection) {
	b.Helper()
	db := testenv.Mongo(b)
	ob, err := mongostore.NewOutbox(b.Context(), db, mongostore.WithQueue(outbox.TTL(time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	r, err := outbox.NewRelay(ob, memtransport.New())
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	b.Cleanup(func() { stop(); <-done })
	return benchStoresOn(b, db, ob)
}

func benchStoresOn(b *testing.B, db *mongo.Database, ob *mongostore.Outbox) (*ticketStore, *mongo.Collection) {
	b.Helper()
	s, err := newTicketStore(ob)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.EnsureIndexes(b.Context()); err != nil {
		b.Fatal(err)
	}
	// The raw side's collection gets the Store's indexes too.
	if _, err := db.Collection("raw").Indexes().CreateMany(b.Context(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}},
	}); err != nil {
		b.Fatal(err)
	}
	return s, db.Collection("raw")
}

// BenchmarkCreate is Store.Create against the driver's InsertOne of the
// same document.
func BenchmarkCreate(b *testing.B) {
	s, coll := benchStores(b)
	ctx := b.Context()
	b.ReportAllocs()
	benchcmp.Compare(b, benchcmp.Options{Rounds: 8, Warmup: 20},
		benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
			for i := range n {
				if err := rawCreate(ctx, coll, benchTicket(i)); err != nil {
					b.Fatal(err)
				}
			}
		}},
		benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
			for i := range n {
				if err := s.Create(ctx, benchTicket(i)); err != nil {
					b.Fatal(err)
				}
			}
		}},
	)
}

// seedBoth creates n tickets through each side, and returns their ids.
func seedBoth(b *testing.B, s *ticketStore, coll *mongo.Collection, n int) (lib, raw []tickets.Ticket) {
	b.Helper()
	ctx := b.Context()
	for i := range n {
		t := benchTicket(i)
		if err := s.Create(ctx, t); err != nil {
			b.Fatal(err)
		}
		lib = append(lib, t)
		t = benchTicket(i)
		if err := rawCreate(ctx, coll, t); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, t)
	}
	return lib, raw
}

// BenchmarkGet is Store.Get against the driver's FindOne by _id with the
// same projection, over 200 tickets.
func BenchmarkGet(b *testing.B) {
	s, coll := benchStores(b)
	lib, raw := seedBoth(b, s, coll, 200)
	ctx := b.Context()
	b.ReportAllocs()
	benchcmp.Compare(b, benchcmp.Options{Rounds: 8, Warmup: 20},
		benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
			for i := range n {
				if _, err := rawGet(ctx, coll, raw[i%len(raw)].ID); err != nil {
					b.Fatal(err)
				}
			}
		}},
		benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
			for i := range n {
				if _, err := s.Get(ctx, lib[i%len(lib)].ID); err != nil {
					b.Fatal(err)
				}
			}
		}},
	)
}

// BenchmarkUpdate is Store.Update (a compare-and-set on the version that
// also appends to the outbox) against the driver's FindOneAndUpdate with
// the same filter and update, over 200 tickets. Each side's documents
// grow alike, one outbox entry per update.
func BenchmarkUpdate(b *testing.B) {
	s, coll := benchStoresRelayed(b)
	lib, raw := seedBoth(b, s, coll, 200)
	ctx := b.Context()
	update := func(ts []tickets.Ticket, i int, write func(t tickets.Ticket, expected int64) (tickets.Ticket, error)) {
		k := i % len(ts)
		t := ts[k]
		t.Price++
		t.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		got, err := write(t, t.Version)
		if err != nil {
			b.Fatal(err)
		}
		ts[k] = got
	}
	b.ReportAllocs()
	benchcmp.Compare(b, benchcmp.Options{Rounds: 8, Warmup: 20},
		benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
			for i := range n {
				update(raw, i, func(t tickets.Ticket, v int64) (tickets.Ticket, error) { return rawUpdate(ctx, coll, t, v) })
			}
		}},
		benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
			for i := range n {
				update(lib, i, func(t tickets.Ticket, v int64) (tickets.Ticket, error) { return s.Update(ctx, t, v) })
			}
		}},
	)
}

// BenchmarkScale measures Get and List as the collection grows from 1k to
// 10k to 100k tickets, published ones spread over 100 users, seeded with
// InsertMany in batches of 1000 (the seeding time is logged). List runs
// Store.List and the driver's same query on the same collection: the
// first page of unreserved tickets, a page from the middle (a cursor),
// and a user's first page. The sizes are set by TICKETKIT_BENCH_SCALE
// (comma-separated; default 1000,10000,100000).
func BenchmarkScale(b *testing.B) {
	db := testenv.Mongo(b)
	ctx := b.Context()
	s, err := newTicketStore(newOutbox(b, db))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	coll := db.Collection(ticketstore.Name)
	var ids []bson.ObjectID
	for _, size := range scaleSizes(b) {
		start := time.Now()
		added := 0
		for len(ids) < size {
			batch := make([]any, 0, 1000)
			now := time.Now().UTC().Truncate(time.Millisecond)
			for len(batch) < cap(batch) && len(ids)+len(batch) < size {
				i := len(ids) + len(batch)
				batch = append(batch, rawTicket{ID: bson.NewObjectID(), Title: "concert", Price: 2000,
					UserID: benchUser(i), CreatedAt: now, UpdatedAt: now, Outbox: []rawEntry{}})
			}
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			for _, d := range batch {
				ids = append(ids, d.(rawTicket).ID)
			}
			added += len(batch)
		}
		took := time.Since(start)
		// Printed rather than logged: a parent benchmark's log is not
		// shown without -v.
		fmt.Printf("BenchmarkScale: seeded %d tickets (%d in all) with InsertMany in %v: %.0f inserts/s\n",
			added, size, took.Round(time.Millisecond), float64(added)/took.Seconds())

		middle := ids[len(ids)/2].Hex()
		lists := []struct {
			name string
			f    tickets.Filter
		}{
			{"List-first", tickets.Filter{Unreserved: true}},
			{"List-middle", tickets.Filter{Unreserved: true, After: middle}},
			{"List-user", tickets.Filter{UserID: benchUser(7)}},
		}
		b.Run(fmt.Sprintf("tickets=%d/Get", size), func(b *testing.B) {
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 4, Warmup: 5},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					for i := range n {
						if _, err := rawGet(ctx, coll, ids[(i*7919)%len(ids)].Hex()); err != nil {
							b.Fatal(err)
						}
					}
				}},
				benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
					for i := range n {
						if _, err := s.Get(ctx, ids[(i*7919)%len(ids)].Hex()); err != nil {
							b.Fatal(err)
						}
					}
				}},
			)
		})
		for _, l := range lists {
			b.Run(fmt.Sprintf("tickets=%d/%s", size, l.name), func(b *testing.B) {
				b.ReportAllocs()
				benchcmp.Compare(b, benchcmp.Options{Rounds: 4},
					benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
						for range n {
							if got, err := rawList(ctx, coll, l.f); err != nil || len(got) == 0 {
								b.Fatalf("%d tickets, %v", len(got), err)
							}
						}
					}},
					benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
						for range n {
							if p, err := s.List(ctx, l.f); err != nil || len(p.Tickets) == 0 {
								b.Fatalf("%d tickets, %v", len(p.Tickets), err)
							}
						}
					}},
				)
			})
		}
	}
}

// scaleSizes reads TICKETKIT_BENCH_SCALE.
func scaleSizes(b *testing.B) []int {
	v := os.Getenv("TICKETKIT_BENCH_SCALE")
	if v == "" {
		return []int{1000, 10000, 100000}
	}
	var sizes []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || len(sizes) > 0 && n <= sizes[len(sizes)-1] {
			b.Fatalf("TICKETKIT_BENCH_SCALE=%q: want increasing counts of tickets, like 1000,10000", v)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// BenchmarkGroupCommit is Store.Create with and without WithGroupCommit
// against the driver's InsertOne of the same documents, at 1, 16 and 64
// concurrent callers: the per-operation floor is the raw side.
func BenchmarkGroupCommit(b *testing.B) {
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			plain, coll := benchStores(b)
			db := testenv.Mongo(b)
			grouped, err := newTicketStore(newOutbox(b, db), mongostore.WithGroupCommit())
			if err != nil {
				b.Fatal(err)
			}
			if err := grouped.EnsureIndexes(b.Context()); err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			var next atomic.Int64
			// concurrently does n operations over c callers.
			concurrently := func(b *testing.B, n int, op func(i int) error) {
				var wg sync.WaitGroup
				var left atomic.Int64
				left.Store(int64(n))
				for range c {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							if err := op(int(next.Add(1))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 6, Warmup: 2 * c, MinPerRound: 4 * c},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					concurrently(b, n, func(i int) error { return rawCreate(ctx, coll, benchTicket(i)) })
				}},
				benchcmp.Side{Name: "group", Run: func(b *testing.B, n int) {
					concurrently(b, n, func(i int) error { return grouped.Create(ctx, benchTicket(i)) })
				}},
				benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
					concurrently(b, n, func(i int) error { return plain.Create(ctx, benchTicket(i)) })
				}},
			)
		})
	}
}
