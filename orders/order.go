package orders

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/idempotency"
)

// Status is the state of an order, as the cluster's events spell it.
type Status string

// The statuses of the cluster's orders service.
const (
	Created         Status = "created"          // placed, waiting for payment
	Cancelled       Status = "cancelled"        // by the user, or expired
	AwaitingPayment Status = "awaiting:payment" // kept for the cluster's enum; no use case sets it
	Complete        Status = "complete"         // paid
)

// Reserves reports whether an order with status s holds its ticket.
func (s Status) Reserves() bool { return s == Created || s == AwaitingPayment || s == Complete }

// ExpirationWindow is how long a created order waits for its payment.
const ExpirationWindow = 15 * time.Minute

// HoldGrace is how long a ticket's claim by an order that doesn't exist
// (yet) is honoured: well beyond a request's deadline, within which a
// creation either inserts its order or fails.
const HoldGrace = time.Minute

// Order is one user's order of one ticket.
type Order struct {
	ID        string
	UserID    string
	Status    Status
	ExpiresAt time.Time
	Ticket    TicketRef // the ticket, with its price when ordered (for order:created)
	Version   int64
}

// TicketRef is the ticket an order is for.
type TicketRef struct {
	ID    string
	Price ticketkit.Money
}

// Ticket is the orders service's copy of a ticket, from ticket:created and
// ticket:updated, with the id of the order that claimed it (Hold; see the
// package documentation). It is also the document a store.Replica keeps
// (the tags name its stored fields: title and price; the id, version and
// hold are the record's), so the copy has one type on every backend.
type Ticket struct {
	ID      string          `bson:"-" json:"id"`
	Title   string          `bson:"title" json:"title"`
	Price   ticketkit.Money `bson:"price" json:"price"`
	Version int64           `bson:"-" json:"version"`
	Hold    string          `bson:"-" json:"-"`
}

// Placed is an order with its ticket, as the API shows it.
type Placed struct {
	Order  Order
	Ticket Ticket
}

// Change is what a use case did to an order. Changed is false when the
// order already was as asked (a redelivered event, a repeated request):
// nothing was written and nothing published.
type Change struct {
	Order   Order
	Changed bool
}

// Store keeps orders, each write with its event in the same atomic write:
// order:created on Create, order:cancelled on an Update to Cancelled.
type Store interface {
	// Create inserts a new order at version 0, with the idempotency key
	// ctx carries (store.Collection.Insert).
	// Errors: EINVALID, ECONFLICT (the id exists), *idempotency.Replayed,
	// idempotency.ErrReused, EUNAVAILABLE, EUNKNOWN, EINTERNAL.
	Create(ctx context.Context, o Order) error
	// ByKey returns the order created with idempotency key k.
	// Errors: ENOTFOUND, idempotency.ErrReused, EINTERNAL.
	ByKey(ctx context.Context, k idempotency.Key) (Order, error)
	// Get returns order id. Errors: ENOTFOUND, EINTERNAL.
	Get(ctx context.Context, id string) (Order, error)
	// Update writes o as version expected+1 if the stored version is
	// expected. Errors: ENOTFOUND, ECONFLICT, EINTERNAL.
	Update(ctx context.Context, o Order, expected int64) (Order, error)
	// ByUser returns the user's orders, oldest first.
	ByUser(ctx context.Context, userID string) ([]Order, error)
}

// Tickets is the service's copy of the tickets.
type Tickets interface {
	// Ticket returns ticket id. Errors: ENOTFOUND, EINTERNAL.
	Ticket(ctx context.Context, id string) (Ticket, error)
	// Tickets returns those of ids it holds, by lower-case id.
	Tickets(ctx context.Context, ids []string) (map[string]Ticket, error)
	// Hold sets ticket id's claim to next if it is prev now, and reports
	// whether it did: of callers that read the same claim, one wins.
	Hold(ctx context.Context, id, prev, next string) (bool, error)
}

// idTime is when an ObjectID was made, from its first four bytes.
func idTime(id string) (time.Time, bool) {
	if !ticketkit.ValidID(id) {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(strings.ToLower(id[:8]))
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(b[0])<<24|int64(b[1])<<16|int64(b[2])<<8|int64(b[3]), 0), true
}
