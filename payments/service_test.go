package payments_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/paymentstore"
	"github.com/ticketkit/ticketkit/wire"
)

// fixture is the use cases on memstore, with the order copy fed through
// the wire handlers, as a service feeds it.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	ob      *memstore.Outbox
	store   *paymentstore.Store
	copies  wire.OrderCopies
	charger *memcharger.Charger
	svc     *payments.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := memstore.NewDB()
	ob, err := db.NewOutbox()
	if err != nil {
		t.Fatal(err)
	}
	c, err := memstore.NewCollection[paymentstore.Doc](ob, paymentstore.Name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := memstore.NewReplica[payments.Order](db, "orders")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: context.Background(), ob: ob, store: paymentstore.New(c),
		copies: wire.OrderCopies{Replica: r}, charger: memcharger.New()}
	f.svc = payments.NewService(f.store, payments.NewOrders(r), f.charger)
	return f
}

// order copies a new order of user, at price 20, and returns its id.
func (f *fixture) order(user string) string {
	f.t.Helper()
	id := ticketkit.NewID()
	e := wire.OrderCreated{ID: id, Status: "created", UserID: user, Ticket: wire.OrderTicket{ID: ticketkit.NewID(), Price: ticketkit.Cents(2000)}}
	if err := f.copies.OnOrderCreated(f.ctx, e, events.Metadata{}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// published returns the payment:created events in the outbox.
func (f *fixture) published() []wire.PaymentCreated {
	f.t.Helper()
	es, err := f.ob.Recover(f.ctx, f.ob.Queue().Writer(), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []wire.PaymentCreated
	for _, e := range es {
		if e.Subject != string(wire.SubjectPaymentCreated) {
			continue
		}
		var p wire.PaymentCreated
		if err := json.Unmarshal(e.Data, &p); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// charges checks that the provider charged n times, each for 20.00.
func (f *fixture) charges(n int) {
	f.t.Helper()
	cs := f.charger.Charges()
	if len(cs) != n {
		f.t.Fatalf("%d charges; want %d: %+v", len(cs), n, cs)
	}
	for _, c := range cs {
		if c.Amount != ticketkit.Cents(2000) || c.Currency != "usd" {
			f.t.Fatalf("charged %v %s; want 20.00 usd", c.Amount, c.Currency)
		}
	}
}

func TestPayStoresThePaymentWithItsEvent(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	p, err := f.svc.Pay(f.ctx, user, id, "tok_visa")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != payments.PaymentID(id) || p.OrderID != id || !strings.HasPrefix(p.StripeID, "ch_") || !ticketkit.ValidID(p.ID) {
		t.Fatalf("payment %+v", p)
	}
	f.charges(1)
	if got := f.charger.Charges()[0]; got.IdempotencyKey != payments.ChargeKey(id, "") || got.OrderID != id || got.Source != "tok_visa" {
		t.Fatalf("charge %+v", got)
	}
	if evs := f.published(); len(evs) != 1 || evs[0] != (wire.PaymentCreated{ID: p.ID, OrderID: id, StripeID: p.StripeID}) {
		t.Fatalf("published %+v", evs)
	}
}

// A retry, in any letter case, answers the same payment and charges
// nothing more. The first version of a payments service on ticketkit
// keyed its charge by the id as sent, so the upper-case retry charged
// again.
func TestPayRepeatedChargesOnce(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	first, err := f.svc.Pay(f.ctx, user, id, "tok_visa")
	if err != nil {
		t.Fatal(err)
	}
	for _, again := range []string{id, strings.ToUpper(id)} {
		p, err := f.svc.Pay(f.ctx, user, again, "tok_visa")
		if err != nil || p != first {
			t.Fatalf("Pay(%s) again = %+v, %v; want %+v", again, p, err, first)
		}
	}
	f.charges(1)
	if n := len(f.published()); n != 1 {
		t.Fatalf("%d payment:created; want 1", n)
	}
}

// The Charger's answer is lost (a charge made, and a caller that never
// heard of it), and the payment's store fails after a charge: each time
// the next attempt finds the same charge by its key.
func TestPayFindsAChargeNeverStored(t *testing.T) {
	t.Run("AnswerLost", func(t *testing.T) {
		f := newFixture(t)
		user := ticketkit.NewID()
		id := f.order(user)
		f.charger.LoseNextAnswer()
		if _, err := f.svc.Pay(f.ctx, user, id, "tok_visa"); ticketkit.ErrorCode(err) != ticketkit.EUNAVAILABLE {
			t.Fatalf("a lost answer: %v; want EUNAVAILABLE", err)
		}
		f.charges(1)
		p, err := f.svc.Pay(f.ctx, user, strings.ToUpper(id), "tok_visa")
		if err != nil {
			t.Fatal(err)
		}
		f.charges(1)
		if p.StripeID != "ch_mem1" {
			t.Fatalf("stored charge %q; want the first, ch_mem1", p.StripeID)
		}
	})
	t.Run("StoreFailed", func(t *testing.T) {
		f := newFixture(t)
		user := ticketkit.NewID()
		id := f.order(user)
		r := f.copies.Replica
		// Another instance, whose store fails once after the charge (as
		// if it crashed between the two).
		crashing := payments.NewService(&failingStore{Store: f.store}, payments.NewOrders(r), f.charger)
		if _, err := crashing.Pay(f.ctx, user, id, "tok_visa"); ticketkit.ErrorCode(err) != ticketkit.EUNAVAILABLE {
			t.Fatalf("a failed store: %v; want EUNAVAILABLE", err)
		}
		f.charges(1)
		p, err := f.svc.Pay(f.ctx, user, id, "tok_visa")
		if err != nil || p.StripeID != "ch_mem1" {
			t.Fatalf("Pay after the failed store = %+v, %v; want the first charge", p, err)
		}
		f.charges(1)
		if n := len(f.published()); n != 1 {
			t.Fatalf("%d payment:created; want 1", n)
		}
	})
}

type failingStore struct {
	payments.Store
}

func (s *failingStore) Create(context.Context, payments.Payment) error {
	return ticketkit.ErrUnavailable
}

func TestPayConcurrentChargesOnce(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	const n = 16
	ps := make([]payments.Payment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		oid := id
		if i%2 == 1 {
			oid = strings.ToUpper(id)
		}
		wg.Go(func() { ps[i], errs[i] = f.svc.Pay(f.ctx, user, oid, "tok_visa") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ps[i] != ps[0] {
			t.Fatalf("request %d = %+v, %v; want %+v", i, ps[i], errs[i], ps[0])
		}
	}
	f.charges(1)
	if n := len(f.published()); n != 1 {
		t.Fatalf("%d payment:created; want 1", n)
	}
}

func TestPayRefuses(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	cancelled := f.order(user)
	if err := f.copies.OnOrderCancelled(f.ctx, wire.OrderCancelled{ID: cancelled, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketkit.NewID()}}, events.Metadata{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, user, order, token string
		want                     error
	}{
		{"cancelled", user, cancelled, "tok_visa", payments.ErrOrderCancelled},
		{"another user's", ticketkit.NewID(), id, "tok_visa", ticketkit.ErrNotOwner},
		{"unknown", user, ticketkit.NewID(), "tok_visa", ticketkit.ErrNotFound},
		{"bad id", user, "nope", "tok_visa", ticketkit.ErrNotFound},
		{"no token", user, id, "", ticketkit.ErrInvalid},
		{"unknown token", user, id, "card", ticketkit.ErrInvalid},
	} {
		if _, err := f.svc.Pay(f.ctx, c.user, c.order, c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}
	f.charges(0)
	if n := len(f.published()); n != 0 {
		t.Fatalf("%d payment:created; want none", n)
	}
}

// A declined card is a 400 that doesn't stop the order being paid with
// another card, although the provider remembers the decline under the
// order's key.
func TestPayDeclinedThenPaid(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	for range 2 {
		if _, err := f.svc.Pay(f.ctx, user, id, "tok_chargeDeclined"); !errors.Is(err, payments.ErrDeclined) || ticketkit.ErrorCode(err) != ticketkit.EPRECONDITION {
			t.Fatalf("a declined card: %v; want ErrDeclined", err)
		}
	}
	p, err := f.svc.Pay(f.ctx, user, id, "tok_visa")
	if err != nil {
		t.Fatalf("another card after a decline: %v", err)
	}
	f.charges(1)
	if again, err := f.svc.Pay(f.ctx, user, id, "tok_visa"); err != nil || again != p {
		t.Fatalf("again = %+v, %v; want %+v", again, err, p)
	}
}

// A provider that doesn't answer is EUNAVAILABLE (503), and paying again
// once it is back works.
func TestPayProviderDownThenPaid(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	f.charger.Down(true)
	if _, err := f.svc.Pay(f.ctx, user, id, "tok_visa"); !errors.Is(err, payments.ErrProviderUnavailable) || ticketkit.ErrorCode(err) != ticketkit.EUNAVAILABLE {
		t.Fatalf("provider down: %v; want ErrProviderUnavailable", err)
	}
	f.charger.Down(false)
	if _, err := f.svc.Pay(f.ctx, user, id, "tok_visa"); err != nil {
		t.Fatal(err)
	}
	f.charges(1)
}

func TestPaymentID(t *testing.T) {
	id := ticketkit.NewID()
	p := payments.PaymentID(id)
	if !ticketkit.ValidID(p) || p == id || p[:8] != id[:8] || payments.PaymentID(id) != p || payments.PaymentID(ticketkit.NewID()) == p {
		t.Fatalf("PaymentID(%s) = %s", id, p)
	}
}

// A payment that happened is answered as it is, even once the order was
// cancelled since (it expired while payment:created was on its way).
func TestPaidThenCancelledAnswersThePayment(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	p, err := f.svc.Pay(f.ctx, user, id, "tok_visa")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.copies.OnOrderCancelled(f.ctx, wire.OrderCancelled{ID: id, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketkit.NewID()}}, events.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if again, err := f.svc.Pay(f.ctx, user, id, "tok_visa"); err != nil || again != p {
		t.Fatalf("again after the cancellation = %+v, %v; want %+v", again, err, p)
	}
	if _, err := f.svc.Pay(f.ctx, ticketkit.NewID(), id, "tok_visa"); !errors.Is(err, ticketkit.ErrNotOwner) {
		t.Fatalf("someone else: %v; want ErrNotOwner", err)
	}
	f.charges(1)
}

// A charger that remembers a refused request under its key, as Stripe
// may: the next request, with a good token, still charges.
func TestPayAfterAnInvalidRequest(t *testing.T) {
	f := newFixture(t)
	user := ticketkit.NewID()
	id := f.order(user)
	r := f.copies.Replica
	svc := payments.NewService(f.store, payments.NewOrders(r), &remembersInvalid{Charger: f.charger, refused: map[string]bool{}})
	if _, err := svc.Pay(f.ctx, user, id, "bad"); !errors.Is(err, ticketkit.ErrInvalid) {
		t.Fatalf("a bad token: %v; want EINVALID", err)
	}
	if _, err := svc.Pay(f.ctx, user, id, "tok_visa"); err != nil {
		t.Fatalf("a good token after a bad one: %v", err)
	}
	f.charges(1)
}

type remembersInvalid struct {
	*memcharger.Charger
	mu      sync.Mutex
	refused map[string]bool
}

func (c *remembersInvalid) Charge(ctx context.Context, ch payments.Charge) (payments.ChargeID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused[ch.IdempotencyKey] {
		return "", payments.ErrKeyReused
	}
	id, err := c.Charger.Charge(ctx, ch)
	if ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		c.refused[ch.IdempotencyKey] = true
	}
	return id, err
}
