package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Defaults of Limit.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxInFlight    = 256
)

// Limit bounds what next is asked to do. Each request's context gets a
// deadline, timeout, so that its database and broker calls give up by
// then rather than queue behind an overloaded backend. At most
// maxInFlight requests run at once; one beyond that is answered at once
// with 503, Retry-After and the cluster's error body, rather than queued
// without bound (a client's own timeout would otherwise turn every queued
// request into a failure, with the work still done). The probes and
// anything else a caller routes around Limit are not counted.
func Limit(next http.Handler, timeout time.Duration, maxInFlight int) http.Handler {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	slots := make(chan struct{}, maxInFlight)
	retryAfter := strconv.Itoa(max(1, int(timeout/time.Second/2)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", retryAfter)
			WriteErrors(w, http.StatusServiceUnavailable, Problem{Message: "The service is busy; try again shortly"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
