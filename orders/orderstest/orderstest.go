// Package orderstest is the conformance suite of the orders domain's
// storage contracts: every orders.Store and orders.Tickets passes it, so
// the use cases behave alike on every backend. memstore and mongostore
// run it in their tests.
package orderstest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newOrder(user string) orders.Order {
	return orders.Order{
		ID: ticketkit.NewID(), UserID: user, Status: orders.Created,
		ExpiresAt: time.Now().Add(orders.ExpirationWindow).UTC().Truncate(time.Millisecond),
		Ticket:    orders.TicketRef{ID: ticketkit.NewID(), Price: ticketkit.Cents(1250)},
	}
}

// RunStore runs the suite on the stores open returns: each call a new,
// empty one.
func RunStore(t *testing.T, open func(t *testing.T) orders.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s, ctx := open(t), ctxFor(t)
		o := newOrder(ticketkit.NewID())
		o.ID = strings.ToUpper(o.ID)
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, o.ID)
		want := o
		want.ID = strings.ToLower(o.ID)
		if err != nil || got.ID != want.ID || got.UserID != want.UserID || got.Status != want.Status || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.Ticket != want.Ticket || got.Version != 0 {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
		}
		if err := s.Create(ctx, o); !errors.Is(err, ticketkit.ErrConflict) {
			t.Errorf("second Create: %v, want ECONFLICT", err)
		}
		for _, id := range []string{ticketkit.NewID(), "nope"} {
			if _, err := s.Get(ctx, id); !errors.Is(err, ticketkit.ErrNotFound) {
				t.Errorf("Get(%q): %v, want ENOTFOUND", id, err)
			}
		}
	})
	t.Run("Update", func(t *testing.T) {
		s, ctx := open(t), ctxFor(t)
		o := newOrder(ticketkit.NewID())
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		o.Status = orders.Cancelled
		got, err := s.Update(ctx, o, 0)
		if err != nil || got.Version != 1 || got.Status != orders.Cancelled {
			t.Fatalf("Update = %+v, %v", got, err)
		}
		o.Status = orders.Complete
		if _, err := s.Update(ctx, o, 0); !errors.Is(err, ticketkit.ErrConflict) {
			t.Errorf("Update of an old version: %v, want ECONFLICT", err)
		}
		if cur, err := s.Get(ctx, o.ID); err != nil || cur.Status != orders.Cancelled || cur.Version != 1 {
			t.Errorf("after a refused update: %+v, %v", cur, err)
		}
		missing := newOrder(o.UserID)
		if _, err := s.Update(ctx, missing, 0); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Errorf("Update of a missing order: %v, want ENOTFOUND", err)
		}
	})
	t.Run("ByUser", func(t *testing.T) {
		s, ctx := open(t), ctxFor(t)
		alice, bob := ticketkit.NewID(), ticketkit.NewID()
		var mine []string
		for _, u := range []string{alice, bob, alice, alice} {
			o := newOrder(u)
			if err := s.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
			if u == alice {
				mine = append(mine, o.ID)
			}
		}
		got, err := s.ByUser(ctx, alice)
		if err != nil || len(got) != len(mine) {
			t.Fatalf("ByUser = %d orders, %v; want %d", len(got), err, len(mine))
		}
		for i, o := range got {
			if o.ID != mine[i] || o.UserID != alice {
				t.Errorf("order %d: %s of %s, want %s (oldest first)", i, o.ID, o.UserID, mine[i])
			}
		}
		if got, err := s.ByUser(ctx, `{"$ne":""}`); err != nil || len(got) != 0 {
			t.Errorf("ByUser of an operator-shaped id: %d orders, %v; want none", len(got), err)
		}
	})
}

// Feed stores version of ticket id as the tickets service's events would.
type Feed func(ctx context.Context, id string, version int64, title string, price ticketkit.Money) error

// RunTickets runs the suite on the copies open returns: each call a new,
// empty one, with the Feed that fills it.
func RunTickets(t *testing.T, open func(t *testing.T) (orders.Tickets, Feed)) {
	t.Run("ReadAndHold", func(t *testing.T) {
		tk, feed := open(t)
		ctx := ctxFor(t)
		id, other := ticketkit.NewID(), ticketkit.NewID()
		if _, err := tk.Ticket(ctx, id); !errors.Is(err, ticketkit.ErrNotFound) {
			t.Fatalf("Ticket of an unknown id: %v", err)
		}
		if err := feed(ctx, id, 0, "concert", ticketkit.Cents(2000)); err != nil {
			t.Fatal(err)
		}
		if err := feed(ctx, id, 1, "opera", ticketkit.Cents(2500)); err != nil {
			t.Fatal(err)
		}
		if err := feed(ctx, other, 0, "other", ticketkit.Cents(100)); err != nil {
			t.Fatal(err)
		}
		got, err := tk.Ticket(ctx, strings.ToUpper(id))
		if err != nil || got != (orders.Ticket{ID: id, Title: "opera", Price: ticketkit.Cents(2500), Version: 1}) {
			t.Fatalf("Ticket = %+v, %v", got, err)
		}
		order := ticketkit.NewID()
		if ok, err := tk.Hold(ctx, id, "", order); !ok || err != nil {
			t.Fatalf("Hold = %v, %v", ok, err)
		}
		if ok, err := tk.Hold(ctx, id, "", ticketkit.NewID()); ok || err != nil {
			t.Fatalf("a second Hold from nothing = %v, %v; want false", ok, err)
		}
		many, err := tk.Tickets(ctx, []string{id, other, ticketkit.NewID()})
		if err != nil || len(many) != 2 || many[id].Hold != order || many[other].Title != "other" {
			t.Fatalf("Tickets = %+v, %v", many, err)
		}
		if err := feed(ctx, id, 2, "ballet", ticketkit.Cents(2500)); err != nil {
			t.Fatal(err)
		}
		if got, err := tk.Ticket(ctx, id); err != nil || got.Hold != order || got.Title != "ballet" {
			t.Fatalf("a new version must keep the hold: %+v, %v", got, err)
		}
	})
}
