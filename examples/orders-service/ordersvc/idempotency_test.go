package ordersvc

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// An order placed again with its Idempotency-Key, on any instance, is
// the first order: not "the ticket is already reserved", and no second
// order:created.
func TestIdempotentOrder(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testIdempotentOrder(t, servicetest.Memory(t)) })
	t.Run("servers", func(t *testing.T) { testIdempotentOrder(t, servicetest.Servers(t, service.TransportStan)) })
}

func testIdempotentOrder(t *testing.T, c *servicetest.Cluster) {
	a, b := c.Start(Name, Build), c.Start(Name, Build)
	ticket := ticketkit.NewID()
	other := ticketkit.NewID()
	c.Publish(wire.TicketCreated{ID: ticket, Title: "concert", Price: ticketkit.Cents(2000), UserID: ticketkit.NewID()})
	c.Publish(wire.TicketCreated{ID: other, Title: "opera", Price: ticketkit.Cents(3000), UserID: ticketkit.NewID()})

	buyer := session.User{ID: ticketkit.NewID(), Email: "buyer@example.com"}
	body := `{"ticketId":"` + ticket + `"}`
	key := []string{httpapi.IdempotencyKeyHeader, "checkout-1"}
	// Until the copy has the ticket (on the servers, the cluster's fresh
	// durable replays other tests' tickets first), a create is a 404
	// that writes nothing.
	var first servicetest.Response
	eventually(t, "the orders service knows the ticket", func() bool {
		first = a.SendAs(buyer, "POST", "/api/orders", body, key...)
		return first.Status != http.StatusNotFound
	})
	if first.Status != http.StatusCreated {
		t.Fatalf("first order: %d %s", first.Status, first.Body)
	}
	o := orderOf(t, first)
	for _, in := range []*servicetest.Instance{a, b} {
		again := in.SendAs(buyer, "POST", "/api/orders", body, key...)
		if again.Status != http.StatusCreated || orderOf(t, again).ID != o.ID || again.Header.Get(httpapi.ReplayedHeader) != "true" {
			t.Fatalf("repeat: %d %s, replayed %q; want 201 with order %s", again.Status, again.Body, again.Header.Get(httpapi.ReplayedHeader), o.ID)
		}
	}
	// Without the key, or with another one, the ticket is taken.
	if r := b.SendAs(buyer, "POST", "/api/orders", body, httpapi.IdempotencyKeyHeader, "checkout-2"); r.Status != http.StatusBadRequest {
		t.Errorf("another key for a reserved ticket: %d %s, want 400", r.Status, r.Body)
	}
	// The same key for another ticket: 422, and that ticket stays free.
	var reused servicetest.Response
	eventually(t, "the orders service knows the other ticket", func() bool {
		reused = a.SendAs(buyer, "POST", "/api/orders", `{"ticketId":"`+other+`"}`, key...)
		return reused.Status != http.StatusNotFound
	})
	if reused.Status != http.StatusUnprocessableEntity {
		t.Errorf("the key again for another ticket: %d %s, want 422", reused.Status, reused.Body)
	}
	if r := b.SendAs(buyer, "POST", "/api/orders", `{"ticketId":"`+other+`"}`); r.Status != http.StatusCreated {
		t.Errorf("ordering the other ticket after the refused key: %d %s, want 201", r.Status, r.Body)
	}
	// Another buyer's key of the same name is no replay of this order.
	if r := b.SendAs(session.User{ID: ticketkit.NewID(), Email: "x@example.com"}, "POST", "/api/orders", body, key...); r.Status != http.StatusBadRequest {
		t.Errorf("another buyer, same key name: %d %s, want 400 (reserved)", r.Status, r.Body)
	}

	for _, in := range []*servicetest.Instance{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
		err := in.Relay().Flush(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	servicetest.Await(c, func(e wire.OrderCreated) bool { return e.ID == o.ID })
	servicetest.Await(c, func(e wire.OrderCreated) bool { return e.Ticket.ID == other })
	n := 0
	for _, e := range servicetest.Published[wire.OrderCreated](c) {
		if e.Ticket.ID == ticket || e.Ticket.ID == other {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d order:created for the two tickets, want 2", n)
	}
}

// A retry of an order whose insert was lost after it claimed the ticket
// takes its own claim over, rather than being told for a minute that the
// ticket is reserved; nobody else can.
func TestRetryOfAnUnconfirmedOrder(t *testing.T) {
	c := servicetest.Servers(t, service.TransportStan)
	var p *testenv.Proxy
	in := c.Start(Name, Build, servicetest.DatabaseProxy(t, &p),
		servicetest.Configure(func(cfg *service.Config) { cfg.RequestTimeout = 2 * time.Second }))
	ticket := ticketkit.NewID()
	c.Publish(wire.TicketCreated{ID: ticket, Title: "concert", Price: ticketkit.Cents(2000), UserID: ticketkit.NewID()})
	c.AwaitStored(Name, "tickets", ticket)

	buyer := session.User{ID: ticketkit.NewID(), Email: "buyer@example.com"}
	body := `{"ticketId":"` + ticket + `"}`
	key := []string{httpapi.IdempotencyKeyHeader, "checkout-1"}
	p.SwallowRequest("insert\x00")
	if r := in.SendAs(buyer, "POST", "/api/orders", body, key...); r.Status != http.StatusInternalServerError || r.Header.Get("Retry-After") != "" {
		t.Fatalf("order whose insert was lost: %d %s, Retry-After %q; want 500 without it", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if r := in.SendAs(session.User{ID: ticketkit.NewID(), Email: "x@example.com"}, "POST", "/api/orders", body, key...); r.Status != http.StatusBadRequest {
		t.Errorf("another buyer meanwhile: %d %s, want 400 (reserved)", r.Status, r.Body)
	}
	again := in.SendAs(buyer, "POST", "/api/orders", body, key...)
	if again.Status != http.StatusCreated {
		t.Fatalf("the retry with the same key: %d %s, want 201", again.Status, again.Body)
	}
	o := orderOf(t, again)
	servicetest.Await(c, func(e wire.OrderCreated) bool { return e.ID == o.ID })
	if r := in.SendAs(buyer, "POST", "/api/orders", body, key...); r.Status != http.StatusCreated || orderOf(t, r).ID != o.ID {
		t.Errorf("a second retry: %d %s, want the same order", r.Status, r.Body)
	}
}
