package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ticketkit/ticketkit/events"
)

// Link is the connection while it is up, on a driver's session S (its
// stan connection; nothing for JetStream, whose nats.go connection is the
// client's for life). Publishers wait on Down rather than on ack timers:
// an ack pending when the connection drops will never come, and the
// message is sent again on the next link.
type Link[S any] struct {
	Session S
	Down    chan struct{} // closed when the connection drops
}

// Conn is a client's connection state: what Status reports and
// OnStateChange is told, the link that calls wait for, and Close's
// bookkeeping. A driver's Client holds one and makes the connections.
//
// Its lock (Lock, Unlock) also guards the fields of the Client that change
// with the state, such as its session and its subscriptions, so that a
// change of both is one step. Methods named ...Locked need it held; the
// others take it.
type Conn[S any] struct {
	Settings
	log *slog.Logger
	pkg string // the driver's name, which starts its errors and logs

	// ctx is cancelled by Cancel when Close decides: it wakes everything
	// waiting for the connection.
	ctx    context.Context
	cancel context.CancelFunc

	// notifyMu orders state changes and their callbacks: a change and its
	// OnStateChange call happen under it, so callbacks arrive in order.
	// Taken before mu.
	notifyMu sync.Mutex

	mu        sync.Mutex
	state     State
	link      *Link[S]      // non-nil exactly while Connected
	changed   chan struct{} // closed and replaced on every state change
	closing   bool
	lost      error          // set if the connection was closed for good, not by Close
	ops       sync.WaitGroup // calls Close waits for; Add only under mu while !closing
	closeDone chan struct{}  // closed when the first Close returns
}

// New returns the state of a client of package pkg that is not connected
// yet. s has been checked; log is the client's.
func New[S any](pkg string, s Settings, log *slog.Logger) *Conn[S] {
	c := &Conn[S]{Settings: s, log: log, pkg: pkg, changed: make(chan struct{}), closeDone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Lock locks the state, and the client's fields that go with it.
func (c *Conn[S]) Lock() { c.mu.Lock() }

// Unlock unlocks what Lock locked.
func (c *Conn[S]) Unlock() { c.mu.Unlock() }

// Context ends when Cancel is called.
func (c *Conn[S]) Context() context.Context { return c.ctx }

// Cancel wakes everything waiting for the connection, for good: Close
// calls it once what it waits for no longer needs waking up.
func (c *Conn[S]) Cancel() { c.cancel() }

// Status returns the connection's state now.
func (c *Conn[S]) Status() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ClosingLocked reports whether Close has begun.
func (c *Conn[S]) ClosingLocked() bool { return c.closing }

// Update applies f under the lock and, if the state changed, wakes the
// waiters, logs and calls OnStateChange.
func (c *Conn[S]) Update(f func() (to State, cause error, ok bool)) {
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
		c.log.Warn(c.pkg+": disconnected; reconnecting", "error", cause)
	} else {
		c.log.Info(c.pkg + ": " + to.String())
	}
	if c.OnStateChange != nil {
		c.OnStateChange(to, cause)
	}
}

// Install makes s the connection, unless Close has begun (then it returns
// false). install runs under the lock, for the client to install s in its
// own fields, and reports whether the connection is up: then the state is
// Connected, else Reconnecting until LinkUp. It looks under the lock so
// that a drop it misses is one the client's handler sees with s installed.
func (c *Conn[S]) Install(s S, install func() (up bool)) bool {
	installed := false
	c.Update(func() (State, error, bool) {
		if c.closing {
			return 0, nil, false
		}
		installed = true
		if !install() {
			return Reconnecting, ErrLinkDown, true
		}
		c.link = &Link[S]{Session: s, Down: make(chan struct{})}
		return Connected, nil, true
	})
	return installed
}

// LinkUp brings the link up on s once the connection is back, unless it
// is up already, Close has begun, the connection was lost for good, or
// current (called under the lock) says s is no longer the client's.
func (c *Conn[S]) LinkUp(s S, current func() bool) {
	c.Update(func() (State, error, bool) {
		if c.link != nil || c.closing || c.lost != nil || (current != nil && !current()) {
			return 0, nil, false
		}
		c.link = &Link[S]{Session: s, Down: make(chan struct{})}
		return Connected, nil, true
	})
}

// LinkDown takes the link down (Reconnecting, for cause), unless it is down
// already, Close has begun (which drops the connection on purpose: not a
// reconnect), or current (called under the lock) says the connection that
// dropped is no longer the client's.
func (c *Conn[S]) LinkDown(cause error, current func() bool) {
	c.Update(func() (State, error, bool) {
		if c.link == nil || c.closing || (current != nil && !current()) {
			return 0, nil, false
		}
		c.dropLinkLocked()
		return Reconnecting, cause, true
	})
}

// SetClosed makes the state Closed for good, with cause: nil when Close
// did it, else why the connection was lost, which calls then report. set,
// if not nil, runs first under the lock.
func (c *Conn[S]) SetClosed(cause error, set func()) {
	c.Update(func() (State, error, bool) {
		if set != nil {
			set()
		}
		if cause != nil {
			c.lost = cause
		}
		c.dropLinkLocked()
		return Closed, cause, true
	})
}

func (c *Conn[S]) dropLinkLocked() {
	if c.link != nil {
		close(c.link.Down)
		c.link = nil
	}
}

// WaitLink returns the current link, waiting for one while ctx allows.
// op names the call in errors, last is its last failure.
func (c *Conn[S]) WaitLink(ctx context.Context, op string, last error) (*Link[S], error) {
	for {
		c.mu.Lock()
		l, changed, closing, lost := c.link, c.changed, c.closing, c.lost
		c.mu.Unlock()
		switch {
		case closing:
			return nil, fmt.Errorf("%s: %s: %w", c.pkg, op, ErrClosed)
		case lost != nil:
			return nil, fmt.Errorf("%s: %s: %w: connection closed by nats.go: %w", c.pkg, op, ErrClosed, lost)
		case ctx.Err() != nil:
			return nil, c.Disconnected(op, ctx.Err(), last)
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

// Disconnected is the error of a call that waited for the connection in
// vain: ErrDisconnected, why the wait ended, and the last failure seen.
func (c *Conn[S]) Disconnected(op string, waitErr, last error) error {
	if last == nil {
		return fmt.Errorf("%s: %s: %w: %w", c.pkg, op, ErrDisconnected, waitErr)
	}
	return fmt.Errorf("%s: %s: %w: %w (last error: %w)", c.pkg, op, ErrDisconnected, waitErr, last)
}

// Pause waits before a retry on a link that still looks up, so an error
// that is immediate (a loss not reported yet) isn't hammered. It returns
// early when l drops, ctx ends or Cancel is called; the caller's next
// WaitLink tells which. l may be nil.
func (c *Conn[S]) Pause(ctx context.Context, l *Link[S], attempt int) {
	t := time.NewTimer(c.Backoff(attempt))
	defer t.Stop()
	var down <-chan struct{}
	if l != nil {
		down = l.Down
	}
	select {
	case <-t.C:
	case <-down:
	case <-ctx.Done():
	case <-c.ctx.Done():
	}
}

// Retry calls try on the link, waiting for one within ctx, until try
// returns nil or an error that retryable refuses, which Retry returns. It
// pauses between attempts. When the wait ends, it returns WaitLink's error:
// ErrClosed, or ErrDisconnected with ctx's error and try's last.
func (c *Conn[S]) Retry(ctx context.Context, op string, retryable func(error) bool, try func(*Link[S]) error) error {
	var last error
	for attempt := 0; ; attempt++ {
		l, err := c.WaitLink(ctx, op, last)
		if err != nil {
			return err
		}
		if err = try(l); err == nil || !retryable(err) {
			return err
		}
		last = err
		c.Pause(ctx, l, attempt)
	}
}

// BeginOp counts a call Close waits for (WaitOps), unless Close has begun:
// then it returns false. A true must be followed by EndOp.
func (c *Conn[S]) BeginOp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.ops.Add(1)
	return true
}

// EndOp ends what BeginOp began.
func (c *Conn[S]) EndOp() { c.ops.Done() }

// WaitOps waits, within ctx, for the calls BeginOp counted.
func (c *Conn[S]) WaitOps(ctx context.Context) error { return Wait(ctx, &c.ops) }

// BeginClose marks the client closing. The first call returns true and
// must call EndClose once done. Later calls return false once the first
// has ended, or an error wrapping ctx's if it ends first.
func (c *Conn[S]) BeginClose(ctx context.Context) (bool, error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		select {
		case <-c.closeDone:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("%s: close: %w", c.pkg, ctx.Err())
		}
	}
	c.closing = true
	c.mu.Unlock()
	return true, nil
}

// EndClose lets the Close calls waiting for the first one return.
func (c *Conn[S]) EndClose() { close(c.closeDone) }

// Publish is the loop of a driver's Publish and PublishBatch, which send
// does the driver's part of: it returns errs[i] for msgs[i]. It checks
// subjects (check) and ctx, counts the call for Close, waits for the link
// within ctx (or PublishWait), and calls send again with the messages it
// returned to retry, after a pause, until they are all done.
func (c *Conn[S]) Publish(ctx context.Context, msgs []events.Outgoing, check func(subject string) error,
	send func(ctx context.Context, l *Link[S], todo []int, errs []error) (retry []int, last error)) []error {
	errs := make([]error, len(msgs))
	if len(msgs) == 0 {
		return errs
	}
	fail := func(todo []int, err error) {
		for _, i := range todo {
			errs[i] = err
		}
	}
	todo := make([]int, 0, len(msgs))
	for i := range msgs {
		if err := check(msgs[i].Subject); err != nil {
			errs[i] = fmt.Errorf("%s: publish: %w", c.pkg, err)
			continue
		}
		todo = append(todo, i)
	}
	if err := ctx.Err(); err != nil {
		fail(todo, fmt.Errorf("%s: publish: %w", c.pkg, err))
		return errs
	}
	if !c.BeginOp() {
		fail(todo, fmt.Errorf("%s: publish: %w", c.pkg, ErrClosed))
		return errs
	}
	defer c.EndOp()

	ctx, cancel := c.Bound(ctx)
	defer cancel()
	var last error
	for attempt := 0; len(todo) > 0; attempt++ {
		l, err := c.WaitLink(ctx, "publish", last)
		if err != nil {
			fail(todo, err)
			break
		}
		todo, last = send(ctx, l, todo, errs)
		if len(todo) > 0 {
			c.Pause(ctx, l, attempt)
		}
	}
	// No retry can shrink a message to the server's limit: say so, so that
	// a relay or a dead-letter path gives up on it instead of retrying.
	for i, err := range errs {
		if errors.Is(err, nats.ErrMaxPayload) && !events.IsPermanent(err) {
			errs[i] = events.Permanent(err)
		}
	}
	return errs
}

// CheckSubscribe checks a driver's Subscribe arguments (the subject with
// check) and ctx, and returns opts with the events package's defaults for
// AckWait and MaxInFlight.
func (c *Conn[S]) CheckSubscribe(ctx context.Context, subject string, opts events.SubscribeOptions, deliver func(events.Message),
	check func(subject string) error) (events.SubscribeOptions, error) {
	if deliver == nil {
		return opts, fmt.Errorf("%s: subscribe: nil deliver callback", c.pkg)
	}
	if err := check(subject); err != nil {
		return opts, fmt.Errorf("%s: subscribe: %w", c.pkg, err)
	}
	if opts.AckWait <= 0 {
		opts.AckWait = events.DefaultAckWait
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = events.DefaultMaxInFlight
	}
	if err := ctx.Err(); err != nil {
		return opts, fmt.Errorf("%s: subscribe %s: %w", c.pkg, subject, err)
	}
	return opts, nil
}

// Options are the nats.Options both drivers dial with: name, timeouts,
// pings, the client's reconnect backoff, authentication, TLS, and a
// logger for asynchronous errors. The driver adds its handlers.
func (c *Conn[S]) Options(dialTimeout time.Duration) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(dialTimeout),
		nats.PingInterval(c.PingInterval),
		nats.MaxPingsOutstanding(c.PingMaxOut),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return c.Backoff(attempts - 1) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			c.log.Warn(c.pkg+": NATS asynchronous error", "subject", subject, "error", err)
		}),
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%s: NKey seed file: %w", c.pkg, err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS != nil {
		opts = append(opts, nats.Secure(c.TLS))
	}
	return opts, nil
}

// Wait waits for wg within ctx.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
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

// Attempts describes a driver's connection attempts for Establish.
type Attempts struct {
	// Try makes one attempt within dialTimeout; nil means connected.
	Try func(dialTimeout time.Duration) error
	// Permanent: fail at once on PermanentConnectError (a first Connect,
	// whose settings may be wrong; a reconnect keeps trying).
	Permanent bool
	// Stop, if set, ends the loop with err (the client closed meanwhile).
	Stop func(err error) bool
	// Note, if set, may log a failed attempt its own way and report true.
	Note func(err error, attempt int, wait time.Duration) bool
	// Where names the servers and the client in errors.
	Where string
}

// Establish retries a.Try with the client's jittered backoff until it
// succeeds or ctx ends. When ctx ends, its error and the cause of the last
// attempt that had its full time are both wrapped: an attempt cut short by
// the deadline says nothing about the server.
func (c *Conn[S]) Establish(ctx context.Context, a Attempts) error {
	var last error
	gaveUp := func(attempts int) error {
		return fmt.Errorf("%s: connect to %s: gave up after %d attempts: %w: %w", c.pkg, a.Where, attempts, ctx.Err(), last)
	}
	for attempt := 0; ; attempt++ {
		err := a.Try(c.DialTimeout(ctx))
		switch {
		case err == nil:
			if attempt > 0 {
				c.log.Info(c.pkg+": connected", "attempts", attempt+1)
			}
			return nil
		case a.Stop != nil && a.Stop(err):
			return err
		case a.Permanent && PermanentConnectError(err):
			return fmt.Errorf("%s: connect to %s: %w", c.pkg, a.Where, err)
		case ctx.Err() != nil && last != nil:
			return gaveUp(attempt + 1)
		}
		wait := c.Backoff(attempt)
		if a.Note == nil || !a.Note(err, attempt, wait) {
			level := slog.LevelDebug
			if last == nil || err.Error() != last.Error() {
				level = slog.LevelWarn
			}
			c.log.Log(context.Background(), level, c.pkg+": connect failed; retrying", "attempt", attempt+1, "retry_in", wait, "error", err)
		}
		last = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		// When the timer and the deadline fire together, select may pick
		// the timer; another attempt would get a sliver of time and its
		// i/o timeout would hide the cause worth reporting.
		if ctx.Err() != nil {
			return gaveUp(attempt + 1)
		}
	}
}
