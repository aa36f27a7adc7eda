package paymentsvc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is instances of the service on a servicetest cluster, sharing
// one database and one in-memory charger.
type harness struct {
	t       *testing.T
	c       *servicetest.Cluster
	charger *memcharger.Charger
	in      []*servicetest.Instance
}

func newHarness(t *testing.T, c *servicetest.Cluster, instances int) *harness {
	h := &harness{t: t, c: c, charger: memcharger.New()}
	build, err := New(WithCharger(h.charger))
	if err != nil {
		t.Fatal(err)
	}
	for range instances {
		h.in = append(h.in, c.Start(Name, build))
	}
	return h
}

// order publishes an order:created of user's at 20.00, and waits until
// the service has it.
func (h *harness) order(user session.User) string {
	h.t.Helper()
	id := ticketkit.NewID()
	h.c.Publish(wire.OrderCreated{ID: id, Status: "created", UserID: user.ID,
		ExpiresAt: wire.Time{}, Ticket: wire.OrderTicket{ID: ticketkit.NewID(), Price: ticketkit.Cents(2000)}})
	h.c.AwaitStored(Name, "orders", id)
	return id
}

func (h *harness) cancel(id string) {
	h.t.Helper()
	n := h.c.Handled().Count(wire.SubjectOrderCancelled, events.Acked)
	h.c.Publish(wire.OrderCancelled{ID: id, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketkit.NewID()}})
	h.c.AwaitHandled(wire.SubjectOrderCancelled, events.Acked, n+1)
}

func (h *harness) pay(in int, user session.User, orderID, token string) servicetest.Response {
	h.t.Helper()
	return h.in[in].SendAs(user, "POST", "/api/payments", `{"token":"`+token+`","orderId":"`+orderID+`"}`)
}

// paid checks r is 201 {id} and returns the id.
func paid(t *testing.T, r servicetest.Response) string {
	t.Helper()
	var body struct {
		ID string `json:"id"`
	}
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &body) != nil || !ticketkit.ValidID(body.ID) {
		t.Fatalf("status %d, body %s; want 201 {id}", r.Status, r.Body)
	}
	return body.ID
}

// published awaits what the outbox publishes for order and checks it is
// one payment:created of payment id.
func (h *harness) published(order, id string) {
	h.t.Helper()
	e := servicetest.Await(h.c, func(e wire.PaymentCreated) bool { return e.OrderID == order })
	if e.ID != id || !strings.HasPrefix(e.StripeID, "ch_") {
		h.t.Fatalf("payment:created %+v; want payment %s", e, id)
	}
	for _, in := range h.in {
		if err := in.Relay().Flush(h.t.Context()); err != nil {
			h.t.Fatal(err)
		}
	}
	n := 0
	for _, e := range servicetest.Published[wire.PaymentCreated](h.c) {
		if e.OrderID == order {
			n++
		}
	}
	if n != 1 {
		h.t.Fatalf("%d payment:created for the order; want 1", n)
	}
}

func (h *harness) charges(n int) {
	h.t.Helper()
	if got := len(h.charger.Charges()); got != n {
		h.t.Fatalf("%d charges; want %d", got, n)
	}
}

// The Node service's route tests (routes/__test__/new.test.ts), and bad
// input.
func TestRoute(t *testing.T) {
	h := newHarness(t, servicetest.Memory(t), 1)
	alice, bob := h.c.User(), h.c.User()

	t.Run("404 for an order that does not exist", func(t *testing.T) {
		if r := h.pay(0, alice, ticketkit.NewID(), "asldkfj"); r.Status != http.StatusNotFound {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("401 for another user's order", func(t *testing.T) {
		if r := h.pay(0, alice, h.order(bob), "asldkfj"); r.Status != http.StatusUnauthorized {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("400 for a cancelled order", func(t *testing.T) {
		id := h.order(alice)
		h.cancel(id)
		r := h.pay(0, alice, id, "asdlkfj")
		if r.Status != http.StatusBadRequest || r.Errors(t)[0].Message != "Cannot pay for an cancelled order" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("201 with valid inputs", func(t *testing.T) {
		id := h.order(alice)
		pid := paid(t, h.pay(0, alice, id, "tok_visa"))
		h.published(id, pid)
		c := h.charger.Charges()
		if len(c) == 0 || c[len(c)-1].Amount != ticketkit.Cents(2000) || c[len(c)-1].Currency != "usd" {
			t.Fatalf("charges %+v", c)
		}
	})
	t.Run("401 without a session", func(t *testing.T) {
		if r := h.in[0].Send("POST", "/api/payments", `{"token":"tok_visa","orderId":"`+ticketkit.NewID()+`"}`); r.Status != http.StatusUnauthorized {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("400 for bad bodies", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"token":"","orderId":""}`, `{"token":1,"orderId":{"$gt":""}}`, `{"token":"tok_visa"}`, `[]`, `nope`} {
			r := h.in[0].SendAs(alice, "POST", "/api/payments", body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s", body, r.Status, r.Body)
			}
		}
	})
	t.Run("400 for a declined card, then paid", func(t *testing.T) {
		id := h.order(alice)
		if r := h.pay(0, alice, id, "tok_chargeDeclined"); r.Status != http.StatusBadRequest {
			t.Fatalf("declined: %d %s", r.Status, r.Body)
		}
		paid(t, h.pay(0, alice, id, "tok_visa"))
	})
}

// A retried POST, in either case, answers the same payment; a provider
// that doesn't answer is a 503 with Retry-After, and paying later works.
func TestRetryChargesOnce(t *testing.T) {
	h := newHarness(t, servicetest.Memory(t), 1)
	alice := h.c.User()
	id := h.order(alice)
	h.charger.Down(true)
	r := h.pay(0, alice, id, "tok_visa")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("provider down: %d %s, Retry-After %q", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	h.charger.Down(false)
	h.charger.LoseNextAnswer() // charged, but the answer is lost: 503 again
	if r := h.pay(0, alice, id, "tok_visa"); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("answer lost: %d %s", r.Status, r.Body)
	}
	pid := paid(t, h.pay(0, alice, id, "tok_visa"))
	if again := paid(t, h.pay(0, alice, strings.ToUpper(id), "tok_visa")); again != pid {
		t.Fatalf("a retry answered payment %s; want %s", again, pid)
	}
	h.charges(1)
	h.published(id, pid)
}

func TestConcurrentChargesOnceInMemory(t *testing.T) {
	testConcurrent(t, newHarness(t, servicetest.Memory(t), 2))
}

func TestOnRealServers(t *testing.T) {
	for _, transport := range []string{service.TransportStan, service.TransportJetStream} {
		t.Run(transport, func(t *testing.T) {
			testConcurrent(t, newHarness(t, servicetest.Servers(t, transport), 2))
		})
	}
}

// testConcurrent races 16 POSTs for one order on two instances: one
// charge, one payment, one payment:created, and every answer the same.
func testConcurrent(t *testing.T, h *harness) {
	alice := h.c.User()
	id := h.order(alice)
	const n = 16
	rs := make([]servicetest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rs[i] = h.pay(i%2, alice, id, "tok_visa") })
	}
	wg.Wait()
	pid := paid(t, rs[0])
	for i, r := range rs {
		if got := paid(t, r); got != pid {
			t.Fatalf("request %d answered payment %s; want %s", i, got, pid)
		}
	}
	h.charges(1)
	h.published(id, pid)
}

// The service on stripe-mock, charging through stripe-go, as it runs with
// STRIPE_KEY and STRIPE_API_BASE set.
func TestStripeMock(t *testing.T) {
	base := testenv.StripeAPIBase(t)
	charger, err := stripecharger.FromEnv(func(k string) string {
		return map[string]string{stripecharger.EnvKey: "sk_test_123", stripecharger.EnvAPIBase: base}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	c := servicetest.Memory(t)
	build, err := New(WithCharger(charger))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, in: []*servicetest.Instance{c.Start(Name, build)}}
	alice := c.User()
	id := h.order(alice)
	pid := paid(t, h.pay(0, alice, id, "tok_visa"))
	if pid != payments.PaymentID(id) {
		t.Fatalf("payment %s; want %s", pid, payments.PaymentID(id))
	}
	h.published(id, pid)
}

// The charger from the environment: Stripe with STRIPE_KEY; without it,
// the fake in memory only, and on MongoDB no service at all.
func TestChargerFromEnv(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	mem := service.Defaults(Name)
	onMongo := mem
	onMongo.MongoURI = "mongodb://127.0.0.1:1/payments"
	if c, err := chargerOf(onMongo, log, settings{getenv: env(map[string]string{"STRIPE_KEY": "sk_test_1"})}); err != nil {
		t.Fatal(err)
	} else if _, ok := c.(*stripecharger.Charger); !ok {
		t.Errorf("with STRIPE_KEY: %T", c)
	}
	if c, err := chargerOf(mem, log, settings{getenv: env(nil)}); err != nil {
		t.Fatal(err)
	} else if _, ok := c.(*memcharger.Charger); !ok {
		t.Errorf("in memory without STRIPE_KEY: %T", c)
	}
	if c, err := chargerOf(onMongo, log, settings{getenv: env(nil)}); err == nil {
		t.Errorf("on MongoDB without STRIPE_KEY: %T, want an error", c)
	}
}

// An instance dies between the charge and the store (Abandon: its relay
// stops, its backends close): its client gets no 201, and paying again on
// another instance finds the same charge by its key. One charge, one
// payment, one payment:created.
func TestCrashBetweenChargeAndStore(t *testing.T) {
	for _, transport := range []string{service.TransportStan, service.TransportJetStream} {
		t.Run(transport, func(t *testing.T) {
			c := servicetest.Servers(t, transport)
			mem := memcharger.New()
			var dying *servicetest.Instance
			crash := &crashAfterCharge{Charger: mem, crash: func() {
				ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
				defer cancel()
				if err := dying.Abandon(ctx); err != nil {
					t.Errorf("Abandon: %v", err)
				}
			}}
			dyingBuild, err := New(WithCharger(crash))
			if err != nil {
				t.Fatal(err)
			}
			dying = c.Start(Name, dyingBuild)
			build, err := New(WithCharger(mem))
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, c: c, charger: mem, in: []*servicetest.Instance{dying, c.Start(Name, build)}}
			alice := c.User()
			id := h.order(alice)
			if r := h.pay(0, alice, id, "tok_visa"); r.Status < 500 {
				t.Fatalf("the dying instance answered %d %s; want a 5xx", r.Status, r.Body)
			} else {
				t.Logf("the dying instance answered %d %s", r.Status, r.Body)
			}
			h.charges(1)
			pid := paid(t, h.pay(1, alice, id, "tok_visa"))
			h.charges(1)
			e := servicetest.Await(c, func(e wire.PaymentCreated) bool { return e.OrderID == id })
			if e.ID != pid || e.StripeID != "ch_mem1" {
				t.Fatalf("payment:created %+v; want payment %s of the first charge", e, pid)
			}
			if err := h.in[1].Relay().Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range servicetest.Published[wire.PaymentCreated](c) {
				if e.OrderID == id {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d payment:created; want 1", n)
			}
		})
	}
}

// crashAfterCharge charges, then crashes its instance once.
type crashAfterCharge struct {
	payments.Charger
	crash func()
	once  sync.Once
}

func (c *crashAfterCharge) Charge(ctx context.Context, ch payments.Charge) (payments.ChargeID, error) {
	id, err := c.Charger.Charge(ctx, ch)
	if err == nil {
		c.once.Do(c.crash)
	}
	return id, err
}
