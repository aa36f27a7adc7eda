// Package paymentstore is the payments.Store of the drop-in payments
// service, on the storage API (package store): one implementation for
// every backend, in the Node payments service's document shape. A
// service gets its collection from its backends and wraps it:
//
//	c, err := service.Collection[paymentstore.Doc](ctx, s, paymentstore.Name)
//	store := paymentstore.New(c)
//
// A payment is inserted with its payment:created event (wire.FromPayment)
// in the same single-document write. Its id is payments.PaymentID of its
// order, so the collection's _id is what keeps an order to one payment:
// no other unique index is needed.
package paymentstore

import (
	"context"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the payments' collection: the Node payments service's.
const Name = "payments"

// Doc is a payment as stored, in the Node payments service's field names.
type Doc struct {
	OrderID  string `bson:"orderId" json:"orderId"`
	StripeID string `bson:"stripeId" json:"stripeId"`
}

// Store is a payments.Store on a store.Collection of Docs.
type Store struct {
	c store.Collection[Doc]
}

var _ payments.Store = (*Store)(nil)

// New returns the payments Store on c.
func New(c store.Collection[Doc]) *Store { return &Store{c: c} }

// Create implements payments.Store.
func (s *Store) Create(ctx context.Context, p payments.Payment) error {
	id, ok := ticketkit.CanonicalID(p.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid payment id %q", p.ID)
	}
	if p.OrderID == "" || p.StripeID == "" {
		return ticketkit.Errorf(ticketkit.EINVALID, "A payment needs its order and its charge")
	}
	p.ID = id
	return s.c.Insert(ctx, id, Doc{OrderID: p.OrderID, StripeID: p.StripeID}, wire.FromPayment(p))
}

// Get implements payments.Store.
func (s *Store) Get(ctx context.Context, id string) (payments.Payment, error) {
	r, err := s.c.Get(ctx, id)
	if err != nil {
		return payments.Payment{}, err
	}
	return payments.Payment{ID: r.ID, OrderID: r.Doc.OrderID, StripeID: r.Doc.StripeID}, nil
}
