// Package ticketsvc is the tickets service on ticketkit, as the command
// tickets-service runs it: the cluster's Node tickets service's routes,
// error bodies and events, and its listeners for the orders service's
// events. It is a package apart from its command so that another program
// (a whole cluster in one process, a system test) can run it too.
package ticketsvc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

// Name is the service's name: its queue group and durable, as in the Node
// listeners, and its database when MONGO_URI names none.
const Name = "tickets-service"

// defaultReservedRetries bounds the deliveries of an order:created whose
// ticket another order holds: a minute of redeliveries at the 5s ack wait.
const defaultReservedRetries = 12

// Build adds the tickets service to s: its store, its listeners and its
// routes (service.Build), with the default settings.
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	return build(ctx, s, defaultReservedRetries)
}

// Option configures New.
type Option func(*settings) error

type settings struct{ reservedRetries int }

// ReservedRetries is how many deliveries an order:created whose ticket
// another order still holds gets before it is dead-lettered (default 12:
// a minute at the cluster's 5s ack wait).
func ReservedRetries(n int) Option {
	return func(c *settings) error {
		if n < 1 {
			return fmt.Errorf("ticketsvc: ReservedRetries(%d): at least 1", n)
		}
		c.reservedRetries = n
		return nil
	}
}

// New returns the service's Build with opts.
func New(opts ...Option) (service.Build, error) {
	c := settings{reservedRetries: defaultReservedRetries}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("ticketsvc: nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		return build(ctx, s, c.reservedRetries)
	}, nil
}

func build(ctx context.Context, s *service.Service, reservedRetries int) (http.Handler, error) {
	store, err := ticketStore(ctx, s)
	if err != nil {
		return nil, err
	}
	svc, err := tickets.NewService(store)
	if err != nil {
		return nil, err
	}
	if err := startListeners(ctx, s, svc, reservedRetries); err != nil {
		return nil, err
	}
	return (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes(), nil
}

// ticketStore is the tickets store on whichever backend s runs.
func ticketStore(ctx context.Context, s *service.Service) (tickets.Store, error) {
	c, err := service.Collection[ticketstore.Doc](ctx, s, ticketstore.Name, ticketstore.Indexes()...)
	if err != nil {
		return nil, err
	}
	return ticketstore.New(c), nil
}
