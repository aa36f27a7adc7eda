package mongostore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/tickets"
)

// ferretDB reports whether db is served by FerretDB, which says so in
// buildInfo.
func ferretDB(t *testing.T, db *mongo.Database) bool {
	t.Helper()
	var info bson.M
	if err := db.RunCommand(context.Background(), bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		t.Fatalf("buildInfo: %v", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok
}

// TestServerCompareAndSet checks the server's own compare-and-set, with
// the in-process document locks off, as writers in separate processes
// would see it: 50 writers race for version 1, exactly one wins, and a
// MarkPublished racing with them never undoes the winner's update.
// FerretDB 1.x does not pass it (its updates are read-modify-write that
// do not re-check the filter), which is why the locks exist.
func TestServerCompareAndSet(t *testing.T) {
	db := testenv.Mongo(t)
	if ferretDB(t, db) {
		t.Skip("FerretDB 1.x applies updates as read, modify in Go, write back by _id, without re-checking the filter; only MongoDB has a server-side compare-and-set to test")
	}
	s, err := New(db)
	if err != nil {
		t.Fatal(err)
	}
	s.noDocLocks = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writers = 50
	now := time.Now().UTC().Truncate(time.Millisecond)
	tk := tickets.Ticket{ID: tickets.NewID(), Title: "t", Price: 100, UserID: "u", CreatedAt: now, UpdatedAt: now}
	if err := s.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := tk
			mine.Title = fmt.Sprint("writer ", i)
			<-start
			_, errs[i] = s.Update(ctx, mine, 0)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		if err := s.MarkPublished(ctx, tk.ID, 0); err != nil {
			t.Errorf("MarkPublished: %v", err)
		}
	}()
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won version 1", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, tickets.ErrConflict):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	got, err := s.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if winner < 0 || got.Version != 1 || got.Title != fmt.Sprint("writer ", winner) {
		t.Fatalf("stored %+v, winner %d", got, winner)
	}
	pending, err := s.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Ticket.Version != 1 || pending[0].Ticket.Title != got.Title {
		t.Fatalf("pending = %+v, want only the winner's version 1", pending)
	}
}
