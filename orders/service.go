package orders

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/idempotency"
)

// The orders domain's own refusals, beside the module root's generic
// sentinels (ticketkit.ErrNotFound, ...). Each has a Reason, so errors.Is
// tells them apart although they share a code.
var (
	// ErrTicketReserved refuses an order for a ticket a live order holds.
	// Its reason is the tickets domain's, so errors.Is(err,
	// tickets.ErrReserved) holds too.
	ErrTicketReserved = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: "ticket_reserved", Message: "Ticket is already reserved"}
	// ErrCompleted refuses to cancel an order that was paid.
	ErrCompleted = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: "order_completed", Message: "Cannot cancel a completed order"}
	// ErrPaidCancelled reports a payment for an order that was cancelled
	// first: the order stays cancelled, and someone must refund it.
	ErrPaidCancelled = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: "order_cancelled", Message: "Payment for a cancelled order"}
	// ErrConflict is what a use case answers when another writer kept
	// winning the order's compare-and-set.
	ErrConflict = &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: "The order was changed by someone else; reload and try again"}
)

// conflictRetries bounds the read-check-write cycles of one use case.
const conflictRetries = 5

// Service is the orders service's use cases.
type Service struct {
	orders  Store
	tickets Tickets
	now     func() time.Time
	window  time.Duration
}

// Option configures NewService.
type Option func(*Service)

// ExpiresAfter sets how long a created order waits for its payment
// (ExpirationWindow, the Node service's 15 minutes, when d <= 0): for
// tests and demonstrations that can't wait that long.
func ExpiresAfter(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.window = d
		}
	}
}

// NewService returns the use cases over orders and the ticket copies.
func NewService(orders Store, tickets Tickets, opts ...Option) *Service {
	s := &Service{orders: orders, tickets: tickets, now: time.Now, window: ExpirationWindow}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// Create places an order of ticket ticketID for user userID: status
// Created, expiring ExpirationWindow (or ExpiresAfter's) from now,
// published as order:created.
// Errors: EINVALID (no ticket id), ENOTFOUND (no such ticket),
// ERESERVED (another order holds the ticket, also when it won the race
// for it just now), EUNAVAILABLE, EUNKNOWN, EINTERNAL. With an
// idempotency key in ctx, a repeated create answers the order the key
// made (idempotency.ErrReused for another request).
func (s *Service) Create(ctx context.Context, userID, ticketID string) (Placed, error) {
	if !ticketkit.ValidID(ticketID) {
		return Placed{}, &ticketkit.Error{Code: ticketkit.EINVALID, Message: "TicketId must be provided",
			Fields: []ticketkit.FieldError{{Field: "ticketId", Message: "TicketId must be provided"}}}
	}
	t, err := s.tickets.Ticket(ctx, ticketID)
	if err != nil {
		return Placed{}, err
	}
	key, keyed := idempotency.FromContext(ctx)
	if held, err := s.held(ctx, t, key); err != nil {
		return Placed{}, err
	} else if held {
		// A retry of a create that reserved the ticket finds its order
		// by its idempotency key; only then, so the first attempt costs
		// no look-up.
		if keyed {
			switch o, err := s.orders.ByKey(ctx, key); {
			case err == nil:
				return Placed{Order: o, Ticket: t}, nil
			case ticketkit.ErrorCode(err) != ticketkit.ENOTFOUND:
				return Placed{}, err
			}
		}
		return Placed{}, ErrTicketReserved
	}
	now := s.now().UTC()
	o := Order{
		ID:        ticketkit.NewID(),
		UserID:    userID,
		Status:    Created,
		ExpiresAt: now.Add(s.window).Truncate(time.Millisecond),
		Ticket:    TicketRef{ID: t.ID, Price: t.Price},
	}
	// Claim first, insert second: a creation that fails in between leaves
	// a claim without an order, which held honours for HoldGrace only.
	// Releasing it on failure would be wrong when the failure is a timeout
	// after which the insert did land.
	claim := claimOf(o.ID, key)
	won, err := s.tickets.Hold(ctx, t.ID, t.Hold, claim)
	if err != nil {
		return Placed{}, err
	}
	if !won {
		return Placed{}, ErrTicketReserved
	}
	if err := s.orders.Create(ctx, o); err != nil {
		var again *idempotency.Replayed
		replayed := errors.As(err, &again)
		if !replayed && !errors.Is(err, idempotency.ErrReused) {
			return Placed{}, err
		}
		// Nothing was written, certainly: give the claim back. A replay
		// is of an order that no longer holds the ticket (it was
		// cancelled), answered as it is.
		if _, herr := s.tickets.Hold(ctx, t.ID, claim, t.Hold); herr != nil {
			return Placed{}, herr
		}
		if !replayed {
			return Placed{}, err
		}
		prev, err := s.orders.Get(ctx, again.ID)
		if err != nil {
			return Placed{}, err
		}
		return Placed{Order: prev, Ticket: t}, nil
	}
	t.Hold = claim
	return Placed{Order: o, Ticket: t}, nil
}

// claimKeyLength is how much of an idempotency key's id a claim carries:
// enough to tell one client's attempts from another's.
const claimKeyLength = 16

// claimOf is the claim an order puts on its ticket: its id, and the
// idempotency key's id, if any, so that a retry can tell the claim of its
// own earlier attempt, whose order was never stored, from another's.
func claimOf(orderID string, k idempotency.Key) string {
	if len(k.ID) < claimKeyLength {
		return orderID
	}
	return orderID + "/" + k.ID[:claimKeyLength]
}

// held reports whether t's claim is live (see the package documentation)
// for a create with idempotency key k: the claim of an earlier attempt
// with k whose order was never stored is not.
func (s *Service) held(ctx context.Context, t Ticket, k idempotency.Key) (bool, error) {
	if t.Hold == "" {
		return false, nil
	}
	orderID, claimKey, _ := strings.Cut(t.Hold, "/")
	o, err := s.orders.Get(ctx, orderID)
	switch {
	case ticketkit.ErrorCode(err) == ticketkit.ENOTFOUND:
		if claimKey != "" && len(k.ID) >= claimKeyLength && claimKey == k.ID[:claimKeyLength] {
			return false, nil
		}
		at, ok := idTime(orderID)
		return ok && s.now().Sub(at) < HoldGrace, nil
	case err != nil:
		return false, err
	}
	return o.Status.Reserves(), nil
}

// Get returns user userID's order id with its ticket.
// Errors: ENOTFOUND, ENOTOWNER (someone else's order), EINTERNAL.
func (s *Service) Get(ctx context.Context, userID, id string) (Placed, error) {
	if !ticketkit.ValidID(id) {
		return Placed{}, ticketkit.ErrNotFound
	}
	o, err := s.orders.Get(ctx, id)
	if err != nil {
		return Placed{}, err
	}
	if o.UserID != userID {
		return Placed{}, ticketkit.ErrNotOwner
	}
	t, err := s.tickets.Ticket(ctx, o.Ticket.ID)
	if ticketkit.ErrorCode(err) == ticketkit.ENOTFOUND {
		t, err = Ticket{ID: o.Ticket.ID, Price: o.Ticket.Price}, nil
	}
	return Placed{Order: o, Ticket: t}, err
}

// List returns user userID's orders, oldest first, each with its ticket,
// read in one query.
func (s *Service) List(ctx context.Context, userID string) ([]Placed, error) {
	os, err := s.orders.ByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(os))
	for i, o := range os {
		ids[i] = o.Ticket.ID
	}
	ts, err := s.tickets.Tickets(ctx, slices.Compact(slices.Sorted(slices.Values(ids))))
	if err != nil {
		return nil, err
	}
	out := make([]Placed, len(os))
	for i, o := range os {
		t, ok := ts[strings.ToLower(o.Ticket.ID)]
		if !ok {
			t = Ticket{ID: o.Ticket.ID, Price: o.Ticket.Price}
		}
		out[i] = Placed{Order: o, Ticket: t}
	}
	return out, nil
}

// Cancel cancels user userID's order id, published as order:cancelled.
// Cancelling a cancelled order changes nothing.
// Errors: ENOTFOUND, ENOTOWNER, EPRECONDITION (ErrCompleted), ECONFLICT,
// EINTERNAL.
func (s *Service) Cancel(ctx context.Context, userID, id string) (Change, error) {
	if !ticketkit.ValidID(id) {
		return Change{}, ticketkit.ErrNotFound
	}
	return s.modify(ctx, id, func(o *Order) (bool, error) {
		switch {
		case o.UserID != userID:
			return false, ticketkit.ErrNotOwner
		case o.Status == Cancelled:
			return false, nil
		case o.Status == Complete:
			return false, ErrCompleted
		}
		o.Status = Cancelled
		return true, nil
	})
}

// Expire cancels order id when its payment window closed
// (expiration:complete), published as order:cancelled, unless it is
// complete or cancelled already: then nothing changes, so a redelivery
// is harmless.
// Errors: ENOTFOUND, ECONFLICT, EINTERNAL.
func (s *Service) Expire(ctx context.Context, id string) (Change, error) {
	return s.modify(ctx, id, func(o *Order) (bool, error) {
		if o.Status == Complete || o.Status == Cancelled {
			return false, nil
		}
		o.Status = Cancelled
		return true, nil
	})
}

// Pay marks order id complete (payment:created). A complete order is not
// changed again, so a redelivery is harmless.
// Errors: ENOTFOUND, EPRECONDITION (ErrPaidCancelled), ECONFLICT, EINTERNAL.
func (s *Service) Pay(ctx context.Context, id string) (Change, error) {
	return s.modify(ctx, id, func(o *Order) (bool, error) {
		switch o.Status {
		case Complete:
			return false, nil
		case Cancelled:
			return false, ErrPaidCancelled
		}
		o.Status = Complete
		return true, nil
	})
}

// modify runs a read-check-write cycle on order id: apply decides on the
// fresh order whether to change it. A lost compare-and-set race starts
// the cycle again, so every check sees the state it writes over.
func (s *Service) modify(ctx context.Context, id string, apply func(*Order) (bool, error)) (Change, error) {
	for attempt := 1; ; attempt++ {
		o, err := s.orders.Get(ctx, id)
		if err != nil {
			return Change{}, err
		}
		expected := o.Version
		changed, err := apply(&o)
		if err != nil || !changed {
			return Change{Order: o}, err
		}
		stored, err := s.orders.Update(ctx, o, expected)
		switch {
		case err == nil:
			return Change{Order: stored, Changed: true}, nil
		case ticketkit.ErrorCode(err) != ticketkit.ECONFLICT:
			return Change{}, err
		case attempt == conflictRetries:
			return Change{}, &ticketkit.Error{Code: ticketkit.ECONFLICT, Message: ErrConflict.Message, Err: err}
		}
	}
}
