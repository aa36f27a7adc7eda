package httpapi

import (
	"testing"
	"time"
)

// The adaptive limit, on synthetic latencies: a slow request halves it
// (once per interval), fast ones raise it back, never below the floor nor
// above the maximum.
func TestLimiterAdapts(t *testing.T) {
	l := &limiter{max: 16, limit: 16, target: time.Hour}
	admitted := func() int {
		n := 0
		for l.acquire() {
			n++
		}
		for range n {
			l.inFlight-- // undo without feedback
		}
		return n
	}
	if n := admitted(); n != 16 {
		t.Fatalf("%d admitted at first, want the maximum 16", n)
	}
	l.acquire()
	l.acquire()
	l.release(2 * time.Hour)
	l.release(2 * time.Hour) // the same overload, reported twice: one cut
	if n := admitted(); n != 8 {
		t.Fatalf("%d admitted after a slow request, want 8", n)
	}
	l.cut = time.Time{} // a new interval
	for range 5 {
		l.acquire()
		l.release(2 * time.Hour)
		l.cut = time.Time{}
	}
	if n := admitted(); n != minInFlight {
		t.Fatalf("%d admitted after a long overload, want the floor %d", n, minInFlight)
	}
	for range 1000 {
		l.acquire()
		l.release(time.Millisecond)
	}
	if n := admitted(); n != 16 {
		t.Fatalf("%d admitted after the backends recovered, want the maximum 16", n)
	}
}
