package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of Limit.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxInFlight    = 256
)

// ErrShedding is what Limiter.Ready reports while the limiter is
// refusing a good part of the requests: traffic is better sent to
// another replica.
var ErrShedding = errors.New("httpapi: shedding load")

// The limiter's constants. They are relative (to the latency the
// service itself saw recently, to the request timeout, to the limit), so
// they need no tuning for a particular database.
const (
	// minInFlight is the floor of the limit: a few requests always run,
	// so the limiter keeps measuring, and learns that the backends have
	// recovered.
	minInFlight = 4
	// initialLimit is where the limit starts (or maxInFlight, if lower):
	// enough for a few dozen clients at once before anything has been
	// measured, without handing a cold database hundreds of requests.
	initialLimit = 32
	// windowSamples answers make one measurement: their median latency.
	windowSamples = 10
	// baselineAge is how long a measurement counts towards the recent
	// minimum latency, the service's own idea of "not queued".
	baselineAge = time.Minute
	// A window whose median is above tolerance times the recent minimum
	// cuts the limit in proportion (by half at most), if it is also
	// above a tenth of the request timeout (queueAllowance); one at most
	// growBelow times it raises the limit, if the limit was in use; in
	// between the limit holds.
	tolerance      = 2.0
	growBelow      = 1.5
	queueAllowance = 10
	// Readiness: Ready reports ErrShedding while, over the last
	// readyWindow, at least refusedForUnready requests and at least
	// a tenth of all of them were refused.
	readyWindow       = 5 * time.Second
	refusedForUnready = 10
)

// Limit bounds what next is asked to do: it is
// NewLimiter(timeout, maxInFlight).Handler(next); see Limiter.
func Limit(next http.Handler, timeout time.Duration, maxInFlight int) http.Handler {
	return NewLimiter(timeout, maxInFlight).Handler(next)
}

// Limiter bounds the requests an API runs at once, so that the queue
// forms in front of it, where it costs a fast 503, and not in the
// database, where it would hold up everything, the outbox's lease
// renewals too. Each request admitted gets a deadline, timeout, so that
// its database and broker calls give up by then rather than queue behind
// an overloaded backend. Requests beyond the limit are answered at once
// with 503, Retry-After and the cluster's error body, rather than queued
// without bound (a client's own timeout would otherwise turn every queued
// request into a failure, with the work still done).
//
// The limit adapts, between a few and maxInFlight, to the latency of the
// handler measured against the service's own recent minimum (a gradient
// limiter, after Netflix's concurrency-limits and TCP Vegas): per ten
// answers, their median latency is compared with the lowest such median
// of the last minute. Within half as much again, the limit grows (if it
// was in use); beyond twice, it shrinks in proportion, by half at most;
// in between it holds. A database that is slow but steady is therefore
// not a reason to shed, only one that gets slower as more is asked of it.
//
// Two bounds come from the deadline. A rise above the minimum that leaves
// the median within a tenth of timeout doesn't shrink the limit: such a
// queue costs a client less than a 503 and a retry would, and a database
// that serves one write at a time (FerretDB on SQLite) would otherwise
// be held to a handful of requests, shedding even 16 clients that wait
// for their answers. And each answer later than half of timeout halves
// the limit at once, whatever was measured before, so answers keep within
// their deadline.
//
// Clients' speed is not the backends' latency. A request's body, up to
// DefaultMaxBody, is read before the request takes a place, within the
// server's ReadTimeout, or within timeout on a server without one (what
// doesn't arrive in time is a read error for the handler where it reads
// the body: ReadObject answers it 400); and the latency measured ends
// when the handler starts its answer, not when the client has read it.
// A slow client costs its own connection and a read deadline, nobody
// else's place, and it doesn't move the limit.
//
// The probes and anything else a caller routes around the limiter are
// not counted.
type Limiter struct {
	timeout    time.Duration
	retryAfter string
	l          *limiter
}

// NewLimiter returns a limiter of requests with deadline timeout (10 s
// if not positive) and at most maxInFlight (256 if not positive) at once.
func NewLimiter(timeout time.Duration, maxInFlight int) *Limiter {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	return &Limiter{
		timeout:    timeout,
		retryAfter: strconv.Itoa(max(1, int(timeout/time.Second/2))),
		l:          newLimiter(timeout, maxInFlight, time.Now),
	}
}

// Handler returns next behind the limiter. Several handlers may share
// one Limiter, and so one limit.
func (lim *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		readBody(w, r, lim.timeout)
		if !lim.l.acquire() {
			w.Header().Set("Retry-After", lim.retryAfter)
			WriteErrors(w, http.StatusServiceUnavailable, Problem{Message: "The service is busy; try again shortly"})
			return
		}
		tw := &timedWriter{ResponseWriter: w, now: lim.l.now, start: lim.l.now()}
		defer func() { lim.l.release(tw.latency()) }()
		ctx, cancel := context.WithTimeout(r.Context(), lim.timeout)
		defer cancel()
		next.ServeHTTP(tw, r.WithContext(ctx))
	})
}

// Ready reports ErrShedding while the limiter is refusing requests: over
// the last 5 seconds, at least 10 of them and at least a tenth of all.
// A single refusal, or a short burst of a few, doesn't change it: only
// load that a balancer does better to send elsewhere does. Its signature
// is that of a readiness check (service.Backends.AddCheck).
func (lim *Limiter) Ready(context.Context) error {
	arrived, refused, limit := lim.l.recent()
	if refused >= refusedForUnready && refused*10 >= arrived {
		return fmt.Errorf("%w: %d of %d requests refused in the last %v, limit %d", ErrShedding, refused, arrived, readyWindow, limit)
	}
	return nil
}

// readBody reads r's body, up to DefaultMaxBody, into memory, so that
// no time of the client's is spent holding a place: within the server's
// ReadTimeout, which covers the whole request, or, on a server without
// one, within a read deadline of timeout. What is beyond that size stays
// on the connection, after what was read; a read error is kept for the
// handler to meet where it would have: on its own read.
func readBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	deadline := false
	if srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server); srv == nil || srv.ReadTimeout <= 0 {
		deadline = rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBody))
	if deadline {
		// A deadline left in place would end the connection's reads
		// later, and net/http would cancel the request's context then.
		_ = rc.SetReadDeadline(time.Time{})
	}
	rest := io.Reader(r.Body)
	if err != nil {
		rest = errReader{err}
	}
	r.Body = body{io.MultiReader(bytes.NewReader(data), rest), r.Body}
}

type body struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// timedWriter notes when the handler begins its answer: the latency
// measured ends there, before the client reads any of it.
type timedWriter struct {
	http.ResponseWriter
	now          func() time.Time
	start, wrote time.Time
}

func (w *timedWriter) WriteHeader(code int) {
	w.mark()
	w.ResponseWriter.WriteHeader(code)
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *timedWriter) mark() {
	if w.wrote.IsZero() {
		w.wrote = w.now()
	}
}

func (w *timedWriter) latency() time.Duration {
	if w.wrote.IsZero() {
		return w.now().Sub(w.start)
	}
	return w.wrote.Sub(w.start)
}

// limiter is the gradient limit of Limiter, on a clock of its own for
// the tests.
type limiter struct {
	now       func() time.Time
	ceiling   time.Duration // an answer later than it halves the limit
	allowance time.Duration // a median below it is never cut for

	mu       sync.Mutex
	inFlight int
	limit    float64 // in [floor, max]
	floor    float64
	max      float64
	window   []time.Duration // latencies of the current window
	peak     int             // the most in flight during the window
	minima   [60]second      // per second: the lowest window median
	requests [5]second       // per second: arrived, refused
}

// second is a one-second bucket of a ring, valid while at is the second
// it was written in.
type second struct {
	at       int64
	median   time.Duration
	arrived  int
	refusals int
}

func newLimiter(timeout time.Duration, maxInFlight int, now func() time.Time) *limiter {
	m := float64(maxInFlight)
	return &limiter{
		now:       now,
		ceiling:   timeout / 2,
		allowance: timeout / queueAllowance,
		limit:     min(m, initialLimit),
		floor:     min(m, minInFlight),
		max:       m,
		window:    make([]time.Duration, 0, windowSamples),
	}
}

func (l *limiter) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().Unix()
	b := &l.requests[now%int64(len(l.requests))]
	if b.at != now {
		*b = second{at: now}
	}
	b.arrived++
	if l.inFlight >= int(l.limit) {
		b.refusals++
		return false
	}
	l.inFlight++
	l.peak = max(l.peak, l.inFlight)
	return true
}

func (l *limiter) release(took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if took > l.ceiling {
		// No need to wait for a window: answers this late will soon be
		// past their deadline, and each one of them says so.
		l.limit = max(l.floor, l.limit/2)
	}
	l.window = append(l.window, took)
	if len(l.window) < windowSamples {
		return
	}
	slices.Sort(l.window)
	median := l.window[len(l.window)/2]
	used := l.peak*2 >= int(l.limit)
	l.window, l.peak = l.window[:0], l.inFlight
	l.adapt(median, used)
}

// adapt moves the limit by one window's median latency.
func (l *limiter) adapt(median time.Duration, used bool) {
	now := l.now().Unix()
	b := &l.minima[now%int64(len(l.minima))]
	if b.at != now || median < b.median {
		*b = second{at: now, median: median}
	}
	base := median
	for _, m := range l.minima {
		if now-m.at < int64(baselineAge/time.Second) && m.median < base {
			base = m.median
		}
	}
	ratio := float64(median) / float64(max(base, time.Microsecond))
	switch {
	case median > l.ceiling:
		// Cut answer by answer in release; never a reason to grow.
	case ratio > tolerance && median > l.allowance:
		l.limit = max(l.floor, l.limit*max(0.5, tolerance/ratio))
	case ratio <= growBelow && used:
		l.limit = min(l.max, l.limit+max(1, math.Sqrt(l.limit)))
	}
}

// recent returns the requests that arrived and were refused over the
// last readyWindow, and the limit.
func (l *limiter) recent() (arrived, refused, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().Unix()
	for _, b := range l.requests {
		if now-b.at < int64(readyWindow/time.Second) {
			arrived += b.arrived
			refused += b.refusals
		}
	}
	return arrived, refused, int(l.limit)
}
