package payments

import (
	"context"

	"github.com/ticketkit/ticketkit"
)

// Currency is the cluster's: the Node payments service charges in dollars.
const Currency = "usd"

// Charge is one charge to make.
type Charge struct {
	Amount   ticketkit.Money
	Currency string
	// Source is the client's payment token (Stripe's "tok_…").
	Source string
	// IdempotencyKey makes the charge once however often it is asked: the
	// same key with the same charge answers the first charge, and with
	// another charge fails with ErrKeyReused. Providers forget a key
	// after a while (Stripe: 24 hours).
	IdempotencyKey string
	// OrderID is recorded with the charge (Stripe: metadata order_id),
	// for whoever reconciles charges and payments.
	OrderID string
}

// ChargeID is a provider's id of a charge.
type ChargeID string

// Charger charges a payment source: the payments service's port to a
// payment provider. An implementation is safe for concurrent use and
// honours Charge.IdempotencyKey as Stripe does (paymentstest checks it).
//
// Errors are *ticketkit.Error: ErrDeclined (or an error with its code and
// reason, and the provider's message) when the source was refused: nothing
// was charged; EINVALID when the provider refused the request itself (an
// unknown token); ErrKeyReused; ErrKeyInUse while an earlier request with
// the key is still running; ErrProviderUnavailable (or an EUNAVAILABLE
// error) when the provider didn't answer or failed. Then the charge may or
// may not have been made, which is safe to retry because the key makes a
// retry find the charge, not repeat it.
type Charger interface {
	Charge(ctx context.Context, c Charge) (ChargeID, error)
}

// The errors of a Charger, and of Pay.
var (
	// ErrDeclined: the card was declined; the Node services answer 400.
	ErrDeclined = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: "card_declined", Message: "Your card was declined"}
	// ErrKeyReused: the idempotency key was used for another charge (the
	// same order paid with another token while its first charge, never
	// stored, went through). Nothing was charged now.
	ErrKeyReused = &ticketkit.Error{Code: ticketkit.ECONFLICT, Reason: "charge_key_reused", Message: "This order was already charged with other payment details; pay again with the same token"}
	// ErrKeyInUse: a request with the key is still running. Retrying
	// shortly answers its charge.
	ErrKeyInUse = &ticketkit.Error{Code: ticketkit.EUNAVAILABLE, Reason: "charge_in_progress", Message: "A payment for this order is in progress; try again shortly"}
	// ErrProviderUnavailable: the payment provider didn't answer. Paying
	// again later charges at most once.
	ErrProviderUnavailable = &ticketkit.Error{Code: ticketkit.EUNAVAILABLE, Reason: "provider_unavailable", Message: "The payment provider is unavailable; try again shortly"}
	// ErrOrderCancelled refuses to pay for a cancelled order, in the Node
	// service's words.
	ErrOrderCancelled = &ticketkit.Error{Code: ticketkit.EPRECONDITION, Reason: "order_cancelled", Message: "Cannot pay for an cancelled order"}
)
