package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/memstore"
	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/outbox"
)

// Backends are a service's database and broker: either MongoDB and NATS,
// or both in memory. A service builds its stores on Mongo or Memory,
// whichever is set, and writes them through that outbox.
type Backends struct {
	Transport events.Transport
	Outbox    outbox.Driver // Mongo.Outbox or Memory, for the relay

	Mongo  *MongoBackend    // nil in memory
	Memory *memstore.Outbox // nil on MongoDB

	// DocumentLocks is set by Open when the database is FerretDB 1.x,
	// which doesn't apply a filtered update atomically: Collection and
	// Replica then take mongostore.WithDocumentLocks, which makes writes
	// correct within this process only, and Open says so at Warn.
	DocumentLocks bool

	checks  []Check
	closers []func(context.Context) error // run in order by Close
}

// MongoBackend is a connected database and this process's outbox writer
// on it.
type MongoBackend struct {
	DB     *mongo.Database
	Outbox *mongostore.Outbox
}

// Check is one readiness condition (see Service.Handler's /readyz).
type Check struct {
	Name string
	OK   func(context.Context) error
}

// AddCheck adds a readiness condition.
func (b *Backends) AddCheck(name string, ok func(context.Context) error) {
	b.checks = append(b.checks, Check{name, ok})
}

// Close releases the backends, the broker before the database (see
// Service.Shutdown), within ctx.
func (b *Backends) Close(ctx context.Context) error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// Memory returns backends that keep everything in the process: on db
// and transport t, which several instances of a service may share, as
// they share MongoDB and NATS (servicetest does). Nil db is a new
// memstore.DB, nil t a new memtransport; each call has an outbox writer
// of its own, as each process has on MongoDB.
func Memory(db *memstore.DB, t events.Transport) *Backends {
	if db == nil {
		db = memstore.NewDB()
	}
	if t == nil {
		t = memtransport.New()
	}
	ob, err := db.NewOutbox()
	if err != nil {
		panic(err) // only options can fail, and there are none
	}
	return &Backends{Transport: t, Outbox: ob, Memory: ob, closers: []func(context.Context) error{t.Close}}
}

// Open connects to MongoDB and NATS (Streaming or JetStream, as
// cfg.Transport says), or builds the in-memory backends when cfg names
// neither. Like the Node services, it refuses to start without the
// database, so a wrong URI shows up as a crash loop at deploy time.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Backends, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.InMemory() {
		log.Warn("in-memory mode: MONGO_URI and NATS_URL are unset, so data and events live in this process only and are lost when it exits")
		if cfg.DevJWTKey {
			log.Warn("JWT_KEY is unset: using the public development key")
		}
		return Memory(nil, nil), nil
	}
	if cfg.StartupTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.StartupTimeout)
		defer cancel()
	}
	cs, err := connstring.ParseAndValidate(cfg.MongoURI)
	if err != nil {
		return nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = cfg.Database
	}
	if dbName == "" {
		return nil, errors.New("MONGO_URI names no database, and Config.Database is empty")
	}

	client, err := mongo.Connect(options.Client().ApplyURI(cfg.MongoURI))
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
	giveUp := func(err error) (*Backends, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, disconnect(dctx))
	}
	if err := client.Ping(ctx, nil); err != nil {
		return giveUp(fmt.Errorf("MongoDB at %s does not answer: %w", cs.Hosts, err))
	}
	db := client.Database(dbName)
	locks := false
	if version, ok := ferretDB1(ctx, client); ok {
		locks = true
		log.Warn("the database is FerretDB 1.x, whose filtered updates are not atomic: document locks are on, which keeps this process's writes correct but not those of several instances on one database; run several instances on MongoDB",
			"ferretdbVersion", version)
	}
	// The lease's renewals go through a client of their own: on a
	// database slowed by load, the writes can hold every connection of
	// the main pool, and a renewal queued behind them lets the lease
	// lapse, which refuses every write (issue 20, item 10). A few
	// connections suffice: a beat every tenth of the TTL, bounded by half
	// of it.
	leaseClient, err := mongo.Connect(options.Client().ApplyURI(cfg.MongoURI).SetMaxPoolSize(8))
	if err != nil {
		return giveUp(fmt.Errorf("MongoDB (lease client): %w", err))
	}
	disconnectLease := func(ctx context.Context) error {
		if err := leaseClient.Disconnect(ctx); err != nil {
			return fmt.Errorf("disconnect the lease client from MongoDB: %w", err)
		}
		return nil
	}
	giveUp = func(err error) (*Backends, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, disconnectLease(dctx), disconnect(dctx))
	}
	// One writer per process: its lease tells the other replicas it is
	// alive, and which of its events it has published.
	ob, err := mongostore.NewOutbox(ctx, db, mongostore.WithOutboxLogger(log), mongostore.WithLeaseDatabase(leaseClient.Database(dbName)),
		mongostore.WithQueue(outbox.TTL(cmp.Or(cfg.OutboxTTL, outbox.DefaultTTL))))
	if err != nil {
		return giveUp(err)
	}
	log.Info("connected to MongoDB", "hosts", cs.Hosts, "database", dbName)

	cm := newConnMetrics(cfg.Transport)
	t, natsCheck, err := connectNATS(ctx, cfg, log, cm)
	if err != nil {
		return giveUp(errors.Join(err, cm.close(ctx)))
	}
	b := &Backends{
		Transport:     t,
		Outbox:        ob,
		Mongo:         &MongoBackend{DB: db, Outbox: ob},
		DocumentLocks: locks,
		closers:       []func(context.Context) error{t.Close, disconnect, disconnectLease, cm.close},
	}
	b.AddCheck("mongodb", func(ctx context.Context) error { return client.Ping(ctx, nil) })
	b.AddCheck("nats", natsCheck)
	return b, nil
}

// connectNATS connects to the transport cfg.Transport names. The
// subjects, queue groups and durables are the same on both, so the rest
// of the service doesn't know which it runs on.
func connectNATS(ctx context.Context, cfg Config, log *slog.Logger, cm *connMetrics) (events.Transport, func(context.Context) error, error) {
	switch cfg.Transport {
	case TransportJetStream:
		jcfg := cfg.JetStreamConfig()
		jcfg.Logger = log
		jcfg.OnStateChange = cm.observe(jcfg.OnStateChange)
		js, err := jsclient.Connect(ctx, jcfg)
		if err != nil {
			return nil, nil, err
		}
		streams := make([]string, len(jcfg.Streams))
		for i, s := range jcfg.Streams {
			streams[i] = s.Name
		}
		log.Info("connected to JetStream", "name", jcfg.Name, "streams", streams)
		// A round trip, not the connection's state: a frozen server
		// keeps the connection Connected until its pings time out
		// (PingInterval × PingMaxOut), 17 s in the outside trial.
		return js, js.Ping, nil
	default:
		scfg := cfg.Stan
		scfg.Logger = log
		scfg.OnStateChange = cm.observe(scfg.OnStateChange)
		nc, err := streaming.Connect(ctx, scfg)
		if err != nil {
			return nil, nil, err
		}
		log.Info("connected to NATS Streaming", "cluster", scfg.ClusterID, "client", scfg.ClientID)
		return nc, nc.Ping, nil
	}
}

// ferretDB1 reports whether client's server is FerretDB 1.x, from its
// build information (FerretDB adds ferretdbVersion; a build without a
// version says "unknown", which is taken as 1.x, the safe side). A
// server that doesn't answer is taken as MongoDB: the ping already
// proved it is there.
func ferretDB1(ctx context.Context, client *mongo.Client) (string, bool) {
	var info struct {
		FerretDB string `bson:"ferretdbVersion"`
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil || info.FerretDB == "" {
		return "", false
	}
	v := strings.TrimPrefix(info.FerretDB, "v")
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return info.FerretDB, err != nil || n < 2
}
