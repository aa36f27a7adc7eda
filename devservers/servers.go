package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	natsd "github.com/nats-io/nats-server/v2/server"
	stand "github.com/nats-io/nats-streaming-server/server"
	"github.com/nats-io/nats-streaming-server/stores"
)

// server is a started server: where clients reach it, and how to stop it.
type server struct {
	url  string
	stop func() // called once
}

// hostPort splits addr for the NATS servers, which take a port number
// and treat 0 as "the default port", not "any free port".
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = natsd.RANDOM_PORT
	}
	return host, port, nil
}

// startStan starts a NATS Streaming server (with its embedded NATS server)
// whose channels live in a file store under dir, so that a restarted server
// on the same dir keeps its messages and durable subscriptions. The NATS
// server requires what sec says, of the streaming server's own connections
// too.
func startStan(addr, clusterID, dir string, sec security, logw io.Writer) (*server, error) {
	host, port, err := hostPort(addr)
	if err != nil {
		return nil, err
	}
	sopts := stand.GetDefaultOptions()
	sopts.ID = clusterID
	sopts.StoreType = stores.TypeFile
	sopts.FilestoreDir = dir
	sopts.CustomLogger = newLogger(logw, "stan ")
	// Tests make channels of their own (unique subjects), far past the
	// default cap of 100 in one run; 0 lifts the cap.
	sopts.StoreLimits.MaxChannels = 0
	nopts := stand.DefaultNatsServerOptions
	nopts.Host, nopts.Port = host, port
	if sopts.NATSClientOpts, err = sec.configure(&nopts); err != nil {
		return nil, err
	}
	s, err := stand.RunServerWithOpts(sopts, &nopts)
	if err != nil {
		return nil, fmt.Errorf("nats streaming server: %w", err)
	}
	// RunServerWithOpts returns once the server answers streaming clients.
	return &server{url: s.ClientURL(), stop: s.Shutdown}, nil
}

// startJetStream starts a plain NATS server with JetStream on, storing
// streams under dir, and requiring what sec says of clients.
func startJetStream(addr, dir string, sec security, logw io.Writer) (*server, error) {
	return startJetStreamNode(addr, dir, sec, jsCluster{}, logw)
}

// jsCluster makes a JetStream server a node of a cluster: a name of its
// own, the cluster's name, where its routes listen, and the others'.
type jsCluster struct {
	name, cluster, addr, routes string
}

func startJetStreamNode(addr, dir string, sec security, jsc jsCluster, logw io.Writer) (*server, error) {
	host, port, err := hostPort(addr)
	if err != nil {
		return nil, err
	}
	opts := &natsd.Options{
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		ServerName: jsc.name,
		NoSigs:     true, // signals belong to devservers, not to the library
	}
	if jsc.cluster != "" {
		chost, cport, err := hostPort(jsc.addr)
		if err != nil {
			return nil, fmt.Errorf("-cluster-addr: %w", err)
		}
		opts.Cluster.Name, opts.Cluster.Host, opts.Cluster.Port = jsc.cluster, chost, cport
		for _, r := range strings.Split(jsc.routes, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("-routes: %w", err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if _, err := sec.configure(opts); err != nil {
		return nil, err
	}
	ns, err := natsd.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.SetLogger(newLogger(logw, "jetstream "), false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server with jetstream did not start listening on %s", addr)
	}
	// A node of a cluster serves JetStream once the cluster has a meta
	// leader, which needs a quorum of nodes: "ready" then only means
	// that the node accepts clients.
	stop := func() { ns.Shutdown(); ns.WaitForShutdown() }
	return &server{url: ns.ClientURL(), stop: stop}, nil
}

// startMongo starts FerretDB, a MongoDB wire protocol server, with its
// SQLite backend keeping one database file per MongoDB database in dir,
// or (backend "postgresql") on a throwaway PostgreSQL cluster in dir.
// Clients reach it through a serialProxy on addr.
func startMongo(addr, dir, backend string, logw io.Writer) (*server, error) {
	// Unlike the NATS servers, FerretDB does not create its directory.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   slog.New(slog.NewTextHandler(logw, nil)).With("server", "mongo"),
	}
	stopBackend := func() {}
	switch backend {
	case "sqlite":
		cfg.Handler, cfg.SQLiteURL = "sqlite", "file:"+dir+"/" // FerretDB wants a directory URI ending in '/'
	case "postgresql":
		pgURL, stop, err := startPostgres(dir+"/pg", logw)
		if err != nil {
			return nil, err
		}
		cfg.Handler, cfg.PostgreSQLURL, stopBackend = "postgresql", pgURL, stop
	default:
		return nil, fmt.Errorf("unknown mongo backend %q: sqlite or postgresql", backend)
	}
	f, err := ferretdb.New(&cfg)
	if err != nil {
		stopBackend()
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // returns only once ctx is canceled
	}()
	stopFerret := func() {
		cancel()
		// FerretDB gives connected clients a few seconds to leave, and
		// the proxy has closed them all, so this is quick; still, don't
		// let a stuck one hold the whole shutdown.
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		stopBackend()
	}
	// New has bound FerretDB's listener already, so its address is known.
	ferretURL, err := url.Parse(f.MongoDBURI())
	if err != nil {
		stopFerret()
		return nil, err
	}
	proxy, err := newSerialProxy(addr, ferretURL.Host)
	if err != nil {
		stopFerret()
		return nil, fmt.Errorf("mongo: %w", err)
	}
	stop := func() {
		proxy.close()
		stopFerret()
	}
	return &server{url: "mongodb://" + proxy.l.Addr().String() + "/", stop: stop}, nil
}

// logger adapts a writer to the NATS servers' logger interface. Fatalf
// must not exit: the servers return their errors to us as well.
type logger struct{ l *log.Logger }

func newLogger(w io.Writer, prefix string) *logger {
	return &logger{log.New(w, prefix, log.LstdFlags|log.Lmicroseconds)}
}

func (l *logger) Noticef(format string, v ...any) { l.l.Printf("[INF] "+format, v...) }
func (l *logger) Warnf(format string, v ...any)   { l.l.Printf("[WRN] "+format, v...) }
func (l *logger) Fatalf(format string, v ...any)  { l.l.Printf("[FTL] "+format, v...) }
func (l *logger) Errorf(format string, v ...any)  { l.l.Printf("[ERR] "+format, v...) }
func (l *logger) Debugf(format string, v ...any)  { l.l.Printf("[DBG] "+format, v...) }
func (l *logger) Tracef(format string, v ...any)  { l.l.Printf("[TRC] "+format, v...) }
