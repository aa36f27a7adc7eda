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

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, _ := open(t)
		return s
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

func mustPending(t *testing.T, s *mongostore.Store, limit int) []tickets.Change {
	t.Helper()
	p, err := s.Pending(ctx(t), limit)
	if err != nil {
		t.Fatalf("Pending(%d): %v", limit, err)
	}
	return p
}
