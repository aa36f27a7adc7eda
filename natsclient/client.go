package natsclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"
	"github.com/nats-io/stan.go/pb"

	"github.com/ticketkit/ticketkit/events"
)

// State is where a Client's connection stands.
type State int32

const (
	// Connected: calls go straight to the server.
	Connected State = iota + 1
	// Reconnecting: the connection dropped and the client is getting it
	// back on its own; calls wait for it within their context.
	Reconnecting
	// Closed: Close was called; the client does nothing any more.
	Closed
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	default:
		return fmt.Sprintf("State(%d)", int32(s))
	}
}

// Client is a NATS Streaming connection that keeps itself up. It is safe
// for concurrent use. Create it with Connect, release it with Close.
type Client struct {
	cfg   Config
	log   *slog.Logger
	urls  string
	where string        // urls without credentials, for errors and logs
	slots chan struct{} // one per publish awaiting its ack, over all calls

	// probeSubject and probe make a streaming server answer without
	// touching any state: a ping for a connection that doesn't exist.
	probeSubject string
	probe        []byte

	// ctx is cancelled when Close begins: it stops the reconnect loop and
	// wakes everything waiting for the connection.
	ctx    context.Context
	cancel context.CancelFunc

	// notifyMu orders state changes and their callbacks: a change and its
	// OnStateChange call happen under it, so callbacks arrive in order.
	// Taken before mu.
	notifyMu sync.Mutex

	mu      sync.Mutex
	state   State
	sess    *session      // the installed session
	link    *link         // non-nil exactly while Connected
	changed chan struct{} // closed and replaced on every state change
	closing bool
	subs    map[*subscription]struct{}
	ops     sync.WaitGroup // publish calls in progress; Add only under mu while !closing
	probes  sync.WaitGroup // readiness probes running; Add only under mu while !closing

	// subMu is held while a stan subscription is created and registered,
	// and while a new session re-creates them all, so that no subscription
	// can be created on a dying session and then missed by its successor.
	// Taken before mu.
	subMu sync.Mutex

	managerDone chan struct{}
	closeDone   chan struct{}
}

// session is one stan connection (and the NATS connection stan owns under
// it). A lost session is never revived; the client makes a new one.
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

// link is a session while its NATS connection is up. Publishers wait on
// down rather than on ack timers: an ack pending when the connection drops
// will never come, and the message is sent again on the next link.
type link struct {
	sess *session
	down chan struct{}
}

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
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:         cfg,
		log:         cfg.Logger.With("cluster", cfg.ClusterID, "client", cfg.ClientID),
		urls:        strings.Join(cfg.URLs, ","),
		where:       redact(cfg.URLs),
		slots:       make(chan struct{}, cfg.MaxPubAcksInFlight),
		changed:     make(chan struct{}),
		subs:        make(map[*subscription]struct{}),
		managerDone: make(chan struct{}),
		closeDone:   make(chan struct{}),
	}
	// The server's ping subject, which stan keeps to itself: the server
	// derives it from the discover subject, as here.
	c.probeSubject = stan.DefaultDiscoverPrefix + "." + cfg.ClusterID + ".pings"
	c.probe, _ = (&pb.Ping{ConnID: []byte("natsclient-readiness-probe")}).Marshal()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := ctx.Err(); err != nil {
		c.cancel()
		return nil, fmt.Errorf("natsclient: connect: %w", err)
	}
	s, err := c.establish(ctx, true)
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.manage(s)
	return c, nil
}

// Status returns the connection's state now.
func (c *Client) Status() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// manage replaces lost sessions until Close. A NATS connection that drops
// and comes back (a server restart with its file store) keeps its session:
// nats.go re-subscribes and the server still knows the client, so this
// only runs when stan gives up (pings unanswered for PingInterval ×
// PingMaxOut, or the server no longer knows the client).
func (c *Client) manage(s *session) {
	defer close(c.managerDone)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-s.lost:
		}
		lostAt := time.Now()
		c.log.Warn("natsclient: NATS Streaming connection lost; reconnecting in the background", "error", s.lostErr)
		c.discard(s)
		next, err := c.establish(c.ctx, false)
		if err != nil {
			return // closing
		}
		c.log.Info("natsclient: NATS Streaming connection restored", "downtime", time.Since(lostAt))
		s = next
	}
}

// establish connects a new session and installs it, retrying with backoff
// until ctx ends. first marks the caller's Connect, which gives up on
// permanent errors; the background loop never does.
func (c *Client) establish(ctx context.Context, first bool) (*session, error) {
	var last error
	registered := 0 // consecutive "client ID already registered" answers
	for attempt := 0; ; attempt++ {
		dialTimeout := c.cfg.ConnectTimeout
		if dl, ok := ctx.Deadline(); ok {
			dialTimeout = min(dialTimeout, max(time.Until(dl), time.Millisecond))
		}
		s, err := c.dial(dialTimeout)
		if err == nil {
			if err = c.install(s); err == nil {
				return s, nil
			}
			c.discard(s)
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
		}
		if first && permanentConnectError(err) {
			return nil, fmt.Errorf("natsclient: connect to %s: %w", c.where, err)
		}
		wait := c.backoff(attempt)
		switch {
		case isClientIDRegistered(err):
			// Routine after a crash or during a rolling restart, and it
			// clears by itself: worth a line per attempt, not an alarm.
			level := slog.LevelInfo
			if registered == 0 {
				level = slog.LevelWarn
			}
			registered++
			c.log.Log(context.Background(), level, "natsclient: client ID still registered at the server (another live connection, or a crashed one not expired yet); retrying",
				"attempt", attempt+1, "retry_in", wait)
		case last == nil || err.Error() != last.Error():
			registered = 0
			c.log.Warn("natsclient: connect failed; retrying", "attempt", attempt+1, "retry_in", wait, "error", err)
		default:
			registered = 0
			c.log.Debug("natsclient: connect failed; retrying", "attempt", attempt+1, "retry_in", wait, "error", err)
		}
		last = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("natsclient: connect to %s (cluster %s) as %s: gave up after %d attempts: %w: %w",
				c.where, c.cfg.ClusterID, c.cfg.ClientID, attempt+1, ctx.Err(), last)
		case <-t.C:
		}
	}
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
		stan.ConnectWait(c.cfg.ConnectTimeout),
		stan.PubAckWait(c.cfg.AckTimeout),
		stan.MaxPubAcksInflight(c.cfg.MaxPubAcksInFlight),
		stan.Pings(int((c.cfg.PingInterval+time.Second-1)/time.Second), c.cfg.PingMaxOut),
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

func (c *Client) natsOptions(s *session, dialTimeout time.Duration) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.cfg.Name),
		nats.Timeout(dialTimeout),
		nats.PingInterval(c.cfg.PingInterval),
		nats.MaxPingsOutstanding(c.cfg.PingMaxOut),
		// stan adds MaxReconnects(-1) and ReconnectBufSize(-1): nats.go
		// retries for ever, and a publish while disconnected fails at once
		// instead of sitting in a buffer (publish waits for the link instead).
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return c.backoff(attempts - 1) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.linkDown(s, cmp.Or(err, nats.ErrDisconnected)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.reconnected(s, nc) }),
		nats.ClosedHandler(func(*nats.Conn) { c.sessionLost(s, nats.ErrConnectionClosed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			c.log.Warn("natsclient: NATS asynchronous error", "subject", subject, "error", err)
		}),
	}
	switch {
	case c.cfg.User != "":
		opts = append(opts, nats.UserInfo(c.cfg.User, c.cfg.Password))
	case c.cfg.Token != "":
		opts = append(opts, nats.Token(c.cfg.Token))
	case c.cfg.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("natsclient: NKey seed file: %w", err)
		}
		opts = append(opts, o)
	case c.cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.cfg.CredsFile))
	}
	if c.cfg.TLS != nil {
		opts = append(opts, nats.Secure(c.cfg.TLS))
	}
	return opts, nil
}

// install re-creates the client's subscriptions on s and makes s the
// client's session.
func (c *Client) install(s *session) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	c.mu.Unlock()
	for _, sub := range subs {
		if err := sub.attach(s); err != nil {
			return fmt.Errorf("natsclient: subscribe again to %s: %w", sub.subject, err)
		}
	}
	installed := false
	c.update(func() (State, error, bool) {
		if c.closing {
			return 0, nil, false
		}
		installed = true
		c.sess = s
		// The NATS connection may have dropped since stan.Connect; its
		// ReconnectHandler finds s installed and brings the link up.
		if nc := s.sc.NatsConn(); nc == nil || !nc.IsConnected() || s.isLost() {
			return Reconnecting, errLinkDown, true
		}
		c.link = &link{sess: s, down: make(chan struct{})}
		return Connected, nil, true
	})
	if !installed {
		return ErrClosed
	}
	return nil
}

// discard closes a session that is lost or was never installed. Its stan
// conn owns its NATS connection, so this closes that too; for a session
// stan already gave up on it returns at once.
func (c *Client) discard(s *session) {
	if err := s.sc.Close(); err != nil && !s.isLost() {
		c.log.Debug("natsclient: closing a dropped connection", "error", err)
	}
}

func (c *Client) sessionLost(s *session, err error) {
	s.lostOnce.Do(func() {
		s.lostErr = err
		close(s.lost)
	})
	c.linkDown(s, err)
}

func (c *Client) linkDown(s *session, cause error) {
	c.update(func() (State, error, bool) {
		// Close drops the connection on purpose: not a reconnect.
		if c.sess != s || c.link == nil || c.closing {
			return 0, nil, false
		}
		close(c.link.down)
		c.link = nil
		return Reconnecting, cause, true
	})
}

// reconnected starts confirming that the streaming server answers on a
// NATS connection that came back. A restarting server accepts NATS
// connections before its streaming layer has recovered its store and
// subscribed; a message published in that gap vanishes, and stan would
// wait the whole AckTimeout for its ack. So the link comes up only once
// the streaming server answers.
func (c *Client) reconnected(s *session, nc *nats.Conn) {
	c.mu.Lock()
	if c.closing || c.sess != s {
		c.mu.Unlock()
		return
	}
	c.probes.Add(1)
	c.mu.Unlock()
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
	for attempt := 0; ; attempt++ {
		if !nc.IsConnected() || s.isLost() || c.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
		_, err := nc.RequestWithContext(ctx, c.probeSubject, c.probe)
		cancel()
		if err == nil {
			c.linkUp(s)
			return
		}
		c.log.Debug("natsclient: streaming server not answering yet", "attempt", attempt+1, "error", err)
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-t.C:
		case <-s.lost:
			t.Stop()
		case <-c.ctx.Done():
			t.Stop()
		}
	}
}

func (c *Client) linkUp(s *session) {
	c.update(func() (State, error, bool) {
		if c.sess != s || c.link != nil || c.closing || s.isLost() {
			return 0, nil, false
		}
		c.link = &link{sess: s, down: make(chan struct{})}
		return Connected, nil, true
	})
}

// update applies f under the locks and, if the state changed, wakes the
// waiters, logs and calls OnStateChange.
func (c *Client) update(f func() (to State, cause error, ok bool)) {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	c.mu.Lock()
	to, cause, ok := f()
	ok = ok && to != c.state
	if ok {
		c.state = to
		close(c.changed)
		c.changed = make(chan struct{})
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	if to == Reconnecting {
		c.log.Warn("natsclient: disconnected; reconnecting", "error", cause)
	} else {
		c.log.Info("natsclient: " + to.String())
	}
	if c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(to, cause)
	}
}

// waitLink returns the current link, waiting for one while ctx allows.
func (c *Client) waitLink(ctx context.Context, op string, last error) (*link, error) {
	for {
		c.mu.Lock()
		l, changed, closing := c.link, c.changed, c.closing
		c.mu.Unlock()
		switch {
		case closing:
			return nil, fmt.Errorf("natsclient: %s: %w", op, ErrClosed)
		case ctx.Err() != nil:
			return nil, disconnected(op, ctx.Err(), last)
		case l != nil:
			return l, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
		case <-c.ctx.Done():
		}
	}
}

// pause waits before a retry on a link that still looks up, so an error
// that is immediate (a loss not reported yet) isn't hammered. It returns
// early when the link drops, ctx ends or the client closes; the caller's
// next waitLink tells which.
func (c *Client) pause(ctx context.Context, l *link, attempt int) {
	t := time.NewTimer(c.backoff(attempt))
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.down:
	case <-ctx.Done():
	case <-c.ctx.Done():
	}
}

// bound applies PublishWait to a context without a deadline.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.PublishWait)
}

// backoff returns the wait before retry number attempt (from 0):
// exponential from MinBackoff, capped at MaxBackoff, jittered over its
// upper half so that a cluster's clients don't reconnect in lockstep.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 0; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
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
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		select {
		case <-c.closeDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("natsclient: close: %w", ctx.Err())
		}
	}
	c.closing = true
	c.mu.Unlock()
	defer close(c.closeDone)
	c.cancel()

	c.subMu.Lock()
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	s := c.sess
	c.mu.Unlock()
	c.subMu.Unlock()

	var errs []error
	for _, sub := range subs {
		sub.stopped.Store(true)
	}
	for _, sub := range subs {
		if err := sub.drain(ctx); err != nil {
			errs = append(errs, err)
			break // ctx is over; the rest would fail alike
		}
	}
	if err := wait(ctx, &c.ops); err != nil {
		errs = append(errs, fmt.Errorf("natsclient: close: publishes still waiting for acks: %w", err))
	}
	if err := wait(ctx, &c.probes); err != nil { // they end with c.ctx
		errs = append(errs, fmt.Errorf("natsclient: close: %w", err))
	}

	if s != nil {
		told := true
		for _, sub := range subs {
			if ss := sub.current(s); ss != nil {
				// Close, not Unsubscribe: a durable must outlive us.
				if err := ss.Close(); err != nil && !subClosedAlready(err) {
					told = false
					if !retryable(err) {
						errs = append(errs, fmt.Errorf("natsclient: close subscription to %s: %w", sub.subject, err))
					}
				}
			}
		}
		if err := s.sc.Close(); err != nil && !s.isLost() {
			told = false
			if !retryable(err) {
				errs = append(errs, fmt.Errorf("natsclient: close connection: %w", err))
			}
		}
		if !told && !s.isLost() {
			c.log.Warn("natsclient: closed without reaching the server; it will expire the connection by itself")
		}
	}
	c.update(func() (State, error, bool) {
		if c.link != nil {
			close(c.link.down)
			c.link = nil
		}
		c.sess = nil
		return Closed, nil, true
	})

	// The manager may be in the middle of a connection attempt, which
	// ends within ConnectTimeout and then sees closing.
	select {
	case <-c.managerDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("natsclient: close: reconnect loop still running: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// wait waits for wg within ctx.
func wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redact drops credentials from URLs (nats://user:password@host, or a
// token as the user), which must not end up in errors and logs.
func redact(urls []string) string {
	out := make([]string, len(urls))
	for i, raw := range urls {
		out[i] = raw
		s := raw
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = nil
			out[i] = u.String()
		}
	}
	return strings.Join(out, ",")
}
