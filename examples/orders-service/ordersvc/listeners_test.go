package ordersvc

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

// ticket-created-listener and ticket-updated-listener tests: the copy
// follows the tickets service, in version order.
func TestTicketListeners(t *testing.T) {
	h := newHarness(t)
	tk := h.ticket("concert", 2000)
	upd := func(v int, title string) string {
		return fmt.Sprintf(`{"id":"%s","title":"%s","price":25.5,"userId":"%s","version":%d}`, tk, title, alice, v)
	}
	// v2 before v1: deferred until v1 has arrived, then applied.
	h.c.PublishRaw(wire.SubjectTicketUpdated, []byte(upd(2, "v2")))
	h.c.AwaitHandled(wire.SubjectTicketUpdated, events.Deferred, 1)
	h.c.PublishRaw(wire.SubjectTicketUpdated, []byte(upd(1, "v1")))
	h.c.AwaitHandled(wire.SubjectTicketUpdated, events.Acked, 2)
	o := h.order(alice, tk)
	if o.Ticket.Title != "v2" || o.Ticket.Version != 2 || o.Ticket.Price != ticketkit.Cents(2550) {
		t.Errorf("ticket %+v, want v2 at 25.50", o.Ticket)
	}
	// An old version again changes nothing.
	h.c.PublishRaw(wire.SubjectTicketUpdated, []byte(upd(1, "v1")))
	h.c.AwaitHandled(wire.SubjectTicketUpdated, events.Acked, 3)
	if got := orderOf(t, h.send("GET", "/api/orders/"+o.ID, "", alice)); got.Ticket.Title != "v2" {
		t.Errorf("after a duplicate: %+v", got.Ticket)
	}
}

// expiration-complete-listener tests.
func TestExpirationComplete(t *testing.T) {
	h := newHarness(t)
	o := h.order(alice, h.ticket("concert", 2000))
	for i := range 2 { // the second is a redelivery: no new event
		h.c.PublishRaw(wire.SubjectExpirationComplete, []byte(`{"orderId":"`+o.ID+`"}`))
		h.c.AwaitHandled(wire.SubjectExpirationComplete, events.Acked, i+1)
	}
	if got := orderOf(t, h.send("GET", "/api/orders/"+o.ID, "", alice)); got.Status != "cancelled" {
		t.Errorf("after expiration: %+v", got)
	}
	h.flush()
	cancelled := servicetest.Published[wire.OrderCancelled](h.c)
	if len(cancelled) != 1 || cancelled[0].ID != o.ID || cancelled[0].Ticket.ID != o.Ticket.ID {
		t.Errorf("order:cancelled %+v, want one for %s", cancelled, o.ID)
	}
	// A paid order doesn't expire.
	paid := h.order(bob, h.ticket("other", 100))
	h.c.PublishRaw(wire.SubjectPaymentCreated, []byte(`{"id":"`+ticketkit.NewID()+`","orderId":"`+paid.ID+`","stripeId":"ch_1"}`))
	h.c.AwaitHandled(wire.SubjectPaymentCreated, events.Acked, 1)
	h.c.PublishRaw(wire.SubjectExpirationComplete, []byte(`{"orderId":"`+paid.ID+`"}`))
	h.c.AwaitHandled(wire.SubjectExpirationComplete, events.Acked, 3)
	if got := orderOf(t, h.send("GET", "/api/orders/"+paid.ID, "", bob)); got.Status != "complete" {
		t.Errorf("paid order after expiration: %+v", got)
	}
	h.flush()
	if n := len(servicetest.Published[wire.OrderCancelled](h.c)); n != 1 {
		t.Errorf("%d order:cancelled, want still 1", n)
	}
	// An order this service never had: acknowledged, not redelivered for ever.
	h.c.PublishRaw(wire.SubjectExpirationComplete, []byte(`{"orderId":"`+ticketkit.NewID()+`"}`))
	h.c.AwaitHandled(wire.SubjectExpirationComplete, events.Acked, 4)
}

// payment-created-listener tests.
func TestPaymentCreated(t *testing.T) {
	h := newHarness(t)
	o := h.order(alice, h.ticket("concert", 2000))
	pay := `{"id":"` + ticketkit.NewID() + `","orderId":"` + o.ID + `","stripeId":"ch_1"}`
	for i := range 2 {
		h.c.PublishRaw(wire.SubjectPaymentCreated, []byte(pay))
		h.c.AwaitHandled(wire.SubjectPaymentCreated, events.Acked, i+1)
	}
	if got := orderOf(t, h.send("GET", "/api/orders/"+o.ID, "", alice)); got.Status != "complete" || got.Version != 1 {
		t.Errorf("after payment and its redelivery: %+v, want complete at version 1", got)
	}
	if r := h.send("DELETE", "/api/orders/"+o.ID, "", alice); r.Status != http.StatusBadRequest {
		t.Errorf("cancel of a paid order: %d %s", r.Status, r.Body)
	}
}

// Poison events on every subject are dead-lettered, and the service keeps
// serving.
func TestPoisonEvents(t *testing.T) {
	h := newHarness(t)
	poison := []string{`not json`, `{"id":{"$gt":""}}`, `{"orderId":12}`, `{"orderId":"` + "\xff" + `"}`, `[]`, strings.Repeat("x", 1<<20-64)}
	for _, s := range []events.Subject{wire.SubjectTicketCreated, wire.SubjectTicketUpdated, wire.SubjectExpirationComplete, wire.SubjectPaymentCreated} {
		for _, p := range poison {
			h.c.PublishRaw(s, []byte(p))
		}
		h.c.AwaitHandled(s, events.DeadLettered, len(poison))
	}
	h.order(alice, h.ticket("still serving", 100))
}
