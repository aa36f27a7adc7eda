package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of Limit.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxInFlight    = 256
)

// minInFlight is the floor of the adaptive limit: a few requests always
// run, so the limit can learn that the backends have recovered.
const minInFlight = 4

// Limit bounds what next is asked to do. Each request's context gets a
// deadline, timeout, so that its database and broker calls give up by
// then rather than queue behind an overloaded backend. Requests beyond
// what the backends are serving well are answered at once with 503,
// Retry-After and the cluster's error body, rather than queued without
// bound (a client's own timeout would otherwise turn every queued
// request into a failure, with the work still done).
//
// How many run at once adapts, between a few and maxInFlight: a request
// that takes longer than a twentieth of timeout halves the limit (at most
// once per such interval), one that doesn't raises it slowly. So the
// queue forms here, where it costs a fast 503, and not in the database,
// where it would hold up everything, the outbox's lease renewals too.
// The probes and anything else a caller routes around Limit are not
// counted.
func Limit(next http.Handler, timeout time.Duration, maxInFlight int) http.Handler {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	l := &limiter{max: float64(maxInFlight), limit: float64(maxInFlight), target: timeout / 20}
	retryAfter := strconv.Itoa(max(1, int(timeout/time.Second/2)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire() {
			w.Header().Set("Retry-After", retryAfter)
			WriteErrors(w, http.StatusServiceUnavailable, Problem{Message: "The service is busy; try again shortly"})
			return
		}
		start := time.Now()
		defer func() { l.release(time.Since(start)) }()
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limiter is an additive-increase, multiplicative-decrease concurrency
// limit driven by latency.
type limiter struct {
	mu       sync.Mutex
	inFlight int
	limit    float64 // in [minInFlight, max]
	max      float64
	target   time.Duration // a request slower than this means overload
	cut      time.Time     // when the limit was last decreased
}

func (l *limiter) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= int(l.limit) {
		return false
	}
	l.inFlight++
	return true
}

func (l *limiter) release(took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	now := time.Now()
	switch {
	case took > l.target:
		// Once per target interval: the requests that were already
		// queued when it was cut report the same overload.
		if now.Sub(l.cut) >= l.target {
			l.limit = max(minInFlight, l.limit/2)
			l.cut = now
		}
	default:
		l.limit = min(l.max, l.limit+1/l.limit)
	}
}
