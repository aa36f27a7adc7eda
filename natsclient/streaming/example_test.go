package streaming_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/wire"
)

// A service's main: connect, consume an event type with a typed listener
// until SIGINT or SIGTERM, then shut down gracefully. The client reconnects
// and re-subscribes by itself meanwhile; main only handles errors it is
// given. (It needs a server, so it is compiled but not run.)
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// A broker that isn't up yet is waited for, within a minute or until
	// the service is told to stop.
	connectCtx, cancel := context.WithTimeout(ctx, time.Minute)
	client, err := streaming.Connect(connectCtx, natsclient.Config{
		ClusterID: "ticketing",
		ClientID:  "orders-" + os.Getenv("POD_INDEX"), // one per replica
		URLs:      []string{"nats://nats-srv:4222"},
		Logger:    logger,
		OnStateChange: func(s natsclient.State, cause error) {
			logger.Info("broker connection", "state", s, "cause", cause)
		},
	})
	cancel()
	if err != nil {
		logger.Error("connecting to NATS Streaming", "error", err)
		os.Exit(1) // main's decision; the client itself never exits
	}

	listener, err := events.Listen(ctx, client, "orders-service",
		func(ctx context.Context, e wire.TicketCreated, meta events.Metadata) error {
			logger.Info("ticket created", "id", e.ID, "price", e.Price, "sequence", meta.Sequence)
			return nil // acknowledged; an error would have it redelivered
		},
		events.DeliverAll(), events.WithLogger(logger))
	if err != nil {
		logger.Error("subscribing", "error", err)
		os.Exit(1)
	}

	<-ctx.Done()
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The listener first, so its running handlers finish and acknowledge;
	// then the client, which keeps the durable subscription for the next
	// start.
	if err := listener.Close(shutdown); err != nil {
		logger.Warn("closing the listener", "error", err)
	}
	if err := client.Close(shutdown); err != nil {
		logger.Warn("closing the NATS Streaming client", "error", err)
	}
}
