package memcharger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/paymentstest"
)

func TestConformance(t *testing.T) {
	paymentstest.RunCharger(t, func(*testing.T) payments.Charger { return memcharger.New() },
		paymentstest.Features{Replays: true, Declines: true})
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	c := memcharger.New()
	ch := payments.Charge{Amount: ticketkit.Cents(500), Currency: "usd", Source: "tok_visa", IdempotencyKey: "k"}

	c.Down(true)
	if _, err := c.Charge(ctx, ch); !errors.Is(err, payments.ErrProviderUnavailable) {
		t.Fatalf("down: %v; want ErrProviderUnavailable", err)
	}
	if n := len(c.Charges()); n != 0 {
		t.Fatalf("down charged %d times", n)
	}
	c.Down(false)

	c.LoseNextAnswer()
	if _, err := c.Charge(ctx, ch); !errors.Is(err, payments.ErrProviderUnavailable) {
		t.Fatalf("lost answer: %v; want ErrProviderUnavailable", err)
	}
	id, err := c.Charge(ctx, ch)
	if err != nil || id == "" {
		t.Fatalf("the key again after a lost answer = %q, %v", id, err)
	}
	if n := len(c.Charges()); n != 1 {
		t.Fatalf("charged %d times; want 1", n)
	}

	ch.IdempotencyKey, ch.Source = "k2", "card"
	if _, err := c.Charge(ctx, ch); ticketkit.ErrorCode(err) != ticketkit.EINVALID {
		t.Fatalf("an unknown token: %v; want EINVALID", err)
	}
}
