package payments

import (
	"context"
	"errors"
	"strconv"

	"github.com/ticketkit/ticketkit"
)

// Service is the payments service's use cases.
type Service struct {
	payments Store
	orders   Orders
	charger  Charger
}

// NewService returns the use cases over the payments, the copy of the
// orders and a charger.
func NewService(payments Store, orders Orders, charger Charger) *Service {
	return &Service{payments: payments, orders: orders, charger: charger}
}

// Pay charges user userID's order orderID, with the payment source token,
// and stores the payment with its payment:created event. Paying for an
// order that has a payment answers that payment, charging nothing; any
// number of simultaneous or repeated calls for one order charge it once
// (see the package documentation).
//
// Errors: EINVALID (no token, or the provider refused the request),
// ENOTFOUND (no such order, or not yet copied), ENOTOWNER (someone else's
// order), EPRECONDITION (ErrOrderCancelled for an order cancelled before
// it was paid, ErrDeclined), ECONFLICT
// (ErrKeyReused), EUNAVAILABLE (ErrProviderUnavailable, ErrKeyInUse, or
// the store; paying again is safe), EUNKNOWN (the store did not confirm
// the payment's write; paying again is safe too), EINTERNAL.
func (s *Service) Pay(ctx context.Context, userID, orderID, token string) (Payment, error) {
	if token == "" {
		return Payment{}, ticketkit.Invalid(ticketkit.FieldError{Field: "token", Message: "Token must be provided"})
	}
	id, ok := ticketkit.CanonicalID(orderID)
	if !ok {
		return Payment{}, ticketkit.ErrNotFound
	}
	o, err := s.orders.Order(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if o.UserID != userID {
		return Payment{}, ticketkit.ErrNotOwner
	}
	// An order that has its payment is answered with it: a retry of a
	// POST that paid, or the loser of a race; even if the order was
	// cancelled since (it expired while its payment:created was on its
	// way), since the payment is what happened.
	switch p, err := s.payments.Get(ctx, PaymentID(id)); {
	case err == nil:
		return p, nil
	case ticketkit.ErrorCode(err) != ticketkit.ENOTFOUND:
		return Payment{}, err
	}
	if o.Status == OrderCancelled {
		return Payment{}, ErrOrderCancelled
	}
	charge, err := s.charger.Charge(ctx, Charge{
		Amount: o.Price, Currency: Currency, Source: token,
		IdempotencyKey: ChargeKey(id, o.Attempt), OrderID: id,
	})
	if errors.Is(err, ErrDeclined) || ticketkit.ErrorCode(err) == ticketkit.EINVALID {
		// The provider remembers a refusal under this attempt's key
		// and would answer it to every later request, or refuse any
		// other card as the key's reuse: the next request uses the next
		// attempt. A key whose answer is a refusal never charged (the
		// provider answers a key used for another charge with
		// ErrKeyReused), so this can't charge twice. An error that
		// leaves the outcome unknown keeps the key.
		if nerr := s.orders.NextAttempt(ctx, id, o.Attempt); nerr != nil {
			return Payment{}, nerr
		}
		return Payment{}, err
	}
	if err != nil {
		return Payment{}, err
	}
	p := Payment{ID: PaymentID(id), OrderID: id, StripeID: string(charge)}
	switch err := s.payments.Create(ctx, p); ticketkit.ErrorCode(err) {
	case "":
		return p, nil
	case ticketkit.ECONFLICT:
		// Another request stored it first, with the same charge: both
		// carried the same key.
		return s.payments.Get(ctx, p.ID)
	default:
		return Payment{}, err
	}
}

// NextAttempt returns the attempt after prev: "1" after "", "2" after "1".
func NextAttempt(prev string) string {
	n, _ := strconv.Atoi(prev)
	return strconv.Itoa(n + 1)
}
