package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/service"
)

// /readyz says "load" is unavailable while the service sheds, so that a
// balancer sends traffic elsewhere, but not for a single refusal.
func TestReadyzReportsShedding(t *testing.T) {
	ctx := context.Background()
	cfg := service.Defaults("busy-service")
	cfg.MaxInFlight = 2
	s, err := service.Start(ctx, cfg, nil, service.Memory(nil, memtransport.New()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	entered, hold := make(chan struct{}, 2), make(chan struct{})
	srv := httptest.NewServer(s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-hold
	})))
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { close(hold) })
	for range 2 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/work")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
		<-entered
	}
	refuse := func(n int) {
		t.Helper()
		for range n {
			resp, err := http.Get(srv.URL + "/work")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a request beyond the limit got %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
	}
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Checks map[string]string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body.Checks["load"]
	}

	refuse(1)
	if status, load := readyz(); status != http.StatusOK || load != "ok" {
		t.Errorf("readyz after one refusal: %d, load %q; want 200, ok", status, load)
	}
	refuse(12)
	if status, load := readyz(); status != http.StatusServiceUnavailable || load != "unavailable" {
		t.Errorf("readyz while shedding: %d, load %q; want 503, unavailable", status, load)
	}
}
