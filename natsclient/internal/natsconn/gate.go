package natsconn

import (
	"context"
	"sync"
	"sync/atomic"
)

// Gate keeps a subscription's deliveries one at a time, even when an old
// connection's (or consumer's) callback overlaps a new one's, and lets
// Close stop them and wait, within a context, for the one running.
type Gate struct {
	turn     chan struct{} // held while a delivery runs
	stopped  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
}

// NewGate returns an open gate.
func NewGate() *Gate {
	return &Gate{turn: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Enter waits for the turn to deliver. It returns false, without the
// turn, once Stop was called: the message is not to be delivered. A true
// must be followed by Leave.
func (g *Gate) Enter() bool {
	if g.stopped.Load() {
		return false
	}
	select {
	case g.turn <- struct{}{}: // the usual case, without a full select
	default:
		select {
		case g.turn <- struct{}{}:
		case <-g.stop:
			return false
		}
	}
	if g.stopped.Load() {
		<-g.turn
		return false
	}
	return true
}

// Leave gives the turn back.
func (g *Gate) Leave() { <-g.turn }

// Stop makes deliveries stop: Enter refuses from now on. It is idempotent.
func (g *Gate) Stop() {
	g.stopOnce.Do(func() {
		g.stopped.Store(true)
		close(g.stop)
	})
}

// Stopped reports whether Stop was called.
func (g *Gate) Stopped() bool { return g.stopped.Load() }

// Stopping is closed by Stop.
func (g *Gate) Stopping() <-chan struct{} { return g.stop }

// Drain waits, within ctx, for a running delivery to Leave, and returns
// ctx's error if it does not. Callers Stop first, so no new one starts.
func (g *Gate) Drain(ctx context.Context) error {
	select {
	case g.turn <- struct{}{}:
		<-g.turn
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Once lets the first of a subscription's Close calls do the work, and
// the others wait for it.
type Once struct {
	once sync.Once
	done chan struct{}
}

// NewOnce returns a Once.
func NewOnce() *Once { return &Once{done: make(chan struct{})} }

// Begin returns true to the first caller, which must call End once done.
// Later callers get false once the first has ended, or ctx's error if it
// ends first.
func (o *Once) Begin(ctx context.Context) (bool, error) {
	first := false
	o.once.Do(func() { first = true })
	if first {
		return true, nil
	}
	select {
	case <-o.done:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// End lets the later callers of Begin return.
func (o *Once) End() { close(o.done) }
