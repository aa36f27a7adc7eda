// Package orderstore is the orders.Store of the drop-in orders service,
// on the storage API (package store): one implementation for every
// backend, in the Node orders service's document shape. A service gets
// its collection from its backends and wraps it:
//
//	c, err := service.Collection[orderstore.Doc](ctx, s, orderstore.Name, orderstore.Indexes()...)
//	store := orderstore.New(c)
//
// Each write carries its events (wire.FromOrder) in the same
// single-document write.
package orderstore

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/idempotency"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the orders' collection: the Node orders service's.
const Name = "orders"

// Indexes are those that serve ByUser: {userId, _id}.
func Indexes() [][]string { return [][]string{{"userId"}} }

// Doc is an order as stored, in the Node orders service's field names.
// The ticket is its ObjectId, as Mongoose stores a ref, so that orders
// the Node service wrote read back (bson's ObjectID is only a type here:
// nothing of the driver runs in memory). The user, the ticket and its
// price never change (store.Immutable).
type Doc struct {
	UserID    string          `bson:"userId" json:"userId"`
	Status    string          `bson:"status" json:"status"`
	ExpiresAt time.Time       `bson:"expiresAt" json:"expiresAt"`
	Ticket    bson.ObjectID   `bson:"ticket" json:"ticket"`
	Price     ticketkit.Money `bson:"price" json:"price"` // the ticket's when ordered, for order:created
}

// ImmutableFields implements store.Immutable.
func (Doc) ImmutableFields() []string { return []string{"userId", "ticket", "price"} }

// Store is an orders.Store on a store.Collection of Docs.
type Store struct {
	c store.Collection[Doc]
}

var _ orders.Store = (*Store)(nil)

// New returns the orders Store on c.
func New(c store.Collection[Doc]) *Store { return &Store{c: c} }

func ticketRef(id string) (bson.ObjectID, error) {
	if !ticketkit.ValidID(id) {
		return bson.NilObjectID, ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", id)
	}
	return bson.ObjectIDFromHex(strings.ToLower(id))
}

func docOf(o orders.Order, ticket bson.ObjectID) Doc {
	return Doc{UserID: o.UserID, Status: string(o.Status), ExpiresAt: o.ExpiresAt.UTC(), Ticket: ticket, Price: o.Ticket.Price}
}

func orderOf(r store.Record[Doc]) orders.Order {
	d := r.Doc
	return orders.Order{
		ID: r.ID, UserID: d.UserID, Status: orders.Status(d.Status), ExpiresAt: d.ExpiresAt.UTC(),
		Ticket: orders.TicketRef{ID: d.Ticket.Hex(), Price: d.Price}, Version: r.Version,
	}
}

// Create implements orders.Store.
func (s *Store) Create(ctx context.Context, o orders.Order) error {
	tid, err := ticketRef(o.Ticket.ID)
	if err != nil {
		return err
	}
	id, ok := ticketkit.CanonicalID(o.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid order id %q", o.ID)
	}
	o.ID, o.Version = id, 0
	return s.c.Insert(ctx, o.ID, docOf(o, tid), wire.FromOrder(o)...)
}

// Get implements orders.Store.
func (s *Store) Get(ctx context.Context, id string) (orders.Order, error) {
	r, err := s.c.Get(ctx, id)
	if err != nil {
		return orders.Order{}, err
	}
	return orderOf(r), nil
}

// ByKey implements orders.Store.
func (s *Store) ByKey(ctx context.Context, k idempotency.Key) (orders.Order, error) {
	r, err := s.c.ByKey(ctx, k)
	if err != nil {
		return orders.Order{}, err
	}
	return orderOf(r), nil
}

// Update implements orders.Store. The user, the ticket and its price are
// immutable: only the status and the expiry are written.
func (s *Store) Update(ctx context.Context, o orders.Order, expected int64) (orders.Order, error) {
	tid, err := ticketRef(o.Ticket.ID)
	if err != nil {
		return orders.Order{}, err
	}
	id, ok := ticketkit.CanonicalID(o.ID)
	if !ok {
		return orders.Order{}, ticketkit.ErrNotFound
	}
	o.ID, o.Version = id, expected+1
	r, err := s.c.Update(ctx, o.ID, expected, docOf(o, tid), wire.FromOrder(o)...)
	if err != nil {
		return orders.Order{}, err
	}
	return orderOf(r), nil
}

// ByUser implements orders.Store: the user's orders, oldest first.
func (s *Store) ByUser(ctx context.Context, userID string) ([]orders.Order, error) {
	rs, err := s.c.Find(ctx, store.Filter{"userId": userID})
	if err != nil {
		return nil, err
	}
	out := make([]orders.Order, len(rs))
	for i, r := range rs {
		out[i] = orderOf(r)
	}
	return out, nil
}
