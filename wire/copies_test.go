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
