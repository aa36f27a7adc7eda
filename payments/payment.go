package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/ticketkit/ticketkit"
)

// Payment is an order's payment: the charge that paid it.
type Payment struct {
	ID       string
	OrderID  string
	StripeID string // the provider's charge id, as the cluster's events name it
}

// PaymentID returns the id of the payment of order orderID, which must be
// canonical (ticketkit.CanonicalID): the order's creation time (its
// ObjectID's first four bytes), then 8 bytes of a hash of the order's id.
// An order has one payment id, so a second payment for it is an insert of
// an id that exists; the id still sorts by time as ObjectIDs do, and is
// not the order's own, so that the two are never confused.
func PaymentID(orderID string) string {
	h := sha256.Sum256([]byte("ticketkit/payments/payment\x00" + orderID))
	return orderID[:8] + hex.EncodeToString(h[:8])
}

// ChargeKey returns the idempotency key of attempt of a charge for order
// orderID (canonical): every request for one order and attempt carries
// the same key, so the provider charges once.
func ChargeKey(orderID, attempt string) string {
	k := "ticketkit-payment-" + orderID
	if attempt != "" {
		k += "-" + attempt
	}
	return k
}

// OrderStatus is an order's status as the cluster's events spell it.
type OrderStatus string

// The statuses the payments service tells apart; the copy keeps whatever
// order:created said.
const (
	OrderCreated   OrderStatus = "created"
	OrderCancelled OrderStatus = "cancelled"
)

// Order is the payments service's copy of an order, from order:created
// and order:cancelled. It is also the document a store.Replica keeps, in
// the Node payments service's field names; the id and version are the
// record's, and Attempt is the record's claim (see Orders).
type Order struct {
	ID      string          `bson:"-" json:"id"`
	UserID  string          `bson:"userId" json:"userId"`
	Price   ticketkit.Money `bson:"price" json:"price"`
	Status  OrderStatus     `bson:"status" json:"status"`
	Version int64           `bson:"-" json:"version"`
	Attempt string          `bson:"-" json:"-"`
}

// Store keeps payments.
type Store interface {
	// Create inserts p with its payment:created event in one write.
	// Errors: ECONFLICT (a payment with p.ID exists), EINVALID,
	// EUNAVAILABLE (nothing was written), EUNKNOWN, EINTERNAL.
	Create(ctx context.Context, p Payment) error
	// Get returns payment id. Errors: ENOTFOUND, EINTERNAL.
	Get(ctx context.Context, id string) (Payment, error)
}

// Orders is the service's copy of the orders.
type Orders interface {
	// Order returns order id. Errors: ENOTFOUND, EINTERNAL.
	Order(ctx context.Context, id string) (Order, error)
	// NextAttempt moves order id's charge attempt from prev to the next
	// one, if it is prev now; of callers that read the same attempt, one
	// moves it and the others find it moved. Errors: ENOTFOUND, EINTERNAL.
	NextAttempt(ctx context.Context, id, prev string) error
}
