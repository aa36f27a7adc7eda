package jsclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/wire"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
)

// A service on JetStream: configuration from the environment
// (NATS_JETSTREAM_URL or NATS_URL, see FromEnv), which also provisions the
// cluster's stream; a listener in the service's queue group; and a
// graceful shutdown.
func Example() {
	cfg, err := jsclient.FromEnv(os.Getenv, jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := jsclient.Connect(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}

	id := ticketkit.NewID()
	got := make(chan wire.TicketCreated, 1)
	listener, err := events.Listen(ctx, client, "example-orders-service",
		func(ctx context.Context, e wire.TicketCreated, meta events.Metadata) error {
			if e.ID == id { // the stream is shared: ignore others' tickets
				got <- e
			}
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}

	pub, err := events.NewPublisher[wire.TicketCreated](client)
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Publish(ctx, wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(4200), UserID: "user-1"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("received", (<-got).Title)

	// Shutdown: the listener first (running handlers finish, the durable
	// keeps its position), then the client (publishes get their acks).
	if err := listener.Close(ctx); err != nil {
		log.Fatal(err)
	}
	if err := client.Close(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Status())
	// Output:
	// received concert
	// closed
}

// The bridge during a migration: a service still on NATS Streaming
// publishes, and a service already on JetStream receives it.
func ExampleStartBridge() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stanCfg := natsclient.Config{ClusterID: os.Getenv("NATS_CLUSTER_ID"), ClientID: "example-bridge", URLs: []string{os.Getenv("NATS_URL")}}
	stan, err := streaming.Connect(ctx, stanCfg)
	if err != nil {
		log.Fatal(err)
	}
	jsCfg, err := jsclient.FromEnv(os.Getenv, jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
	if err != nil {
		log.Fatal(err)
	}
	js, err := jsclient.Connect(ctx, jsCfg)
	if err != nil {
		log.Fatal(err)
	}
	bridge, err := jsclient.StartBridge(ctx, stan, js, jsclient.BridgeConfig{
		Subjects: []string{string(wire.SubjectTicketCreated)},
		Durable:  "example-bridge",
	})
	if err != nil {
		log.Fatal(err)
	}

	// The consumer, moved to JetStream.
	id := ticketkit.NewID()
	got := make(chan events.Metadata, 1)
	listener, err := events.Listen(ctx, js, "example-bridged-service",
		func(ctx context.Context, e wire.TicketCreated, meta events.Metadata) error {
			if e.ID == id {
				got <- meta
			}
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}

	// The publisher, still on NATS Streaming.
	stanCfg.ClientID = "example-stan-publisher"
	oldService, err := streaming.Connect(ctx, stanCfg)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := events.NewPublisher[wire.TicketCreated](oldService)
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Publish(ctx, wire.TicketCreated{ID: id, Title: "concert", Price: ticketkit.Cents(4200), UserID: "user-1"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("received on JetStream:", (<-got).Subject)

	for _, closer := range []interface{ Close(context.Context) error }{listener, bridge, oldService, js, stan} {
		if err := closer.Close(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// received on JetStream: ticket:created
}
