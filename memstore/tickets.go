package memstore

import (
	"context"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// Store is a tickets.Store in memory: the tickets of a Collection, each
// write with its ticket:created or ticket:updated entry.
type Store struct {
	c *Collection[tickets.Ticket]
}

var _ tickets.Store = (*Store)(nil)

// NewStore returns the tickets Store of ob's DB, written through ob, as
// mongostore.NewStore does on MongoDB.
func NewStore(ob *Outbox) (*Store, error) {
	c, err := NewCollection[tickets.Ticket](ob, "tickets")
	if err != nil {
		return nil, err
	}
	return &Store{c: c}, nil
}

// Create implements tickets.Store.
func (s *Store) Create(ctx context.Context, t tickets.Ticket) error {
	nid, ok := normID(t.ID)
	if !ok {
		return ticketkit.Errorf(ticketkit.EINVALID, "Invalid ticket id %q", t.ID)
	}
	t.ID = nid
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Created, Ticket: t})
	if err != nil {
		return err
	}
	return s.c.Insert(ctx, t.ID, t, e)
}

// Get implements tickets.Store.
func (s *Store) Get(ctx context.Context, id string) (tickets.Ticket, error) {
	r, err := s.c.Get(ctx, id)
	return r.Doc, err
}

// List implements tickets.Store.
func (s *Store) List(ctx context.Context, f tickets.Filter) (tickets.Page, error) {
	filter := store.Filter{}
	if f.UserID != "" {
		filter["userId"] = f.UserID
	}
	if f.Unreserved {
		filter["orderId"] = nil
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
		page.Tickets[i] = r.Doc
	}
	return page, nil
}

// Update implements tickets.Store.
func (s *Store) Update(ctx context.Context, t tickets.Ticket, expectedVersion int64) (tickets.Ticket, error) {
	cur, err := s.c.Get(ctx, t.ID)
	if err != nil {
		return tickets.Ticket{}, err
	}
	if cur.Version != expectedVersion || cur.Doc.UserID != t.UserID {
		return tickets.Ticket{}, ticketkit.ErrConflict
	}
	next := tickets.Apply(cur.Doc, t)
	e, err := wire.FromTicketChange(tickets.Change{Kind: tickets.Updated, Ticket: next})
	if err != nil {
		return tickets.Ticket{}, err
	}
	if _, err := s.c.Update(ctx, next.ID, expectedVersion, next, e); err != nil {
		return tickets.Ticket{}, err
	}
	return next, nil
}
