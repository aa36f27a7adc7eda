package ticketsvc

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

func idemKey(k string) []string { return []string{httpapi.IdempotencyKeyHeader, k} }

// A create sent again with its Idempotency-Key, to any instance, is
// answered with the first one's ticket and creates nothing.
func TestIdempotentCreate(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testIdempotentCreate(t, servicetest.Memory(t)) })
	t.Run("servers", func(t *testing.T) { testIdempotentCreate(t, servicetest.Servers(t, service.TransportStan)) })
}

func testIdempotentCreate(t *testing.T, c *servicetest.Cluster) {
	a, b := c.Start(Name, Build), c.Start(Name, Build)
	const body = `{"title":"concert","price":20}`
	aliceKey := append(as(t, alice), idemKey("order-form-7f3a")...)

	first := send(t, a.URL, "POST", "/api/tickets", body, aliceKey...)
	if first.status != http.StatusCreated || first.header.Get(httpapi.ReplayedHeader) != "" {
		t.Fatalf("first create: %d %s, replayed %q", first.status, first.body, first.header.Get(httpapi.ReplayedHeader))
	}
	tk := first.ticket(t)
	for _, in := range []*servicetest.Instance{a, b} {
		again := send(t, in.URL, "POST", "/api/tickets", body, aliceKey...)
		if again.status != http.StatusCreated || again.ticket(t).ID != tk.ID || again.header.Get(httpapi.ReplayedHeader) != "true" {
			t.Fatalf("repeat: %d %s, replayed %q; want 201 with ticket %s", again.status, again.body, again.header.Get(httpapi.ReplayedHeader), tk.ID)
		}
	}
	// The same key with another body: 422, nothing written.
	other := send(t, b.URL, "POST", "/api/tickets", `{"title":"concert","price":30}`, aliceKey...)
	if other.status != http.StatusUnprocessableEntity || !strings.Contains(other.errors(t)[0].Message, "Idempotency-Key") {
		t.Errorf("reused key: %d %s, want 422", other.status, other.body)
	}
	// Bob's key of the same name is his own.
	bobs := send(t, a.URL, "POST", "/api/tickets", body, append(as(t, bob), idemKey("order-form-7f3a")...)...)
	if bobs.status != http.StatusCreated || bobs.ticket(t).ID == tk.ID {
		t.Errorf("bob's create with the same key: %d %s", bobs.status, bobs.body)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "ключ", "a\tb"} {
		r := send(t, a.URL, "POST", "/api/tickets", body, append(as(t, alice), idemKey(bad)...)...)
		if r.status != http.StatusBadRequest {
			t.Errorf("key %q: %d %s, want 400", bad, r.status, r.body)
		}
	}

	// One ticket:created for alice's ticket, however often she sent it.
	for _, in := range []*servicetest.Instance{a, b} {
		flushInstance(t, in)
	}
	servicetest.Await(c, func(e wire.TicketCreated) bool { return e.ID == bobs.ticket(t).ID })
	n := 0
	for _, e := range servicetest.Published[wire.TicketCreated](c) {
		if e.ID == tk.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d ticket:created for the ticket created with a key, want 1", n)
	}
	list := send(t, a.URL, "GET", "/api/tickets", "")
	if got := len(list.tickets(t)); got != 2 {
		t.Errorf("%d tickets listed, want 2 (alice's and bob's)", got)
	}
}

func flushInstance(t *testing.T, in *servicetest.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := in.Relay().Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// A create whose database answer is lost is answered by what was
// stored: 201 if the ticket is there (and its event goes out), and, if it
// isn't, a 500 that says it may have been saved, without Retry-After.
func TestCreateWhoseWriteIsUnconfirmed(t *testing.T) {
	c := servicetest.Servers(t, service.TransportStan)
	var p *testenv.Proxy
	in := c.Start(Name, Build, servicetest.DatabaseProxy(t, &p),
		servicetest.Configure(func(cfg *service.Config) { cfg.RequestTimeout = 2 * time.Second }))
	const body = `{"title":"concert","price":20}`

	p.SwallowReply("insert\x00")
	saved := send(t, in.URL, "POST", "/api/tickets", body, as(t, alice)...)
	if saved.status != http.StatusCreated {
		t.Fatalf("create whose answer was lost: %d %s, want 201 (it was stored)", saved.status, saved.body)
	}
	tk := saved.ticket(t)
	if r := send(t, in.URL, "GET", "/api/tickets/"+tk.ID, ""); r.status != http.StatusOK {
		t.Errorf("GET the ticket: %d %s", r.status, r.body)
	}
	servicetest.Await(c, func(e wire.TicketCreated) bool { return e.ID == tk.ID })

	p.SwallowRequest("insert\x00")
	lost := send(t, in.URL, "POST", "/api/tickets", body, as(t, alice)...)
	if lost.status != http.StatusInternalServerError || lost.header.Get("Retry-After") != "" ||
		!strings.Contains(lost.errors(t)[0].Message, "may have been saved") {
		t.Errorf("create whose write was lost: %d %s, Retry-After %q; want 500 saying it may have been saved, no Retry-After",
			lost.status, lost.body, lost.header.Get("Retry-After"))
	}
}
