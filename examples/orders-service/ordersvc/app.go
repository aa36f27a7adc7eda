// Package ordersvc is the orders service on ticketkit, as the command
// orders-service runs it: the cluster's Node orders service's routes,
// error bodies and events, its listeners, and a copy of the tickets kept
// from the tickets service's events. Unlike the Node original, two
// simultaneous orders of one ticket can't both succeed. It is a package
// apart from its command so that another program (a whole cluster in one
// process, a system test) can run it too.
package ordersvc

import (
	"context"
	"net/http"

	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/orders/orderstore"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the service's name: its queue group and durable, as in the Node
// listeners, and its database when MONGO_URI names none.
const Name = "orders-service"

// Build adds the orders service to s: its stores, its listeners and its
// routes (service.Build).
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	return build(ctx, s)
}

// New returns the service's Build with the use cases' options: an
// orders.ExpiresAfter shorter than the cluster's 15 minutes, for a test
// of the whole purchase.
func New(opts ...orders.Option) service.Build {
	return func(ctx context.Context, s *service.Service) (http.Handler, error) {
		return build(ctx, s, opts...)
	}
}

func build(ctx context.Context, s *service.Service, opts ...orders.Option) (http.Handler, error) {
	orderStore, copies, err := stores(ctx, s)
	if err != nil {
		return nil, err
	}
	svc := orders.NewService(orderStore, orders.NewTickets(copies), opts...)
	if err := startListeners(ctx, s, svc, wire.TicketCopies{Replica: copies}); err != nil {
		return nil, err
	}
	return (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes(), nil
}

// stores are the orders and the copy of the tickets, on whichever
// backend s runs.
func stores(ctx context.Context, s *service.Service) (orders.Store, store.Replica[orders.Ticket], error) {
	c, err := service.Collection[orderstore.Doc](ctx, s, orderstore.Name, orderstore.Indexes()...)
	if err != nil {
		return nil, nil, err
	}
	copies, err := service.Replica[orders.Ticket](ctx, s, "tickets")
	if err != nil {
		return nil, nil, err
	}
	return orderstore.New(c), copies, nil
}
