// Package ticketstore is the tickets.Store of the drop-in tickets
// service, on the storage API (package store): one implementation for
// every backend, in the Node tickets service's document shape. A service
// gets its collection from its backends and wraps it:
//
//	c, err := service.Collection[ticketstore.Doc](ctx, s, ticketstore.Name, ticketstore.Indexes()...)
//	store := ticketstore.New(c)
//
// Each write carries its ticket:created or ticket:updated event
// (wire.FromTicketChange) in the same single-document write.
package ticketstore

import (
	"context"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the tickets' collection: the Node tickets service's.
const Name = "tickets"

// Indexes are those that serve List: {userId, _id} and {orderId, _id}.
func Indexes() [][]string { return [][]string{{fUserID}, {fOrderID}} }

// Field names of a ticket document, beside _id, version and outbox.
const (
	fUserID    = "userId"
	fOrderID   = "orderId"
	fCreatedAt = "createdAt"
)

// Doc is a ticket's fields as stored, in the Node service's names; the
// price is exact integer cents. The owner and the creation time never
// change (store.Immutable).
type Doc struct {
	Title     string    `bson:"title" json:"title"`
	Price     int64     `bson:"price" json:"price"`
	UserID    string    `bson:"userId" json:"userId"`
	OrderID   string    `bson:"orderId,omitempty" json:"orderId,omitempty"`
	CreatedAt time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt" json:"updatedAt"`
	Released  []string  `bson:"released,omitempty" json:"released,omitempty"`
}

// ImmutableFields implements store.Immutable.
func (Doc) ImmutableFields() []string { return []string{fUserID, fCreatedAt} }

// Store is a tickets.Store on a store.Collection of Docs.
type Store struct {
	c store.Collection[Doc]
}

var _ tickets.Store = (*Store)(nil)

// New returns the tickets Store on c.
func New(c store.Collection[Doc]) *Store { return &Store{c: c} }

func ticketOf(r store.Record[Doc]) tickets.Ticket {
	d := r.Doc
	return tickets.Ticket{
		ID: r.ID, Title: d.Title, Price: ticketkit.Money(d.Price), UserID: d.UserID, OrderID: d.OrderID,
		Version: r.Version, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Released: d.Released,
	}
}

func docOf(t tickets.Ticket) Doc {
	return Doc{Title: t.Title, Price: int64(t.Price), UserID: t.UserID, OrderID: t.OrderID,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Released: t.Released}
}

// Create implements tickets.Store: one insert of the ticket with its
// ticket:created entry.
func (s *Store) Create(ctx context.Context, t tickets.Ticket) error {
	id, ok := ticketkit.CanonicalID(t.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", t.ID)
	}
	t.ID = id
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Created, Ticket: t})
	if err != nil {
		return err
	}
	err = s.c.Insert(ctx, t.ID, docOf(t), e)
	if ticketkit.ErrorCode(err) == ticketkit.ECONFLICT {
		return &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "Ticket " + t.ID + " already exists", Err: err}
	}
	return err
}

// Get implements tickets.Store.
func (s *Store) Get(ctx context.Context, id string) (tickets.Ticket, error) {
	r, err := s.c.Get(ctx, id)
	if err != nil {
		return tickets.Ticket{}, err
	}
	return ticketOf(r), nil
}

// List implements tickets.Store: equality on userId and on orderId
// missing (unreserved), a page after the cursor in id order, and one
// ticket more than the page to know whether a next page exists; Indexes
// serve it.
func (s *Store) List(ctx context.Context, f tickets.Filter) (tickets.Page, error) {
	filter := store.Filter{}
	if f.UserID != "" {
		filter[fUserID] = f.UserID
	}
	if f.Unreserved {
		filter[fOrderID] = nil // missing or null
	}
	limit := f.PageSize()
	rs, err := s.c.Find(ctx, filter, store.After(f.After), store.Limit(limit+1))
	if err != nil {
		return tickets.Page{}, err
	}
	var page tickets.Page
	if len(rs) > limit {
		rs = rs[:limit]
		page.Next = rs[limit-1].ID
	}
	page.Tickets = make([]tickets.Ticket, len(rs))
	for i, r := range rs {
		page.Tickets[i] = ticketOf(r)
	}
	return page, nil
}

// Update implements tickets.Store with one compare-and-set that also
// proves the owner the ticket:updated entry carries; the owner and the
// creation time are never written (Doc is store.Immutable), and the
// ticket comes back as stored.
func (s *Store) Update(ctx context.Context, t tickets.Ticket, expectedVersion int64) (tickets.Ticket, error) {
	next := t
	next.Version = expectedVersion + 1
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Updated, Ticket: next})
	if err != nil {
		return tickets.Ticket{}, err
	}
	r, err := s.c.UpdateIf(ctx, t.ID, expectedVersion, store.Filter{fUserID: t.UserID}, docOf(next), e)
	if err != nil {
		return tickets.Ticket{}, err
	}
	return ticketOf(r), nil
}
