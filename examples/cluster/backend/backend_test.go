package backend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/examples/cluster/backend"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The whole purchase through the gateway, as the cluster's client makes
// it: two users sign up, one sells a ticket, the other orders and pays
// for it, and the order completes. In memory, and on the real servers
// with each transport.
func TestPurchaseThroughTheGateway(t *testing.T) {
	t.Run("memory", func(t *testing.T) { purchase(t, map[string]string{}) })
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) { purchase(t, serversEnv(t, transport)) })
	}
}

// serversEnv is the environment of the back end on the servers testenv
// finds, with transport, charging through stripe-mock.
func serversEnv(t *testing.T, transport string) map[string]string {
	t.Helper()
	natsURL, clusterID := testenv.NATS(t)
	env := map[string]string{
		"MONGO_URI": testenv.MongoURI(t), "NATS_URL": natsURL, "NATS_CLUSTER_ID": clusterID,
		"NATS_CLIENT_ID": "cluster-test", "JWT_KEY": "cluster-test-key",
		"STRIPE_KEY": "sk_test_cluster", "STRIPE_API_BASE": testenv.StripeAPIBase(t),
	}
	if transport == "jetstream" {
		env["NATS_TRANSPORT"], env["NATS_JETSTREAM_URL"] = "jetstream", testenv.JetStreamURL(t)
	}
	return env
}

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func purchase(t *testing.T, env map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := backend.Start(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), backend.Isolated(suffix()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	gw := httptest.NewServer(b.Handler())
	t.Cleanup(gw.Close)

	send := func(method, path, body, cookie string) (int, []byte, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, gw.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, data, res.Header
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute", what)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	signup := func(email string) string {
		t.Helper()
		status, body, h := send("POST", "/api/users/signup", `{"email":"`+email+`","password":"password"}`, "")
		if status != http.StatusCreated {
			t.Fatalf("signup: %d %s", status, body)
		}
		cookie, _, _ := strings.Cut(h.Get("Set-Cookie"), ";")
		if status, body, _ := send("GET", "/api/users/currentuser", "", cookie); status != http.StatusOK || !strings.Contains(string(body), email) {
			t.Fatalf("currentuser: %d %s", status, body)
		}
		return cookie
	}
	id := func(body []byte) string {
		var v struct{ ID string }
		if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
			t.Fatalf("no id in %s", body)
		}
		return v.ID
	}

	seller, buyer := signup("seller@test.com"), signup("buyer@test.com")
	status, body, _ := send("POST", "/api/tickets", `{"title":"concert","price":20}`, seller)
	if status != http.StatusCreated {
		t.Fatalf("create ticket: %d %s", status, body)
	}
	ticket := id(body)
	var order string
	eventually("the orders service knows the ticket", func() bool {
		status, body, _ := send("POST", "/api/orders", `{"ticketId":"`+ticket+`"}`, buyer)
		if status == http.StatusCreated {
			order = id(body)
		}
		return status != http.StatusNotFound
	})
	if order == "" {
		t.Fatal("the order was refused")
	}
	eventually("the payments service knows the order", func() bool {
		status, body, _ := send("POST", "/api/payments", `{"token":"tok_visa","orderId":"`+order+`"}`, buyer)
		if status != http.StatusNotFound && status != http.StatusCreated {
			t.Fatalf("pay: %d %s", status, body)
		}
		return status == http.StatusCreated
	})
	eventually("the order completes", func() bool {
		_, body, _ := send("GET", "/api/orders/"+order, "", buyer)
		return strings.Contains(string(body), `"status":"complete"`)
	})
	for _, probe := range []string{"/auth/readyz", "/tickets/readyz", "/orders/readyz", "/payments/readyz", "/expiration/readyz"} {
		if status, body, _ := send("GET", probe, "", ""); status != http.StatusOK {
			t.Errorf("%s: %d %s", probe, status, body)
		}
	}
	if status, _, _ := send("GET", "/", "", ""); status != http.StatusNotFound {
		t.Errorf("GET /: %d, want the gateway's 404", status)
	}
}
