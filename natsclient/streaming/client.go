package streaming

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
	"github.com/nats-io/stan.go"
	"github.com/nats-io/stan.go/pb"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Client is a NATS Streaming connection that keeps itself up. It is safe
// for concurrent use. Create it with Connect, release it with Close.
type Client struct {
	cfg   natsconn.Settings // checked and defaulted
	log   *slog.Logger
	urls  string
	where string        // urls without credentials, for errors and logs
	slots chan struct{} // one per publish awaiting its ack, over all calls

	// probeSubject and probe make a streaming server answer without
	// touching any state: a ping for a connection that doesn't exist.
	probeSubject string
	probe        []byte

	// conn is the connection's state, the link calls wait for, and Close's
	// bookkeeping; its context is cancelled when Close begins, which stops
	// the reconnect loop. Its lock guards the fields below too.
	conn   *natsconn.Conn[*session]
	sess   *session // the installed session
	subs   map[*subscription]struct{}
	probes sync.WaitGroup // readiness probes running; Add only under the lock while not closing

	// subMu is held while a stan subscription is created and registered,
	// and while a new session re-creates them all, so that no subscription
	// can be created on a dying session and then missed by its successor.
	// Taken before conn's lock.
	subMu sync.Mutex

	managerDone chan struct{}
}

// session is one stan connection (and the NATS connection stan owns under
// it). A lost session is never revived; the client makes a new one. While
// its NATS connection is up, it is the Session of the client's link.
type session struct {
	sc       stan.Conn // set before the session is installed, then never changed
	lostOnce sync.Once
	lost     chan struct{} // closed when stan or NATS gave the connection up
	lostErr  error         // written before lost is closed
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// link is a session while its NATS connection is up.
type link = natsconn.Link[*session]

var _ events.Transport = (*Client)(nil)

// Connect validates cfg and connects, retrying with backoff until it
// succeeds or ctx ends; it then returns the last failure, wrapped with
// ctx's error. Failures that retrying can't fix (bad credentials, an
// untrusted certificate) are returned at once. A server that still holds
// ClientID for a live connection is retried like an unreachable one, and
// logged as such (ErrClientIDRegistered).
//
// A ctx without deadline waits for the server as long as it takes, which
// suits a service starting before its broker; give it one that ends when
// the service is told to stop (signal.NotifyContext). A connection
// attempt's dial is cut to ctx's deadline, but a request to a streaming
// server that accepted the connection is not, so Connect can overrun the
// deadline by up to Config.ConnectTimeout.
func Connect(ctx context.Context, config natsclient.Config) (*Client, error) {
	settings, err := withDefaults(config)
	if err != nil {
		return nil, err
	}
	cfg := settings
	log := settings.Logger.With("cluster", cfg.ClusterID, "client", cfg.ClientID)
	c := &Client{
		cfg:         cfg,
		log:         log,
		urls:        strings.Join(settings.URLs, ","),
		where:       natsconn.Redact(settings.URLs),
		slots:       make(chan struct{}, cfg.MaxPubAcksInFlight),
		conn:        natsconn.New[*session]("streaming", settings, log),
		subs:        make(map[*subscription]struct{}),
		managerDone: make(chan struct{}),
	}
	// The server's ping subject, which stan keeps to itself: the server
	// derives it from the discover subject, as here.
	c.probeSubject = stan.DefaultDiscoverPrefix + "." + cfg.ClusterID + ".pings"
	c.probe, _ = (&pb.Ping{ConnID: []byte("streaming-readiness-probe")}).Marshal()
	if err := ctx.Err(); err != nil {
		c.conn.Cancel()
		return nil, fmt.Errorf("streaming: connect: %w", err)
	}
	s, err := c.establish(ctx, true)
	if err != nil {
		c.conn.Cancel()
		return nil, err
	}
	go c.manage(s)
	return c, nil
}

// Status returns the connection's state now.
func (c *Client) Status() natsclient.State { return c.conn.Status() }

// Ping asks the streaming server for an answer (the probe that confirms
// a reconnection) within ctx, or ConnectTimeout for a ctx without
// deadline. It is a readiness check: a server that is frozen or cut off
// shows at once, where stan's pings give the session up only after
// PingInterval × PingMaxOut (15 s by default), and Status stays
// Connected until then. It fails with natsclient.ErrDisconnected while
// the connection is down or the server doesn't answer, and
// natsclient.ErrClosed after Close.
func (c *Client) Ping(ctx context.Context) error {
	c.conn.Lock()
	s := c.sess
	c.conn.Unlock()
	switch st := c.Status(); {
	case st == natsclient.Closed:
		return fmt.Errorf("streaming: ping: %w", natsclient.ErrClosed)
	case st != natsclient.Connected || s == nil:
		return fmt.Errorf("streaming: ping: %w: the connection is %v", natsclient.ErrDisconnected, st)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.conn.ConnectTimeout)
		defer cancel()
	}
	if _, err := s.sc.NatsConn().RequestWithContext(ctx, c.probeSubject, c.probe); err != nil {
		return fmt.Errorf("streaming: ping: %w: the streaming server did not answer: %w", natsclient.ErrDisconnected, err)
	}
	return nil
}

// manage replaces lost sessions until Close. A NATS connection that drops
// and comes back (a server restart with its file store) keeps its session:
// nats.go re-subscribes and the server still knows the client, so this
// only runs when stan gives up (pings unanswered for PingInterval ×
// PingMaxOut, or the server no longer knows the client).
func (c *Client) manage(s *session) {
	defer close(c.managerDone)
	done := c.conn.Context().Done()
	for {
		select {
		case <-done:
			return
		case <-s.lost:
		}
		lostAt := time.Now()
		c.log.Warn("streaming: NATS Streaming connection lost; reconnecting in the background", "error", s.lostErr)
		c.discard(s)
		next, err := c.establish(c.conn.Context(), false)
		if err != nil {
			return // closing
		}
		c.log.Info("streaming: NATS Streaming connection restored", "downtime", time.Since(lostAt))
		s = next
	}
}

// establish connects a new session and installs it, retrying with backoff
// until ctx ends. first marks the caller's Connect, which gives up on
// permanent errors; the background loop never does.
//
// It is not jsclient's connect loop: a stan connection is a session that
// the client replaces (this runs again each time), whose subscriptions it
// makes again, and that a server may refuse while it still holds the
// client id.
func (c *Client) establish(ctx context.Context, first bool) (*session, error) {
	var got *session
	registered := 0 // consecutive "client ID already registered" answers
	err := c.conn.Establish(ctx, natsconn.Attempts{
		Try: func(dialTimeout time.Duration) error {
			s, err := c.dial(dialTimeout)
			if err != nil {
				return err
			}
			if err := c.install(s); err != nil {
				c.discard(s)
				return err
			}
			got = s
			return nil
		},
		Permanent: first,
		Stop:      func(err error) bool { return errors.Is(err, natsclient.ErrClosed) },
		Note: func(err error, attempt int, wait time.Duration) bool {
			if !isClientIDRegistered(err) {
				registered = 0
				return false
			}
			// Routine after a crash or during a rolling restart, and it
			// clears by itself: worth a line per attempt, not an alarm.
			level := slog.LevelInfo
			if registered == 0 {
				level = slog.LevelWarn
			}
			registered++
			c.log.Log(context.Background(), level, "streaming: client ID still registered at the server (another live connection, or a crashed one not expired yet); retrying",
				"attempt", attempt+1, "retry_in", wait)
			return true
		},
		Where: fmt.Sprintf("%s (cluster %s) as %s", c.where, c.cfg.ClusterID, c.cfg.ClientID),
	})
	return got, err
}

// dial makes one connection attempt.
func (c *Client) dial(dialTimeout time.Duration) (*session, error) {
	s := &session{lost: make(chan struct{})}
	nopts, err := c.natsOptions(s, dialTimeout)
	if err != nil {
		return nil, err
	}
	sc, err := stan.Connect(c.cfg.ClusterID, c.cfg.ClientID,
		stan.NatsURL(c.urls),
		stan.NatsOptions(nopts...),
		stan.ConnectWait(c.conn.ConnectTimeout),
		stan.PubAckWait(c.cfg.AckTimeout),
		stan.MaxPubAcksInflight(c.cfg.MaxPubAcksInFlight),
		stan.Pings(int((c.conn.PingInterval+time.Second-1)/time.Second), c.conn.PingMaxOut),
		stan.SetConnectionLostHandler(func(_ stan.Conn, err error) { c.sessionLost(s, err) }),
	)
	if err != nil {
		if isClientIDRegistered(err) {
			err = fmt.Errorf("%w: %w", ErrClientIDRegistered, err)
		}
		return nil, err
	}
	s.sc = sc
	return s, nil
}

// natsOptions are natsconn's, with handlers bound to s. stan adds
// MaxReconnects(-1) and ReconnectBufSize(-1): nats.go retries for ever, and
// a publish while disconnected fails at once instead of sitting in a
// buffer (publish waits for the link instead).
func (c *Client) natsOptions(s *session, dialTimeout time.Duration) ([]nats.Option, error) {
	opts, err := c.conn.Options(dialTimeout)
	if err != nil {
		return nil, err
	}
	return append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.linkDown(s, cmp.Or(err, nats.ErrDisconnected)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.reconnected(s, nc) }),
		nats.ClosedHandler(func(*nats.Conn) { c.sessionLost(s, nats.ErrConnectionClosed) }),
	), nil
}

// install re-creates the client's subscriptions on s and makes s the
// client's session.
func (c *Client) install(s *session) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.conn.Lock()
	if c.conn.ClosingLocked() {
		c.conn.Unlock()
		return natsclient.ErrClosed
	}
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	c.conn.Unlock()
	for _, sub := range subs {
		if err := sub.attach(s); err != nil {
			return fmt.Errorf("streaming: subscribe again to %s: %w", sub.subject, err)
		}
	}
	installed := c.conn.Install(s, func() bool {
		c.sess = s
		// The NATS connection may have dropped since stan.Connect; its
		// ReconnectHandler finds s installed and brings the link up.
		nc := s.sc.NatsConn()
		return nc != nil && nc.IsConnected() && !s.isLost()
	})
	if !installed {
		return natsclient.ErrClosed
	}
	return nil
}

// discard closes a session that is lost or was never installed. Its stan
// conn owns its NATS connection, so this closes that too; for a session
// stan already gave up on it returns at once.
func (c *Client) discard(s *session) {
	if err := s.sc.Close(); err != nil && !s.isLost() {
		c.log.Debug("streaming: closing a dropped connection", "error", err)
	}
}

func (c *Client) sessionLost(s *session, err error) {
	s.lostOnce.Do(func() {
		s.lostErr = err
		close(s.lost)
	})
	c.linkDown(s, err)
}

// linkDown takes the link down if it is s's.
func (c *Client) linkDown(s *session, cause error) {
	c.conn.LinkDown(cause, func() bool { return c.sess == s })
}

// reconnected starts confirming that the streaming server answers on a
// NATS connection that came back. A restarting server accepts NATS
// connections before its streaming layer has recovered its store and
// subscribed; a message published in that gap vanishes, and stan would
// wait the whole AckTimeout for its ack. So the link comes up only once
// the streaming server answers. (JetStream answers for itself: its
// publishes fail fast while it recovers, so jsclient brings the link up at
// once.)
func (c *Client) reconnected(s *session, nc *nats.Conn) {
	c.conn.Lock()
	if c.conn.ClosingLocked() || c.sess != s {
		c.conn.Unlock()
		return
	}
	c.probes.Add(1)
	c.conn.Unlock()
	go func() {
		defer c.probes.Done()
		c.confirm(s, nc)
	}()
}

// confirm probes until the streaming server answers on nc, then brings the
// link up. It gives up when the connection drops again (its next
// reconnection starts another probe), the session is lost, or the client
// closes.
func (c *Client) confirm(s *session, nc *nats.Conn) {
	closing := c.conn.Context()
	for attempt := 0; ; attempt++ {
		if !nc.IsConnected() || s.isLost() || closing.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(closing, c.conn.ConnectTimeout)
		_, err := nc.RequestWithContext(ctx, c.probeSubject, c.probe)
		cancel()
		if err == nil {
			c.conn.LinkUp(s, func() bool { return c.sess == s && !s.isLost() })
			return
		}
		c.log.Debug("streaming: streaming server not answering yet", "attempt", attempt+1, "error", err)
		t := time.NewTimer(c.conn.Backoff(attempt))
		select {
		case <-t.C:
		case <-s.lost:
			t.Stop()
		case <-closing.Done():
			t.Stop()
		}
	}
}

// tellServer closes the subscriptions (keeping their durables) and the
// connection on the server, returning what failed.
func (c *Client) tellServer(s *session, subs []*subscription, nc *nats.Conn) []error {
	var errs []error
	told := true
	// Closed by Close at its deadline: the failures that follow are ours.
	cut := func() bool { return nc == nil || nc.IsClosed() }
	for _, sub := range subs {
		if ss := sub.current(s); ss != nil {
			// Close, not Unsubscribe: a durable must outlive us.
			if err := ss.Close(); err != nil && !subClosedAlready(err) {
				told = false
				if !retryable(err) && !cut() {
					errs = append(errs, fmt.Errorf("streaming: close subscription to %s: %w", sub.subject, err))
				}
			}
		}
	}
	if err := s.sc.Close(); err != nil && !s.isLost() {
		told = false
		if !retryable(err) && !cut() {
			errs = append(errs, fmt.Errorf("streaming: close connection: %w", err))
		}
	}
	if !told && !s.isLost() && !cut() {
		c.log.Warn("streaming: closed without reaching the server; it will expire the connection by itself")
	}
	return errs
}

// Close shuts the client down gracefully: deliveries stop (messages that
// arrive meanwhile stay unacknowledged, for redelivery), running callbacks
// finish, publishes get their acks, subscriptions are closed without
// unsubscribing (durables keep their position), and the connection is
// closed. Waiting is bounded by ctx; when it ends, Close still releases
// everything and returns an error wrapping ctx's. Close is idempotent and
// safe to call concurrently: later calls wait for the first one (within
// their own ctx) and return nil.
func (c *Client) Close(ctx context.Context) error {
	if first, err := c.conn.BeginClose(ctx); !first {
		return err
	}
	defer c.conn.EndClose()
	c.conn.Cancel()

	c.subMu.Lock()
	c.conn.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	s := c.sess
	c.conn.Unlock()
	c.subMu.Unlock()

	var errs []error
	for _, sub := range subs {
		sub.gate.Stop()
	}
	for _, sub := range subs {
		if err := sub.drain(ctx); err != nil {
			errs = append(errs, err)
			break // ctx is over; the rest would fail alike
		}
	}
	if err := c.conn.WaitOps(ctx); err != nil {
		errs = append(errs, fmt.Errorf("streaming: close: publishes still waiting for acks: %w", err))
	}
	if err := natsconn.Wait(ctx, &c.probes); err != nil { // they end with the conn's context
		errs = append(errs, fmt.Errorf("streaming: close: %w", err))
	}

	if s != nil {
		// stan.go waits up to ConnectTimeout for each of these answers,
		// whatever ctx says; a server that hangs (frozen, not gone) would
		// hold Close for seconds per subscription. At the deadline the
		// NATS connection is closed under them, which ends them at once:
		// the server expires the client by itself.
		nc := s.sc.NatsConn()
		told := make(chan []error, 1)
		go func() { told <- c.tellServer(s, subs, nc) }()
		select {
		case more := <-told:
			errs = append(errs, more...)
		case <-ctx.Done():
			if nc != nil {
				nc.Close()
			}
			<-told
			c.log.Warn("streaming: the server did not answer the close in time; it will expire the connection by itself")
			errs = append(errs, fmt.Errorf("streaming: close: the server did not answer: %w", ctx.Err()))
		}
	}
	c.conn.SetClosed(nil, func() { c.sess = nil })

	// The manager may be in the middle of a connection attempt, which
	// ends within ConnectTimeout and then sees closing.
	select {
	case <-c.managerDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("streaming: close: reconnect loop still running: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}
