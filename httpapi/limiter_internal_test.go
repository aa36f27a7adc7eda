package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// clock is a fake clock for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(maxInFlight int) (*limiter, *clock) {
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	return newLimiter(10*time.Second, maxInFlight, c.now), c
}

// serve runs one window after another of n requests at once, each
// taking the latency latency(i) gives the i-th answer.
func (l *limiter) serve(n, windows int, latency func(i int) time.Duration) (refused int) {
	i := 0
	for range windows {
		for admitted := 0; admitted < windowSamples; {
			got := 0
			for range n {
				if l.acquire() {
					got++
				} else {
					refused++
				}
			}
			for range got {
				l.release(latency(i))
				i++
			}
			admitted += got
		}
	}
	return refused
}

// A database that is slow but steady (50 to 200 ms, whatever the load)
// is not a reason to shed: 16 at once are all served, and the limit
// grows while they use it. The old limiter halved on anything slower than
// timeout/20.
func TestLimiterKeepsASlowSteadyDatabase(t *testing.T) {
	l, c := newTestLimiter(256)
	steady := func(i int) time.Duration { return time.Duration(50+50*(i%4)) * time.Millisecond }
	for range 120 { // two minutes, a few windows a second
		if refused := l.serve(16, 3, steady); refused != 0 {
			t.Fatalf("%d of 16 requests refused on a steady database (limit %v)", refused, l.limit)
		}
		c.advance(time.Second)
	}
	if l.limit < 32 {
		t.Errorf("limit %v after two minutes of 16 at once, want at least the initial 32", l.limit)
	}
}

// A database that serves one request at a time answers 16 at once 16
// times as slowly as one: a rise well above the minimum, but while the
// answers take a small part of their deadline, that queue is worth having
// and the 16 are served.
func TestLimiterServesAQueueWithinTheDeadline(t *testing.T) {
	l, c := newTestLimiter(256)
	one := func(int) time.Duration { return 15 * time.Millisecond }
	l.serve(1, 10, one)
	sixteen := func(int) time.Duration { return 16 * 15 * time.Millisecond }
	for range 60 {
		if refused := l.serve(16, 3, sixteen); refused != 0 {
			t.Fatalf("%d of 16 requests refused (limit %v)", refused, l.limit)
		}
		c.advance(time.Second)
	}
}

// The limit shrinks when latency rises well above the recent minimum,
// to the floor and no lower, and grows back to the maximum once latency
// is back where it was.
func TestLimiterFollowsLatencyAgainstItsMinimum(t *testing.T) {
	l, c := newTestLimiter(64)
	fast := func(int) time.Duration { return 300 * time.Millisecond }
	l.serve(32, 5, fast)
	if l.limit != 64 {
		t.Fatalf("limit %v after fast answers, want the maximum 64", l.limit)
	}
	// 3.5 times the minimum, and more than a tenth of the deadline.
	slow := func(int) time.Duration { return 1050 * time.Millisecond }
	l.serve(windowSamples, 1, slow)
	if l.limit >= 64 || l.limit < 32 {
		t.Fatalf("limit %v after one slow window, want a proportional cut, at most by half", l.limit)
	}
	for range 20 {
		l.serve(64, 1, slow)
		c.advance(time.Second)
	}
	if l.limit != minInFlight {
		t.Fatalf("limit %v after a long overload, want the floor %d", l.limit, minInFlight)
	}
	l.serve(64, 40, fast)
	if l.limit != 64 {
		t.Fatalf("limit %v after the backends recovered, want the maximum 64", l.limit)
	}
}

// The recent minimum is recent: after a minute at a new, slower but
// steady latency, that latency is the norm, and the limit grows again.
func TestLimiterForgetsAnOldMinimum(t *testing.T) {
	l, c := newTestLimiter(64)
	l.serve(32, 5, func(int) time.Duration { return 100 * time.Millisecond })
	slower := func(int) time.Duration { return 2 * time.Second }
	for range 30 {
		l.serve(64, 1, slower)
		c.advance(time.Second)
	}
	if l.limit != minInFlight {
		t.Fatalf("limit %v, want the floor while the old minimum counts", l.limit)
	}
	c.advance(baselineAge)
	l.serve(64, 40, slower)
	if l.limit != 64 {
		t.Fatalf("limit %v a minute later, want the maximum 64", l.limit)
	}
}

// Whatever was measured before, each answer at more than half the
// deadline halves the limit: they would soon be past it.
func TestLimiterKeepsWithinTheDeadline(t *testing.T) {
	l, _ := newTestLimiter(64)
	slow := func(int) time.Duration { return 6 * time.Second } // the same all along: no gradient
	l.acquire()
	l.release(slow(0))
	if l.limit != initialLimit/2 {
		t.Fatalf("limit %v after one late answer, want half of %d", l.limit, initialLimit)
	}
	l.serve(64, 10, slow)
	if l.limit != minInFlight {
		t.Fatalf("limit %v, want the floor %d", l.limit, minInFlight)
	}
	// Back to answers well within the deadline: it grows again.
	l.serve(64, 40, func(int) time.Duration { return 100 * time.Millisecond })
	if l.limit != 64 {
		t.Fatalf("limit %v after the backends recovered, want the maximum 64", l.limit)
	}
}

// Readiness follows sustained refusals, not one.
func TestLimiterReadiness(t *testing.T) {
	l, c := newTestLimiter(4)
	lim := &Limiter{l: l}
	ready := func() error { return lim.Ready(context.Background()) }
	for range 4 {
		l.acquire()
	}
	l.acquire() // one refusal
	if err := ready(); err != nil {
		t.Fatalf("Ready after one refusal: %v, want nil", err)
	}
	for range 9 {
		l.acquire()
	}
	if err := ready(); !errors.Is(err, ErrShedding) {
		t.Fatalf("Ready after 10 refusals of 14: %v, want ErrShedding", err)
	}
	c.advance(readyWindow)
	if err := ready(); err != nil {
		t.Fatalf("Ready %v later: %v, want nil", readyWindow, err)
	}
	// A few refusals among many served: still ready.
	for range 4 {
		l.release(time.Millisecond)
	}
	for range 200 {
		if l.acquire() {
			l.release(time.Millisecond)
		}
	}
	for range 4 {
		l.acquire()
	}
	for range 12 {
		l.acquire()
	}
	if err := ready(); err != nil {
		t.Fatalf("Ready with 12 refusals of 216: %v, want nil", err)
	}
}
