package ordersvc

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

// The two services together on the real servers of `make test`, once per
// transport, each with its database, and the expiration and payments
// services played by the cluster's peer.

// e2eWait bounds each step: a fresh durable first replays what earlier
// tests left on the broker's channels.
const e2eWait = time.Minute

func TestTwoServicesOnRealServers(t *testing.T) {
	for _, transport := range []string{service.TransportStan, service.TransportJetStream} {
		t.Run(transport, func(t *testing.T) { testTwoServices(t, servicetest.Servers(t, transport)) })
	}
}

// eventually polls cond until it holds, for what the services do in the
// background on another's event.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, e2eWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testTwoServices(t *testing.T, c *servicetest.Cluster) {
	ticketsSvc := c.Start(ticketsvc.Name, ticketsvc.Build)
	ordersSvc := c.Start(Name, Build)
	publish, handled := c.Publish, c.Handled()
	seller, buyer := c.User(), c.User()
	ticketOrder := func(id string) string {
		var tk struct {
			OrderID string `json:"orderId"`
		}
		r := ticketsSvc.Send("GET", "/api/tickets/"+id, "")
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tk) != nil {
			t.Fatalf("GET ticket: %d %s", r.Status, r.Body)
		}
		return tk.OrderID
	}
	orderStatus := func(id string) string {
		return string(orderOf(t, ordersSvc.SendAs(buyer, "GET", "/api/orders/"+id, "")).Status)
	}

	// 1. A ticket.
	r := ticketsSvc.SendAs(seller, "POST", "/api/tickets", `{"title":"concert","price":20}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create ticket: %d %s", r.Status, r.Body)
	}
	var tk struct{ ID string }
	if err := json.Unmarshal(r.Body, &tk); err != nil {
		t.Fatal(err)
	}

	// 2. Ordered, once the orders service has heard of it; the tickets
	// service reserves it.
	var first orderJSON
	eventually(t, "the orders service knows the ticket", func() bool {
		r := ordersSvc.SendAs(buyer, "POST", "/api/orders", `{"ticketId":"`+tk.ID+`"}`)
		if r.Status == http.StatusCreated {
			first = orderOf(t, r)
		} else if r.Status != http.StatusNotFound {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
		return r.Status == http.StatusCreated
	})
	eventually(t, "the tickets service reserves the ticket", func() bool { return ticketOrder(tk.ID) == first.ID })

	// 3. A reserved ticket can't be edited.
	if r := ticketsSvc.SendAs(seller, "PUT", "/api/tickets/"+tk.ID, `{"title":"x","price":30}`); r.Status != http.StatusBadRequest {
		t.Errorf("edit of a reserved ticket: %d %s", r.Status, r.Body)
	}

	// 4. The order expires: cancelled, and the ticket released.
	publish(wire.ExpirationComplete{OrderID: first.ID})
	eventually(t, "the order is cancelled", func() bool { return orderStatus(first.ID) == "cancelled" })
	eventually(t, "the ticket is released", func() bool { return ticketOrder(tk.ID) == "" })

	// 5. Ordered again.
	r = ordersSvc.SendAs(buyer, "POST", "/api/orders", `{"ticketId":"`+tk.ID+`"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("order again: %d %s", r.Status, r.Body)
	}
	second := orderOf(t, r)
	eventually(t, "the tickets service reserves it again", func() bool { return ticketOrder(tk.ID) == second.ID })

	// 6. Paid: complete, and a later expiration changes nothing.
	publish(wire.PaymentCreated{ID: ticketkit.NewID(), OrderID: second.ID, StripeID: "ch_e2e"})
	eventually(t, "the order is complete", func() bool { return orderStatus(second.ID) == "complete" })
	expirations := handled.Count(wire.SubjectExpirationComplete, events.Acked)
	publish(wire.ExpirationComplete{OrderID: second.ID})
	handled.Await(t, wire.SubjectExpirationComplete, events.Acked, expirations+1)
	if s := orderStatus(second.ID); s != "complete" {
		t.Errorf("after a late expiration: %s, want complete", s)
	}
	if id := ticketOrder(tk.ID); id != second.ID {
		t.Errorf("after a late expiration the ticket is reserved by %q, want %s", id, second.ID)
	}
}
