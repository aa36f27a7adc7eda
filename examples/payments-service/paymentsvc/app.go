// Package paymentsvc is the payments service on ticketkit, as the command
// payments-service runs it: the cluster's Node payments service's route,
// error bodies and events, and a copy of the orders kept from the orders
// service's events. Unlike the Node original, a retried or concurrent
// payment of one order charges once, and payment:created goes out through
// the outbox, so a crash can't lose it. It is a package apart from its
// command so that another program (a whole cluster in one process, a
// system test) can run it too.
package paymentsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/paymentstore"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the service's name: its queue group and durable, as in the Node
// listeners, and its database when MONGO_URI names none.
const Name = "payments-service"

// Option configures New.
type Option func(*settings) error

type settings struct {
	charger payments.Charger
	getenv  func(string) string
}

// WithCharger charges through c instead of the charger the environment
// names.
func WithCharger(c payments.Charger) Option {
	return func(s *settings) error {
		if c == nil {
			return errors.New("paymentsvc: WithCharger(nil)")
		}
		s.charger = c
		return nil
	}
}

// New returns the service's Build with opts. Without WithCharger, it
// charges through Stripe if STRIPE_KEY is set (stripecharger.FromEnv:
// STRIPE_API_BASE too); otherwise, only in memory (no MONGO_URI), through
// memcharger, which charges nothing, with a warning. A service on MongoDB
// without STRIPE_KEY does not start: it would take payments it never
// charged.
func New(opts ...Option) (service.Build, error) {
	c := settings{getenv: os.Getenv}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("paymentsvc: nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		return build(ctx, s, c)
	}, nil
}

// Build adds the payments service to s, configured from the environment
// (New with no options).
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	return build(ctx, s, settings{getenv: os.Getenv})
}

func build(ctx context.Context, s *service.Service, c settings) (http.Handler, error) {
	charger, err := chargerOf(s.Config(), s.Logger(), c)
	if err != nil {
		return nil, err
	}
	coll, err := service.Collection[paymentstore.Doc](ctx, s, paymentstore.Name)
	if err != nil {
		return nil, err
	}
	copies, err := service.Replica[payments.Order](ctx, s, "orders")
	if err != nil {
		return nil, err
	}
	svc := payments.NewService(paymentstore.New(coll), payments.NewOrders(copies), charger)
	oc := wire.OrderCopies{Replica: copies}
	if err := service.Listen(ctx, s, oc.OnOrderCreated); err != nil {
		return nil, err
	}
	if err := service.Listen(ctx, s, oc.OnOrderCancelled); err != nil {
		return nil, err
	}
	return (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes(), nil
}

// chargerOf is the charger c names, else the environment's.
func chargerOf(cfg service.Config, log *slog.Logger, c settings) (payments.Charger, error) {
	switch {
	case c.charger != nil:
		return c.charger, nil
	case c.getenv(stripecharger.EnvKey) != "":
		return stripecharger.FromEnv(c.getenv)
	case cfg.InMemory():
		log.Warn("STRIPE_KEY is not set: payments are charged to an in-memory fake (memcharger) that charges nothing")
		return memcharger.New(), nil
	default:
		return nil, fmt.Errorf("paymentsvc: %s must be set to charge through Stripe (the cluster's stripe-secret)", stripecharger.EnvKey)
	}
}
