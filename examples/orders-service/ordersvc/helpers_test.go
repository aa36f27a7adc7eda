package ordersvc

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is one instance of the service on a servicetest cluster, with
// the few steps the tests repeat.
type harness struct {
	t  *testing.T
	c  *servicetest.Cluster
	in *servicetest.Instance
}

func newHarness(t *testing.T) *harness {
	c := servicetest.Memory(t)
	return &harness{t: t, c: c, in: c.Start(Name, Build)}
}

// send makes a request as user (an id; none when empty).
func (h *harness) send(method, path, body, user string) servicetest.Response {
	h.t.Helper()
	if user == "" {
		return h.in.Send(method, path, body)
	}
	return h.in.SendAs(session.User{ID: user, Email: "u@example.com"}, method, path, body)
}

// orderOf decodes an order from r.
func orderOf(t *testing.T, r servicetest.Response) orderJSON {
	t.Helper()
	var o orderJSON
	if err := json.Unmarshal(r.Body, &o); err != nil || o.ID == "" {
		t.Fatalf("status %d, body %s: not an order (%v)", r.Status, r.Body, err)
	}
	return o
}

// ticket publishes a ticket:created and waits until the service has it.
func (h *harness) ticket(title string, cents int64) string {
	h.t.Helper()
	id := ticketkit.NewID()
	n := h.c.Handled().Count(wire.SubjectTicketCreated, events.Acked)
	h.c.Publish(wire.TicketCreated{ID: id, Title: title, Price: ticketkit.Cents(cents), UserID: ticketkit.NewID()})
	h.c.AwaitHandled(wire.SubjectTicketCreated, events.Acked, n+1)
	return id
}

// order orders ticket as user and returns the order.
func (h *harness) order(user, ticket string) orderJSON {
	h.t.Helper()
	r := h.send("POST", "/api/orders", `{"ticketId":"`+ticket+`"}`, user)
	if r.Status != http.StatusCreated {
		h.t.Fatalf("order: %d %s", r.Status, r.Body)
	}
	return orderOf(h.t, r)
}

// flush publishes everything in the outbox.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
	defer cancel()
	if err := h.in.Relay().Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}
