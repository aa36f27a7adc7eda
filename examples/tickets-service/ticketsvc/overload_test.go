package ticketsvc

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/tickets"
)

// slowStore is a backend that takes as long as the request lets it: it
// answers only when the request's context ends.
type slowStore struct{ tickets.Store }

func (s slowStore) Create(ctx context.Context, _ tickets.Ticket) error {
	<-ctx.Done()
	return ctx.Err()
}

// Under more load than the backend serves, every request gets its answer
// within its deadline: the ones admitted a 503 with Retry-After when the
// deadline passes, the rest a 503 with Retry-After at once. None waits
// for the client to give up, and none is logged as a server error.
func TestOverloadIsShedWithinTheDeadline(t *testing.T) {
	h := newHarness(t, withStore(func(s tickets.Store) tickets.Store { return slowStore{s} }),
		withConfig(func(cfg *service.Config) { cfg.RequestTimeout, cfg.MaxInFlight = 300*time.Millisecond, 2 }))
	headers := append(as(t, alice), "Content-Type", "application/json")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/tickets", strings.NewReader(`{"title":"t","price":20}`))
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i+1 < len(headers); i += 2 {
				r.Header.Set(headers[i], headers[i+1])
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("answered after %v; the deadline is 300ms", took)
			}
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}()
	}
	wg.Wait()
	if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
		t.Errorf("overload logged as a server error:\n%s", h.logs)
	}
	// The probes still answer.
	if r := h.send("GET", "/healthz", ""); r.status != http.StatusOK {
		t.Errorf("healthz under load: %d", r.status)
	}
}
