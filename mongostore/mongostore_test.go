package mongostore_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/storetest"
)

// TestMain checks that no test leaves a goroutine behind, the driver's
// included: testenv disconnects every client it hands out.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open returns a Store, with its indexes, on a fresh database that is
// dropped when t ends, and that database.
func open(t *testing.T, opts ...mongostore.Option) (*mongostore.Store, *mongo.Database) {
	t.Helper()
	db := testenv.Mongo(t)
	s, err := mongostore.New(db, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.EnsureIndexes(ctx(t)); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return s, db
}

// eachMode runs test twice: with the Store as one process uses it, and
// with its in-process document locks off, so that the server's own
// compare-and-set alone keeps writers apart, as between processes. The
// second mode needs a server that applies a filtered update atomically:
// MongoDB, or FerretDB behind devservers' serializing proxy; bare FerretDB
// 1.x fails it, as it fails internal/testenv's smoke test.
func eachMode(t *testing.T, test func(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database))) {
	t.Run("DocLocks", func(t *testing.T) {
		test(t, func(t *testing.T) (*mongostore.Store, *mongo.Database) { return open(t) })
	})
	t.Run("ServerOnly", func(t *testing.T) {
		test(t, func(t *testing.T) (*mongostore.Store, *mongo.Database) {
			s, db := open(t)
			return mongostore.WithoutDocLocks(s), db
		})
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	eachMode(t, func(t *testing.T, open func(*testing.T) (*mongostore.Store, *mongo.Database)) {
		storetest.Run(t, func(t *testing.T) storetest.Store {
			s, _ := open(t)
			return s
		})
	})
}

// newTicket returns a valid new ticket with millisecond times, as the
// Service makes them.
func newTicket(userID, title string) tickets.Ticket {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tickets.Ticket{
		ID:        tickets.NewID(),
		Title:     title,
		Price:     tickets.Cents(1250),
		UserID:    userID,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

func mustCreate(t *testing.T, s *mongostore.Store, tk tickets.Ticket) tickets.Ticket {
	t.Helper()
	if err := s.Create(ctx(t), tk); err != nil {
		t.Fatalf("Create(%s): %v", tk.ID, err)
	}
	return tk
}

// at is a change of ticket id at version, as MarkPublished reads it: the
// id and the version, nothing else.
func at(id string, version int64) tickets.Change {
	return tickets.Change{Kind: tickets.Updated, Ticket: tickets.Ticket{ID: id, Version: version}}
}

func mustPending(t *testing.T, s *mongostore.Store, limit int) []tickets.Change {
	t.Helper()
	p, err := s.Pending(ctx(t), limit)
	if err != nil {
		t.Fatalf("Pending(%d): %v", limit, err)
	}
	return p
}
