package mongostore_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/paymentstore"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// The payments service's stores on a real server: 16 simultaneous
// payments of one order charge once and store one payment, in the Node
// service's document shape, with one payment:created; the copy of a
// cancelled order refuses payment. The payments' collection runs without
// document locks: the payment's _id, derived from its order's, is what
// refuses a second payment, and an insert's _id is atomic on FerretDB
// too. The copy's claim (a filtered update) needs them there.
func TestPaymentStore(t *testing.T) {
	db := testenv.Mongo(t)
	ob := newOutbox(t, db)
	c := ctx(t)
	coll, err := mongostore.NewCollection[paymentstore.Doc](ob, paymentstore.Name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := mongostore.NewReplica[payments.Order](db, "orders", mongostore.WithDocumentLocks())
	if err != nil {
		t.Fatal(err)
	}
	charger := memcharger.New()
	svc := payments.NewService(paymentstore.New(coll), payments.NewOrders(r), charger)
	copies := wire.OrderCopies{Replica: r}
	user := ticketkit.NewID()
	order := func() string {
		id := ticketkit.NewID()
		e := wire.OrderCreated{ID: id, Status: "created", UserID: user, Ticket: wire.OrderTicket{ID: ticketkit.NewID(), Price: ticketkit.Cents(1250)}}
		if err := copies.OnOrderCreated(c, e, events.Metadata{}); err != nil {
			t.Fatal(err)
		}
		return id
	}

	id := order()
	const n = 16
	ps := make([]payments.Payment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ps[i], errs[i] = svc.Pay(c, user, id, "tok_visa") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ps[i] != ps[0] {
			t.Fatalf("payment %d = %+v, %v; want %+v", i, ps[i], errs[i], ps[0])
		}
	}
	if got := charger.Charges(); len(got) != 1 || got[0].Amount != ticketkit.Cents(1250) {
		t.Fatalf("charges %+v; want one of 12.50", got)
	}
	var doc bson.M
	if err := db.Collection(paymentstore.Name).FindOne(c, bson.D{{Key: "_id", Value: mustOID(t, ps[0].ID)}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["orderId"] != id || doc["stripeId"] != ps[0].StripeID {
		t.Errorf("stored payment %v: want the Node service's orderId and stripeId", doc)
	}
	if n, err := db.Collection(paymentstore.Name).CountDocuments(c, bson.D{}); err != nil || n != 1 {
		t.Errorf("%d payments stored (%v); want 1", n, err)
	}
	var created []wire.PaymentCreated
	for _, m := range published(t, ob) {
		var e wire.PaymentCreated
		if m.Subject == string(wire.SubjectPaymentCreated) && json.Unmarshal(m.Data, &e) == nil {
			created = append(created, e)
		}
	}
	if len(created) != 1 || created[0] != (wire.PaymentCreated{ID: ps[0].ID, OrderID: id, StripeID: ps[0].StripeID}) {
		t.Fatalf("published %+v; want one payment:created", created)
	}

	cancelled := order()
	if err := copies.OnOrderCancelled(c, wire.OrderCancelled{ID: cancelled, Version: 1, Ticket: wire.OrderTicketRef{ID: ticketkit.NewID()}}, events.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Pay(c, user, cancelled, "tok_visa"); !errors.Is(err, payments.ErrOrderCancelled) {
		t.Fatalf("a cancelled order: %v; want ErrOrderCancelled", err)
	}
	// A decline moves the order's key on, in the copy's claim.
	declined := order()
	if _, err := svc.Pay(c, user, declined, "tok_chargeDeclined"); !errors.Is(err, payments.ErrDeclined) {
		t.Fatalf("declined: %v", err)
	}
	if _, err := svc.Pay(c, user, declined, "tok_visa"); err != nil {
		t.Fatalf("after a decline: %v", err)
	}
}
