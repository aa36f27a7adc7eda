package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/tickets"
)

// run is the whole program; main only adds the signals and the exit code.
// It returns nil after a clean shutdown, which starts when ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		if args[1] == "token" {
			return tokenCommand(args[2:], getenv, stdout)
		}
		return fmt.Errorf("unknown argument %q; usage: tickets-service [token -id ID -email EMAIL]", args[1])
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	metrics, stopTelemetry, err := telemetry.Setup(serviceName, getenv, os.Stderr)
	if err != nil {
		return err
	}
	defer flushTelemetry(stopTelemetry)
	return runService(ctx, cfg, service.NewLogger(stdout, getenv("LOG_LEVEL")), service.WithMetricsHandler(metrics))
}

// flushTelemetry sends what the exporters still hold, within a bound.
func flushTelemetry(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = stop(ctx)
}

// runService starts the service as cfg says and serves until ctx is done.
func runService(ctx context.Context, cfg config, log *slog.Logger, opts ...service.Option) error {
	return service.Run(ctx, cfg.Config, log, func(ctx context.Context, s *service.Service) (http.Handler, error) {
		store, err := ticketStore(ctx, s.Backends(), log)
		if err != nil {
			return nil, err
		}
		a, err := build(ctx, cfg, s, store)
		if err != nil {
			return nil, err
		}
		return a.api, nil
	}, opts...)
}

// backends are the shared ones and the tickets store on them.
type backends struct {
	*service.Backends
	store tickets.Store
}

// memoryBackends keep everything in the process, with the transport given
// (tests wrap one in an eventstest.Recorder).
func memoryBackends(t events.Transport) *backends {
	b := service.Memory(nil, t)
	return &backends{Backends: b, store: memstore.NewStore(b.Memory)}
}

// openBackends connects to what cfg names, with the tickets store on it.
func openBackends(ctx context.Context, cfg config, log *slog.Logger) (*backends, error) {
	b, err := service.Open(ctx, cfg.Config, log)
	if err != nil {
		return nil, err
	}
	store, err := ticketStore(ctx, b, log)
	if err != nil {
		return nil, errors.Join(err, b.Close(context.WithoutCancel(ctx)))
	}
	return &backends{Backends: b, store: store}, nil
}

// ticketStore is the tickets store on b: MongoDB's, with its indexes, or
// the in-memory one.
func ticketStore(ctx context.Context, b *service.Backends, log *slog.Logger) (tickets.Store, error) {
	if b.Mongo == nil {
		return memstore.NewStore(b.Memory), nil
	}
	store, err := mongostore.New(b.Mongo.Outbox, mongostore.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return store, store.EnsureIndexes(ctx)
}

// app is the tickets service on a running service.Service: the use cases,
// their listeners and the routes.
type app struct {
	*service.Service
	svc     *tickets.Service
	api     http.Handler // the routes alone
	handler http.Handler // the routes with the probes, limits and logs
}

// startService starts the shared machinery on b, then the listeners, and
// builds the HTTP handler; serve then serves it. hooks receive the
// listeners' and the relay's measurements.
func startService(ctx context.Context, cfg config, log *slog.Logger, b *backends, hooks events.Hooks) (*app, error) {
	s, err := service.Start(ctx, cfg.Config, log, b.Backends, service.WithHooks(hooks))
	if err != nil {
		return nil, err
	}
	a, err := build(ctx, cfg, s, b.store)
	if err != nil {
		return nil, errors.Join(err, s.Shutdown(context.WithoutCancel(ctx)))
	}
	return a, nil
}

// build adds what is the tickets service's own to s.
func build(ctx context.Context, cfg config, s *service.Service, store tickets.Store) (*app, error) {
	svc, err := tickets.NewService(store)
	if err != nil {
		return nil, err
	}
	a := &app{Service: s, svc: svc}
	if err := startListeners(ctx, cfg, s, a.svc); err != nil {
		return nil, err
	}
	a.api = (&api{svc: a.svc, auth: s.Verifier(), log: s.Logger()}).routes()
	a.handler = s.Handler(a.api)
	return a, nil
}

// serve serves HTTP on ln until ctx is done, then shuts down in order.
func serve(ctx context.Context, a *app, ln net.Listener) error {
	return a.Serve(ctx, ln, a.handler)
}
