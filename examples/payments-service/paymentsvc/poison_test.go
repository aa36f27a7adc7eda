package paymentsvc

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

// Bad bodies beyond TestRoute's: invalid UTF-8, operator-shaped values
// where an id or a token goes, a body near the limit and one over it.
// None of them charges.
func TestBadInput(t *testing.T) {
	h := newHarness(t, servicetest.Memory(t), 1)
	alice := h.c.User()
	id := h.order(alice)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"token":"tok_visa","orderId":"` + "\xff" + `"}`, http.StatusBadRequest},
		{`{"token":"` + "tok_\xff" + `","orderId":"` + id + `"}`, http.StatusBadRequest},
		{`{"token":{"$ne":""},"orderId":"` + id + `"}`, http.StatusBadRequest},
		{`{"token":"tok_visa","orderId":{"$gt":""}}`, http.StatusBadRequest},
		{`{"token":"tok_visa","orderId":["` + id + `"]}`, http.StatusBadRequest},
		{`{"token":["tok_visa"],"orderId":"` + id + `"}`, http.StatusBadRequest},
		{`{"token":"tok_visa","orderId":null}`, http.StatusBadRequest},
		{`{"token":"tok_visa","orderId":12}`, http.StatusBadRequest},
		// An operator or a query as a string is just an id that no
		// order has, as Node's findById would find none.
		{`{"token":"tok_visa","orderId":"$gt"}`, http.StatusNotFound},
		{`{"token":"tok_visa","orderId":"{\"$ne\":null}"}`, http.StatusNotFound},
		{`{"token":"tok_visa","orderId":"` + id + `x"}`, http.StatusNotFound},
		{`{"token":"tok_visa","orderId":"` + id + `","pad":"` + strings.Repeat("x", 101<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		r := h.in[0].SendAs(alice, "POST", "/api/payments", tc.body)
		if r.Status != tc.want || len(r.Errors(t)) == 0 {
			t.Errorf("%.80q: %d %s; want %d with errors", tc.body, r.Status, r.Body, tc.want)
		}
	}
	h.charges(0)
	// Just under the limit, a body is read and the order paid.
	pad := strings.Repeat("x", 99<<10)
	r := h.in[0].SendAs(alice, "POST", "/api/payments", `{"token":"tok_visa","orderId":"`+id+`","pad":"`+pad+`"}`)
	h.published(id, paid(t, r))
	h.charges(1)
}

// Poison on every subject the service consumes (order:created,
// order:cancelled) is dead-lettered without touching the copy, what Node
// would accept is acknowledged, and the service keeps paying orders.
func TestPoisonEvents(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testPoison(t, servicetest.Memory(t)) })
	// NATS Streaming's payload limit and FerretDB's documents, for the
	// payloads near the limit.
	t.Run("servers", func(t *testing.T) { testPoison(t, servicetest.Servers(t, service.TransportStan)) })
}

func testPoison(t *testing.T, c *servicetest.Cluster) {
	h := newHarness(t, c, 1)
	alice := h.c.User()
	before := h.order(alice) // poison must leave it payable
	other, ticket := ticketkit.NewID(), ticketkit.NewID()
	created := func(id, version, status, user, price string) string {
		return fmt.Sprintf(`{"id":%s,"version":%s,"status":%s,"userId":%s,"expiresAt":"2026-12-03T15:00:00.000Z","ticket":{"id":"%s","price":%s}}`,
			id, version, status, user, ticket, price)
	}
	q := func(s string) string { return `"` + s + `"` }
	// Near NATS's default 1 MiB max_payload, with room for the
	// transport's headers.
	near := 1<<20 - 4<<10
	poison := map[events.Subject][]string{
		wire.SubjectOrderCreated: {
			``, `not json`, `null`, `[]`, `"order"`, `{`,
			created(`{"$gt":""}`, `0`, q("created"), q(alice.ID), `20`),
			created(q("$gt"), `0`, q("created"), q(alice.ID), `20`),
			created(q("\xff"+other[1:]), `0`, q("created"), q(alice.ID), `20`),
			created(`12`, `0`, q("created"), q(alice.ID), `20`),
			created(q(other), `"0"`, q("created"), q(alice.ID), `20`),
			created(q(other), `-1`, q("created"), q(alice.ID), `20`),
			created(q(other), `0`, `{"$ne":"cancelled"}`, q(alice.ID), `20`),
			created(q(other), `0`, q("created"), `{"$ne":null}`, `20`),
			created(q(other), `0`, q("created"), q(alice.ID), `"20"`),
			created(q(other), `0`, q("created"), q(alice.ID), `-20`),
			created(q(other), `0`, q("created"), q(alice.ID), `1e400`),
			`{"id":"` + other + `","version":0,"status":"created","userId":"` + alice.ID + `","ticket":"` + ticket + `"}`,
			strings.Repeat("x", near),
			`{"id":"` + other + `","pad":"` + strings.Repeat("x", near) + `"}`,
		},
		wire.SubjectOrderCancelled: {
			``, `not json`, `null`, `[]`, `{`,
			`{"id":{"$gt":""},"version":1,"ticket":{"id":"` + ticket + `"}}`,
			`{"id":"$gt","version":1,"ticket":{"id":"` + ticket + `"}}`,
			`{"id":"` + "\xff" + before[1:] + `","version":1,"ticket":{"id":"` + ticket + `"}}`,
			`{"id":"` + before + `","version":"1","ticket":{"id":"` + ticket + `"}}`,
			`{"id":"` + before + `","version":{"$gt":0},"ticket":{"id":"` + ticket + `"}}`,
			`{"id":"` + before + `","version":1,"ticket":{}}`,
			`{"id":"` + before + `","version":1,"ticket":"` + ticket + `"}`,
			strings.Repeat("x", near),
			`{"id":"` + before + `","version":1,"pad":"` + strings.Repeat("x", near) + `"}`,
		},
	}
	for s, ps := range poison {
		n := h.c.Handled().Count(s, events.DeadLettered)
		for _, p := range ps {
			h.c.PublishRaw(s, []byte(p))
		}
		h.c.AwaitHandled(s, events.DeadLettered, n+len(ps))
	}
	// What Node accepts is acknowledged: a valid order:created padded
	// near the limit, and one whose userId is invalid UTF-8 (decoded to
	// U+FFFD as Node's Buffer.toString does; no session carries it).
	padded, odd := ticketkit.NewID(), ticketkit.NewID()
	n := h.c.Handled().Count(wire.SubjectOrderCreated, events.Acked)
	h.c.PublishRaw(wire.SubjectOrderCreated, []byte(`{"id":"`+padded+`","version":0,"status":"created","userId":"`+alice.ID+
		`","expiresAt":"2026-12-03T15:00:00.000Z","ticket":{"id":"`+ticket+`","price":20},"pad":"`+strings.Repeat("x", near)+`"}`))
	h.c.PublishRaw(wire.SubjectOrderCreated, []byte(created(q(odd), `0`, q("created"), q("\xff\xfe"), `20`)))
	h.c.AwaitHandled(wire.SubjectOrderCreated, events.Acked, n+2)
	if r := h.pay(0, alice, odd, "tok_visa"); r.Status != http.StatusUnauthorized {
		t.Errorf("paying the order of an invalid UTF-8 user: %d %s", r.Status, r.Body)
	}
	h.charges(0)
	// Nothing poison reached the copy: the order is still created (not
	// cancelled), at its price, and payable; so is the padded one.
	h.published(before, paid(t, h.pay(0, alice, before, "tok_visa")))
	h.published(padded, paid(t, h.pay(0, alice, padded, "tok_visa")))
	for _, ch := range h.charger.Charges() {
		if ch.Amount != ticketkit.Cents(2000) {
			t.Errorf("charged %v; want 20.00", ch.Amount)
		}
	}
	h.charges(2)
}
