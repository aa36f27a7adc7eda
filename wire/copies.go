package wire

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/tickets"
)

// TicketCopies keeps the orders service's copy of the tickets (a
// store.Replica of orders.Ticket, on any backend) from the tickets
// service's events, in version order. Its methods are the Listener
// handlers of ticket:created and ticket:updated:
//
//	service.Listen(ctx, s, wire.TicketCopies{Replica: r}.OnTicketCreated)
//
// Each returns nil for an applied or duplicate event, so it is
// acknowledged; an error wrapping events.ErrOutOfOrder for an early one,
// which waits for its predecessor; and for a ticket no tickets service
// could have written (a title over tickets.MaxTitleLen characters) an
// events.Permanent error, so it is dead-lettered rather than copied.
type TicketCopies struct {
	Replica store.Replica[orders.Ticket]
}

// OnTicketCreated is the ticket:created handler.
func (c TicketCopies) OnTicketCreated(ctx context.Context, e TicketCreated, _ events.Metadata) error {
	if err := e.Validate(); err != nil {
		return invalidEvent(e.Subject(), err)
	}
	return c.apply(ctx, e.Subject(), e.ID, e.Version, e.Title, e.Price)
}

// OnTicketUpdated is the ticket:updated handler. The order id is not
// copied: the orders service knows its own orders.
func (c TicketCopies) OnTicketUpdated(ctx context.Context, e TicketUpdated, _ events.Metadata) error {
	if err := e.Validate(); err != nil {
		return invalidEvent(e.Subject(), err)
	}
	return c.apply(ctx, e.Subject(), e.ID, e.Version, e.Title, e.Price)
}

// invalidEvent is the Permanent EINVALID error of an event a Listener
// decoded but no handler can act on (a consumer building events by hand).
func invalidEvent(subject events.Subject, err error) error {
	return events.Permanent(&ticketkit.Error{Code: ticketkit.EINVALID, Message: fmt.Sprintf("Invalid %s event: %v", subject, err), Err: err})
}

func (c TicketCopies) apply(ctx context.Context, subject events.Subject, id string, version int64, title string, price ticketkit.Money) error {
	if n := utf8.RuneCountInString(title); n > tickets.MaxTitleLen {
		return invalidEvent(subject, fmt.Errorf("a title of %d characters, over the %d the tickets service allows", n, tickets.MaxTitleLen))
	}
	_, err := c.Replica.Apply(ctx, id, version, orders.Ticket{Title: title, Price: price})
	if ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		return events.Permanent(err)
	}
	return err
}

// OrderCopies keeps the payments service's copy of the orders (a
// store.Replica of payments.Order, on any backend) from the orders
// service's events, in version order. Its methods are the Listener
// handlers of order:created and order:cancelled:
//
//	service.Listen(ctx, s, wire.OrderCopies{Replica: r}.OnOrderCreated)
//
// They answer as TicketCopies' do: nil for an applied or duplicate event,
// an error wrapping events.ErrOutOfOrder for an early one (a cancellation
// before its creation, or past the next version), and an events.Permanent
// one for an event no orders service could have written.
type OrderCopies struct {
	Replica store.Replica[payments.Order]
}

// OnOrderCreated is the order:created handler: the copy takes the order's
// owner, its ticket's price and its status.
func (c OrderCopies) OnOrderCreated(ctx context.Context, e OrderCreated, _ events.Metadata) error {
	if err := e.Validate(); err != nil {
		return invalidEvent(e.Subject(), err)
	}
	_, err := c.Replica.Apply(ctx, e.ID, e.Version, payments.Order{UserID: e.UserID, Price: e.Ticket.Price, Status: payments.OrderStatus(e.Status)})
	if ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		return events.Permanent(err)
	}
	return err
}

// OnOrderCancelled is the order:cancelled handler: it carries only what
// changed, so it modifies the copy (store.Replica.Modify) rather than
// replacing it.
func (c OrderCopies) OnOrderCancelled(ctx context.Context, e OrderCancelled, _ events.Metadata) error {
	if err := e.Validate(); err != nil {
		return invalidEvent(e.Subject(), err)
	}
	_, err := c.Replica.Modify(ctx, e.ID, e.Version, func(o *payments.Order) error {
		o.Status = payments.OrderCancelled
		return nil
	})
	if ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		return events.Permanent(err)
	}
	return err
}
