package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/wire"
)

// TicketReplica is the orders service's copy of the tickets, kept from the
// tickets service's ticket:created and ticket:updated events: a
// Replica[TicketCopy] ("tickets" unless WithCollection says otherwise),
// with the handlers a Listener takes. It is safe for concurrent use, by
// any number of listeners.
type TicketReplica struct {
	*Replica[TicketCopy]
}

// TicketCopy is what a TicketReplica keeps of a ticket: {title, price
// (int64 cents, exact)} beside _id and version.
type TicketCopy struct {
	Title string          `bson:"title" json:"title"`
	Price ticketkit.Money `bson:"price" json:"price"`
}

// ReplicaTicket is a ticket as a TicketReplica keeps it.
type ReplicaTicket struct {
	ID      string
	Title   string
	Price   ticketkit.Money
	Version int64
}

// NewTicketReplica returns the TicketReplica on db, which the caller keeps
// owning. WithCollection, WithLogger and WithDocumentLocks apply. It does
// no I/O.
func NewTicketReplica(db *mongo.Database, opts ...Option) (*TicketReplica, error) {
	cfg, err := newConfig(db, opts)
	if err != nil {
		return nil, err
	}
	r, err := NewReplica[TicketCopy](db, cfg.collection, opts...)
	if err != nil {
		return nil, err
	}
	return &TicketReplica{r}, nil
}

// Get returns the replicated ticket with the given id.
// Errors: ENOTFOUND, also for an id that is not a valid id; EINTERNAL.
func (r *TicketReplica) Get(ctx context.Context, id string) (ReplicaTicket, error) {
	rec, err := r.Replica.Get(ctx, id)
	if err != nil {
		return ReplicaTicket{}, err
	}
	return ReplicaTicket{ID: rec.ID, Title: rec.Doc.Title, Price: rec.Doc.Price, Version: rec.Version}, nil
}

// ApplyCreated applies e in version order (see Replica) and reports what
// it did: Apply (written) or Duplicate (nothing to do), both with a nil
// error, or OutOfOrder with an error wrapping events.ErrOutOfOrder.
func (r *TicketReplica) ApplyCreated(ctx context.Context, e wire.TicketCreated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, invalidEvent(e.Subject(), err)
	}
	return r.Apply(ctx, e.ID, e.Version, TicketCopy{Title: e.Title, Price: e.Price})
}

// ApplyUpdated is ApplyCreated for a TicketUpdated. The order id is not
// replicated: the orders service knows its own orders.
func (r *TicketReplica) ApplyUpdated(ctx context.Context, e wire.TicketUpdated) (events.Ordering, error) {
	if err := e.Validate(); err != nil {
		return 0, invalidEvent(e.Subject(), err)
	}
	return r.Apply(ctx, e.ID, e.Version, TicketCopy{Title: e.Title, Price: e.Price})
}

// OnTicketCreated is an events.Handler for ticket:created:
//
//	events.Listen(ctx, transport, "orders-service", replica.OnTicketCreated, events.DeliverAll())
//
// It returns nil for an applied or duplicate event, so the Listener
// acknowledges it, and an error otherwise, so the broker redelivers it;
// except for an invalid event (EINVALID), which no redelivery can mend:
// that error is events.Permanent, so the Listener dead-letters it at once.
func (r *TicketReplica) OnTicketCreated(ctx context.Context, e wire.TicketCreated, _ events.Metadata) error {
	_, err := r.ApplyCreated(ctx, e)
	return handlerError(err)
}

// OnTicketUpdated is OnTicketCreated for ticket:updated.
func (r *TicketReplica) OnTicketUpdated(ctx context.Context, e wire.TicketUpdated, _ events.Metadata) error {
	_, err := r.ApplyUpdated(ctx, e)
	return handlerError(err)
}

func handlerError(err error) error {
	if ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		return events.Permanent(err)
	}
	return err
}

var (
	_ events.Handler[wire.TicketCreated] = (*TicketReplica)(nil).OnTicketCreated
	_ events.Handler[wire.TicketUpdated] = (*TicketReplica)(nil).OnTicketUpdated
)

func invalidEvent(subject events.Subject, err error) error {
	return &ticketkit.Error{Code: ticketkit.EINVALID, Message: fmt.Sprintf("Invalid %s event: %v", subject, err), Err: err}
}
