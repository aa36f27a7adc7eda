// Command orders-replica is the part of the cluster's orders service that
// keeps its copy of the tickets: it listens for ticket:created and
// ticket:updated in the orders-service queue group, from the start of the
// channels for a new durable, and applies them in version order to the
// tickets collection of its MongoDB with mongostore.Replica. Early events
// are left unacknowledged for redelivery, duplicates acknowledged and
// ignored, so any number of instances converge on the same copy.
//
// It reads the orders service's environment:
//
//	MONGO_URI        mongodb://orders-mongo-srv:27017/orders (the database is the
//	                 URI's path, "orders" when it has none)
//	NATS_URL         http://nats-srv:4222 (http:// is read as nats://, as the Node
//	                 client reads it; a comma-separated list names several servers)
//	NATS_CLUSTER_ID  ticketing
//	NATS_CLIENT_ID   unique per instance, e.g. the pod name (default: the host
//	                 name and a random suffix)
//	LOG_LEVEL        debug, info (the default), warn or error
//
// and NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED_FILE or
// NATS_CREDS_FILE where the broker wants them (see natsclient.FromEnv).
//
// It logs JSON lines to stdout and stops gracefully on SIGINT or SIGTERM:
// running handlers finish and acknowledge, and the durable subscription is
// kept for the next start.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders-replica:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only adds the signals and the exit code.
// It returns nil after a clean shutdown, which starts when ctx is done.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	return replicate(ctx, cfg, newLogger(stdout, cfg))
}

func newLogger(w io.Writer, cfg config) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.logLevel}))
}

// config is what the program reads at start-up.
type config struct {
	mongoURI string
	database string
	nats     natsclient.Config // from natsclient.FromEnv
	logLevel slog.Level

	// Not from the environment: the cluster's values, tuned by tests.
	queueGroup      string        // also the durable name, as in the Node listeners
	ackWait         time.Duration // how soon an early event comes back
	startupTimeout  time.Duration // connecting to MongoDB and NATS Streaming
	shutdownTimeout time.Duration // the whole shutdown sequence
}

const (
	defaultDatabase        = "orders"
	defaultQueueGroup      = "orders-service"
	defaultAckWait         = events.DefaultAckWait // the cluster's 5s
	defaultStartupTimeout  = 30 * time.Second
	defaultShutdownTimeout = 20 * time.Second // inside Kubernetes' 30s grace period
)

// loadConfig reads the environment; all problems are reported at once.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		mongoURI:        getenv("MONGO_URI"),
		database:        defaultDatabase,
		queueGroup:      defaultQueueGroup,
		ackWait:         defaultAckWait,
		startupTimeout:  defaultStartupTimeout,
		shutdownTimeout: defaultShutdownTimeout,
	}
	var problems []string
	var err error
	if c.nats, err = streaming.FromEnv(getenv); err != nil {
		problems = append(problems, err.Error())
	}
	if c.mongoURI == "" {
		problems = append(problems, "MONGO_URI must be defined")
	} else {
		cs, err := connstring.ParseAndValidate(c.mongoURI)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("MONGO_URI: %v", err))
		case cs.Database != "":
			c.database = cs.Database
		}
	}
	if level := getenv("LOG_LEVEL"); level != "" {
		if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
			problems = append(problems, fmt.Sprintf("LOG_LEVEL %q is not debug, info, warn or error", level))
		}
	}
	if len(problems) > 0 {
		return c, errors.New("config: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// replicate connects, keeps the replica until ctx is done, and shuts down
// in order: listeners (running handlers finish and acknowledge), broker,
// database. It returns nil after a clean shutdown, and also when ctx ends
// during start-up, which is a stop, not a failure.
func replicate(ctx context.Context, cfg config, log *slog.Logger) error {
	// closers undo start-up in reverse order, on failure or at shutdown.
	var closers []func(context.Context) error
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i](sctx))
		}
		return errors.Join(errs...)
	}
	startupFailed := func(err error) error {
		err = errors.Join(err, shutdown())
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			log.Info("stopped during start-up")
			return nil
		}
		return err
	}

	start, cancel := context.WithTimeout(ctx, cfg.startupTimeout)
	defer cancel()

	client, err := mongo.Connect(options.Client().ApplyURI(cfg.mongoURI))
	if err != nil {
		return startupFailed(fmt.Errorf("MongoDB: %w", err))
	}
	closers = append(closers, func(ctx context.Context) error {
		if err := client.Disconnect(ctx); err != nil {
			return fmt.Errorf("disconnect from MongoDB: %w", err)
		}
		return nil
	})
	// Connect is lazy; refuse to start without the database, so a wrong
	// URI shows up at deploy time.
	if err := client.Ping(start, nil); err != nil {
		return startupFailed(fmt.Errorf("MongoDB does not answer: %w", err))
	}
	copies, err := mongostore.NewReplica[orders.Ticket](client.Database(cfg.database), "tickets", mongostore.WithLogger(log))
	if err == nil {
		err = copies.EnsureIndexes(start)
	}
	if err != nil {
		return startupFailed(err)
	}
	replica := wire.TicketCopies{Replica: copies}
	log.Info("connected to MongoDB", "database", cfg.database)

	natsCfg := cfg.nats
	natsCfg.Logger = log
	nc, err := streaming.Connect(start, natsCfg)
	if err != nil {
		return startupFailed(err)
	}
	closers = append(closers, nc.Close)
	log.Info("connected to NATS Streaming", "cluster", natsCfg.ClusterID, "client", natsCfg.ClientID)

	opts := []events.ListenerOption{events.DeliverAll(), events.AckWait(cfg.ackWait), events.WithLogger(log)}
	created, err := events.Listen(start, nc, cfg.queueGroup, replica.OnTicketCreated, opts...)
	if err != nil {
		return startupFailed(err)
	}
	closers = append(closers, created.Close)
	updated, err := events.Listen(start, nc, cfg.queueGroup, replica.OnTicketUpdated, opts...)
	if err != nil {
		return startupFailed(err)
	}
	closers = append(closers, updated.Close)
	log.Info("replicating tickets", "queueGroup", cfg.queueGroup)

	<-ctx.Done()
	log.Info("shutting down")
	if err := shutdown(); err != nil {
		log.Error("shutdown", "error", err)
		return err
	}
	log.Info("stopped cleanly")
	return nil
}
