package events_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/wire"
)

// A Publisher's type decides the subject: a TicketCreated can only go out
// on ticket:created.
func ExamplePublisher() {
	ctx := context.Background()
	transport := memtransport.New() // natsclient.Connect(...) in a service
	pub, err := events.NewPublisher[wire.TicketCreated](transport)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = pub.Publish(ctx, wire.TicketCreated{
		ID: "3eb8e907a00cf854c97a276b", Title: "concert", Price: ticketkit.Cents(2000), UserID: "b95ec5fceb0e46d1c335b88d",
	})
	fmt.Println(pub.Subject(), err)
	// Output: ticket:created <nil>
}

// A Listener acknowledges what its handler returns nil for; an error or a
// panic leaves the message for redelivery, and an undecodable one goes to
// the dead-letter hook instead of coming back forever.
func ExampleListen() {
	ctx := context.Background()
	transport := memtransport.New()
	done := make(chan struct{})
	l, err := events.Listen(ctx, transport, "tickets-service",
		func(ctx context.Context, e wire.OrderCreated, meta events.Metadata) error {
			fmt.Printf("order %s holds ticket %s until %s\n", e.ID, e.Ticket.ID, e.ExpiresAt.Format(time.Kitchen))
			close(done)
			return nil
		},
		events.DeliverAll(),
		events.AckWait(5*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close(ctx)

	pub, _ := events.NewPublisher[wire.OrderCreated](transport)
	_ = pub.Publish(ctx, wire.OrderCreated{
		ID: "b28f8525b4eeb8afd1108ad6", Status: orders.Created, UserID: "79f05438abce78f9c3d600c3",
		ExpiresAt: wire.Time{Time: time.Date(2026, 11, 27, 13, 45, 7, 0, time.UTC)},
		Ticket:    wire.OrderTicket{ID: "3eb8e907a00cf854c97a276b", Price: ticketkit.Cents(1250)},
	})
	<-done
	// Output: order b28f8525b4eeb8afd1108ad6 holds ticket 3eb8e907a00cf854c97a276b until 1:45PM
}

// A replica applies an aggregate's events in version order: the next one is
// applied, a redelivered one is skipped, and an early one is left for later.
func ExampleCompareVersion() {
	stored := int64(2)
	for _, incoming := range []int64{3, 2, 5} {
		fmt.Println(incoming, events.CompareVersion(stored, incoming))
	}
	// Output:
	// 3 apply
	// 2 duplicate
	// 5 out of order
}
