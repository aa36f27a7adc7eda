// Package paymentstest is the conformance suite of payments.Charger:
// every Charger (memcharger, stripecharger) runs it, so that the use
// cases can rely on what it checks, idempotency keys above all.
package paymentstest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
)

// Features says what a Charger's provider does beyond charging, for
// providers in test mode that don't (stripe-mock keeps no state). The
// subtests of a feature a provider lacks are not run.
type Features struct {
	// Replays: a key sent again answers its first charge, and
	// with another charge fails with payments.ErrKeyReused.
	Replays bool
	// Declines: the source "tok_chargeDeclined" is declined
	// (payments.ErrDeclined), and "tok_visa" is charged.
	Declines bool
}

// Timeout bounds each call of the suite.
const Timeout = 30 * time.Second

// RunCharger runs the suite on Chargers from newCharger, one per subtest.
func RunCharger(t *testing.T, newCharger func(t *testing.T) payments.Charger, f Features) {
	key := func(*testing.T) string { return "paymentstest-" + ticketkit.NewID() }
	charge := func(t *testing.T, k string) payments.Charge {
		return payments.Charge{Amount: ticketkit.Cents(2000), Currency: payments.Currency, Source: "tok_visa", IdempotencyKey: k, OrderID: ticketkit.NewID()}
	}
	ctxOf := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("Charges", func(t *testing.T) {
		c := newCharger(t)
		id, err := c.Charge(ctxOf(t), charge(t, key(t)))
		if err != nil || id == "" {
			t.Fatalf("Charge = %q, %v; want an id", id, err)
		}
	})

	t.Run("DistinctKeysDistinctCharges", func(t *testing.T) {
		c := newCharger(t)
		ctx := ctxOf(t)
		a, err := c.Charge(ctx, charge(t, key(t)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Charge(ctx, charge(t, key(t)))
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Fatalf("two keys made one charge %q", a)
		}
	})

	if f.Replays {
		t.Run("ReplaysKey", func(t *testing.T) {
			c := newCharger(t)
			ctx := ctxOf(t)
			ch := charge(t, key(t))
			first, err := c.Charge(ctx, ch)
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.Charge(ctx, ch)
			if err != nil || again != first {
				t.Fatalf("the same key and charge again = %q, %v; want the first charge %q", again, err, first)
			}
		})
	}

	if f.Replays {
		t.Run("RefusesKeyReused", func(t *testing.T) {
			c := newCharger(t)
			ctx := ctxOf(t)
			ch := charge(t, key(t))
			if _, err := c.Charge(ctx, ch); err != nil {
				t.Fatal(err)
			}
			other := ch
			other.Amount++
			if id, err := c.Charge(ctx, other); !errors.Is(err, payments.ErrKeyReused) {
				t.Fatalf("the same key with another amount = %q, %v; want ErrKeyReused", id, err)
			}
			other = ch
			other.Source = "tok_mastercard"
			if id, err := c.Charge(ctx, other); !errors.Is(err, payments.ErrKeyReused) {
				t.Fatalf("the same key with another source = %q, %v; want ErrKeyReused", id, err)
			}
		})
	}

	if f.Replays {
		t.Run("ConcurrentKeyChargesOnce", func(t *testing.T) {
			c := newCharger(t)
			ctx := ctxOf(t)
			ch := charge(t, key(t))
			const n = 8
			ids := make([]payments.ChargeID, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { ids[i], errs[i] = c.Charge(ctx, ch) })
			}
			wg.Wait()
			var got payments.ChargeID
			for i := range n {
				switch {
				case errors.Is(errs[i], payments.ErrKeyInUse):
					// Stripe's answer to a request whose key is still running.
				case errs[i] != nil:
					t.Fatalf("request %d: %v", i, errs[i])
				case got == "":
					got = ids[i]
				case ids[i] != got:
					t.Fatalf("one key made charges %q and %q", got, ids[i])
				}
			}
			if got == "" {
				t.Fatal("no request charged")
			}
		})
	}

	if f.Declines {
		t.Run("Declines", func(t *testing.T) {
			c := newCharger(t)
			ctx := ctxOf(t)
			ch := charge(t, key(t))
			ch.Source = "tok_chargeDeclined"
			_, err := c.Charge(ctx, ch)
			if !errors.Is(err, payments.ErrDeclined) || ticketkit.ErrorCode(err) != ticketkit.EPRECONDITION {
				t.Fatalf("a declined card: %v; want ErrDeclined", err)
			}
			if f.Replays {
				// The decline is kept under its key, as Stripe keeps it.
				if _, err := c.Charge(ctx, ch); !errors.Is(err, payments.ErrDeclined) {
					t.Fatalf("the declined key again: %v; want ErrDeclined", err)
				}
			}
		})
	}

	t.Run("CanceledContext", func(t *testing.T) {
		c := newCharger(t)
		ctx, cancel := context.WithCancel(ctxOf(t))
		cancel()
		if id, err := c.Charge(ctx, charge(t, key(t))); err == nil {
			t.Fatalf("Charge with a canceled context = %q; want an error", id)
		}
	})
}
