package memstore

import (
	"context"
	"strings"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/wire"
)

// OrderStore is an orders.Store in memory: the orders of a Collection,
// each write with its events (wire.FromOrder).
type OrderStore struct {
	c *Collection[orders.Order]
}

var _ orders.Store = (*OrderStore)(nil)

// NewOrderStore returns an orders Store written through ob.
func NewOrderStore(ob *Outbox) *OrderStore {
	return &OrderStore{c: NewCollection[orders.Order](ob, "orders")}
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

// ByUser implements orders.Store, by a scan: the in-memory store is for
// development and tests.
func (s *OrderStore) ByUser(ctx context.Context, userID string) ([]orders.Order, error) {
	var out []orders.Order
	err := s.c.Scan(ctx, "", func(r Record[orders.Order]) bool {
		if r.Doc.UserID == userID {
			out = append(out, r.Doc)
		}
		return true
	})
	return out, err
}

// TicketReplica is the orders service's copy of the tickets in memory: an
// orders.Tickets fed by ticket:created and ticket:updated.
type TicketReplica struct {
	r *Replica[ticketCopy]
}

type ticketCopy struct {
	Title string
	Price ticketkit.Money
}

var _ orders.Tickets = (*TicketReplica)(nil)

// NewTicketReplica returns an empty TicketReplica.
func NewTicketReplica() *TicketReplica { return &TicketReplica{r: NewReplica[ticketCopy]()} }

// OnTicketCreated is the ticket:created handler: it applies the event in
// version order (see Replica.Apply; an early event is deferred).
func (t *TicketReplica) OnTicketCreated(ctx context.Context, e wire.TicketCreated, _ events.Metadata) error {
	_, err := t.r.Apply(ctx, e.ID, e.Version, ticketCopy{e.Title, e.Price})
	return err
}

// OnTicketUpdated is the ticket:updated handler; see OnTicketCreated.
func (t *TicketReplica) OnTicketUpdated(ctx context.Context, e wire.TicketUpdated, _ events.Metadata) error {
	_, err := t.r.Apply(ctx, e.ID, e.Version, ticketCopy{e.Title, e.Price})
	return err
}

// Ticket implements orders.Tickets.
func (t *TicketReplica) Ticket(ctx context.Context, id string) (orders.Ticket, error) {
	rec, err := t.r.Get(ctx, id)
	if err != nil {
		return orders.Ticket{}, err
	}
	return orderTicket(rec), nil
}

// Tickets implements orders.Tickets.
func (t *TicketReplica) Tickets(ctx context.Context, ids []string) (map[string]orders.Ticket, error) {
	recs, err := t.r.GetMany(ctx, ids)
	out := make(map[string]orders.Ticket, len(recs))
	for id, rec := range recs {
		out[strings.ToLower(id)] = orderTicket(rec)
	}
	return out, err
}

// Hold implements orders.Tickets with Replica.Claim.
func (t *TicketReplica) Hold(ctx context.Context, id, prev, next string) (bool, error) {
	return t.r.Claim(ctx, id, prev, next)
}

func orderTicket(r Record[ticketCopy]) orders.Ticket {
	return orders.Ticket{ID: r.ID, Title: r.Doc.Title, Price: r.Doc.Price, Version: r.Version, Hold: r.Claim}
}
