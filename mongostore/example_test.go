package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"github.com/ticketkit/ticketkit/wire"
)

// These examples need MongoDB (MONGO_URI) and, for the outbox, NATS
// Streaming (NATS_URL, NATS_CLUSTER_ID), as `make dev` serves them; without
// them they print nothing. So they have no Output comment: go test compiles
// them, and TestExamples runs them against the test servers.

// The transactional outbox: tickets.Service writes a ticket and its event
// in one document, and an outbox.Relay publishes the event from memory. If
// the broker is down, the writes still succeed and the relay publishes
// once it is back; if the process dies first, another instance takes its
// entries over (at least once, with the same events.MessageID).
func Example_outbox() {
	uri, natsURL, cluster := os.Getenv("MONGO_URI"), os.Getenv("NATS_URL"), os.Getenv("NATS_CLUSTER_ID")
	if uri == "" || natsURL == "" || cluster == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer client.Disconnect(context.Background())
	db := client.Database("ticketkit_example_outbox")
	defer db.Drop(context.Background()) // an example leaves nothing behind; a service keeps its data

	// One Outbox per process: its writer lease, and the queue its
	// writes hand their entries to.
	ob, err := mongostore.NewOutbox(ctx, db)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	// The tickets service's store, on a Collection of this package.
	coll, err := mongostore.NewCollection[ticketstore.Doc](ob, ticketstore.Name)
	if err == nil {
		err = coll.EnsureIndexes(ctx)
	}
	store := ticketstore.New(coll)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	nc, err := streaming.Connect(ctx, natsclient.Config{
		ClusterID: cluster,
		ClientID:  "outbox-example-" + ticketkit.NewID(),
		URLs:      []string{natsURL},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer nc.Close(context.Background())

	// The relay runs beside the service for as long as it runs.
	relay, err := outbox.NewRelay(ob, nc)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		_ = relay.Run(relayCtx) // retries failures itself; nil once stopped
	}()
	defer func() {
		stopRelay()
		<-relayDone
	}()

	// Use cases return once the ticket and its event are committed.
	svc, err := tickets.NewService(store)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	created, err := svc.Create(ctx, "user-1", tickets.Input{Title: "concert", Price: ticketkit.Cents(2000)})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	updated, err := svc.Update(ctx, created.Ticket.ID, "user-1", tickets.Input{Title: "concert, front row", Price: ticketkit.Cents(3500)})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("committed versions", created.Ticket.Version, "and", updated.Ticket.Version)

	// At shutdown, after the last write: publish what is pending and
	// retire the writer's lease, then stop the relay (deferred above).
	err = relay.Close(ctx)
	fmt.Println("backlog after close:", relay.Stats().Backlog, err)

	// It prints:
	// committed versions 0 and 1
	// backlog after close: 0 <nil>
}

// A consuming service's copy of the tickets, fed events in the order a
// broker may deliver them: late, early and twice.
func ExampleReplica() {
	uri := os.Getenv("MONGO_URI")
	if uri == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer client.Disconnect(context.Background())
	db := client.Database("ticketkit_example_replica")
	defer db.Drop(context.Background()) // an example leaves nothing behind; a service keeps its data

	replica, err := mongostore.NewReplica[orders.Ticket](db, "tickets")
	if err == nil {
		err = replica.EnsureIndexes(ctx)
	}
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	copyOf := func(title string, price ticketkit.Money) orders.Ticket {
		return orders.Ticket{Title: title, Price: price}
	}

	id, user := ticketkit.NewID(), ticketkit.NewID()
	created := wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(2000), UserID: user, Version: 0}
	updated := wire.TicketUpdated{ID: id, Title: "concert", Price: ticketkit.Cents(2500), UserID: user, Version: 1}

	// The update overtook the creation: refused, so the broker redelivers it.
	_, err = replica.Apply(ctx, id, updated.Version, copyOf(updated.Title, updated.Price))
	fmt.Println("update first, out of order:", errors.Is(err, events.ErrOutOfOrder))
	ord, err := replica.Apply(ctx, id, created.Version, copyOf(created.Title, created.Price))
	fmt.Println("create:", ord, err)
	ord, err = replica.Apply(ctx, id, updated.Version, copyOf(updated.Title, updated.Price))
	fmt.Println("update redelivered:", ord, err)
	ord, err = replica.Apply(ctx, id, created.Version, copyOf(created.Title, created.Price))
	fmt.Println("create redelivered:", ord, err)

	rec, err := replica.Get(ctx, id)
	fmt.Println(rec.Doc.Title, rec.Doc.Price, "version", rec.Version, err)

	// It prints:
	// update first, out of order: true
	// create: apply <nil>
	// update redelivered: apply <nil>
	// create redelivered: duplicate <nil>
	// concert 25.00 version 1 <nil>
}

// A consuming service's main wires its replica into two listeners of its
// queue group (wire.TicketCopies has the handlers); the Replica
// acknowledges applied and duplicate events and leaves early ones for
// redelivery. (It serves until SIGINT or SIGTERM, so it is compiled but
// not run; examples/orders-replica is the whole program.)
func ExampleReplica_listeners() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://orders-mongo-srv:27017"))
	if err != nil {
		logger.Error("MongoDB", "error", err)
		return
	}
	defer client.Disconnect(context.Background())
	copies, err := mongostore.NewReplica[orders.Ticket](client.Database("orders"), "tickets", mongostore.WithLogger(logger))
	if err == nil {
		err = copies.EnsureIndexes(ctx)
	}
	replica := wire.TicketCopies{Replica: copies}
	if err != nil {
		logger.Error("replica", "error", err)
		return
	}
	nc, err := streaming.Connect(ctx, natsclient.Config{
		ClusterID: "ticketing", ClientID: "orders-1", URLs: []string{"nats://nats-srv:4222"}, Logger: logger,
	})
	if err != nil {
		logger.Error("NATS Streaming", "error", err)
		return
	}
	defer nc.Close(context.Background())

	// The two lines.
	created, err := events.Listen(ctx, nc, "orders-service", replica.OnTicketCreated, events.DeliverAll())
	if err != nil {
		logger.Error("listen", "error", err)
		return
	}
	updated, err := events.Listen(ctx, nc, "orders-service", replica.OnTicketUpdated, events.DeliverAll())
	if err != nil {
		_ = created.Close(context.Background())
		logger.Error("listen", "error", err)
		return
	}

	<-ctx.Done()
	// The listeners first, so that running handlers finish and acknowledge;
	// then (deferred) the broker and the database.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = created.Close(shutdown)
	_ = updated.Close(shutdown)
}
