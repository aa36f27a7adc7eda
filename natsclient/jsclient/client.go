package jsclient

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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
)

// State is where a Client's connection stands.
type State int32

const (
	// Connected: calls go straight to the server.
	Connected State = iota + 1
	// Reconnecting: the connection dropped and nats.go is getting it back
	// on its own; calls wait for it within their context.
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

// Client is a JetStream connection that keeps itself up. It is safe for
// concurrent use. Create it with Connect, release it with Close.
type Client struct {
	cfg   Config
	log   *slog.Logger
	urls  string
	where string // urls without credentials, for errors and logs
	nc    *nats.Conn
	js    jetstream.JetStream

	// ctx is cancelled when Close begins: it wakes everything waiting for
	// the connection and stops the subscriptions' supervisors.
	ctx    context.Context
	cancel context.CancelFunc

	// notifyMu orders state changes and their callbacks: a change and its
	// OnStateChange call happen under it, so callbacks arrive in order.
	// Taken before mu.
	notifyMu sync.Mutex

	mu      sync.Mutex
	state   State
	link    *link         // non-nil exactly while Connected
	changed chan struct{} // closed and replaced on every state change
	closing bool
	lost    error // set if nats.go closed the connection by itself
	subs    map[*subscription]struct{}
	ops     sync.WaitGroup // publish calls in progress; Add only under mu while !closing

	closeDone chan struct{}
}

// link is the connection while it is up. Publishers wait on down rather
// than on ack timers: an ack pending when the connection drops will never
// come, and the message is sent again on the next link.
type link struct {
	down chan struct{}
}

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
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger.With("nats", "jetstream", "name", cfg.Name),
		urls:      strings.Join(cfg.URLs, ","),
		where:     redact(cfg.URLs),
		changed:   make(chan struct{}),
		subs:      make(map[*subscription]struct{}),
		closeDone: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := ctx.Err(); err != nil {
		c.cancel()
		return nil, fmt.Errorf("jsclient: connect: %w", err)
	}
	if err := c.dialLoop(ctx); err != nil {
		c.cancel()
		return nil, err
	}
	if err := c.provisionLoop(ctx, cfg.Streams); err != nil {
		c.mu.Lock()
		c.closing = true // the connection closing is no news to report
		c.mu.Unlock()
		c.cancel()
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// dialLoop makes the first connection, retrying with backoff until ctx
// ends.
func (c *Client) dialLoop(ctx context.Context) error {
	var last error
	for attempt := 0; ; attempt++ {
		dialTimeout := c.cfg.ConnectTimeout
		if dl, ok := ctx.Deadline(); ok {
			dialTimeout = min(dialTimeout, max(time.Until(dl), time.Millisecond))
		}
		err := c.dial(dialTimeout)
		if err == nil {
			if attempt > 0 {
				c.log.Info("jsclient: connected", "attempts", attempt+1)
			}
			return nil
		}
		if permanentConnectError(err) {
			return fmt.Errorf("jsclient: connect to %s: %w", c.where, err)
		}
		wait := c.backoff(attempt)
		if last == nil || err.Error() != last.Error() {
			c.log.Warn("jsclient: connect failed; retrying", "attempt", attempt+1, "retry_in", wait, "error", err)
		} else {
			c.log.Debug("jsclient: connect failed; retrying", "attempt", attempt+1, "retry_in", wait, "error", err)
		}
		last = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("jsclient: connect to %s: gave up after %d attempts: %w: %w", c.where, attempt+1, ctx.Err(), last)
		case <-t.C:
		}
	}
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
		jetstream.WithDefaultTimeout(c.cfg.ConnectTimeout),
	)
	if err != nil {
		nc.Close()
		return err
	}
	c.nc, c.js = nc, js
	c.update(func() (State, error, bool) {
		if nc.IsConnected() {
			c.link = &link{down: make(chan struct{})}
			return Connected, nil, true
		}
		return Reconnecting, errLinkDown, true
	})
	return nil
}

func (c *Client) natsOptions(dialTimeout time.Duration) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.cfg.Name),
		nats.Timeout(dialTimeout),
		nats.PingInterval(c.cfg.PingInterval),
		nats.MaxPingsOutstanding(c.cfg.PingMaxOut),
		// Never give up: reconnect for ever, with jitter so that a
		// cluster's clients don't come back in lockstep, and through auth
		// errors, which an operator can fix on the server.
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return c.backoff(attempts - 1) }),
		nats.IgnoreAuthErrorAbort(),
		// A publish while disconnected fails at once instead of sitting in
		// a buffer: Publish waits for the link instead, within its ctx.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.linkDown(cmp.Or(err, nats.ErrDisconnected)) }),
		nats.ReconnectHandler(func(*nats.Conn) { c.linkUp() }),
		nats.ClosedHandler(func(nc *nats.Conn) { c.connClosed(nc) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			c.log.Warn("jsclient: NATS asynchronous error", "subject", subject, "error", err)
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
			return nil, fmt.Errorf("jsclient: NKey seed file: %w", err)
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

// Status returns the connection's state now.
func (c *Client) Status() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Client) linkDown(cause error) {
	c.update(func() (State, error, bool) {
		if c.link == nil || c.closing {
			return 0, nil, false
		}
		close(c.link.down)
		c.link = nil
		return Reconnecting, cause, true
	})
}

func (c *Client) linkUp() {
	c.update(func() (State, error, bool) {
		if c.link != nil || c.closing || c.lost != nil {
			return 0, nil, false
		}
		c.link = &link{down: make(chan struct{})}
		return Connected, nil, true
	})
}

// connClosed handles nats.go closing the connection. After Close that is
// expected; otherwise (it should not happen: reconnects never stop) the
// client is dead, and says so.
func (c *Client) connClosed(nc *nats.Conn) {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return
	}
	cause := cmp.Or(nc.LastError(), nats.ErrConnectionClosed)
	c.log.Error("jsclient: the NATS connection was closed by nats.go; this client is unusable", "error", cause)
	c.update(func() (State, error, bool) {
		c.lost = cause
		if c.link != nil {
			close(c.link.down)
			c.link = nil
		}
		return Closed, cause, true
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
		c.log.Warn("jsclient: disconnected; reconnecting", "error", cause)
	} else {
		c.log.Info("jsclient: " + to.String())
	}
	if c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(to, cause)
	}
}

// waitLink returns the current link, waiting for one while ctx allows.
func (c *Client) waitLink(ctx context.Context, op string, last error) (*link, error) {
	for {
		c.mu.Lock()
		l, changed, closing, lost := c.link, c.changed, c.closing, c.lost
		c.mu.Unlock()
		switch {
		case closing:
			return nil, fmt.Errorf("jsclient: %s: %w", op, ErrClosed)
		case lost != nil:
			return nil, fmt.Errorf("jsclient: %s: %w: connection closed by nats.go: %w", op, ErrClosed, lost)
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
// that is immediate isn't hammered. It returns early when the link drops,
// ctx ends or the client closes; the caller's next waitLink tells which.
func (c *Client) pause(ctx context.Context, l *link, attempt int) {
	t := time.NewTimer(c.backoff(attempt))
	defer t.Stop()
	var down <-chan struct{}
	if l != nil {
		down = l.down
	}
	select {
	case <-t.C:
	case <-down:
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

// request bounds one JetStream API request by ConnectTimeout within ctx.
func (c *Client) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.ConnectTimeout)
}

// backoff returns the wait before retry number attempt (from 0):
// exponential from MinBackoff, capped at MaxBackoff, jittered over its
// upper half so that a cluster's clients don't retry in lockstep.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 0; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
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
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		select {
		case <-c.closeDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("jsclient: close: %w", ctx.Err())
		}
	}
	c.closing = true
	subs := make([]*subscription, 0, len(c.subs))
	for sub := range c.subs {
		subs = append(subs, sub)
	}
	c.mu.Unlock()
	defer close(c.closeDone)

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
	if err := wait(ctx, &c.ops); err != nil {
		errs = append(errs, fmt.Errorf("jsclient: close: publishes still waiting for acks: %w", err))
	}
	// Only now wake the waiters: publishes above could still finish.
	c.cancel()
	for _, sub := range subs {
		if err := sub.stopConsuming(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.nc.IsConnected() {
		// Acks, naks and terms are fire and forget: make sure the server
		// has them before the connection goes.
		d := c.cfg.ConnectTimeout
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl))
		}
		if d > 0 {
			if err := c.nc.FlushTimeout(d); err != nil {
				c.log.Debug("jsclient: flush before close", "error", err)
			}
		}
	}
	c.nc.Close()
	c.update(func() (State, error, bool) {
		if c.link != nil {
			close(c.link.down)
			c.link = nil
		}
		return Closed, nil, true
	})
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
		} else if err != nil {
			out[i] = "(unparsable URL)"
		}
	}
	return strings.Join(out, ",")
}
