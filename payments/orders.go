package payments

import (
	"context"

	"github.com/ticketkit/ticketkit/store"
)

// NewOrders returns the service's copy of the orders kept in r, a
// store.Replica of Order documents on any backend (service.Replica hands
// one out). wire.OrderCopies feeds it from order:created (Apply) and
// order:cancelled (Modify). An order's charge attempt is the record's
// claim, which those leave alone: NextAttempt is one Replica.Claim.
func NewOrders(r store.Replica[Order]) Orders { return replicaOrders{r} }

type replicaOrders struct{ r store.Replica[Order] }

func (o replicaOrders) Order(ctx context.Context, id string) (Order, error) {
	rec, err := o.r.Get(ctx, id)
	if err != nil {
		return Order{}, err
	}
	d := rec.Doc
	d.ID, d.Version, d.Attempt = rec.ID, rec.Version, rec.Claim
	return d, nil
}

func (o replicaOrders) NextAttempt(ctx context.Context, id, prev string) error {
	_, err := o.r.Claim(ctx, id, prev, NextAttempt(prev))
	return err
}
