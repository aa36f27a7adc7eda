package tickets

import "context"

// Store keeps tickets. Every method that writes also records the resulting
// Change in the store's Outbox in the same atomic write, so a ticket is
// never saved without its event. Implementations are safe for concurrent
// use and pass the conformance suite in tickets/storetest.
type Store interface {
	// Create stores t, a new ticket (Version 0, an id from NewID), and
	// records a Created change.
	// Errors: EINVALID when t.ID is not a valid id, ECONFLICT when a ticket
	// with that id exists.
	Create(ctx context.Context, t Ticket) error

	// Get returns the ticket with the given id.
	// Errors: ENOTFOUND, also for an id that is not a valid id.
	Get(ctx context.Context, id string) (Ticket, error)

	// List returns one page of tickets matching f, in id order (which is
	// creation order).
	// Errors: EINVALID for a cursor that no List returned.
	List(ctx context.Context, f Filter) (Page, error)

	// Update is a compare-and-set: if the stored version of t.ID equals
	// expectedVersion, it replaces the ticket's Title, Price, OrderID and
	// UpdatedAt with t's, sets the version to expectedVersion+1, records an
	// Updated change and returns the stored ticket. ID, UserID and
	// CreatedAt never change.
	// Errors: ENOTFOUND, ECONFLICT when the stored version differs (the
	// store is left untouched).
	Update(ctx context.Context, t Ticket, expectedVersion int64) (Ticket, error)
}

// Outbox holds the changes a Store has committed but nobody has published
// yet. A relay (events.Relay) publishes them and marks them published; if it
// dies in between, they are published again (at least once).
type Outbox interface {
	// Pending returns up to limit unpublished changes. A ticket's changes
	// come in version order; a ticket with several pending changes may be
	// cut off by limit, but never with a gap.
	Pending(ctx context.Context, limit int) ([]Change, error)

	// MarkPublished removes published changes from the outbox, typically
	// a relay's whole round at once: for each Change in published, the
	// change of its ticket (Ticket.ID) at its Ticket.Version and every
	// older change of that ticket. Only the ticket's id and version are
	// read. A ticket may appear several times; its highest version counts.
	// Marking what is not pending (already marked, or a ticket that does
	// not exist) is not an error, and neither is an empty slice, so a relay
	// can retry freely.
	//
	// Per ticket it is all or nothing: either every pending change of the
	// ticket up to the version is removed, or none is, and changes above
	// the version stay pending. Across tickets it need not be atomic: when
	// it returns an error, some of the tickets may have been marked and
	// others not; a relay marks them again, or publishes their changes
	// again (at least once: consumers see a duplicate, never a gap).
	MarkPublished(ctx context.Context, published []Change) error

	// Wake returns a channel that receives after a write through this Store
	// value adds a pending change, so a relay publishes promptly instead of
	// on its next poll. Wake-ups are coalesced, and writes by other
	// processes are only found by polling.
	Wake() <-chan struct{}
}

// Pagination bounds for Filter.Limit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Filter selects tickets for Store.List.
type Filter struct {
	// Unreserved keeps only tickets that no order holds.
	Unreserved bool
	// UserID, when set, keeps only that user's tickets.
	UserID string
	// Limit is the page size: DefaultLimit when <= 0, at most MaxLimit.
	Limit int
	// After is the cursor: Page.Next of the previous page, or "" to start.
	After string
}

// PageSize returns the limit a Store applies for f.Limit.
func (f Filter) PageSize() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	default:
		return f.Limit
	}
}

// Page is one page of a List.
type Page struct {
	Tickets []Ticket
	// Next is the cursor for the following page, "" on the last page.
	Next string
}
