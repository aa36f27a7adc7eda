package events

import (
	"encoding/json"
	"time"

	"github.com/ticketkit/ticketkit"
)

// Subject names a channel of the cluster. The values are the ones the Node
// services use; they must not change.
type Subject string

// The cluster's subjects.
const (
	SubjectTicketCreated      Subject = "ticket:created"
	SubjectTicketUpdated      Subject = "ticket:updated"
	SubjectOrderCreated       Subject = "order:created"
	SubjectOrderCancelled     Subject = "order:cancelled"
	SubjectExpirationComplete Subject = "expiration:complete"
	SubjectPaymentCreated     Subject = "payment:created"
)

// Event is a payload that knows its subject. Publisher and Listener take the
// subject from the type, so a payload can't be sent on the wrong subject.
type Event interface {
	Subject() Subject
}

// The payloads. Field order is the order in which the Node services write
// them, so what Go publishes is byte for byte what Node would (the golden
// files in testdata pin it). Decoding ignores unknown fields.

// TicketCreated is published when a ticket is created.
type TicketCreated struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Price   ticketkit.Money `json:"price"`
	UserID  string          `json:"userId"`
	Version int64           `json:"version"`
}

// TicketUpdated is published on every later change of a ticket, including
// reservation (OrderID set) and release (OrderID omitted, as Node omits an
// undefined orderId).
type TicketUpdated struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Price   ticketkit.Money `json:"price"`
	UserID  string          `json:"userId"`
	OrderID string          `json:"orderId,omitempty"`
	Version int64           `json:"version"`
}

// OrderStatus is the state of an order in the orders service.
type OrderStatus string

// The orders service's statuses.
const (
	StatusCreated         OrderStatus = "created"
	StatusCancelled       OrderStatus = "cancelled"
	StatusAwaitingPayment OrderStatus = "awaiting:payment"
	StatusComplete        OrderStatus = "complete"
)

// OrderCreated is published when an order reserves a ticket.
type OrderCreated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt Time        `json:"expiresAt"`
	Ticket    OrderTicket `json:"ticket"`
}

// OrderTicket is the ticket inside an OrderCreated.
type OrderTicket struct {
	ID    string          `json:"id"`
	Price ticketkit.Money `json:"price"`
}

// OrderCancelled is published when an order is cancelled or expires.
type OrderCancelled struct {
	ID      string         `json:"id"`
	Version int64          `json:"version"`
	Ticket  OrderTicketRef `json:"ticket"`
}

// OrderTicketRef is the ticket inside an OrderCancelled.
type OrderTicketRef struct {
	ID string `json:"id"`
}

// ExpirationComplete is published when an order's payment window closes.
type ExpirationComplete struct {
	OrderID string `json:"orderId"`
}

// PaymentCreated is published when an order is paid.
type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

func (TicketCreated) Subject() Subject      { return SubjectTicketCreated }
func (TicketUpdated) Subject() Subject      { return SubjectTicketUpdated }
func (OrderCreated) Subject() Subject       { return SubjectOrderCreated }
func (OrderCancelled) Subject() Subject     { return SubjectOrderCancelled }
func (ExpirationComplete) Subject() Subject { return SubjectExpirationComplete }
func (PaymentCreated) Subject() Subject     { return SubjectPaymentCreated }

// Time is an instant written as JavaScript's Date.toISOString writes it:
// UTC with exactly three decimals, "2026-11-27T13:45:07.123Z". Decoding
// accepts any RFC 3339 time.
type Time struct{ time.Time }

const isoMillis = "2006-01-02T15:04:05.000Z"

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(isoMillis))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}
