package mongostore_test

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/orders/orderstest"
	"github.com/ticketkit/ticketkit/orders/orderstore"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// The orders service's stores on a real server: the use cases, the
// documents in the Node service's shape, and the events they publish.
func TestOrderStore(t *testing.T) {
	db := testenv.Mongo(t)
	ob := newOutbox(t, db)
	s, err := newOrderStore(ob)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newTicketReplica(db, mongostore.WithDocumentLocks())
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	if err := s.EnsureIndexes(c); err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureIndexes(c); err != nil {
		t.Fatal(err)
	}
	svc := orders.NewService(s, orders.NewTickets(r.Replica))
	tk := wire.TicketCreated{ID: ticketkit.NewID(), Title: "concert", Price: ticketkit.Cents(1250), UserID: ticketkit.NewID()}
	if err := r.OnTicketCreated(c, tk, events.Metadata{}); err != nil {
		t.Fatal(err)
	}
	user := ticketkit.NewID()
	p, err := svc.Create(c, user, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(c, ticketkit.NewID(), tk.ID); !errors.Is(err, orders.ErrTicketReserved) {
		t.Fatalf("second order: %v, want ERESERVED", err)
	}
	got, err := svc.Get(c, user, p.Order.ID)
	if err != nil || got.Order != p.Order || got.Ticket.Title != "concert" || got.Ticket.Hold != p.Order.ID {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, p)
	}
	var doc bson.M
	if err := db.Collection(orderstore.Name).FindOne(c, bson.D{{Key: "_id", Value: mustOID(t, p.Order.ID)}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["userId"] != user || doc["status"] != "created" || doc["ticket"] != mustOID(t, tk.ID) {
		t.Errorf("stored order %v: want the Node service's fields, the ticket as an ObjectId", doc)
	}
	if _, err := svc.Cancel(c, user, p.Order.ID); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Create(c, user, tk.ID)
	if err != nil {
		t.Fatalf("order after the cancellation: %v", err)
	}
	if _, err := svc.Pay(c, again.Order.ID); err != nil {
		t.Fatal(err)
	}
	list, err := svc.List(c, user)
	if err != nil || len(list) != 2 || list[0].Order.Status != orders.Cancelled || list[1].Order.Status != orders.Complete || list[1].Ticket.Title != "concert" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if other, err := svc.List(c, ticketkit.NewID()); err != nil || len(other) != 0 {
		t.Fatalf("someone else's list = %+v, %v", other, err)
	}

	count := map[events.Subject]int{}
	for _, m := range published(t, ob) {
		count[events.Subject(m.Subject)]++
	}
	if count[wire.SubjectOrderCreated] != 2 || count[wire.SubjectOrderCancelled] != 1 || len(count) != 2 {
		t.Fatalf("published %v, want 2 order:created and 1 order:cancelled (complete publishes nothing)", count)
	}
}

func TestOrdersConformance(t *testing.T) {
	orderstest.RunStore(t, func(t *testing.T) orders.Store {
		s, err := newOrderStore(newOutbox(t, testenv.Mongo(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureIndexes(ctx(t)); err != nil {
			t.Fatal(err)
		}
		return s
	})
	orderstest.RunTickets(t, func(t *testing.T) (orders.Tickets, orderstest.Feed) {
		r, err := mongostore.NewReplica[orders.Ticket](testenv.Mongo(t), "tickets", mongostore.WithDocumentLocks())
		if err != nil {
			t.Fatal(err)
		}
		return orders.NewTickets(r), func(ctx context.Context, id string, v int64, title string, price ticketkit.Money) error {
			_, err := r.Apply(ctx, id, v, orders.Ticket{Title: title, Price: price})
			return err
		}
	})
}
