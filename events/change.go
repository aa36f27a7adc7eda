package events

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/tickets"
)

// FromChange maps a committed ticket change to its wire event:
// TicketCreated or TicketUpdated. An Unchanged change has no event.
func FromChange(c tickets.Change) (Event, error) {
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
func FromOrder(o orders.Order) []Event {
	switch {
	case o.Version == 0:
		return []Event{OrderCreated{
			ID: o.ID, Version: 0, Status: OrderStatus(o.Status), UserID: o.UserID,
			ExpiresAt: Time{o.ExpiresAt}, Ticket: OrderTicket{ID: o.Ticket.ID, Price: o.Ticket.Price},
		}}
	case o.Status == orders.Cancelled:
		return []Event{OrderCancelled{ID: o.ID, Version: o.Version, Ticket: OrderTicketRef{ID: o.Ticket.ID}}}
	}
	return nil
}

// messageIDs is the namespace of the ids derived in MessageID.
var messageIDs = uuid.MustParse("6f3c9a52-2b7e-4c1d-9e55-7a1f0c2d8b34")

// MessageID is the message id of the event for version of aggregate id on
// subject: a name-based UUID, so every publish of the same event, by any
// relay and after any crash, carries the same id and a deduplicating
// broker keeps only one.
func MessageID(subject Subject, id string, version int64) string {
	return uuid.NewSHA1(messageIDs, fmt.Appendf(nil, "%s/%s/%d", subject, id, version)).String()
}

// Validate methods make Decode reject payloads that parse but can't be
// acted on, so they are dead-lettered rather than retried forever.

var (
	errVersion = errors.New("version must not be negative")
	errPrice   = errors.New("price must be greater than 0")
)

func checkID(field, id string) error {
	if !ticketkit.ValidID(id) {
		return fmt.Errorf("%s must be a 24-hex id, got %q", field, id)
	}
	return nil
}

// Validate implements the check Decode runs.
func (e TicketCreated) Validate() error {
	switch {
	case e.Version < 0:
		return errVersion
	case e.Price <= 0:
		return errPrice
	}
	return checkID("id", e.ID)
}

// Validate implements the check Decode runs.
func (e TicketUpdated) Validate() error {
	switch {
	case e.Version < 0:
		return errVersion
	case e.Price <= 0:
		return errPrice
	}
	if e.OrderID != "" {
		if err := checkID("orderId", e.OrderID); err != nil {
			return err
		}
	}
	return checkID("id", e.ID)
}

// Validate implements the check Decode runs.
func (e OrderCreated) Validate() error {
	switch {
	case e.Version < 0:
		return errVersion
	case e.Ticket.Price <= 0:
		return errPrice
	}
	return errors.Join(checkID("id", e.ID), checkID("ticket.id", e.Ticket.ID))
}

// Validate implements the check Decode runs.
func (e OrderCancelled) Validate() error {
	if e.Version < 0 {
		return errVersion
	}
	return errors.Join(checkID("id", e.ID), checkID("ticket.id", e.Ticket.ID))
}

// Validate implements the check Decode runs.
func (e ExpirationComplete) Validate() error { return checkID("orderId", e.OrderID) }

// Validate implements the check Decode runs.
func (e PaymentCreated) Validate() error {
	return errors.Join(checkID("id", e.ID), checkID("orderId", e.OrderID))
}
