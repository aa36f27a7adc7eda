// Package memcharger is an in-memory payments.Charger, for tests and for
// running a payments service with no payment provider: it charges
// nothing, and answers as Stripe's test mode does, idempotency keys
// included.
//
//   - A source that starts with "tok_" is charged, except Stripe's test
//     tokens for declines ("tok_chargeDeclined" and those it starts),
//     which are declined (payments.ErrDeclined). Anything else is an
//     unknown token (EINVALID, field "token").
//   - A key sent again with the same charge answers what the first
//     request with it answered, a charge or a decline; with another
//     charge (amount, currency, source or order), payments.ErrKeyReused.
//     Requests with one key run one at a time. Keys are never forgotten
//     (Stripe forgets them after 24 hours).
//
// Tests make the provider fail with Down and LoseNextAnswer.
package memcharger

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
)

// Charger is the in-memory Charger. It is safe for concurrent use.
type Charger struct {
	mu      sync.Mutex
	keys    map[string]result
	charges []payments.Charge
	down    bool
	lose    int
	seq     int
}

type result struct {
	charge payments.Charge
	id     payments.ChargeID
	err    error
}

var _ payments.Charger = (*Charger)(nil)

// New returns an empty Charger.
func New() *Charger { return &Charger{keys: make(map[string]result)} }

// Charge implements payments.Charger.
func (c *Charger) Charge(ctx context.Context, ch payments.Charge) (payments.ChargeID, error) {
	if err := ctx.Err(); err != nil {
		return "", &ticketkit.Error{Code: ticketkit.EUNAVAILABLE, Reason: payments.ErrProviderUnavailable.Reason, Message: payments.ErrProviderUnavailable.Message, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return "", payments.ErrProviderUnavailable
	}
	if ch.IdempotencyKey != "" {
		if prev, ok := c.keys[ch.IdempotencyKey]; ok {
			if prev.charge != ch {
				return "", payments.ErrKeyReused
			}
			return prev.id, prev.err
		}
	}
	var r result
	switch {
	case ch.Amount <= 0:
		return "", ticketkit.Invalid(ticketkit.FieldError{Field: "amount", Message: "Amount must be greater than 0"})
	case strings.HasPrefix(ch.Source, "tok_chargeDeclined"):
		r.err = payments.ErrDeclined
	case strings.HasPrefix(ch.Source, "tok_"):
		c.seq++
		r.id = payments.ChargeID("ch_mem" + strconv.Itoa(c.seq))
		c.charges = append(c.charges, ch)
	default:
		// Stripe saves no result for a request that failed validation.
		return "", ticketkit.Invalid(ticketkit.FieldError{Field: "token", Message: "No such token: " + strconv.Quote(ch.Source)})
	}
	r.charge = ch
	if ch.IdempotencyKey != "" {
		c.keys[ch.IdempotencyKey] = r
	}
	if c.lose > 0 && r.err == nil {
		c.lose--
		return "", payments.ErrProviderUnavailable
	}
	return r.id, r.err
}

// Charges returns the charges made, in order: one per key, however often
// it was sent.
func (c *Charger) Charges() []payments.Charge {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]payments.Charge(nil), c.charges...)
}

// Down makes every charge fail with payments.ErrProviderUnavailable,
// charging nothing, until Down(false).
func (c *Charger) Down(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

// LoseNextAnswer makes the next charge that succeeds answer
// payments.ErrProviderUnavailable: the charge is made, and its key
// remembers it, but the caller doesn't hear of it, as when a
// connection drops after the provider charged.
func (c *Charger) LoseNextAnswer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lose++
}
