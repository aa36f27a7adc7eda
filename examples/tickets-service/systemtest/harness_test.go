package systemtest

// The system tests' harness: the service as its main runs it (run,
// through service.Run and ticketsvc's Build), and instances on backends
// the tests open and break themselves (openBackends, startService),
// with the tickets store beside them for seeding. Only the exported API
// of ticketsvc, service and the stores is used.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const serviceName = ticketsvc.Name

type config struct {
	service.Config
	reservedRetries int
}

func loadConfig(getenv func(string) string) (config, error) {
	c, err := service.FromEnv(serviceName, getenv)
	return config{Config: c, reservedRetries: 12}, err
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("unknown argument %q; usage: tickets-service [token -id ID -email EMAIL]", args[1])
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	return runService(ctx, cfg, service.NewLogger(stdout, getenv("LOG_LEVEL")), service.WithTelemetry(telemetry.FromEnv(getenv, os.Stderr)))
}

// buildOf is the tickets service's Build with cfg's settings.
func buildOf(cfg config) service.Build {
	build, err := ticketsvc.New(ticketsvc.ReservedRetries(cfg.reservedRetries))
	if err != nil {
		panic(err) // the tests' settings are valid
	}
	return build
}

func runService(ctx context.Context, cfg config, log *slog.Logger, opts ...service.Option) error {
	return service.Run(ctx, cfg.Config, log, buildOf(cfg), opts...)
}

type backends struct {
	*service.Backends
	store tickets.Store
}

func memoryBackends(t events.Transport) *backends {
	b := service.Memory(nil, t)
	store, err := storeOn(context.Background(), b)
	if err != nil {
		panic(err) // nothing in memory can fail
	}
	return &backends{Backends: b, store: store}
}

func openBackends(ctx context.Context, cfg config, log *slog.Logger) (*backends, error) {
	b, err := service.Open(ctx, cfg.Config, log)
	if err != nil {
		return nil, err
	}
	store, err := storeOn(ctx, b)
	if err != nil {
		return nil, errors.Join(err, b.Close(context.WithoutCancel(ctx)))
	}
	return &backends{Backends: b, store: store}, nil
}

type app struct {
	*service.Service
	api     http.Handler
	handler http.Handler
}

func startService(ctx context.Context, cfg config, log *slog.Logger, b *backends, hooks events.Hooks) (*app, error) {
	s, err := service.Start(ctx, cfg.Config, log, b.Backends, service.WithHooks(hooks))
	if err != nil {
		return nil, err
	}
	api, err := buildOf(cfg)(ctx, s)
	if err != nil {
		return nil, errors.Join(err, s.Shutdown(context.WithoutCancel(ctx)))
	}
	return &app{Service: s, api: api, handler: s.Handler(api)}, nil
}

func serve(ctx context.Context, a *app, ln net.Listener) error {
	return a.Serve(ctx, ln, a.handler)
}

// storeOn is the tickets store on b, before a Service owns it (what
// service.Collection does once one does).
func storeOn(ctx context.Context, b *service.Backends) (tickets.Store, error) {
	if b.Mongo == nil {
		c, err := memstore.NewCollection[ticketstore.Doc](b.Memory, ticketstore.Name)
		if err != nil {
			return nil, err
		}
		return ticketstore.New(c), nil
	}
	c, err := mongostore.NewCollection[ticketstore.Doc](b.Mongo.Outbox, ticketstore.Name)
	if err != nil {
		return nil, err
	}
	models := []mongo.IndexModel{
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}},
	}
	return ticketstore.New(c), c.EnsureIndexes(ctx, models...)
}
