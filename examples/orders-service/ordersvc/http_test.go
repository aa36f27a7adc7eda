package ordersvc

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

var (
	alice = ticketkit.NewID()
	bob   = ticketkit.NewID()
)

// The Node service's new.test.ts, and the hostile bodies beside it.
func TestCreate(t *testing.T) {
	h := newHarness(t)
	tk := h.ticket("concert", 2000)
	if r := h.send("POST", "/api/orders", `{"ticketId":"`+tk+`"}`, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("signed out: %d %s", r.Status, r.Body)
	}
	for _, body := range []string{`{}`, `{"ticketId":""}`, `{"ticketId":"abc"}`, `{"ticketId":{"$gt":""}}`, `{"ticketId":12}`, `[]`, `{"ticketId":"` + "\xff" + `"}`} {
		r := h.send("POST", "/api/orders", body, alice)
		if r.Status != http.StatusBadRequest {
			t.Errorf("body %q: %d %s, want 400", body, r.Status, r.Body)
			continue
		}
		if body != `[]` && !strings.HasPrefix(body, `{"ticketId":"`+"\xff") {
			if e := r.Errors(t); e[0].Field != "ticketId" || e[0].Message != "TicketId must be provided" {
				t.Errorf("body %q: errors %+v", body, e)
			}
		}
	}
	if r := h.send("POST", "/api/orders", `{"ticketId":"`+ticketkit.NewID()+`"}`, alice); r.Status != http.StatusNotFound {
		t.Errorf("unknown ticket: %d %s", r.Status, r.Body)
	}
	o := h.order(alice, tk)
	if o.Status != "created" || o.UserID != alice || o.Version != 0 || o.Ticket.ID != tk || o.Ticket.Title != "concert" || o.Ticket.Price != ticketkit.Cents(2000) {
		t.Errorf("order %+v", o)
	}
	if d := time.Until(o.ExpiresAt.Time); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expires in %v, want 15 minutes", d)
	}
	r := h.send("POST", "/api/orders", `{"ticketId":"`+tk+`"}`, bob)
	if r.Status != http.StatusBadRequest || r.Errors(t)[0].Message != "Ticket is already reserved" {
		t.Errorf("reserved ticket: %d %s", r.Status, r.Body)
	}
	e := servicetest.Await(h.c, func(e wire.OrderCreated) bool { return e.ID == o.ID })
	if e.Ticket.ID != tk || e.Ticket.Price != ticketkit.Cents(2000) || e.UserID != alice || e.Status != orders.Created || !e.ExpiresAt.Equal(o.ExpiresAt.Time) {
		t.Errorf("order:created %+v", e)
	}
}

// The race the Node original loses: of simultaneous orders of one
// ticket, one is created and the rest refused.
func TestSimultaneousOrders(t *testing.T) {
	h := newHarness(t)
	tk := h.ticket("concert", 2000)
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = h.send("POST", "/api/orders", `{"ticketId":"`+tk+`"}`, ticketkit.NewID()).Status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
		default:
			t.Errorf("status %d", s)
		}
	}
	h.flush()
	if created != 1 || len(servicetest.Published[wire.OrderCreated](h.c)) != 1 {
		t.Fatalf("%d orders created (%v), want exactly 1 and one order:created", created, statuses)
	}
}

// index.test.ts and show.test.ts.
func TestListAndShow(t *testing.T) {
	h := newHarness(t)
	a1 := h.order(alice, h.ticket("one", 100))
	a2 := h.order(alice, h.ticket("two", 200))
	b1 := h.order(bob, h.ticket("three", 300))
	if r := h.send("GET", "/api/orders", "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("signed out: %d", r.Status)
	}
	r := h.send("GET", "/api/orders", "", alice)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if want := `"ticket":{"title":"one","price":1,"version":0,"id":"` + a1.Ticket.ID + `"}`; !strings.Contains(string(r.Body), want) {
		t.Errorf("list %s: want the populated ticket %s", r.Body, want)
	}
	if !strings.HasPrefix(string(r.Body), `[{"userId":"`+alice+`","status":"created","expiresAt":"`) || !strings.Contains(string(r.Body), a2.ID) || strings.Contains(string(r.Body), b1.ID) {
		t.Errorf("alice's list %s", r.Body)
	}
	if r := h.send("GET", "/api/orders", "", ticketkit.NewID()); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("no orders: %d %s, want []", r.Status, r.Body)
	}
	if got := orderOf(t, h.send("GET", "/api/orders/"+a1.ID, "", alice)); got != a1 {
		t.Errorf("show %+v, want %+v", got, a1)
	}
	if r := h.send("GET", "/api/orders/"+a1.ID, "", bob); r.Status != http.StatusUnauthorized {
		t.Errorf("someone else's order: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{ticketkit.NewID(), "nope", "%24where"} {
		if r := h.send("GET", "/api/orders/"+id, "", alice); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", id, r.Status, r.Body)
		}
	}
	if r := h.send("PUT", "/api/orders/"+a1.ID, "{}", alice); r.Status != http.StatusNotFound {
		t.Errorf("PUT: %d, want the catch-all 404", r.Status)
	}
}

// delete.test.ts.
func TestCancel(t *testing.T) {
	h := newHarness(t)
	o := h.order(alice, h.ticket("concert", 2000))
	if r := h.send("DELETE", "/api/orders/"+o.ID, "", bob); r.Status != http.StatusUnauthorized {
		t.Errorf("someone else's: %d", r.Status)
	}
	if r := h.send("DELETE", "/api/orders/"+ticketkit.NewID(), "", alice); r.Status != http.StatusNotFound {
		t.Errorf("unknown: %d", r.Status)
	}
	if r := h.send("DELETE", "/api/orders/"+o.ID, "", alice); r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	if got := orderOf(t, h.send("GET", "/api/orders/"+o.ID, "", alice)); got.Status != "cancelled" || got.Version != 1 {
		t.Errorf("after cancel: %+v", got)
	}
	e := servicetest.Await(h.c, func(e wire.OrderCancelled) bool { return e.ID == o.ID })
	if e.Version != 1 || e.Ticket.ID != o.Ticket.ID {
		t.Errorf("order:cancelled %+v", e)
	}
	// Again: nothing changes, nothing more is published.
	if r := h.send("DELETE", "/api/orders/"+o.ID, "", alice); r.Status != http.StatusNoContent {
		t.Errorf("cancel again: %d", r.Status)
	}
	h.flush()
	if n := len(servicetest.Published[wire.OrderCancelled](h.c)); n != 1 {
		t.Errorf("%d order:cancelled, want 1", n)
	}
	// The ticket is free again.
	h.order(bob, o.Ticket.ID)
}
