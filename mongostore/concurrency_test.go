package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
)

// TestConcurrentIncrementsLoseNothing runs 20 writers on one ticket, each
// looping read → update-at-the-read-version until it has applied its own
// increments (price +1 cent, title naming the writer and its count). Every
// version must have exactly one winner, nothing may be lost, and the outbox
// must hold one change per version, in order, matching who won it.
func TestConcurrentIncrementsLoseNothing(t *testing.T) {
	eachMode(t, testConcurrentIncrements)
}

func testConcurrentIncrements(t *testing.T, open func(*testing.T) (*ticketStore, *mongostore.Outbox)) {
	const (
		// 20 writers keep every round a race (about a thousand lost
		// ones in all) within minutes on a loaded machine; 50 made each round
		// cost a quadratic number of reads and failed writes, and ran
		// past the test's deadline there, losing nothing.
		writers   = 20
		perWriter = 5
		total     = writers * perWriter
	)
	s, ob := open(t)
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	orig := newTicket("owner", "start")
	orig.Price = ticketkit.Cents(1000)
	mustCreate(t, s, orig)

	// won[v] is the writer that installed version v.
	var (
		mu        sync.Mutex
		won       = make(map[int64]int)
		conflicts atomic.Int64
		wg        sync.WaitGroup
		start     = make(chan struct{})
	)
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for applied := 0; applied < perWriter; {
				cur, err := s.Get(c, orig.ID)
				if err != nil {
					errs[w] = fmt.Errorf("Get: %w", err)
					return
				}
				next := cur
				next.Price++
				next.Title = fmt.Sprintf("writer %d #%d", w, applied+1)
				next.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
				got, err := s.Update(c, next, cur.Version)
				switch {
				case errors.Is(err, ticketkit.ErrConflict):
					conflicts.Add(1)
					continue
				case err != nil:
					errs[w] = fmt.Errorf("Update at version %d: %w", cur.Version, err)
					return
				case got.Version != cur.Version+1 || got.Price != next.Price || got.Title != next.Title:
					errs[w] = fmt.Errorf("Update at version %d returned %+v", cur.Version, got)
					return
				}
				mu.Lock()
				if other, dup := won[got.Version]; dup {
					errs[w] = fmt.Errorf("writers %d and %d both won version %d", other, w, got.Version)
				}
				won[got.Version] = w
				mu.Unlock()
				applied++
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d updates by %d writers in %v, %d conflicts", total, writers, time.Since(began).Round(time.Millisecond), conflicts.Load())
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	if len(won) != total {
		t.Fatalf("%d versions won, want %d", len(won), total)
	}

	final, err := s.Get(c, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != total || final.Price != orig.Price+total {
		t.Fatalf("final ticket version %d price %d, want version %d price %d (a lost update)",
			final.Version, final.Price, total, orig.Price+total)
	}

	pending := publishedChanges(t, ob)
	if len(pending) != total+1 {
		t.Fatalf("outbox holds %d changes, want %d", len(pending), total+1)
	}
	count := make(map[int]int)
	for v, ch := range pending {
		tk := ch.Ticket
		wantKind := tickets.Updated
		if v == 0 {
			wantKind = tickets.Created
		}
		if tk.ID != orig.ID || tk.Version != int64(v) || ch.Kind != wantKind || tk.Price != orig.Price+ticketkit.Money(v) ||
			tk.UserID != orig.UserID {
			t.Fatalf("outbox change %d = %v %+v, want a %v of version %d at price %d", v, ch.Kind, tk, wantKind, v, orig.Price+ticketkit.Money(v))
		}
		if v == 0 {
			continue
		}
		w := won[int64(v)]
		count[w]++
		if want := fmt.Sprintf("writer %d #%d", w, count[w]); tk.Title != want {
			t.Fatalf("outbox change %d title %q, want %q", v, tk.Title, want)
		}
	}
	for w := range writers {
		if count[w] != perWriter {
			t.Fatalf("writer %d has %d changes in the outbox, want %d", w, count[w], perWriter)
		}
	}
}
