package memstore

import (
	"context"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// OrderStore is an orders.Store in memory: the orders of a Collection,
// each write with its events (wire.FromOrder).
type OrderStore struct {
	c *Collection[orders.Order]
}

var _ orders.Store = (*OrderStore)(nil)

// NewOrderStore returns the orders Store of ob's DB, written through ob,
// as mongostore.NewOrderStore does on MongoDB.
func NewOrderStore(ob *Outbox) (*OrderStore, error) {
	c, err := NewCollection[orders.Order](ob, "orders")
	if err != nil {
		return nil, err
	}
	return &OrderStore{c: c}, nil
}

// Create implements orders.Store.
func (s *OrderStore) Create(ctx context.Context, o orders.Order) error {
	nid, ok := normID(o.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid order id %q", o.ID)
	}
	o.ID, o.Version = nid, 0
	return s.c.Insert(ctx, o.ID, o, wire.FromOrder(o)...)
}

// Get implements orders.Store.
func (s *OrderStore) Get(ctx context.Context, id string) (orders.Order, error) {
	r, err := s.c.Get(ctx, id)
	return r.Doc, err
}

// Update implements orders.Store.
func (s *OrderStore) Update(ctx context.Context, o orders.Order, expected int64) (orders.Order, error) {
	nid, ok := normID(o.ID)
	if !ok {
		return orders.Order{}, ticketkit.ErrNotFound
	}
	o.ID, o.Version = nid, expected+1
	if _, err := s.c.Update(ctx, o.ID, expected, o, wire.FromOrder(o)...); err != nil {
		return orders.Order{}, err
	}
	return o, nil
}

// ByUser implements orders.Store.
func (s *OrderStore) ByUser(ctx context.Context, userID string) ([]orders.Order, error) {
	rs, err := s.c.Find(ctx, store.Filter{"userId": userID})
	if err != nil {
		return nil, err
	}
	out := make([]orders.Order, len(rs))
	for i, r := range rs {
		out[i] = r.Doc
	}
	return out, nil
}
