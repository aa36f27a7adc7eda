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
	"log/slog"
	"net/http"

	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service"
)

// Name is the service's name: its queue group and durable, as in the Node
// listeners, and its database when MONGO_URI names none.
const Name = "orders-service"

// Build adds the orders service to s: its stores, its listeners and its
// routes (service.Build).
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	store, copies, err := stores(ctx, s.Backends(), s.Logger())
	if err != nil {
		return nil, err
	}
	svc := orders.NewService(store, copies)
	if err := startListeners(ctx, s, svc, copies); err != nil {
		return nil, err
	}
	return (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes(), nil
}

// ticketCopies is the service's copy of the tickets: what the use cases
// read and claim, and what the ticket listeners feed.
type ticketCopies interface {
	orders.Tickets
	ticketHandlers
}

// stores are the orders and the ticket copies on MongoDB, with their
// indexes, or in memory.
func stores(ctx context.Context, b *service.Backends, log *slog.Logger) (orders.Store, ticketCopies, error) {
	if b.Mongo == nil {
		return memstore.NewOrderStore(b.Memory), memstore.NewTicketReplica(), nil
	}
	store, err := mongostore.NewOrderStore(b.Mongo.Outbox, mongostore.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	copies, err := mongostore.NewTicketReplica(b.Mongo.DB, mongostore.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	if err := store.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	if err := copies.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	return store, copies, nil
}
