package tickets

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/idempotency"
)

// Service holds the use cases: the only code that decides how a ticket may
// change. It needs nothing but a Store; publishing is the Store's outbox's
// business, so a use case that returns nil has also committed its event.
type Service struct {
	store Store
	now   func() time.Time
}

// ServiceOption configures NewService.
type ServiceOption func(*serviceConfig) error

type serviceConfig struct {
	now func() time.Time
}

// WithClock makes the Service read the time from now, for tests.
func WithClock(now func() time.Time) ServiceOption {
	return func(c *serviceConfig) error {
		if now == nil {
			return errors.New("tickets: WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// NewService returns the use cases over store. It fails only on a nil
// store or a bad option.
func NewService(store Store, opts ...ServiceOption) (*Service, error) {
	if store == nil {
		return nil, errors.New("tickets: NewService: nil Store")
	}
	c := serviceConfig{now: time.Now}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("tickets: nil ServiceOption")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &Service{store: store, now: c.now}, nil
}

// Get returns ticket id. It is the Store's Get, here so that an HTTP layer
// needs the Service only.
// Errors: ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (Ticket, error) {
	return s.store.Get(ctx, id)
}

// List returns one page of the tickets f selects (see Store.List).
// Errors: EINVALID for a bad cursor.
func (s *Service) List(ctx context.Context, f Filter) (Page, error) {
	return s.store.List(ctx, f)
}

// conflictRetries bounds how often a read-modify-write use case re-reads
// the ticket after losing a race; the checks run again on the fresh state.
const conflictRetries = 5

// Create creates a ticket owned by userID and returns its Created change.
// With an idempotency key in ctx (package idempotency), a repeated
// create returns the key's ticket as it is now, and writes nothing.
// Errors: EINVALID, idempotency.ErrReused, EUNAVAILABLE, EUNKNOWN.
func (s *Service) Create(ctx context.Context, userID string, in Input) (Change, error) {
	if userID == "" {
		return Change{}, ticketkit.Invalid(ticketkit.FieldError{Field: "userId", Message: "User id is required"})
	}
	if err := in.Validate(); err != nil {
		return Change{}, err
	}
	now := s.timestamp()
	t := Ticket{
		ID:        ticketkit.NewID(),
		Title:     strings.TrimSpace(in.Title),
		Price:     in.Price,
		UserID:    userID,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := s.store.Create(ctx, t); err != nil {
		var again *idempotency.Replayed
		if !errors.As(err, &again) {
			return Change{}, err
		}
		// A repeat of an earlier create (its idempotency key): answer
		// that ticket as it is now; nothing was written.
		if t, err = s.store.Get(ctx, again.ID); err != nil {
			return Change{}, err
		}
	}
	return Change{Kind: Created, Ticket: t}, nil
}

// Update changes the title and price of ticket id on behalf of userID and
// returns its Updated change.
// Errors: EINVALID, ticketkit.ENOTFOUND, ticketkit.ENOTOWNER, ticketkit.EPRECONDITION, and ticketkit.ECONFLICT when
// concurrent writers keep winning the race.
func (s *Service) Update(ctx context.Context, id, userID string, in Input) (Change, error) {
	if err := in.Validate(); err != nil {
		return Change{}, err
	}
	return s.modify(ctx, id, func(t *Ticket) (bool, error) {
		switch {
		case t.UserID != userID:
			return false, ticketkit.ErrNotOwner
		case t.Reserved():
			return false, ErrReserved
		}
		t.Title, t.Price = strings.TrimSpace(in.Title), in.Price
		return true, nil
	})
}

// Reserve marks ticket id as held by orderID, for the order:created
// listener. Reserving again for the same order changes nothing (the event
// was redelivered); for another order it fails with EPRECONDITION, which may
// clear up once that order's cancellation arrives.
// Errors: EINVALID, ticketkit.ENOTFOUND, ticketkit.EPRECONDITION, ticketkit.ECONFLICT.
func (s *Service) Reserve(ctx context.Context, id, orderID string) (Change, error) {
	if !ticketkit.ValidID(orderID) {
		return Change{}, ticketkit.Invalid(ticketkit.FieldError{Field: "orderId", Message: "Order id must be a 24-hex id"})
	}
	orderID = strings.ToLower(orderID)
	return s.modify(ctx, id, func(t *Ticket) (bool, error) {
		switch {
		case t.OrderID == orderID:
			return false, nil
		case slices.Contains(t.Released, orderID):
			// The order is over: this is its creation redelivered, or
			// overtaken by its cancellation. Nothing to reserve.
			return false, nil
		case t.OrderID == "":
			t.OrderID = orderID
			return true, nil
		default:
			return false, &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: ReasonReserved, Message: "Ticket " + t.ID + " is reserved by another order"}
		}
	})
}

// Release frees ticket id if orderID holds it, for the order:cancelled
// listener, and records orderID as released (Ticket.Released), so that
// its order:created can't reserve the ticket later: redelivered, or
// arriving after the cancellation. A ticket held by another order stays
// held (a redelivered cancellation must not free a newer order's
// reservation). The change is Unchanged when there is nothing to do.
// Errors: EINVALID, ticketkit.ENOTFOUND, ticketkit.ECONFLICT.
func (s *Service) Release(ctx context.Context, id, orderID string) (Change, error) {
	if !ticketkit.ValidID(orderID) {
		return Change{}, ticketkit.Invalid(ticketkit.FieldError{Field: "orderId", Message: "Order id must be a 24-hex id"})
	}
	orderID = strings.ToLower(orderID)
	return s.modify(ctx, id, func(t *Ticket) (bool, error) {
		if slices.Contains(t.Released, orderID) {
			return false, nil
		}
		if t.OrderID == orderID {
			t.OrderID = ""
		}
		t.Released = append(slices.Clone(t.Released), orderID)
		if n := len(t.Released); n > MaxReleased {
			t.Released = t.Released[n-MaxReleased:]
		}
		return true, nil
	})
}

// modify runs a read-check-write cycle on ticket id: apply decides on the
// fresh ticket whether to change it. A lost compare-and-set race starts the
// cycle again, so every check sees the state it writes over.
func (s *Service) modify(ctx context.Context, id string, apply func(*Ticket) (changed bool, err error)) (Change, error) {
	for attempt := 1; ; attempt++ {
		t, err := s.store.Get(ctx, id)
		if err != nil {
			return Change{}, err
		}
		expected := t.Version
		changed, err := apply(&t)
		if err != nil {
			return Change{}, err
		}
		if !changed {
			return Change{Kind: Unchanged, Ticket: t}, nil
		}
		t.UpdatedAt = s.timestamp()
		stored, err := s.store.Update(ctx, t, expected)
		switch {
		case err == nil:
			return Change{Kind: Updated, Ticket: stored}, nil
		case ticketkit.ErrorCode(err) != ticketkit.ECONFLICT:
			return Change{}, err
		case attempt == conflictRetries:
			return Change{}, &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: ErrConflict.Message, Err: err}
		}
	}
}

// timestamp is the current time at the precision databases keep, so a
// ticket reads back exactly as it was written.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}
