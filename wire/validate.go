package wire

import (
	"errors"
	"fmt"

	"github.com/ticketkit/ticketkit"
)

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
