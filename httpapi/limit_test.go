package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/httpapi"
)

// A deliberately slow backend: every request beyond the limit is answered
// 503 with Retry-After at once, and the ones admitted are cut off at their
// deadline instead of waiting for the backend.
func TestLimitShedsAndBoundsRequests(t *testing.T) {
	release := make(chan struct{})
	var deadlines sync.Map
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		deadlines.Store(r, ok)
		select { // the backend, which honours the request's context
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			httpapi.WriteErrors(w, http.StatusServiceUnavailable, httpapi.Problem{Message: "timeout"})
		}
	})
	h := httpapi.Limit(slow, 200*time.Millisecond, 2)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	type result struct {
		status     int
		retryAfter string
		took       time.Duration
	}
	results := make(chan result, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)}
		}()
	}
	wg.Wait()
	close(results)
	shed := 0
	for r := range results {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503 (shed or timed out)", r.status)
		}
		if r.retryAfter != "" {
			shed++
		}
		if r.took > 2*time.Second {
			t.Errorf("a request took %v; the deadline is 200ms", r.took)
		}
	}
	if shed < 8 {
		t.Errorf("%d of 10 requests were shed with Retry-After, want at least 8 (2 admitted)", shed)
	}
	deadlines.Range(func(_, ok any) bool {
		if !ok.(bool) {
			t.Error("an admitted request had no deadline")
		}
		return true
	})
}

func TestLimitDeadlineReachesTheBackend(t *testing.T) {
	var got error
	h := httpapi.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		got = r.Context().Err()
	}), 50*time.Millisecond, 1)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("the handler's context ended with %v, want its deadline", got)
	}
}
