package wire_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/wire"
)

// The copy takes from the wire only what a tickets service could have
// written: a 900 KB title is dead-lettered (a Permanent EINVALID), not
// stored; events that are fine are applied in version order.
func TestTicketCopiesValidateWhatTheyTake(t *testing.T) {
	ctx := context.Background()
	r, err := memstore.NewReplica[orders.Ticket](memstore.NewDB(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	c := wire.TicketCopies{Replica: r}
	id := ticketkit.NewID()
	huge := wire.TicketCreated{ID: id, Title: strings.Repeat("x", 900_000), Price: 100, UserID: ticketkit.NewID()}
	if err := c.OnTicketCreated(ctx, huge, events.Metadata{}); !events.IsPermanent(err) || !errors.Is(err, ticketkit.ErrInvalid) {
		t.Fatalf("a 900 KB title: %v, want a Permanent EINVALID", err)
	}
	if _, err := r.Get(ctx, id); !errors.Is(err, ticketkit.ErrNotFound) {
		t.Fatalf("the huge title was stored: %v", err)
	}
	if err := c.OnTicketUpdated(ctx, wire.TicketUpdated{ID: id, Title: "ok", Price: 100, UserID: ticketkit.NewID(), Version: 1}, events.Metadata{}); !errors.Is(err, events.ErrOutOfOrder) {
		t.Fatalf("an update before its creation: %v, want out of order", err)
	}
	if err := c.OnTicketCreated(ctx, wire.TicketCreated{ID: id, Title: strings.Repeat("é", tickets200), Price: 100, UserID: ticketkit.NewID()}, events.Metadata{}); err != nil {
		t.Fatalf("a title of 200 characters: %v", err)
	}
	if err := c.OnTicketCreated(ctx, wire.TicketCreated{ID: id, Title: "x", Price: 0, UserID: ticketkit.NewID()}, events.Metadata{}); !events.IsPermanent(err) {
		t.Fatalf("a price of 0: %v, want a Permanent error", err)
	}
}

const tickets200 = 200

// The payments service's copy of the orders: a cancellation before its
// creation waits for it, a duplicate is acknowledged, and an event no
// orders service could have written is dead-lettered.
func TestOrderCopies(t *testing.T) {
	ctx := context.Background()
	r, err := memstore.NewReplica[payments.Order](memstore.NewDB(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	c := wire.OrderCopies{Replica: r}
	id, user := ticketkit.NewID(), ticketkit.NewID()
	cancelled := wire.OrderCancelled{ID: id, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketkit.NewID()}}
	if err := c.OnOrderCancelled(ctx, cancelled, events.Metadata{}); !errors.Is(err, events.ErrOutOfOrder) {
		t.Fatalf("a cancellation before its creation: %v, want out of order", err)
	}
	created := wire.OrderCreated{ID: id, Status: "created", UserID: user, Ticket: wire.OrderTicket{ID: ticketkit.NewID(), Price: 1250}}
	for range 2 {
		if err := c.OnOrderCreated(ctx, created, events.Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := c.OnOrderCancelled(ctx, cancelled, events.Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := r.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := (payments.Order{UserID: user, Price: 1250, Status: payments.OrderCancelled}); rec.Version != 1 || rec.Doc != want {
		t.Fatalf("copy v%d %+v; want v1 %+v", rec.Version, rec.Doc, want)
	}
	bad := created
	bad.ID, bad.Ticket.Price = ticketkit.NewID(), 0
	if err := c.OnOrderCreated(ctx, bad, events.Metadata{}); !events.IsPermanent(err) {
		t.Fatalf("a price of 0: %v, want a Permanent error", err)
	}
	if err := c.OnOrderCancelled(ctx, wire.OrderCancelled{ID: "x", Version: 1}, events.Metadata{}); !events.IsPermanent(err) {
		t.Fatalf("a bad id: %v, want a Permanent error", err)
	}
}
