package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/session"
)

// OutboxStale is the age of the oldest unpublished event past which a
// service reports itself not ready: its events reach the cluster that late.
const OutboxStale = 30 * time.Second

// Service is a running service's shared machinery over one set of
// Backends: the outbox relay, the listeners, the token verifier, the
// probes and the ordered shutdown. What is specific to the service, its
// stores, handlers and routes, is built on it.
type Service struct {
	cfg      Config
	log      *slog.Logger
	b        *Backends
	hooks    events.Hooks
	metrics  http.Handler
	verifier *session.Verifier
	limiter  *httpapi.Limiter

	relay     *outbox.Relay
	stopRelay context.CancelFunc
	relayDone chan struct{}

	mu        sync.Mutex
	listeners []*events.Listener
	stopping  atomic.Bool
	shutOnce  sync.Once
	shutErr   error
}

// Option configures a service: Start, Run and Main take the same ones.
type Option func(*settings) error

type settings struct {
	hooks     events.Hooks
	metrics   http.Handler
	telemetry Telemetry
}

// WithHooks gives the listeners' and the relay's measurements to h.
func WithHooks(h events.Hooks) Option {
	return func(o *settings) error { o.hooks = h; return nil }
}

// WithMetricsHandler serves h at GET /metrics, beside the probes and
// outside the request limit (a scrape of an overloaded service must get
// through): a Prometheus exporter's handler, say. Nil is refused.
func WithMetricsHandler(h http.Handler) Option {
	return func(o *settings) error {
		if h == nil {
			return errors.New("service: WithMetricsHandler(nil)")
		}
		o.metrics = h
		return nil
	}
}

func applyOptions(opts []Option) (settings, error) {
	var o settings
	for _, opt := range opts {
		if opt == nil {
			return o, errors.New("service: nil Option")
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Start starts the outbox relay on b and returns the Service, which owns
// b from then on: Shutdown closes it. Listen adds listeners, Handler
// wraps the routes and Serve serves them.
func Start(ctx context.Context, cfg Config, log *slog.Logger, b *Backends, opts ...Option) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if b == nil {
		return nil, errors.New("service: backends are nil")
	}
	verifier, err := session.NewVerifier(cfg.JWTKey)
	if err != nil {
		return nil, err
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, b: b, hooks: o.hooks, metrics: o.metrics, verifier: verifier, relayDone: make(chan struct{})}
	// One limit for the service, whose shedding /readyz reports as the
	// check "load": a replica that refuses much of what it gets is
	// better left out of the balancer's rotation for a while.
	s.limiter = httpapi.NewLimiter(cfg.RequestTimeout, cfg.MaxInFlight)
	b.AddCheck("load", s.limiter.Ready)
	relay, err := outbox.NewRelay(b.Outbox, b.Transport, outbox.WithLogger(log))
	if err != nil {
		return nil, err
	}
	s.relay = relay
	b.AddCheck("listeners", s.listenersProgress)
	// The relay outlives ctx (the start-up context): it stops in
	// Shutdown, after the last write has been flushed.
	var relayCtx context.Context
	relayCtx, s.stopRelay = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.relayDone)
		_ = relay.Run(relayCtx) // returns nil when stopped; it retries failures itself
	}()
	return s, nil
}

// Config returns the configuration the service started with.
func (s *Service) Config() Config { return s.cfg }

// Logger returns the service's logger.
func (s *Service) Logger() *slog.Logger { return s.log }

// Backends returns the backends the service runs on.
func (s *Service) Backends() *Backends { return s.b }

// Verifier checks the cluster's session tokens with the service's JWT key.
func (s *Service) Verifier() *session.Verifier { return s.verifier }

// Relay returns the outbox relay.
func (s *Service) Relay() *outbox.Relay { return s.relay }

// Listen starts a listener of h's subject in the service's queue group,
// with the cluster's settings: every message from the start of the
// channel, the service's ack wait, a dead-letter subject of its own
// (Config.DeadLetterSubject), the service's logger and hooks. opts come
// after those, so they override them. Shutdown closes it.
//
// A listener that makes no progress while messages wait (see
// events.Listener.Stalled; events.StallAfter, 2 minutes by default) makes
// /readyz answer 503 with the check "listeners" unavailable, and logs a
// Warn: the service's copy of another's data is falling behind, and a
// stall that lasts is worth an operator's look (or a restart), not more
// traffic. Early events that wait for their predecessor count as waiting
// until they are applied or parked (events.MaxOutOfOrderDeliveries).
func Listen[E events.Event](ctx context.Context, s *Service, h events.Handler[E], opts ...events.ListenerOption) error {
	var zero E
	subject := zero.Subject()
	all := append([]events.ListenerOption{
		events.DeliverAll(),
		events.AckWait(s.cfg.AckWait),
		events.DeadLetterSubject(s.cfg.DeadLetterSubject(string(subject))),
		events.WithLogger(s.log.With("listener", string(subject))),
		events.WithHooks(s.hooks),
	}, opts...)
	l, err := events.Listen(ctx, s.b.Transport, s.cfg.QueueGroup, h, all...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	return nil
}

// listenersProgress is the readiness check of the listeners: an error
// naming those that are stalled.
func (s *Service) listenersProgress(context.Context) error {
	s.mu.Lock()
	ls := slices.Clone(s.listeners)
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.Stalled(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Handler returns the service's HTTP handler: the probes /healthz and
// /readyz, and api behind the service's httpapi.Limiter (the request
// deadline and load shedding of Config.RequestTimeout and MaxInFlight)
// and httpapi.Idempotent (an Idempotency-Key makes a POST safe to retry,
// per signed-in user, for idempotency.DefaultTTL),
// all logged by httpapi.LogRequests. The probes are outside the limit:
// an overloaded service is alive, and says so; /readyz says it is not
// ready while the limiter sheds (httpapi.Limiter.Ready's rule). Every
// handler Handler returns shares the one limit.
func (s *Service) Handler(api http.Handler) http.Handler {
	top := http.NewServeMux()
	top.HandleFunc("GET /healthz", s.healthz)
	top.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		top.Handle("GET /metrics", s.metrics)
	}
	top.Handle("/", s.limiter.Handler(httpapi.Idempotent(api, s.caller, 0)))
	return httpapi.LogRequests(s.log, top)
}

// caller is the scope of a request's idempotency key: its signed-in
// user, or "" for none (a create refuses those anyway).
func (s *Service) caller(r *http.Request) string {
	u, err := s.verifier.User(r)
	if err != nil {
		return ""
	}
	return u.ID
}

// healthz says the process serves HTTP: Kubernetes restarts it otherwise.
func (s *Service) healthz(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyTimeout bounds /readyz's checks: a database or broker that doesn't
// answer a ping within it (a frozen server, whose connection looks fine)
// makes the service unready at the first probe after it froze.
const ReadyTimeout = 2 * time.Second

// readyz says whether to route traffic here: the database and the broker
// answer a ping within ReadyTimeout, the outbox is not behind, the API
// is not shedding load and no shutdown has begun. It names failing checks but not their errors,
// which go to the log.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	status := map[string]string{}
	ready := !s.stopping.Load()
	if !ready {
		status["shutdown"] = "in progress"
	}
	st := s.relay.Stats()
	status["outbox"] = fmt.Sprintf("backlog %d, oldest %v", st.Backlog, st.Oldest.Round(time.Millisecond))
	if st.Oldest > OutboxStale {
		ready = false
		s.log.Warn("readiness: the outbox is behind", "backlog", st.Backlog, "oldest", st.Oldest)
	}
	// The checks run side by side, each within the same budget, so a
	// slow one doesn't eat another's.
	errs := make([]error, len(s.b.checks))
	var wg sync.WaitGroup
	for i, c := range s.b.checks {
		wg.Go(func() { errs[i] = c.OK(ctx) })
	}
	wg.Wait()
	for i, c := range s.b.checks {
		if err := errs[i]; err != nil {
			ready = false
			status[c.Name] = "unavailable"
			s.log.Warn("readiness check failed", "check", c.Name, "error", err)
		} else {
			status[c.Name] = "ok"
		}
	}
	if !ready {
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": status})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": status})
}

// Serve serves h on ln until ctx is done (or ln fails), then shuts down:
// HTTP first, then the rest in Shutdown's order, all within
// Config.ShutdownTimeout. It returns nil if all of it went well.
func (s *Service) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// The whole request, the body too: the limiter reads a body
		// before the request takes a place, so a slow client costs its
		// connection for this long at most, and no one else's place.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	// net/http refuses some requests before any handler: log those too.
	go func() { served <- srv.Serve(httpapi.LogRejections(ln, s.log)) }()
	s.log.Info("listening", "addr", ln.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		s.log.Error("HTTP server failed", "error", serveErr)
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()

	s.stopping.Store(true)
	// Stop accepting and let running requests finish: their writes land
	// in the outbox, which the relay flushes in Shutdown.
	httpErr := srv.Shutdown(sctx)
	if serveErr == nil {
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr = err
			}
		case <-sctx.Done():
		}
	}
	if httpErr != nil {
		httpErr = fmt.Errorf("drain HTTP: %w", httpErr)
	}
	err := errors.Join(serveErr, httpErr, s.Shutdown(sctx))
	if err != nil {
		s.log.Error("shutdown incomplete", "error", err)
		return err
	}
	s.log.Info("stopped cleanly")
	return nil
}

// Shutdown stops everything but HTTP, in dependency order, within ctx:
// listeners first (their running handlers finish and write to the outbox;
// new deliveries stay unacknowledged for another replica), then the
// outbox is flushed so every committed change is published, then the
// relay stops, then the broker connection and the database close. Later
// calls return the first one's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Service) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	var errs []error
	s.mu.Lock()
	listeners := s.listeners
	s.mu.Unlock()
	for _, l := range listeners {
		if err := l.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Close publishes what is left and retires this writer's lease; what
	// it can't publish in time stays in the database, and another replica
	// takes it over once the lease goes stale.
	if err := s.relay.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.stopRelay()
	select {
	case <-s.relayDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("outbox relay did not stop: %w", ctx.Err()))
	}
	if err := s.b.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Abandon stops the service as a crash would, for tests of what the
// other replicas do then: the relay stops where it is, without flushing or
// retiring its lease, and the listeners and backends close within ctx.
// The Service is unusable afterwards; Shutdown returns Abandon's result.
func (s *Service) Abandon(ctx context.Context) error {
	s.shutOnce.Do(func() {
		s.stopping.Store(true)
		s.stopRelay()
		var errs []error
		select {
		case <-s.relayDone:
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		s.mu.Lock()
		listeners := s.listeners
		s.mu.Unlock()
		for _, l := range listeners {
			errs = append(errs, l.Close(ctx))
		}
		s.shutErr = errors.Join(append(errs, s.b.Close(ctx))...)
	})
	return s.shutErr
}

// Run is a whole service: it opens the backends cfg names, starts the
// Service, lets build add the service's own stores, listeners and routes
// (build returns the API handler, which Handler wraps), listens on
// cfg.Port and serves until ctx is done. It returns nil after a clean
// shutdown, also when ctx ended during start-up.
func Run(ctx context.Context, cfg Config, log *slog.Logger, build Build, opts ...Option) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	if o.telemetry != nil {
		metrics, stop, err := o.telemetry(cfg.Name)
		if err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
		defer func() {
			// What the exporters still hold, within a bound of its own:
			// ctx is over by now.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := stop(ctx); err != nil {
				log.Warn("telemetry did not flush", "error", err)
			}
		}()
		if metrics != nil {
			opts = append(opts[:len(opts):len(opts)], WithMetricsHandler(metrics))
		}
	}
	b, err := Open(ctx, cfg, log)
	if err != nil {
		return startupError(ctx, err)
	}
	// Cleaning up after a failed start gets the same time as a shutdown,
	// even when the failure was ctx ending.
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	s, err := Start(ctx, cfg, log, b, opts...)
	if err != nil {
		return startupError(ctx, errors.Join(err, b.Close(cleanup)))
	}
	api, err := build(ctx, s)
	if err != nil {
		return startupError(ctx, errors.Join(err, s.Shutdown(cleanup)))
	}
	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return errors.Join(err, s.Shutdown(cleanup))
	}
	return s.Serve(ctx, ln, s.Handler(api))
}

// startupError is nil when start-up failed only because a signal asked
// the service to stop: that is a clean stop, not a failure.
func startupError(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// NewLogger logs JSON lines, which the cluster's log collection parses, at
// level ("debug", "info", "warn" or "error"; info when empty or unknown,
// which it warns about). A line logged with a context names its trace
// and span (trace_id, span_id) and its correlation id, when it has them.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	err := l.UnmarshalText([]byte(level))
	log := slog.New(TraceHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
	if err != nil && level != "" {
		log.Warn("LOG_LEVEL is not debug, info, warn or error; logging at info", "LOG_LEVEL", level)
	}
	return log
}

// TraceHandler wraps h so that each record logged with a context gets
// that context's trace_id, span_id and correlation_id.
func TraceHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if id := events.CorrelationID(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
