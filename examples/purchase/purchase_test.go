package purchase_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/examples/orders-service/ordersvc"
	"github.com/ticketkit/ticketkit/examples/payments-service/paymentsvc"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// window is how long an order waits for its payment here.
const window = 3 * time.Second

// step bounds each step: a fresh durable first replays what earlier tests
// left on the broker's channels.
const step = time.Minute

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(step)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, step)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// The purchase, end to end: a ticket is created, ordered and paid, and
// its order completes; another is ordered and not paid, expires at its
// time, its order is cancelled and the ticket released; paying for that
// order then is refused.
func TestPurchase(t *testing.T) {
	for _, transport := range []string{service.TransportStan, service.TransportJetStream} {
		t.Run(transport, func(t *testing.T) { testPurchase(t, servicetest.Servers(t, transport)) })
	}
}

func testPurchase(t *testing.T, c *servicetest.Cluster) {
	charger, err := stripecharger.New("sk_test_ticketkit", stripecharger.WithAPIBase(testenv.StripeAPIBase(t)))
	if err != nil {
		t.Fatal(err)
	}
	pay, err := paymentsvc.New(paymentsvc.WithCharger(charger))
	if err != nil {
		t.Fatal(err)
	}
	ticketsSvc := c.Start(ticketsvc.Name, ticketsvc.Build)
	ordersSvc := c.Start(ordersvc.Name, ordersvc.New(orders.ExpiresAfter(window)))
	paymentsSvc := c.Start(paymentsvc.Name, pay)
	c.Start(expirationsvc.Name, expirationsvc.Build)
	seller, buyer := c.User(), c.User()

	type ticketJSON struct {
		ID      string `json:"id"`
		OrderID string `json:"orderId"`
	}
	type orderJSON struct {
		ID        string    `json:"id"`
		Status    string    `json:"status"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	ticket := func(id string) ticketJSON {
		var tk ticketJSON
		r := ticketsSvc.Send("GET", "/api/tickets/"+id, "")
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tk) != nil {
			t.Fatalf("GET ticket: %d %s", r.Status, r.Body)
		}
		return tk
	}
	order := func(id string) orderJSON {
		var o orderJSON
		r := ordersSvc.SendAs(buyer, "GET", "/api/orders/"+id, "")
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &o) != nil {
			t.Fatalf("GET order: %d %s", r.Status, r.Body)
		}
		return o
	}
	create := func(title string) ticketJSON {
		r := ticketsSvc.SendAs(seller, "POST", "/api/tickets", `{"title":"`+title+`","price":20}`)
		var tk ticketJSON
		if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &tk) != nil {
			t.Fatalf("create ticket: %d %s", r.Status, r.Body)
		}
		return tk
	}
	place := func(tk ticketJSON) orderJSON {
		var o orderJSON
		eventually(t, "the orders service knows the ticket", func() bool {
			r := ordersSvc.SendAs(buyer, "POST", "/api/orders", `{"ticketId":"`+tk.ID+`"}`)
			if r.Status == http.StatusCreated {
				return json.Unmarshal(r.Body, &o) == nil
			}
			if r.Status != http.StatusNotFound {
				t.Fatalf("order: %d %s", r.Status, r.Body)
			}
			return false
		})
		eventually(t, "the tickets service reserves the ticket", func() bool { return ticket(tk.ID).OrderID == o.ID })
		return o
	}
	payFor := func(o orderJSON) servicetest.Response {
		var r servicetest.Response
		eventually(t, "the payments service knows the order", func() bool {
			r = paymentsSvc.SendAs(buyer, "POST", "/api/payments", `{"token":"tok_visa","orderId":"`+o.ID+`"}`)
			return r.Status != http.StatusNotFound
		})
		return r
	}

	// 1–3. Created, ordered, paid: the order completes.
	paid := place(create("concert"))
	if r := payFor(paid); r.Status != http.StatusCreated {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	eventually(t, "the paid order completes", func() bool { return order(paid.ID).Status == string(orders.Complete) })

	// 4. Ordered and not paid: it expires at its time, the order is
	// cancelled and the ticket released.
	tk := create("opera")
	unpaid := place(tk)
	eventually(t, "the unpaid order is cancelled", func() bool { return order(unpaid.ID).Status == string(orders.Cancelled) })
	if now := time.Now(); now.Before(unpaid.ExpiresAt) {
		t.Fatalf("the order was cancelled %v before it expired", unpaid.ExpiresAt.Sub(now))
	}
	eventually(t, "the ticket is released", func() bool { return ticket(tk.ID).OrderID == "" })
	if o := order(paid.ID); o.Status != string(orders.Complete) {
		t.Errorf("the paid order's expiration changed it: %s", o.Status)
	}

	// 5. A payment for the cancelled order is refused.
	eventually(t, "a payment for the cancelled order is refused", func() bool {
		r := payFor(unpaid)
		if r.Status == http.StatusCreated {
			t.Fatalf("payment for a cancelled order: %d %s", r.Status, r.Body)
		}
		return r.Status == http.StatusBadRequest && strings.Contains(string(r.Body), "cancelled order")
	})
}
