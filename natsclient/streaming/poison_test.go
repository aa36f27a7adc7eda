package streaming_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// TestNearLimitPoisonEnds: an undecodable message that fits the server's
// payload limit on its own subject but not republished to the (longer)
// dead-letter subject is dead-lettered once, logged, and never delivered
// again. It used to fail with "maximum payload exceeded" on every
// delivery and come back every ack wait, for ever. On a server of its
// own: the megabyte of poison stays out of other tests' replays.
func TestNearLimitPoisonEnds(t *testing.T) {
	noLeaks(t)
	srv := testenv.StartStan(t, t.TempDir())
	cfg := config(t, srv.URL(), srv.ClusterID())
	c := connect(t, cfg)
	ctx := ctxFor(t, timeout)

	// The largest payload the server takes on a subject as long as
	// ticket:created, found by publishing on such a subject.
	probe := "ticket:probe00"
	if len(probe) != len(wire.SubjectTicketCreated) {
		t.Fatal("the probe subject must be as long as the source")
	}
	lo, hi := 0, 4<<20
	for lo < hi {
		mid := (lo + hi + 1) / 2
		switch err := c.Publish(ctx, events.Outgoing{Subject: probe, Data: bytes.Repeat([]byte("x"), mid)}); {
		case err == nil:
			lo = mid
		case events.IsPermanent(err):
			hi = mid - 1
		default:
			t.Fatalf("publish %d bytes: %v", mid, err)
		}
	}
	poison := bytes.Repeat([]byte("{"), lo) // fits, and is no JSON

	logs := newLogs(t)
	h := eventstest.NewHandled()
	l, err := events.Listen(ctx, c, "poison-group", func(context.Context, wire.TicketCreated, events.Metadata) error { return nil },
		events.AckWait(time.Second), events.WithHooks(h.Hooks()), events.WithLogger(logs.logger()),
		events.DeadLetterSubject(string(wire.SubjectTicketCreated)+".dead-letters-of-the-tickets-service"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(ctxFor(t, timeout)) })
	if err := c.Publish(ctx, events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: poison}); err != nil {
		t.Fatalf("the poison (%d bytes) must fit its own subject: %v", lo, err)
	}
	h.Await(t, wire.SubjectTicketCreated, events.DeadLettered, 1)
	logs.await("this log line is its only record")

	// Two ack waits later it has not come back.
	time.Sleep(2500 * time.Millisecond)
	if n := len(h.Deliveries()); n != 1 {
		t.Fatalf("the poison was delivered %d times, want once: %+v", n, h.Deliveries())
	}
}
