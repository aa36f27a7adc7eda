package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/service"
)

const (
	serviceName     = "orders-service" // the queue group and durable name, as in the Node listeners
	defaultDatabase = "orders"         // the database the cluster's manifests name
)

// run is the whole program; main only adds the signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("unknown argument %q; orders-service takes none (tickets-service token mints a token)", args[1])
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, getenv("LOG_LEVEL"))
	metrics, stopTelemetry, err := telemetry.Setup(serviceName, getenv, os.Stderr)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTelemetry(ctx) // what the exporters still hold
	}()
	return service.Run(ctx, cfg, log, func(ctx context.Context, s *service.Service) (http.Handler, error) {
		a, err := build(ctx, s)
		if err != nil {
			return nil, err
		}
		return a.api, nil
	}, service.WithMetricsHandler(metrics))
}

func loadConfig(getenv func(string) string) (service.Config, error) {
	cfg, err := service.FromEnv(serviceName, getenv)
	cfg.Database = defaultDatabase
	return cfg, err
}

// ticketCopies is the service's copy of the tickets: what the use cases
// read and claim, and what the ticket listeners feed.
type ticketCopies interface {
	orders.Tickets
	ticketHandlers
}

// app is the orders service on a running service.Service.
type app struct {
	*service.Service
	svc     *orders.Service
	api     http.Handler // the routes alone
	handler http.Handler // with the probes, limits and logs
}

// build opens the stores on s's backends, starts the listeners and
// builds the routes.
func build(ctx context.Context, s *service.Service) (*app, error) {
	store, copies, err := stores(ctx, s.Backends(), s.Logger())
	if err != nil {
		return nil, err
	}
	a := &app{Service: s, svc: orders.NewService(store, copies)}
	if err := startListeners(ctx, s, a.svc, copies); err != nil {
		return nil, err
	}
	a.api = (&api{svc: a.svc, auth: s.Verifier(), log: s.Logger()}).routes()
	a.handler = s.Handler(a.api)
	return a, nil
}

// stores are the orders and the ticket copies on MongoDB, with their
// indexes, or in memory.
func stores(ctx context.Context, b *service.Backends, log *slog.Logger) (orders.Store, ticketCopies, error) {
	if b.Mongo == nil {
		return memstore.NewOrderStore(b.Memory), memstore.NewTicketReplica(), nil
	}
	store, err := mongostore.NewOrderStore(b.Mongo.Outbox, mongostore.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	copies, err := mongostore.NewTicketReplica(b.Mongo.DB, mongostore.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	if err := store.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	if err := copies.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	return store, copies, nil
}
