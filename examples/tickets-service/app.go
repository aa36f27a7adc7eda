package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/outbox"
	"github.com/ticketkit/ticketkit/session"
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
	return runService(ctx, cfg, newLogger(stdout, getenv("LOG_LEVEL")))
}

// runService starts the service as cfg says and serves until ctx is done.
func runService(ctx context.Context, cfg config, log *slog.Logger) error {
	b, err := openBackends(ctx, cfg, log)
	if err != nil {
		return startupError(ctx, err)
	}
	// Cleaning up after a failed start gets the same time as a shutdown,
	// even when the failure was ctx ending.
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	s, err := startService(ctx, cfg, log, b, events.Hooks{})
	if err != nil {
		return startupError(ctx, errors.Join(err, b.close(cleanup)))
	}
	ln, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		return errors.Join(err, s.shutdown(cleanup))
	}
	return serve(ctx, s, ln)
}

// startupError is nil when start-up failed only because a signal asked
// the service to stop: that is a clean stop, not a failure.
func startupError(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// newLogger logs JSON lines, which the cluster's log collection parses.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	err := l.UnmarshalText([]byte(level))
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	if err != nil && level != "" {
		log.Warn("LOG_LEVEL is not debug, info, warn or error; logging at info", "LOG_LEVEL", level)
	}
	return log
}

// backends are the store and the broker, with what readiness checks and
// shutdown need to know about them.
type backends struct {
	store     tickets.Store
	outbox    outbox.Driver
	transport events.Transport
	checks    []check
	closers   []func(context.Context) error // run in order by close
}

// check is one readiness condition.
type check struct {
	name string
	ok   func(context.Context) error
}

// close releases the backends in order (the broker before the database,
// see service.shutdown).
func (b *backends) close(ctx context.Context) error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// memoryBackends keep everything in the process, with the transport given
// (tests wrap one in an eventstest.Recorder).
func memoryBackends(t events.Transport) *backends {
	store, ob, err := memstore.New()
	if err != nil {
		panic(err) // only options can fail, and there are none
	}
	return &backends{store: store, outbox: ob, transport: t, closers: []func(context.Context) error{t.Close}}
}

// openBackends connects to MongoDB and NATS (Streaming or JetStream, as
// NATS_TRANSPORT says), or builds the in-memory ones when the
// configuration names neither.
func openBackends(ctx context.Context, cfg config, log *slog.Logger) (*backends, error) {
	if cfg.inMemory() {
		log.Warn("in-memory mode: MONGO_URI and NATS_URL are unset, so tickets and events live in this process only and are lost when it exits")
		if cfg.devJWTKey {
			log.Warn("JWT_KEY is unset: using the public development key; mint tokens with `tickets-service token`")
		}
		return memoryBackends(memtransport.New()), nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.startupTimeout)
	defer cancel()

	cs, err := connstring.ParseAndValidate(cfg.mongoURI)
	if err != nil {
		return nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = "tickets" // the database the cluster's manifests name
	}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.mongoURI))
	if err != nil {
		return nil, fmt.Errorf("MongoDB: %w", err)
	}
	disconnect := func(ctx context.Context) error {
		if err := client.Disconnect(ctx); err != nil {
			return fmt.Errorf("disconnect from MongoDB: %w", err)
		}
		return nil
	}
	// A failed start disconnects within its own bound: ctx may be over.
	giveUp := func(err error) (*backends, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, disconnect(dctx))
	}
	// Connect is lazy. Like the Node service, refuse to start without the
	// database, so a wrong URI shows up as a crash loop at deploy time.
	if err := client.Ping(ctx, nil); err != nil {
		return giveUp(fmt.Errorf("MongoDB at %s does not answer: %w", cs.Hosts, err))
	}
	// One writer per process: its lease tells the other replicas it is
	// alive, and which of its events it has published.
	ob, err := mongostore.NewOutbox(ctx, client.Database(dbName), mongostore.WithOutboxLogger(log))
	if err != nil {
		return giveUp(err)
	}
	store, err := mongostore.New(ob, mongostore.WithLogger(log))
	if err == nil {
		err = store.EnsureIndexes(ctx)
	}
	if err != nil {
		return giveUp(err)
	}
	log.Info("connected to MongoDB", "hosts", cs.Hosts, "database", dbName)

	broker, err := connectNATS(ctx, cfg, log)
	if err != nil {
		return giveUp(err)
	}
	return &backends{
		store:     store,
		outbox:    ob,
		transport: broker.transport,
		checks: []check{
			{"mongodb", func(ctx context.Context) error { return client.Ping(ctx, nil) }},
			{"nats", broker.check},
		},
		closers: []func(context.Context) error{broker.transport.Close, disconnect},
	}, nil
}

// natsBroker is a connected transport and its readiness condition.
type natsBroker struct {
	transport events.Transport
	check     func(context.Context) error
}

// connectNATS connects to the transport cfg.transport names. The subjects,
// queue groups and durables are the same on both, so the rest of the
// service doesn't know which it runs on.
func connectNATS(ctx context.Context, cfg config, log *slog.Logger) (natsBroker, error) {
	switch cfg.transport {
	case transportJetStream:
		jcfg := jetStreamConfig(cfg, log)
		js, err := jsclient.Connect(ctx, jcfg)
		if err != nil {
			return natsBroker{}, err
		}
		streams := make([]string, len(jcfg.Streams))
		for i, s := range jcfg.Streams {
			streams[i] = s.Name
		}
		log.Info("connected to JetStream", "name", jcfg.Name, "streams", streams)
		return natsBroker{js, func(context.Context) error {
			if s := js.Status(); s != natsclient.Connected {
				return fmt.Errorf("JetStream connection is %v", s)
			}
			return nil
		}}, nil
	default:
		scfg := cfg.stan
		scfg.Logger = log
		nc, err := streaming.Connect(ctx, scfg)
		if err != nil {
			return natsBroker{}, err
		}
		log.Info("connected to NATS Streaming", "cluster", scfg.ClusterID, "client", scfg.ClientID)
		return natsBroker{nc, func(context.Context) error {
			if s := nc.Status(); s != natsclient.Connected {
				return fmt.Errorf("NATS Streaming connection is %v", s)
			}
			return nil
		}}, nil
	}
}

// jetStreamConfig completes what jsclient.FromEnv read (cfg.js) with what
// depends on the service's own settings.
func jetStreamConfig(cfg config, log *slog.Logger) jsclient.Config {
	jcfg := cfg.js
	jcfg.Logger = log
	// The dead letters (deadLetterSubject: the prefix, a dot, the source
	// subject) need a stream to be published to, or each one fails and is
	// redelivered for ever. A stream of their own: every service
	// provisions the cluster's stream, and must give it the same subjects.
	// Unless no stream is provisioned (NATS_STREAM=-): streams, this one
	// too, are managed elsewhere.
	if len(jcfg.Streams) > 0 {
		jcfg.Streams = append(slices.Clone(jcfg.Streams), deadLetterStream(cfg))
	}
	// NATS Streaming retries a failed message after the ack wait; keep
	// that timing, and so what reservedRetries means (a minute). NakDelays
	// is the client's, for every listener: they all have cfg.ackWait.
	jcfg.Consumer.NakDelays = []time.Duration{cfg.ackWait}
	return jcfg
}

// deadLetterStream captures the service's dead-letter subjects, all under
// cfg.deadLetters.
func deadLetterStream(cfg config) jsclient.Stream {
	return jsclient.DeadLetterStream(cfg.deadLetters)
}

// service is the running service: HTTP routes, listeners and relay over
// one set of backends.
type service struct {
	cfg       config
	log       *slog.Logger
	b         *backends
	svc       *tickets.Service
	relay     *outbox.Relay
	stopRelay context.CancelFunc
	relayDone chan struct{}
	listeners []*events.Listener
	handler   http.Handler
	stopping  atomic.Bool
}

// startService starts the relay and the listeners and builds the HTTP
// handler; serve then serves it. hooks receive the listeners' and the
// relay's measurements.
func startService(ctx context.Context, cfg config, log *slog.Logger, b *backends, hooks events.Hooks) (*service, error) {
	verifier, err := session.NewVerifier(cfg.jwtKey)
	if err != nil {
		return nil, err
	}
	s := &service{cfg: cfg, log: log, b: b, svc: tickets.NewService(b.store), relayDone: make(chan struct{})}
	relay, err := outbox.NewRelay(b.outbox, b.transport, outbox.WithLogger(log))
	if err != nil {
		return nil, err
	}
	s.relay = relay
	// The relay outlives ctx (the start-up context): it stops in shutdown,
	// after the last write has been flushed.
	var relayCtx context.Context
	relayCtx, s.stopRelay = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.relayDone)
		_ = relay.Run(relayCtx) // returns nil when stopped; it retries failures itself
	}()

	s.listeners, err = startListeners(ctx, cfg, b.transport, s.svc, log, hooks)
	if err != nil {
		s.stopRelay()
		<-s.relayDone
		return nil, err
	}
	a := &api{svc: s.svc, auth: verifier, log: log, timeout: cfg.requestTimeout, maxInFlight: cfg.maxInFlight}
	s.handler = a.routes(&operations{s: s})
	return s, nil
}

// serve serves HTTP on ln until ctx is done (or ln fails), then shuts
// everything down in order and returns nil if all of it went well.
func serve(ctx context.Context, s *service, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		s.log.Error("HTTP server failed", "error", serveErr)
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.shutdownTimeout)
	defer cancel()

	s.stopping.Store(true)
	// Stop accepting and let running requests finish: their writes land
	// in the outbox, which the relay flushes below.
	httpErr := srv.Shutdown(sctx)
	if serveErr == nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	if httpErr != nil {
		httpErr = fmt.Errorf("drain HTTP: %w", httpErr)
	}
	err := errors.Join(serveErr, httpErr, s.shutdown(sctx))
	if err != nil {
		s.log.Error("shutdown incomplete", "error", err)
		return err
	}
	s.log.Info("stopped cleanly")
	return nil
}

// shutdown stops everything but HTTP, in dependency order: listeners first
// (their running handlers finish and write to the outbox; new deliveries
// stay unacknowledged for another replica), then the outbox is flushed so
// every committed change is published, then the relay stops, then the
// broker connection and the database close.
func (s *service) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	var errs []error
	for _, l := range s.listeners {
		if err := l.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Close publishes what is left and retires this writer's lease; what
	// it can't publish in time stays in MongoDB, and another replica takes
	// it over once the lease goes stale.
	if err := s.relay.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.stopRelay()
	select {
	case <-s.relayDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("outbox relay did not stop: %w", ctx.Err()))
	}
	if err := s.b.close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// outboxStale is the age of the oldest unpublished event past which the
// service reports itself not ready: its events reach the cluster that late.
const outboxStale = 30 * time.Second

// operations serves the probes.
type operations struct{ s *service }

// healthz says the process serves HTTP: Kubernetes restarts it otherwise.
func (o *operations) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether to route traffic here: the database answers, the
// broker is connected, and no shutdown has begun. It names failing checks
// but not their errors, which go to the log.
func (o *operations) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{}
	ready := !o.s.stopping.Load()
	if !ready {
		status["shutdown"] = "in progress"
	}
	st := o.s.relay.Stats()
	status["outbox"] = fmt.Sprintf("backlog %d, oldest %v", st.Backlog, st.Oldest.Round(time.Millisecond))
	if st.Oldest > outboxStale {
		ready = false
		o.s.log.Warn("readiness: the outbox is behind", "backlog", st.Backlog, "oldest", st.Oldest)
	}
	for _, c := range o.s.b.checks {
		if err := c.ok(ctx); err != nil {
			ready = false
			status[c.name] = "unavailable"
			o.s.log.Warn("readiness check failed", "check", c.name, "error", err)
		} else {
			status[c.name] = "ok"
		}
	}
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": status})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": status})
}
