// Package backend runs the cluster's whole back end in one process: the
// auth, tickets, orders, payments and expiration services on ticketkit,
// each with its own database, on one broker, behind a gateway that routes
// as the cluster's ingress does (/api/users, /api/tickets, /api/orders,
// /api/payments; everything else is the client's, here a 404 that says
// so). Command cluster runs it; tests run it too.
//
// In memory by default: one in-memory broker and an in-memory database
// per service. With MONGO_URI and NATS_URL (or NATS_JETSTREAM_URL and
// NATS_TRANSPORT=jetstream) it runs on those servers instead, each
// service on the database named after it on that MongoDB (auth, tickets,
// orders, payments, expiration: MONGO_URI's path is ignored), as the
// manifests have them. The variables each service reads apply to all of
// them (JWT_KEY, STRIPE_KEY, REQUEST_TIMEOUT, ...).
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/examples/auth-service/authsvc"
	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/examples/orders-service/ordersvc"
	"github.com/ticketkit/ticketkit/examples/payments-service/paymentsvc"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
)

// A part is one service of the back end: its name, the database the
// manifests give it, the path its routes are under ("" for none), and its
// build.
type part struct {
	name, database, prefix string
	build                  func(getenv func(string) string) (service.Build, error)
}

func fixed(b service.Build) func(func(string) string) (service.Build, error) {
	return func(func(string) string) (service.Build, error) { return b, nil }
}

var parts = []part{
	{authsvc.Name, "auth", "/api/users", authsvc.FromEnv},
	{ticketsvc.Name, "tickets", "/api/tickets", fixed(ticketsvc.Build)},
	{ordersvc.Name, "orders", "/api/orders", fixed(ordersvc.Build)},
	{paymentsvc.Name, "payments", "/api/payments", payments},
	{expirationsvc.Name, "expiration", "", fixed(expirationsvc.Build)},
}

// payments is the payments service charging through Stripe when
// STRIPE_KEY is set (STRIPE_API_BASE too), else as paymentsvc decides.
func payments(getenv func(string) string) (service.Build, error) {
	if getenv("STRIPE_KEY") == "" {
		return paymentsvc.New()
	}
	c, err := stripecharger.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return paymentsvc.New(paymentsvc.WithCharger(c))
}

// Option configures Start.
type Option func(*settings)

type settings struct{ suffix string }

// Isolated suffixes every service's database and queue group with
// suffix, so that runs sharing servers (tests) don't share data or
// messages.
func Isolated(suffix string) Option { return func(s *settings) { s.suffix = suffix } }

// Backend is the running back end.
type Backend struct {
	services []*service.Service
	handler  http.Handler
	memory   bool
}

// Start starts every service with the environment getenv reads, logging
// to log. On failure it stops what it started.
func Start(ctx context.Context, getenv func(string) string, log *slog.Logger, opts ...Option) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var set settings
	for _, o := range opts {
		if o != nil {
			o(&set)
		}
	}
	b := &Backend{}
	var broker *memtransport.Broker
	mux := http.NewServeMux()
	for _, p := range parts {
		env, err := envOf(p, getenv, set.suffix)
		if err != nil {
			return nil, errors.Join(err, b.Shutdown(ctx))
		}
		cfg, err := service.FromEnv(p.name, env)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", p.name, err), b.Shutdown(ctx))
		}
		if set.suffix != "" {
			cfg.QueueGroup += "-" + set.suffix
		}
		plog := log.With("service", p.name)
		var backends *service.Backends
		if cfg.InMemory() {
			if broker == nil {
				broker = memtransport.NewBroker()
			}
			b.memory = true
			backends = service.Memory(memstore.NewDB(), broker.Connect())
		} else if backends, err = service.Open(ctx, cfg, plog); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", p.name, err), b.Shutdown(ctx))
		}
		s, err := service.Start(ctx, cfg, plog, backends)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", p.name, err), backends.Close(ctx), b.Shutdown(ctx))
		}
		b.services = append(b.services, s)
		build, err := p.build(env)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", p.name, err), b.Shutdown(ctx))
		}
		api, err := build(ctx, s)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", p.name, err), b.Shutdown(ctx))
		}
		h := s.Handler(api)
		if p.prefix != "" {
			mux.Handle(p.prefix+"/", h)
			mux.Handle(p.prefix, h)
		}
		mux.Handle("/"+p.database+"/", http.StripPrefix("/"+p.database, probesOnly(h)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteErrors(w, http.StatusNotFound, httpapi.Problem{Message: "Not Found: the cluster's client serves this path; the back end serves /api/users, /api/tickets, /api/orders and /api/payments"})
	})
	b.handler = mux
	return b, nil
}

// probesOnly lets through a service's /healthz and /readyz, under its
// database's name (/orders/readyz).
func probesOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			httpapi.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// envOf is getenv as service p reads it: its own database on MONGO_URI's
// server, and a NATS client id of its own.
func envOf(p part, getenv func(string) string, suffix string) (func(string) string, error) {
	uri := getenv("MONGO_URI")
	if uri != "" {
		u, err := url.Parse(uri)
		if err != nil {
			return nil, fmt.Errorf("MONGO_URI: %w", err)
		}
		u.Path = "/" + p.database
		if suffix != "" {
			u.Path += "_" + suffix
		}
		uri = u.String()
	}
	return func(k string) string {
		switch k {
		case "MONGO_URI":
			return uri
		case "NATS_CLIENT_ID", "NATS_NAME":
			if v := getenv(k); v != "" {
				return v + "-" + strings.TrimSuffix(p.name, "-service")
			}
			return ""
		}
		return getenv(k)
	}, nil
}

// Handler is the gateway: every service's routes, as the ingress routes
// them, and each service's probes under its database's name
// (/tickets/readyz).
func (b *Backend) Handler() http.Handler { return b.handler }

// InMemory reports whether the back end runs in memory.
func (b *Backend) InMemory() bool { return b.memory }

// Shutdown stops every service, within ctx, in the reverse order of
// their start.
func (b *Backend) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(b.services) - 1; i >= 0; i-- {
		errs = append(errs, b.services[i].Shutdown(ctx))
	}
	b.services = nil
	return errors.Join(errs...)
}
