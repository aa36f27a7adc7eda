package tickets_test

import (
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
)

// memTicketStore is the tickets store on a Collection of ob's DB.
func memTicketStore(ob *memstore.Outbox) (*ticketstore.Store, error) {
	c, err := memstore.NewCollection[ticketstore.Doc](ob, ticketstore.Name)
	if err != nil {
		return nil, err
	}
	return ticketstore.New(c), nil
}
