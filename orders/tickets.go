package orders

import (
	"context"

	"github.com/ticketkit/ticketkit/store"
)

// NewTickets returns the service's copy of the tickets kept in r, a
// store.Replica of Ticket documents on any backend (service.Replica
// hands one out): Ticket and Tickets read it, Hold is Replica.Claim, one
// conditional write on the copy. The tickets service's events feed it
// with r.Apply (ticket:created and ticket:updated are snapshots).
func NewTickets(r store.Replica[Ticket]) Tickets { return replicaTickets{r} }

type replicaTickets struct{ r store.Replica[Ticket] }

func (t replicaTickets) Ticket(ctx context.Context, id string) (Ticket, error) {
	rec, err := t.r.Get(ctx, id)
	if err != nil {
		return Ticket{}, err
	}
	return ticketOf(rec), nil
}

func (t replicaTickets) Tickets(ctx context.Context, ids []string) (map[string]Ticket, error) {
	recs, err := t.r.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Ticket, len(recs))
	for id, rec := range recs {
		out[id] = ticketOf(rec)
	}
	return out, nil
}

func (t replicaTickets) Hold(ctx context.Context, id, prev, next string) (bool, error) {
	return t.r.Claim(ctx, id, prev, next)
}

func ticketOf(rec store.Record[Ticket]) Ticket {
	t := rec.Doc
	t.ID, t.Version, t.Hold = rec.ID, rec.Version, rec.Claim
	return t
}
