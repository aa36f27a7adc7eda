package jsclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Client is a JetStream connection that keeps itself up. It is safe for
// concurrent use. Create it with Connect, release it with Close.
type Client struct {
	cfg   Config // for its JetStream fields; the connection's are conn's
	log   *slog.Logger
	urls  string
	where string // urls without credentials, for errors and logs
	nc    *nats.Conn
	js    jetstream.JetStream

	// conn is the connection's state, the link calls wait for, and Close's
	// bookkeeping; its context is cancelled by Close, which wakes
	// everything waiting for the connection and stops the subscriptions'
	// supervisors. Its lock guards subs too.
	conn *natsconn.Conn[struct{}]
	subs map[*subscription]struct{}

	background sync.WaitGroup // provisioning of Background streams
}

// link is the connection while it is up. The nats.go connection is the
// client's for life, so a link has no session of its own.
type link = natsconn.Link[struct{}]

var _ events.Transport = (*Client)(nil)

// Connect validates cfg, connects, and creates or updates cfg.Streams. It
// retries with jittered backoff until it succeeds or ctx ends; it then
// returns the last failure, wrapped with ctx's error. Failures that
// retrying can't fix (bad credentials, an untrusted certificate, a stream
// config the server refuses) are returned at once.
//
// Once connected, the client never gives up on its connection: nats.go
// reconnects for ever with the client's jittered backoff, and consumers
// resume by themselves.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg, settings, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := settings.Logger.With("nats", "jetstream", "name", settings.Name)
	c := &Client{
		cfg:   cfg,
		log:   log,
		urls:  strings.Join(settings.URLs, ","),
		where: natsconn.Redact(settings.URLs),
		conn:  natsconn.New[struct{}]("jsclient", settings, log),
		subs:  make(map[*subscription]struct{}),
	}
	if err := ctx.Err(); err != nil {
		c.conn.Cancel()
		return nil, fmt.Errorf("jsclient: connect: %w", err)
	}
	if err := c.dialLoop(ctx); err != nil {
		c.conn.Cancel()
		return nil, err
	}
	if err := c.provisionLoop(ctx, cfg.Streams); err != nil {
		// Closing, so that the connection closing is no news to report.
		_, _ = c.conn.BeginClose(ctx)
		c.conn.EndClose()
		c.conn.Cancel()
		c.background.Wait() // cancelled with the connection's context
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// dialLoop makes the first connection, retrying with backoff until ctx
// ends. It runs once: afterwards nats.go keeps the connection (unlike
// streaming, which connects again whenever stan gives a session up).
func (c *Client) dialLoop(ctx context.Context) error {
	return c.conn.Establish(ctx, natsconn.Attempts{Try: c.dial, Permanent: true, Where: c.where})
}

// dial makes one connection attempt and, on success, installs the
// connection.
func (c *Client) dial(dialTimeout time.Duration) error {
	opts, err := c.natsOptions(dialTimeout)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(c.urls, opts...)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(c.cfg.MaxPubAcksInFlight),
		jetstream.WithPublishAsyncTimeout(c.cfg.AckTimeout),
		jetstream.WithDefaultTimeout(c.conn.ConnectTimeout),
	)
	if err != nil {
		nc.Close()
		return err
	}
	c.nc, c.js = nc, js
	c.conn.Install(struct{}{}, nc.IsConnected)
	return nil
}

// natsOptions are natsconn's, with the client's handlers, and what stan
// adds for natsclient: never give up, reconnect for ever (with jitter so
// that a cluster's clients don't come back in lockstep) and through auth
// errors, which an operator can fix on the server; and no reconnect
// buffer, so a publish while disconnected fails at once instead of sitting
// in a buffer (Publish waits for the link instead, within its ctx). The
// link comes up as soon as nats.go reconnects: JetStream refuses, rather
// than loses, a publish while it recovers.
func (c *Client) natsOptions(dialTimeout time.Duration) ([]nats.Option, error) {
	opts, err := c.conn.Options(dialTimeout)
	if err != nil {
		return nil, err
	}
	return append(opts,
		nats.MaxReconnects(-1),
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.conn.LinkDown(cmp.Or(err, nats.ErrDisconnected), nil) }),
		nats.ReconnectHandler(func(*nats.Conn) { c.conn.LinkUp(struct{}{}, nil) }),
		nats.ClosedHandler(func(nc *nats.Conn) { c.connClosed(nc) }),
	), nil
}

// Status returns the connection's state now.
func (c *Client) Status() natsclient.State { return c.conn.Status() }

// Ping asks the server for an answer (a NATS PING and its PONG) within
// ctx, or ConnectTimeout for a ctx without deadline. It is a readiness
// check: a server that is frozen or cut off shows at once, where the
// connection's own pings give it up only after PingInterval × PingMaxOut
// (15 s by default), and Status stays Connected until then. It fails
// with natsclient.ErrDisconnected while the connection is down or the
// server doesn't answer, and natsclient.ErrClosed after Close.
func (c *Client) Ping(ctx context.Context) error {
	switch st := c.Status(); st {
	case natsclient.Connected:
	case natsclient.Closed:
		return fmt.Errorf("jsclient: ping: %w", natsclient.ErrClosed)
	default:
		return fmt.Errorf("jsclient: ping: %w: the connection is %v", natsclient.ErrDisconnected, st)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = c.request(ctx)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("jsclient: ping: %w: the server did not answer: %w", natsclient.ErrDisconnected, err)
	}
	return nil
}

// connClosed handles nats.go closing the connection. After Close that is
// expected; otherwise (it should not happen: reconnects never stop) the
// client is dead, and says so.
func (c *Client) connClosed(nc *nats.Conn) {
	c.conn.Lock()
	closing := c.conn.ClosingLocked()
	c.conn.Unlock()
	if closing {
		return
	}
	cause := cmp.Or(nc.LastError(), nats.ErrConnectionClosed)
	c.log.Error("jsclient: the NATS connection was closed by nats.go; this client is unusable", "error", cause)
	c.conn.SetClosed(cause, nil)
}

// request bounds one JetStream API request by ConnectTimeout within ctx.
func (c *Client) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.conn.ConnectTimeout)
}

// Close shuts the client down gracefully: deliveries stop (a message that
// reaches a callback meanwhile is handed back with a nak, for another
// member or a later run; messages pulled ahead and not yet handed to the
// callback come back after their ack wait), running callbacks finish, publishes get their
// acks, consumers are stopped without being deleted (durables keep their
// position), pending acks are flushed and the connection is closed.
// Waiting is bounded by ctx; when it ends, Close still releases everything
// and returns an error wrapping ctx's. Close is idempotent and safe to call
// concurrently: later calls wait for the first one (within their own ctx)
// and return nil.
func (c *Client) Close(ctx context.Context) error {
	if first, err := c.conn.BeginClose(ctx); !first {
		return err
	}
	defer c.conn.EndClose()
	c.conn.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	c.conn.Unlock()

	var errs []error
	for _, sub := range subs {
		sub.stopDelivering()
	}
	for _, sub := range subs {
		if err := sub.drain(ctx); err != nil {
			errs = append(errs, err)
			break // ctx is over; the rest would fail alike
		}
	}
	if err := c.conn.WaitOps(ctx); err != nil {
		errs = append(errs, fmt.Errorf("jsclient: close: publishes still waiting for acks: %w", err))
	}
	// Only now wake the waiters: publishes above could still finish. (stan
	// has no such wait: natsclient wakes them at once.) Background
	// provisioning ends with them.
	c.conn.Cancel()
	waitGroup(ctx, &c.background)
	for _, sub := range subs {
		if err := sub.stopConsuming(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.nc.IsConnected() && ctx.Err() == nil {
		// Acks, naks and terms are fire and forget: make sure the server
		// has them before the connection goes. A server that doesn't
		// answer (frozen) holds this until ctx's end, which is then
		// Close's error: it did not finish.
		fctx, cancel := context.WithTimeout(ctx, c.conn.ConnectTimeout)
		err := c.nc.FlushWithContext(fctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			errs = append(errs, fmt.Errorf("jsclient: close: flush acks: %w", ctx.Err()))
		case err != nil:
			c.log.Debug("jsclient: flush before close", "error", err)
		}
	}
	c.nc.Close()
	c.conn.SetClosed(nil, nil)
	return errors.Join(errs...)
}

// CarriesHeaders implements events.HeaderCarrier: JetStream messages
// carry headers.
func (c *Client) CarriesHeaders() bool { return true }

// waitGroup waits for wg, or until ctx ends (what is left then ends on its
// own, its context cancelled).
func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
