package ordersvc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/wire"
)

// startListeners starts the four listeners of the Node orders service.
// What they do better than the Node original:
//   - an event for an order this service never had is logged and
//     acknowledged, where Node throws and is redelivered for ever;
//   - a payment for an order that expired first is reported at Error,
//     not silently marked complete with its ticket already released;
//   - an unparseable payload is dead-lettered, not crash-looped on.
func startListeners(ctx context.Context, s *service.Service, svc *orders.Service, copies wire.TicketCopies) error {
	log := s.Logger()
	if err := service.Listen(ctx, s, copies.OnTicketCreated); err != nil {
		return err
	}
	if err := service.Listen(ctx, s, copies.OnTicketUpdated); err != nil {
		return err
	}
	if err := service.Listen(ctx, s, func(ctx context.Context, e wire.ExpirationComplete, meta events.Metadata) error {
		change, err := svc.Expire(ctx, e.OrderID)
		return settle(log, "expire", e.OrderID, meta, change, err)
	}); err != nil {
		return err
	}
	return service.Listen(ctx, s, func(ctx context.Context, e wire.PaymentCreated, meta events.Metadata) error {
		change, err := svc.Pay(ctx, e.OrderID)
		return settle(log, "pay", e.OrderID, meta, change, err)
	})
}

// settle decides a delivery's fate from a use case's result: nil
// acknowledges, an error asks for redelivery.
func settle(log *slog.Logger, op, orderID string, meta events.Metadata, change orders.Change, err error) error {
	attrs := []any{"op", op, "order", orderID, "subject", meta.Subject, "sequence", meta.Sequence, "delivery", meta.DeliveryCount}
	switch ticketkit.ErrorCode(err) {
	case "":
		log.Debug("order event applied", append(attrs, "changed", change.Changed, "status", change.Order.Status, "version", change.Order.Version)...)
		return nil
	case ticketkit.ENOTFOUND:
		// The order is written before its order:created is published, so
		// an event about it can't arrive first: redelivery won't help.
		log.Warn("event for an unknown order; acknowledged without effect", attrs...)
		return nil
	case ticketkit.EINVALID:
		log.Error("event refused by the use case; acknowledged without effect", append(attrs, "error", err)...)
		return nil
	default:
		// ECONFLICT after the use case's own retries, or the store failing.
		return fmt.Errorf("%s order %s: %w", op, orderID, err)
	}
}
