// Command pubsub is the smallest ticketkit publisher and listener pair: it
// listens for ticket:created, publishes one TicketCreated and prints what
// the listener got. NATS_TRANSPORT picks the broker, with the same
// subjects and code on both:
//
//   - stan (the default): NATS Streaming at NATS_URL (NATS_CLUSTER_ID
//     defaults to ticketing, the cluster's, as `make dev` serves);
//   - jetstream: JetStream at NATS_JETSTREAM_URL, else NATS_URL, configured
//     by jsclient.FromEnv (which provisions the cluster's stream).
//
// Without the chosen transport's URL it runs in memory.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/wire"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	transport, err := connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer transport.Close(context.WithoutCancel(ctx))

	sent := wire.TicketCreated{ID: ticketkit.NewID(), Title: "concert", Price: ticketkit.Cents(2000), UserID: ticketkit.NewID()}
	got := make(chan wire.TicketCreated, 1)
	listener, err := events.Listen(ctx, transport, "pubsub-example",
		func(_ context.Context, e wire.TicketCreated, _ events.Metadata) error {
			if e.ID == sent.ID { // a shared broker may hold others' tickets
				got <- e
			}
			return nil // acknowledge
		})
	if err != nil {
		return err
	}
	defer listener.Close(ctx)

	publisher, err := events.NewPublisher[wire.TicketCreated](transport)
	if err != nil {
		return err
	}
	if err := publisher.Publish(ctx, sent); err != nil {
		return err
	}
	select {
	case e := <-got:
		fmt.Fprintf(out, "received %s: %+v\n", e.Subject(), e)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nothing received: %w", ctx.Err())
	}
}

// connect returns the transport NATS_TRANSPORT names if its server's URL
// is set, else an in-memory broker with the same semantics.
func connect(ctx context.Context, getenv func(string) string) (events.Transport, error) {
	switch transport := getenv("NATS_TRANSPORT"); transport {
	case "", "stan":
		url := getenv("NATS_URL")
		if url == "" {
			return memtransport.New(), nil
		}
		cluster := getenv("NATS_CLUSTER_ID")
		if cluster == "" {
			cluster = "ticketing"
		}
		nc, err := streaming.Connect(ctx, natsclient.Config{
			ClusterID: cluster,
			ClientID:  "pubsub-" + ticketkit.NewID(), // unique: one live connection per id
			URLs:      []string{url},
		})
		if err != nil {
			return nil, err
		}
		return nc, nil
	case "jetstream":
		if getenv(jsclient.EnvJetStreamURL) == "" && getenv(natsclient.EnvURL) == "" {
			return memtransport.New(), nil
		}
		cfg, err := jsclient.FromEnv(getenv, jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
		if err != nil {
			return nil, err
		}
		js, err := jsclient.Connect(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return js, nil
	default:
		return nil, fmt.Errorf("NATS_TRANSPORT %q is not one of stan (NATS Streaming, the default) or jetstream", transport)
	}
}
