package mongostore

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// OrdersCollection is the collection of an OrderStore: the Node orders
// service's.
const OrdersCollection = "orders"

// orderDoc is an order as stored, in the Node orders service's field
// names: the ticket is its ObjectID, as Mongoose stores a ref.
type orderDoc struct {
	UserID    string          `bson:"userId"`
	Status    string          `bson:"status"`
	ExpiresAt time.Time       `bson:"expiresAt"`
	Ticket    bson.ObjectID   `bson:"ticket"`
	Price     ticketkit.Money `bson:"price"` // the ticket's when ordered, for order:created
}

// OrderStore is an orders.Store on a Collection: each write carries its
// events (wire.FromOrder) in its outbox.
type OrderStore struct {
	c *Collection[orderDoc]
}

var _ orders.Store = (*OrderStore)(nil)

// NewOrderStore returns the OrderStore written through ob. WithCollection,
// WithLogger and WithDocumentLocks apply. It does no I/O; call
// EnsureIndexes once at start-up.
func NewOrderStore(ob *Outbox, opts ...CollectionOption) (*OrderStore, error) {
	c, err := NewCollection[orderDoc](ob, OrdersCollection, append([]CollectionOption{WithImmutable("userId", "ticket", "price")}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &OrderStore{c: c}, nil
}

// EnsureIndexes creates the index ByUser reads by. It is idempotent.
func (s *OrderStore) EnsureIndexes(ctx context.Context) error {
	return s.c.EnsureIndexes(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}, {Key: fID, Value: 1}}})
}

// Create implements orders.Store.
func (s *OrderStore) Create(ctx context.Context, o orders.Order) error {
	tid, ok := parseID(o.Ticket.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", o.Ticket.ID)
	}
	o.ID, o.Version = strings.ToLower(o.ID), 0
	return s.c.Insert(ctx, o.ID, toOrderDoc(o, tid), wire.FromOrder(o)...)
}

// Get implements orders.Store.
func (s *OrderStore) Get(ctx context.Context, id string) (orders.Order, error) {
	r, err := s.c.Get(ctx, id)
	if err != nil {
		return orders.Order{}, err
	}
	return fromOrderDoc(r), nil
}

// Update implements orders.Store. The user, the ticket and its price are
// immutable: only the status and the expiry are written.
func (s *OrderStore) Update(ctx context.Context, o orders.Order, expected int64) (orders.Order, error) {
	tid, ok := parseID(o.Ticket.ID)
	if !ok {
		return orders.Order{}, ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", o.Ticket.ID)
	}
	o.ID, o.Version = strings.ToLower(o.ID), expected+1
	if _, err := s.c.Update(ctx, o.ID, expected, toOrderDoc(o, tid), wire.FromOrder(o)...); err != nil {
		return orders.Order{}, err
	}
	return o, nil
}

// ByUser implements orders.Store, on the index EnsureIndexes makes.
func (s *OrderStore) ByUser(ctx context.Context, userID string) ([]orders.Order, error) {
	rs, err := s.c.Find(ctx, store.Filter{"userId": userID})
	if err != nil {
		return nil, err
	}
	out := make([]orders.Order, len(rs))
	for i, r := range rs {
		out[i] = fromOrderDoc(r)
	}
	return out, nil
}

func toOrderDoc(o orders.Order, ticket bson.ObjectID) orderDoc {
	return orderDoc{UserID: o.UserID, Status: string(o.Status), ExpiresAt: o.ExpiresAt.UTC(), Ticket: ticket, Price: o.Ticket.Price}
}

func fromOrderDoc(r Record[orderDoc]) orders.Order {
	d := r.Doc
	return orders.Order{
		ID: r.ID, UserID: d.UserID, Status: orders.Status(d.Status), ExpiresAt: d.ExpiresAt.UTC(),
		Ticket: orders.TicketRef{ID: d.Ticket.Hex(), Price: d.Price}, Version: r.Version,
	}
}
