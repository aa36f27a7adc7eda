package ticketsvc

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

// nodePayload reads one of the Node services' wire samples and puts the
// given ids in: the listeners are fed the exact bytes Node publishes.
func nodePayload(t *testing.T, name, ticketID, orderID string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "wire", "testdata", "node", name))
	if err != nil {
		t.Fatal(err)
	}
	const sampleTicket, sampleOrder = "3eb8e907a00cf854c97a276b", "b28f8525b4eeb8afd1108ad6"
	if !bytes.Contains(data, []byte(sampleTicket)) || !bytes.Contains(data, []byte(sampleOrder)) {
		t.Fatalf("%s no longer holds the sample ids", name)
	}
	s := strings.ReplaceAll(string(bytes.TrimSpace(data)), sampleTicket, ticketID)
	return strings.ReplaceAll(s, sampleOrder, orderID)
}

func orderCreated(t *testing.T, ticketID, orderID string) string {
	return nodePayload(t, "order-created.json", ticketID, orderID)
}

func orderCancelled(t *testing.T, ticketID, orderID string) string {
	return nodePayload(t, "order-cancelled.json", ticketID, orderID)
}

// updates returns the ticket:updated events published for ticket id.
func updates(t *testing.T, h *harness, id string) []wire.TicketUpdated {
	t.Helper()
	var out []wire.TicketUpdated
	for _, e := range servicetest.Published[wire.TicketUpdated](h.c) {
		if e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

func TestOrderCreatedReservesAndCancelledReleases(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 12.5)

	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	reserved := servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 1 })
	want := wire.TicketUpdated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, OrderID: orderA, Version: 1}
	if reserved != want {
		t.Errorf("reserved: published %+v, want %+v", reserved, want)
	}
	if got := h.send("GET", "/api/tickets/"+tk.ID, "").ticket(t); got.OrderID != orderA || got.Version != 1 {
		t.Errorf("reserved ticket reads %+v", got)
	}
	if list := h.send("GET", "/api/tickets", "").tickets(t); len(list) != 0 {
		t.Errorf("a reserved ticket is listed: %+v", list)
	}

	h.publish(wire.SubjectOrderCancelled, orderCancelled(t, tk.ID, orderA))
	released := servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 2 })
	want = wire.TicketUpdated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, Version: 2}
	if released != want {
		t.Errorf("released: published %+v, want %+v", released, want)
	}
	if list := h.send("GET", "/api/tickets", "").tickets(t); len(list) != 1 || list[0].ID != tk.ID {
		t.Errorf("a released ticket is not listed again: %+v", list)
	}
	// And its owner may edit it again.
	if r := h.send("PUT", "/api/tickets/"+tk.ID, `{"title":"opera","price":15}`, as(t, alice)...); r.status != http.StatusOK || r.ticket(t).Version != 3 {
		t.Errorf("edit after release: status %d, body %s", r.status, r.body)
	}
}

func TestRedeliveredOrderEventsChangeNothing(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	created := orderCreated(t, tk.ID, orderA)
	h.publish(wire.SubjectOrderCreated, created)
	h.publish(wire.SubjectOrderCreated, created) // what a redelivery looks like
	h.handled().Await(t, wire.SubjectOrderCreated, events.Acked, 2)

	cancelled := orderCancelled(t, tk.ID, orderA)
	h.publish(wire.SubjectOrderCancelled, cancelled)
	h.publish(wire.SubjectOrderCancelled, cancelled)
	// A late cancellation of an order that never held the ticket must not
	// free it either; it is recorded, so that order can't reserve it.
	h.publish(wire.SubjectOrderCancelled, orderCancelled(t, tk.ID, orderB))
	h.handled().Await(t, wire.SubjectOrderCancelled, events.Acked, 3)
	// The cancelled order's creation redelivered after its cancellation
	// (the subjects are separate, so the broker may reorder them), and
	// B's creation after B's cancellation: neither reserves the ticket.
	h.publish(wire.SubjectOrderCreated, created)
	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderB))
	h.handled().Await(t, wire.SubjectOrderCreated, events.Acked, 4)

	h.flush()
	got := updates(t, h, tk.ID)
	if len(got) != 3 || got[0].OrderID != orderA || got[0].Version != 1 || got[1].OrderID != "" || got[1].Version != 2 ||
		got[2].OrderID != "" || got[2].Version != 3 {
		t.Errorf("published %+v, want the reservation (v1), the release (v2) and B's recorded cancellation (v3), nothing after", got)
	}
	if cur := h.send("GET", "/api/tickets/"+tk.ID, "").ticket(t); cur.Reserved() {
		t.Errorf("the ticket is reserved by %s, an order that was cancelled", cur.OrderID)
	}
}

func TestOrderForUnknownTicketIsAcknowledged(t *testing.T) {
	h := newHarness(t)
	unknown := ticketkit.NewID()
	h.publish(wire.SubjectOrderCreated, orderCreated(t, unknown, orderA))
	h.publish(wire.SubjectOrderCancelled, orderCancelled(t, unknown, orderA))
	h.handled().Await(t, wire.SubjectOrderCreated, events.Acked, 1)
	h.handled().Await(t, wire.SubjectOrderCancelled, events.Acked, 1)
	h.logs.await(t, "about the unknown ticket", func(l map[string]any) bool {
		return l["level"] == "WARN" && l["ticket"] == unknown && strings.Contains(l["msg"].(string), "unknown ticket")
	})

	// The service keeps working: the next order is applied.
	tk := h.create(alice, "concert", 20)
	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderB))
	servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.OrderID == orderB })
	if n := h.handled().Count(wire.SubjectOrderCreated, events.Failed); n != 0 {
		t.Errorf("%d failed deliveries: the unknown ticket was retried", n)
	}
}

func TestPoisonMessagesAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	poison := []string{
		`{"id":`, // cut short
		`not json at all`,
		`{"id":"` + orderA + `","version":0,"ticket":{"id":{"$gt":""},"price":10}}`, // operator for an id
		`{"id":"` + orderA + `","version":0,"ticket":{"id":"nope","price":10}}`,     // not an ObjectId
		`[]`,
	}
	for _, p := range poison {
		h.publish(wire.SubjectOrderCreated, p)
		h.publish(wire.SubjectOrderCancelled, p)
	}
	h.handled().Await(t, wire.SubjectOrderCreated, events.DeadLettered, len(poison))
	h.handled().Await(t, wire.SubjectOrderCancelled, events.DeadLettered, len(poison))

	// Each is kept, bytes unchanged, on its listener's dead-letter subject.
	for _, subject := range []events.Subject{wire.SubjectOrderCreated, wire.SubjectOrderCancelled} {
		var kept []string
		for _, m := range h.c.Messages() {
			if m.Subject == h.srv.Config().DeadLetterSubject(string(subject)) {
				kept = append(kept, string(m.Data))
			}
		}
		if strings.Join(kept, "\n") != strings.Join(poison, "\n") {
			t.Errorf("dead letters of %s: %q, want %q", subject, kept, poison)
		}
	}

	// The service keeps working.
	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.OrderID == orderA })
	if r := h.send("GET", "/api/tickets/"+tk.ID, ""); r.status != http.StatusOK {
		t.Errorf("GET after poison: %d", r.status)
	}
}

// An order:created for a ticket another order holds is retried, because
// that order's cancellation, on another channel, may simply be late.
func TestReservedByAnotherOrderIsRetriedUntilReleased(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 1 })

	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderB))
	h.handled().Await(t, wire.SubjectOrderCreated, events.Failed, 1)
	h.publish(wire.SubjectOrderCancelled, orderCancelled(t, tk.ID, orderA))

	// B's redelivery, one ack wait later, finds the ticket free.
	e := servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.OrderID == orderB })
	if e.Version != 3 {
		t.Errorf("B's reservation is version %d, want 3 (after A's release, 2)", e.Version)
	}
	if n := h.handled().Count(wire.SubjectOrderCreated, events.DeadLettered); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// ... but not forever: after reservedRetries it is dead-lettered, and the
// service goes on with everything else meanwhile and after.
func TestReservedByAnotherOrderCannotWedge(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	other := h.create(bob, "opera", 30)
	h.publish(wire.SubjectOrderCreated, orderCreated(t, tk.ID, orderA))
	servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID && e.Version == 1 })

	stuck := orderCreated(t, tk.ID, orderB)
	h.publish(wire.SubjectOrderCreated, stuck)
	// Behind the stuck message, others still get through.
	h.publish(wire.SubjectOrderCreated, orderCreated(t, other.ID, "0c0000000000000000000003"))
	servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == other.ID && e.Version == 1 })

	h.handled().Await(t, wire.SubjectOrderCreated, events.DeadLettered, 1)
	if n := h.handled().Count(wire.SubjectOrderCreated, events.Failed); n != testReservedRetries-1 {
		t.Errorf("%d failed deliveries before giving up, want %d", n, testReservedRetries-1)
	}
	var kept [][]byte
	for _, m := range h.c.Messages() {
		if m.Subject == h.srv.Config().DeadLetterSubject(string(wire.SubjectOrderCreated)) {
			kept = append(kept, m.Data)
		}
	}
	if len(kept) != 1 || string(kept[0]) != stuck {
		t.Errorf("dead letters %q, want the stuck order", kept)
	}
	if got := h.send("GET", "/api/tickets/"+tk.ID, "").ticket(t); got.OrderID != orderA || got.Version != 1 {
		t.Errorf("ticket %+v, want still held by A", got)
	}
}
