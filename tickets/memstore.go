package tickets

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is a Store and Outbox held in memory, with exactly the
// semantics of the database stores: for tests, examples and a one-command
// local run. It is safe for concurrent use. The zero value is not usable;
// call NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	tickets map[string]*memRecord
	ids     []string // sorted, for List's id order and cursor
	dirty   []string // ids with pending changes, in the order they got them
	wake    chan struct{}
}

type memRecord struct {
	ticket  Ticket
	pending []Change
}

var (
	_ Store  = (*MemoryStore)(nil)
	_ Outbox = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tickets: make(map[string]*memRecord), wake: make(chan struct{}, 1)}
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, t Ticket) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ValidID(t.ID) {
		return Errorf(EINVALID, "Invalid ticket id %q", t.ID)
	}
	t.ID = strings.ToLower(t.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tickets[t.ID]; ok {
		return Errorf(ECONFLICT, "Ticket %s already exists", t.ID)
	}
	r := &memRecord{ticket: t}
	s.tickets[t.ID] = r
	i, _ := slices.BinarySearch(s.ids, t.ID)
	s.ids = slices.Insert(s.ids, i, t.ID)
	s.addPending(r, Created)
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, id string) (Ticket, error) {
	if err := ctx.Err(); err != nil {
		return Ticket{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tickets[strings.ToLower(id)]
	if !ok {
		return Ticket{}, ErrNotFound
	}
	return r.ticket, nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, f Filter) (Page, error) {
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	if f.After != "" && !ValidID(f.After) {
		return Page{}, Errorf(EINVALID, "Invalid page cursor")
	}
	limit := f.PageSize()
	s.mu.Lock()
	defer s.mu.Unlock()
	start, _ := slices.BinarySearch(s.ids, strings.ToLower(f.After))
	if start < len(s.ids) && s.ids[start] == strings.ToLower(f.After) {
		start++
	}
	var page Page
	for _, id := range s.ids[start:] {
		t := s.tickets[id].ticket
		if (f.Unreserved && t.Reserved()) || (f.UserID != "" && t.UserID != f.UserID) {
			continue
		}
		if len(page.Tickets) == limit {
			page.Next = page.Tickets[limit-1].ID
			break
		}
		page.Tickets = append(page.Tickets, t)
	}
	return page, nil
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, t Ticket, expectedVersion int64) (Ticket, error) {
	if err := ctx.Err(); err != nil {
		return Ticket{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tickets[strings.ToLower(t.ID)]
	if !ok {
		return Ticket{}, ErrNotFound
	}
	if r.ticket.Version != expectedVersion {
		return Ticket{}, ErrConflict
	}
	stored := r.ticket
	stored.Title, stored.Price, stored.OrderID, stored.UpdatedAt = t.Title, t.Price, t.OrderID, t.UpdatedAt
	stored.Version = expectedVersion + 1
	r.ticket = stored
	s.addPending(r, Updated)
	return stored, nil
}

// Pending implements Outbox.
func (s *MemoryStore) Pending(ctx context.Context, limit int) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Change
	for _, id := range s.dirty {
		for _, c := range s.tickets[id].pending {
			if len(out) == limit {
				return out, nil
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// MarkPublished implements Outbox, atomically for the whole batch (under
// one lock).
func (s *MemoryStore) MarkPublished(ctx context.Context, published []Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	emptied := false
	for _, c := range published {
		r, ok := s.tickets[strings.ToLower(c.Ticket.ID)]
		if !ok || len(r.pending) == 0 {
			continue
		}
		r.pending = slices.DeleteFunc(r.pending, func(p Change) bool { return p.Ticket.Version <= c.Ticket.Version })
		emptied = emptied || len(r.pending) == 0
	}
	if emptied {
		s.dirty = slices.DeleteFunc(s.dirty, func(id string) bool { return len(s.tickets[id].pending) == 0 })
	}
	return nil
}

// Wake implements Outbox.
func (s *MemoryStore) Wake() <-chan struct{} { return s.wake }

// addPending records r's current state as a change; s.mu must be held.
func (s *MemoryStore) addPending(r *memRecord, kind ChangeKind) {
	if len(r.pending) == 0 {
		s.dirty = append(s.dirty, r.ticket.ID)
	}
	r.pending = append(r.pending, Change{Kind: kind, Ticket: r.ticket})
	s.notify()
}

func (s *MemoryStore) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
