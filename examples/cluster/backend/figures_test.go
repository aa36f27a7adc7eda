//go:build figures

package backend_test

// The whole purchase under load, for BENCHMARKS.md (never in make test):
//
//	.bin/devservers run -- go test -tags figures -run PurchaseRate -v ./examples/cluster/backend/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/examples/cluster/backend"
)

// TestPurchaseRate runs 16 buyers, each making purchases back to back:
// sign up, create a ticket, order it, pay, and wait until the order is
// complete (its payment:created delivered to the orders service).
func TestPurchaseRate(t *testing.T) {
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) { rate(t, serversEnv(t, transport)) })
	}
}

func rate(t *testing.T, env map[string]string) {
	const buyers, each = 16, 10
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := backend.Start(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), backend.Isolated(suffix()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	gw := httptest.NewServer(b.Handler())
	defer gw.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func(method, path, body, cookie string) (int, []byte, http.Header, error) {
		req, err := http.NewRequestWithContext(ctx, method, gw.URL+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, nil, err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		return res.StatusCode, data, res.Header, err
	}
	id := func(body []byte) string {
		var v struct{ ID string }
		_ = json.Unmarshal(body, &v)
		return v.ID
	}
	// until retries a step while it answers what the services say before
	// an event reaches them (404), or a shed request (503).
	until := func(what string, step func() (int, []byte, error), want int) ([]byte, error) {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			status, body, err := step()
			if err != nil {
				return nil, err
			}
			if status == want {
				return body, nil
			}
			if status != http.StatusNotFound && status != http.StatusServiceUnavailable {
				return nil, fmt.Errorf("%s: %d %s", what, status, body)
			}
		}
		return nil, fmt.Errorf("%s: not within a minute", what)
	}
	var n atomic.Int64
	purchase := func() error {
		email := fmt.Sprintf("buyer%d@test.com", n.Add(1))
		var cookie string
		if _, err := until("signup", func() (int, []byte, error) {
			status, body, h, err := send("POST", "/api/users/signup", `{"email":"`+email+`","password":"password"}`, "")
			cookie, _, _ = strings.Cut(h.Get("Set-Cookie"), ";")
			return status, body, err
		}, http.StatusCreated); err != nil {
			return err
		}
		body, err := until("create", func() (int, []byte, error) {
			status, body, _, err := send("POST", "/api/tickets", `{"title":"concert","price":20}`, cookie)
			return status, body, err
		}, http.StatusCreated)
		if err != nil {
			return err
		}
		ticket := id(body)
		body, err = until("order", func() (int, []byte, error) {
			status, body, _, err := send("POST", "/api/orders", `{"ticketId":"`+ticket+`"}`, cookie)
			return status, body, err
		}, http.StatusCreated)
		if err != nil {
			return err
		}
		order := id(body)
		if _, err := until("pay", func() (int, []byte, error) {
			status, body, _, err := send("POST", "/api/payments", `{"token":"tok_visa","orderId":"`+order+`"}`, cookie)
			return status, body, err
		}, http.StatusCreated); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			_, body, _, err := send("GET", "/api/orders/"+order, "", cookie)
			if err != nil {
				return err
			}
			if strings.Contains(string(body), `"status":"complete"`) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("order %s not complete within a minute", order)
			}
		}
	}
	var (
		mu   sync.Mutex
		took []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range buyers {
		wg.Go(func() {
			for range each {
				began := time.Now()
				err := purchase()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					took = append(took, time.Since(began))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs[:min(len(errs), 5)] {
		t.Error(err)
	}
	slices.Sort(took)
	if len(took) == 0 {
		t.Fatal("no purchase completed")
	}
	pct := func(p float64) time.Duration {
		return took[min(len(took)-1, int(p*float64(len(took))))].Round(time.Millisecond)
	}
	t.Logf("%d purchases by %d buyers in %v: %.1f/s; latency p50 %v, p99 %v, max %v; %d failed",
		len(took), buyers, elapsed.Round(time.Millisecond), float64(len(took))/elapsed.Seconds(), pct(0.5), pct(0.99), pct(1), len(errs))
}
