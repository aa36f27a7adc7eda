// Package expirationsvc is the expiration service on ticketkit, as the
// command expiration-service runs it: for each order:created, an
// expiration:complete at the order's expiresAt, as the cluster's Node
// expiration service publishes it from a Bull job in Redis.
//
// Here the job is a document of its own MongoDB (the collection
// "expirations", one per order, by the order's id), written with its
// expiration:complete as a delayed outbox entry (outbox.Delay) in the
// same single-document insert: the relay of whichever instance holds it
// publishes it at its time, and an instance that stops or dies leaves it
// to another, as any outbox entry. A redelivered order:created finds its
// order's document and changes nothing. It has no routes of its own; it
// serves /healthz and /readyz on PORT like every service.
package expirationsvc

import (
	"context"
	"net/http"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/store"
	"github.com/ticketkit/ticketkit/wire"
)

// Name is the service's name: its queue group and durable, as in the Node
// listener, and its database when MONGO_URI names none.
const Name = "expiration-service"

// Collection is the name of the expirations' collection.
const Collection = "expirations"

// Expiration is one order's scheduled expiration, as stored.
type Expiration struct {
	ExpiresAt time.Time `bson:"expiresAt" json:"expiresAt"`
}

// Build adds the expiration service to s: its collection and its
// order:created listener (service.Build). Its handler serves no route of
// its own: every path is the cluster's 404.
func Build(ctx context.Context, s *service.Service) (http.Handler, error) {
	c, err := service.Collection[Expiration](ctx, s, Collection)
	if err != nil {
		return nil, err
	}
	if err := service.Listen(ctx, s, Schedule(c)); err != nil {
		return nil, err
	}
	return http.HandlerFunc(httpapi.NotFound), nil
}

// Schedule is the order:created handler: it stores the order's
// expiration with expiration:complete due at its expiresAt. An order
// already scheduled (a redelivery) is acknowledged as it is.
func Schedule(c store.Collection[Expiration]) events.Handler[wire.OrderCreated] {
	return func(ctx context.Context, e wire.OrderCreated, _ events.Metadata) error {
		at := e.ExpiresAt.UTC()
		err := c.Insert(ctx, e.ID, Expiration{ExpiresAt: at}, outbox.Delay(wire.ExpirationComplete{OrderID: e.ID}, at))
		if ticketkit.ErrorCode(err) == ticketkit.ECONFLICT {
			return nil
		}
		return err
	}
}
