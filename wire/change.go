package wire

import (
	"fmt"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/tickets"
)

// FromTicketChange maps a committed ticket change to its wire event:
// TicketCreated or TicketUpdated. An Unchanged change has no event.
func FromTicketChange(c tickets.Change) (events.Event, error) {
	t := c.Ticket
	switch c.Kind {
	case tickets.Created:
		return TicketCreated{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version}, nil
	case tickets.Updated:
		return TicketUpdated{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID, Version: t.Version}, nil
	default:
		return nil, fmt.Errorf("events: a %v change has no event", c.Kind)
	}
}

// FromOrder maps a committed write of order o to its wire events: a new
// order (version 0) publishes order:created, a cancelled one
// order:cancelled, and any other change nothing (the Node orders service
// completes an order silently). A cancelled order is never written again,
// so each is published once.
func FromOrder(o orders.Order) []events.Event {
	switch {
	case o.Version == 0:
		return []events.Event{OrderCreated{
			ID: o.ID, Version: 0, Status: o.Status, UserID: o.UserID,
			ExpiresAt: Time{o.ExpiresAt}, Ticket: OrderTicket{ID: o.Ticket.ID, Price: o.Ticket.Price},
		}}
	case o.Status == orders.Cancelled:
		return []events.Event{OrderCancelled{ID: o.ID, Version: o.Version, Ticket: OrderTicketRef{ID: o.Ticket.ID}}}
	}
	return nil
}

// FromPayment maps a stored payment to its wire event, payment:created.
// A payment is written once, so it is published once.
func FromPayment(p payments.Payment) events.Event {
	return PaymentCreated{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID}
}
