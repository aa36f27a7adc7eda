package stripecharger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/memcharger"
	"github.com/ticketkit/ticketkit/payments/paymentstest"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/testenv"
)

const testKey = "sk_test_123"

// Against stripe-mock, Stripe's own mock of its API: the requests are
// valid by Stripe's OpenAPI spec and answered with a charge. stripe-mock
// keeps no state, so what it can't check (key replays, declines) the
// suite runs against stripeLike below.
func TestConformanceStripeMock(t *testing.T) {
	base := testenv.StripeAPIBase(t)
	paymentstest.RunCharger(t, func(t *testing.T) payments.Charger {
		c, err := stripecharger.FromEnv(func(k string) string {
			return map[string]string{stripecharger.EnvKey: testKey, stripecharger.EnvAPIBase: base}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, paymentstest.Features{})
}

// What the adapter sends, through a recording proxy to stripe-mock: the
// amount in cents, the currency, the token as source, the order in the
// metadata, and the key as the Idempotency-Key header, which stripe-mock
// accepts (it validates every request against Stripe's spec).
func TestRequestToStripeMock(t *testing.T) {
	base, err := url.Parse(testenv.StripeAPIBase(t))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []*http.Request
		form []url.Values
	)
	proxy := httputil.NewSingleHostReverseProxy(base)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(body))
		mu.Lock()
		seen, form = append(seen, r.Clone(context.Background())), append(form, v)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := stripecharger.New(testKey, stripecharger.WithAPIBase(srv.URL), stripecharger.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	order := ticketkit.NewID()
	id, err := c.Charge(context.Background(), payments.Charge{Amount: 1250, Currency: "usd", Source: "tok_visa", IdempotencyKey: "k-" + order, OrderID: order})
	if err != nil || id == "" {
		t.Fatalf("Charge = %q, %v", id, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("%d requests; want 1", len(seen))
	}
	r, f := seen[0], form[0]
	if r.Method != http.MethodPost || r.URL.Path != "/v1/charges" || r.Header.Get("Idempotency-Key") != "k-"+order {
		t.Fatalf("request %s %s, Idempotency-Key %q", r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"))
	}
	if f.Get("amount") != "1250" || f.Get("currency") != "usd" || f.Get("source") != "tok_visa" || f.Get("metadata[order_id]") != order {
		t.Fatalf("form %v", f)
	}
}

// stripeLike is an HTTP API answering as Stripe does, keys and declines
// included, in Stripe's error format: memcharger behind Stripe's wire
// format, so that the whole suite runs through stripe-go's encoding and
// the adapter's mapping of Stripe's errors.
func stripeLike(t *testing.T) *httptest.Server {
	mem := memcharger.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/charges" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		amount, _ := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
		id, err := mem.Charge(r.Context(), payments.Charge{
			Amount: ticketkit.Money(amount), Currency: r.PostForm.Get("currency"), Source: r.PostForm.Get("source"),
			IdempotencyKey: r.Header.Get("Idempotency-Key"), OrderID: r.PostForm.Get("metadata[order_id]"),
		})
		w.Header().Set("Content-Type", "application/json")
		fail := func(status int, typ, code, param, msg string) {
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "code": code, "param": param, "message": msg}})
		}
		switch {
		case err == nil:
			json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "charge", "amount": amount})
		case errors.Is(err, payments.ErrDeclined):
			fail(http.StatusPaymentRequired, "card_error", "card_declined", "", "Your card was declined.")
		case errors.Is(err, payments.ErrKeyReused):
			fail(http.StatusBadRequest, "idempotency_error", "", "", "Keys for idempotent requests can only be used with the same parameters they were first used with.")
		case ticketkit.ErrorCode(err) == ticketkit.EINVALID:
			fail(http.StatusBadRequest, "invalid_request_error", "resource_missing", "source", "No such token: 'x'")
		default:
			fail(http.StatusInternalServerError, "api_error", "", "", "An unknown error occurred")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConformanceStripeLike(t *testing.T) {
	paymentstest.RunCharger(t, func(t *testing.T) payments.Charger {
		c, err := stripecharger.New(testKey, stripecharger.WithAPIBase(stripeLike(t).URL), stripecharger.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, paymentstest.Features{Replays: true, Declines: true})
}

// Stripe's other answers, and none, as the Charger's errors.
func TestErrors(t *testing.T) {
	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Stripe-Should-Retry", "false")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, c := range []struct {
		name, base string
		want       error
		code       string
	}{
		{"in use", answer(409, `{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"in use"}}`), payments.ErrKeyInUse, ticketkit.EUNAVAILABLE},
		{"rate limited", answer(429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}`), payments.ErrProviderUnavailable, ticketkit.EUNAVAILABLE},
		{"server error", answer(500, `{"error":{"type":"api_error","message":"oops"}}`), payments.ErrProviderUnavailable, ticketkit.EUNAVAILABLE},
		{"bad key", answer(401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`), nil, ticketkit.EINTERNAL},
		{"no server", closed, payments.ErrProviderUnavailable, ticketkit.EUNAVAILABLE},
		{"forbidden", answer(403, `{"error":{"type":"invalid_request_error","message":"restricted key"}}`), nil, ticketkit.EINTERNAL},
		{"too small", answer(400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least $0.50 usd"}}`), ticketkit.ErrInvalid, ticketkit.EINVALID},
		{"bad token", answer(400, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"source","message":"No such token: 'x'"}}`), ticketkit.ErrInvalid, ticketkit.EINVALID},
	} {
		ch, err := stripecharger.New(testKey, stripecharger.WithAPIBase(c.base), stripecharger.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.Charge(context.Background(), payments.Charge{Amount: 100, Currency: "usd", Source: "tok_visa", IdempotencyKey: "k"})
		if ticketkit.ErrorCode(err) != c.code || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v; want %s %v", c.name, err, c.code, c.want)
		}
	}
}

func TestConfig(t *testing.T) {
	if _, err := stripecharger.FromEnv(func(string) string { return "" }); !errors.Is(err, stripecharger.ErrNoKey) {
		t.Errorf("no STRIPE_KEY: %v; want ErrNoKey", err)
	}
	if _, err := stripecharger.New(testKey, stripecharger.WithAPIBase("localhost:12111")); err == nil {
		t.Error("an API base that is not a URL was accepted")
	}
	if _, err := stripecharger.New(testKey, stripecharger.WithRetries(-1)); err == nil {
		t.Error("-1 retries were accepted")
	}
}
