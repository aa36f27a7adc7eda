package ticketsvc

// What the tests used from the command's old package main, kept for the
// tests only until they are ported onto service/servicetest.

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

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const serviceName = Name

type config struct {
	service.Config
	reservedRetries int
}

func loadConfig(getenv func(string) string) (config, error) {
	c, err := service.FromEnv(serviceName, getenv)
	return config{Config: c, reservedRetries: defaultReservedRetries}, err
}

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
	return runService(ctx, cfg, service.NewLogger(stdout, getenv("LOG_LEVEL")), service.WithTelemetry(telemetry.FromEnv(getenv, os.Stderr)))
}

func tokenCommand(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "-bogus" {
		return errors.New("flag provided but not defined: -bogus")
	}
	id, email := ticketkit.NewID(), "dev@example.com"
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-id":
			id = args[i+1]
		case "-email":
			email = args[i+1]
		}
	}
	key := getenv("JWT_KEY")
	if key == "" {
		key = service.DevJWTKey
	}
	tk, err := session.Mint([]byte(key), session.User{ID: id, Email: email}, time.Now(), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nCookie: %s\nAuthorization: Bearer %s\n", tk, session.CookieHeader(tk), tk)
	return nil
}

func runService(ctx context.Context, cfg config, log *slog.Logger, opts ...service.Option) error {
	return service.Run(ctx, cfg.Config, log, func(ctx context.Context, s *service.Service) (http.Handler, error) {
		return build(ctx, s, cfg.reservedRetries)
	}, opts...)
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
	svc     *tickets.Service
	api     http.Handler
	handler http.Handler
}

func startService(ctx context.Context, cfg config, log *slog.Logger, b *backends, hooks events.Hooks) (*app, error) {
	s, err := service.Start(ctx, cfg.Config, log, b.Backends, service.WithHooks(hooks))
	if err != nil {
		return nil, err
	}
	a, err := buildWith(ctx, cfg, s, b.store)
	if err != nil {
		return nil, errors.Join(err, s.Shutdown(context.WithoutCancel(ctx)))
	}
	return a, nil
}

func buildWith(ctx context.Context, cfg config, s *service.Service, store tickets.Store) (*app, error) {
	svc, err := tickets.NewService(store)
	if err != nil {
		return nil, err
	}
	a := &app{Service: s, svc: svc}
	if err := startListeners(ctx, s, svc, cfg.reservedRetries); err != nil {
		return nil, err
	}
	a.api = (&api{svc: svc, auth: s.Verifier(), log: s.Logger()}).routes()
	a.handler = s.Handler(a.api)
	return a, nil
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
