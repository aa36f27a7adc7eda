package tickets

import (
	"context"
	"slices"
)

// Store keeps tickets. Every method that writes also records the event of
// the resulting Change in the store's outbox in the same atomic write, so a
// ticket is never saved without its event (see package outbox).
// Implementations are safe for concurrent use and pass the conformance
// suite in tickets/storetest.
type Store interface {
	// Create stores t, a new ticket (Version 0, an id from NewID), and
	// records a Created change.
	// Errors: EINVALID when t.ID is not a valid id, ticketkit.ECONFLICT when a ticket
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
	// expectedVersion and its UserID is t.UserID, it replaces the ticket's
	// Title, Price, OrderID, Released and UpdatedAt with t's, sets the version to
	// expectedVersion+1, records an Updated change and returns the stored
	// ticket. ID, UserID and CreatedAt never change: t is the ticket as the
	// caller read it, and the event carries its owner, so an update naming
	// another owner is refused rather than published.
	// Errors: ENOTFOUND, ticketkit.ECONFLICT when the stored version or owner differs
	// (the store is left untouched).
	Update(ctx context.Context, t Ticket, expectedVersion int64) (Ticket, error)
}

// Apply is what a Store's Update(t, stored.Version) stores: stored with
// the fields an update may change (Title, Price, OrderID, Released,
// UpdatedAt) taken from t, at the next version. ID, UserID and CreatedAt
// stay stored's.
func Apply(stored, t Ticket) Ticket {
	next := stored
	next.Title, next.Price, next.OrderID, next.UpdatedAt = t.Title, t.Price, t.OrderID, t.UpdatedAt
	next.Released = slices.Clone(t.Released)
	next.Version = stored.Version + 1
	return next
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
