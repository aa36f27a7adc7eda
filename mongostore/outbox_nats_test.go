package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/tickets"
)

// runRelay runs a Relay from outbox to tr until stop is called, which
// waits for Run to return.
func runRelay(t *testing.T, outbox tickets.Outbox, tr events.Transport, opts ...events.Option) (r *events.Relay, stop func()) {
	t.Helper()
	r, err := events.NewRelay(outbox, tr, append([]events.Option{
		events.Backoff(20*time.Millisecond, 300*time.Millisecond),
		events.PollInterval(200 * time.Millisecond),
		events.WithLogger(testLogger(t, "relay")),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(c) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Relay.Run returned %v, want nil", err)
				}
			case <-time.After(wait):
				t.Errorf("Relay.Run did not return within %v of its cancellation", wait)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// writeHistory creates count tickets through svc and updates each one
// updates times, alternating between tickets; it returns each ticket's last
// version.
func writeHistory(t *testing.T, svc *tickets.Service, user string, count, updates int) map[string]int64 {
	t.Helper()
	last := make(map[string]int64)
	var ids []string
	for i := range count {
		ch, err := svc.Create(ctx(t), user, tickets.Input{Title: fmt.Sprint("ticket ", i), Price: tickets.Cents(1000)})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		ids = append(ids, ch.Ticket.ID)
		last[ch.Ticket.ID] = 0
	}
	for u := range updates {
		for _, id := range ids {
			ch, err := svc.Update(ctx(t), id, user, tickets.Input{Title: fmt.Sprintf("update %d", u+1), Price: tickets.Cents(int64(1000 + u + 1))})
			if err != nil {
				t.Fatalf("Update(%s): %v", id, err)
			}
			last[id] = ch.Ticket.Version
		}
	}
	return last
}

// assertFirstOccurrencesInOrder checks that, in the order the server
// stored them, each ticket's versions first appear as 0, 1, ..., last.
// ticket:created and ticket:updated are separate channels with their own
// sequences, so the order across them is the server's store timestamp: one
// NATS Streaming server stamps the messages one at a time, in the order it
// receives them, and the relay sends a ticket's changes in version order.
func assertFirstOccurrencesInOrder(t *testing.T, ds []delivery, last map[string]int64) {
	t.Helper()
	msgs := stored(ds)
	slices.SortStableFunc(msgs, func(a, b delivery) int { return a.meta.Timestamp.Compare(b.meta.Timestamp) })
	order := make(map[string][]int64)
	seen := make(map[string]bool)
	for _, d := range msgs {
		if _, ours := last[d.id]; !ours {
			continue
		}
		if k := fmt.Sprintf("%s@%d", d.id, d.version); !seen[k] {
			seen[k] = true
			order[d.id] = append(order[d.id], d.version)
		}
	}
	for id, n := range last {
		var want []int64
		for v := range n + 1 {
			want = append(want, v)
		}
		if !slices.Equal(order[id], want) {
			t.Errorf("ticket %s: versions first stored in the order %v, want %v", id, order[id], want)
		}
	}
}

// TestOutboxPublishesAfterBrokerOutage stops the NATS Streaming server,
// writes through tickets.Service on a mongostore Store while a relay keeps
// trying, and restarts the server once a publish has failed. The writes succeed during the outage,
// nothing is marked published while the server is away, and once it is
// back every change reaches a durable listener, each ticket's versions
// first stored in version order, and the outbox empties.
func TestOutboxPublishesAfterBrokerOutage(t *testing.T) {
	noLeaks(t)
	server := startStan(t)
	store, _ := open(t)
	svc := tickets.NewService(store)
	relayClient := connectNATS(t, server, "tickets")
	obs := newObserver()
	obs.listenAll(t, connectNATS(t, server, "observer"), "observer")
	failedPublish := make(chan struct{}, 1)
	relay, stopRelay := runRelay(t, store, relayClient, events.WithHooks(events.Hooks{
		Published: func(_ events.Subject, _ int, _ time.Duration, err error) {
			if err != nil {
				select {
				case failedPublish <- struct{}{}:
				default:
				}
			}
		},
	}))

	// The pipeline works before the outage.
	before := writeHistory(t, svc, "owner", 1, 1)
	obs.await(t, "the ticket written before the outage", func(ds []delivery) bool { return hasAll(ds, before) })

	server.Stop()
	select {
	case <-failedPublish:
		t.Fatal("a publish failed before the outage")
	default:
	}
	last := writeHistory(t, svc, "owner", 4, 3)
	// Keep the server away until the relay has tried and failed.
	select {
	case <-failedPublish:
	case <-time.After(wait):
		t.Fatal("the relay did not try to publish during the outage")
	}
	pending, err := store.Pending(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 4*(1+3) {
		t.Fatalf("%d changes pending while the broker is down, want all %d (something was marked published without a broker)", len(pending), 4*(1+3))
	}

	server.Restart()
	ds := obs.await(t, "every change written during the outage", func(ds []delivery) bool { return hasAll(ds, last) })
	if err := relay.Flush(ctxFor(t, wait)); err != nil {
		t.Fatalf("Flush after the restart: %v", err)
	}
	if p, err := store.Pending(ctx(t), 100); err != nil || len(p) != 0 {
		t.Fatalf("Pending after the restart = %d changes (%v), want none", len(p), err)
	}
	stopRelay()
	// Every message stored so far: a ticket's first copy of a version
	// comes before any later copy on its channel.
	ds = obs.await(t, "a final look", func([]delivery) bool { return true })
	for id, v := range before {
		last[id] = v
	}
	assertFirstOccurrencesInOrder(t, ds, last)
}

// crashingOutbox is the outbox of a relay that "crashes" at a given point
// of its first round with changes: that call fails, and so does every
// later one, as nothing more happens in a process that is gone.
type crashingOutbox struct {
	tickets.Outbox
	afterPublish bool          // crash at MarkPublished, else right after Pending
	crashed      chan struct{} // closed at the crash

	mu   sync.Mutex
	dead bool
}

var errCrash = errors.New("simulated crash")

func (o *crashingOutbox) die() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.dead {
		o.dead = true
		close(o.crashed)
	}
}

func (o *crashingOutbox) isDead() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dead
}

func (o *crashingOutbox) Pending(ctx context.Context, limit int) ([]tickets.Change, error) {
	if o.isDead() {
		return nil, errCrash
	}
	changes, err := o.Outbox.Pending(ctx, limit)
	if err != nil || len(changes) == 0 || o.afterPublish {
		return changes, err
	}
	o.die() // with the changes read and not yet published
	return nil, errCrash
}

func (o *crashingOutbox) MarkPublished(ctx context.Context, published []tickets.Change) error {
	if o.isDead() {
		return errCrash
	}
	if o.afterPublish {
		o.die() // with the changes published and not yet marked
		return errCrash
	}
	return o.Outbox.MarkPublished(ctx, published)
}

// TestRelayCrashPublishesEverythingAfterRestart stops a relay between a
// write and its publish, and between a publish and its MarkPublished.
// After a restart (a new Store value and relay, as in a new process, on a
// new connection), every change is published, with the message id
// events.MessageID gives it and the same bytes, so a deduplicating broker
// would keep one copy; NATS Streaming keeps both, and a durable listener
// sees each change as often as it was published.
func TestRelayCrashPublishesEverythingAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name         string
		afterPublish bool
	}{
		{"BeforePublish", false},
		{"AfterPublishBeforeMark", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			server := startStan(t)
			store, db := open(t)
			obs := newObserver()
			obs.listenAll(t, connectNATS(t, server, "observer"), "observer")

			last := writeHistory(t, tickets.NewService(store), "owner", 3, 2)
			want, err := store.Pending(ctx(t), 100)
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := make(map[string]events.Outgoing) // by message id
			for _, ch := range want {
				e, err := events.FromChange(ch)
				if err != nil {
					t.Fatal(err)
				}
				data, err := events.Encode(e)
				if err != nil {
					t.Fatal(err)
				}
				id := events.MessageID(e.Subject(), ch.Ticket.ID, ch.Ticket.Version)
				wantIDs[id] = events.Outgoing{Subject: string(e.Subject()), Data: data, ID: id}
			}

			// The first process: its relay dies in its first round.
			client1 := connectNATS(t, server, "tickets-1")
			rec1 := eventstest.NewRecorder(client1)
			crashing := &crashingOutbox{Outbox: store, afterPublish: tc.afterPublish, crashed: make(chan struct{})}
			_, stop1 := runRelay(t, crashing, rec1)
			select {
			case <-crashing.crashed:
			case <-time.After(wait):
				t.Fatal("the relay never reached the crash point")
			}
			stop1()
			if err := client1.Close(ctxFor(t, wait)); err != nil {
				t.Fatal(err)
			}
			first := rec1.Messages()
			if !tc.afterPublish && len(first) != 0 {
				t.Fatalf("%d messages published by a relay that died before publishing", len(first))
			}
			if tc.afterPublish {
				assertMessages(t, "before the crash", first, wantIDs)
			}
			if p, err := store.Pending(ctx(t), 100); err != nil || len(p) != len(want) {
				t.Fatalf("after the crash %d changes pending (%v), want all %d: nothing was marked", len(p), err, len(want))
			}

			// The restarted process.
			store2, err := mongostore.New(db)
			if err != nil {
				t.Fatal(err)
			}
			rec2 := eventstest.NewRecorder(connectNATS(t, server, "tickets-2"))
			relay2, stop2 := runRelay(t, store2, rec2)
			if err := relay2.Flush(ctxFor(t, wait)); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			stop2()
			assertMessages(t, "after the restart", rec2.Messages(), wantIDs)
			if p, err := store2.Pending(ctx(t), 100); err != nil || len(p) != 0 {
				t.Fatalf("after the restart %d changes pending (%v), want none", len(p), err)
			}

			copies := 1
			if tc.afterPublish {
				copies = 2
			}
			ds := obs.await(t, "every change delivered", func(ds []delivery) bool {
				return len(stored(ds)) == copies*len(want)
			})
			perVersion := make(map[string]int)
			for _, d := range stored(ds) {
				perVersion[fmt.Sprintf("%s@%d", d.id, d.version)]++
			}
			for id, n := range last {
				for v := range n + 1 {
					if got := perVersion[fmt.Sprintf("%s@%d", id, v)]; got != copies {
						t.Errorf("ticket %s version %d stored %d times on the broker, want %d", id, v, got, copies)
					}
				}
			}
		})
	}
}

// assertMessages checks that got is exactly one message per change in
// want, each with its MessageID and the change's bytes.
func assertMessages(t *testing.T, when string, got []events.Outgoing, want map[string]events.Outgoing) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages published, want %d", when, len(got), len(want))
	}
	seen := make(map[string]bool)
	for _, m := range got {
		w, ok := want[m.ID]
		switch {
		case !ok:
			t.Errorf("%s: message id %s is no change's MessageID: %s %s", when, m.ID, m.Subject, m.Data)
		case seen[m.ID]:
			t.Errorf("%s: message id %s published twice", when, m.ID)
		case m.Subject != w.Subject || string(m.Data) != string(w.Data):
			t.Errorf("%s: message %s = %s %s, want %s %s", when, m.ID, m.Subject, m.Data, w.Subject, w.Data)
		}
		seen[m.ID] = true
	}
}
