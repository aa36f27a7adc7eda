package memstore

import (
	"context"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// Store is a tickets.Store in memory: the tickets of a Collection, each
// write with its ticket:created or ticket:updated entry.
type Store struct {
	c *Collection[tickets.Ticket]
}

var _ tickets.Store = (*Store)(nil)

// NewStore returns a tickets Store written through ob.
func NewStore(ob *Outbox) *Store {
	return &Store{c: NewCollection[tickets.Ticket](ob, "tickets")}
}

// New returns a Store on a DB of its own, with its Outbox: the in-memory
// backend of a single instance.
func New(opts ...outbox.QueueOption) (*Store, *Outbox, error) {
	ob, err := NewDB().NewOutbox(opts...)
	if err != nil {
		return nil, nil, err
	}
	return NewStore(ob), ob, nil
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
	after := ""
	if f.After != "" {
		var ok bool
		if after, ok = normID(f.After); !ok {
			return tickets.Page{}, ticketkit.Errorf(ticketkit.EINVALID, "Invalid page cursor")
		}
	}
	limit := f.PageSize()
	var page tickets.Page
	err := s.c.Scan(ctx, after, func(r Record[tickets.Ticket]) bool {
		t := r.Doc
		if (f.Unreserved && t.Reserved()) || (f.UserID != "" && t.UserID != f.UserID) {
			return true
		}
		if len(page.Tickets) == limit {
			page.Next = page.Tickets[limit-1].ID
			return false
		}
		page.Tickets = append(page.Tickets, t)
		return true
	})
	return page, err
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
