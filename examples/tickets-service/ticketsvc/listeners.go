package ticketsvc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

// The listeners keep a ticket's reservation in step with the orders
// service. They only call use cases: each change lands in the store's
// outbox with the ticket, and the relay publishes ticket:updated, so an
// event goes out if and only if the reservation was saved.
//
// What the Node original gets wrong, and these don't:
//   - an order for a ticket this service never had throws, is never
//     acknowledged and crash-loops the service on every redelivery; here it
//     is logged and acknowledged;
//   - an unparseable payload crashes the process on every redelivery; here
//     the library dead-letters it;
//   - a ticket still held by another order (its cancellation not processed
//     yet) is retried, but only until its reservedRetries-th delivery, then
//     dead-lettered to a subject from which it can be replayed, so it can't
//     wedge forever. Other failures (the store being down) are retried for
//     as long as they last: giving up on them would lose reservations.
func startListeners(ctx context.Context, s *service.Service, svc *tickets.Service, reservedRetries int) error {
	log := s.Logger()
	if err := service.Listen(ctx, s, onOrderCreated(svc, log, reservedRetries)); err != nil {
		return err
	}
	return service.Listen(ctx, s, onOrderCancelled(svc, log))
}

func onOrderCreated(svc *tickets.Service, log *slog.Logger, reservedRetries int) events.Handler[wire.OrderCreated] {
	return func(ctx context.Context, e wire.OrderCreated, meta events.Metadata) error {
		change, err := svc.Reserve(ctx, e.Ticket.ID, e.ID)
		err = settle(log, "reserve", e.Ticket.ID, e.ID, meta, change, err)
		if ticketkit.ErrorCode(err) == ticketkit.EPRECONDITION && meta.DeliveryCount >= reservedRetries {
			return events.Permanent(err)
		}
		return err
	}
}

func onOrderCancelled(svc *tickets.Service, log *slog.Logger) events.Handler[wire.OrderCancelled] {
	return func(ctx context.Context, e wire.OrderCancelled, meta events.Metadata) error {
		change, err := svc.Release(ctx, e.Ticket.ID, e.ID)
		return settle(log, "release", e.Ticket.ID, e.ID, meta, change, err)
	}
}

// settle decides a delivery's fate from a use case's result: nil
// acknowledges, an error asks for redelivery.
func settle(log *slog.Logger, op, ticketID, orderID string, meta events.Metadata, change tickets.Change, err error) error {
	attrs := []any{"op", op, "ticket", ticketID, "order", orderID, "subject", meta.Subject, "sequence", meta.Sequence, "delivery", meta.DeliveryCount}
	switch ticketkit.ErrorCode(err) {
	case "":
		log.Debug("order event applied", append(attrs, "change", change.Kind.String(), "version", change.Ticket.Version)...)
		return nil
	case ticketkit.ENOTFOUND:
		// Redelivery can't make the ticket appear: acknowledge it.
		log.Warn("order event for an unknown ticket; acknowledged without effect", attrs...)
		return nil
	case ticketkit.EINVALID:
		// The payload decoded but the use case refuses it; it never will
		// accept it, so retrying only delays everything behind it.
		log.Error("order event rejected by the use case; acknowledged without effect", append(attrs, "error", err)...)
		return nil
	case ticketkit.EPRECONDITION:
		// Another order holds the ticket. Its order:cancelled, on another
		// channel, may just not have arrived yet: retry, within
		// reservedRetries (see onOrderCreated).
		return fmt.Errorf("%s ticket %s for order %s: %w", op, ticketID, orderID, err)
	default:
		// ECONFLICT after the use case's own retries, or the store failing.
		return fmt.Errorf("%s ticket %s for order %s: %w", op, ticketID, orderID, err)
	}
}
