package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// The two services together on the real servers of `make test`, once per
// transport: the tickets service as the cluster runs it (its binary, built
// from examples/tickets-service), this one in the test's process, and the
// expiration and payments services played by a connection of the test's.

// e2eWait bounds each step: a fresh durable first replays what earlier
// tests left on the broker's channels.
const e2eWait = time.Minute

// broker is the environment that selects a transport and its server.
type broker struct {
	transport string
	env       map[string]string
}

func onEachTransport(t *testing.T, test func(*testing.T, broker)) {
	t.Run(service.TransportStan, func(t *testing.T) {
		url, cluster := testenv.NATS(t)
		test(t, broker{service.TransportStan, map[string]string{"NATS_TRANSPORT": "stan", "NATS_URL": url, "NATS_CLUSTER_ID": cluster}})
	})
	t.Run(service.TransportJetStream, func(t *testing.T) {
		test(t, broker{service.TransportJetStream, map[string]string{"NATS_TRANSPORT": "jetstream", "NATS_JETSTREAM_URL": testenv.JetStreamURL(t)}})
	})
}

// serviceEnv is a service's environment on b, with a database of its own
// (dropped when the test ends).
func serviceEnv(t *testing.T, b broker) map[string]string {
	t.Helper()
	mongoURI := testenv.DatabaseURI(t, testenv.Mongo(t))
	vars := map[string]string{"PORT": "0", "MONGO_URI": mongoURI, "JWT_KEY": string(testKey), "NATS_CLIENT_ID": testenv.UniqueName(t)}
	for k, v := range b.env {
		vars[k] = v
	}
	return vars
}

// binDir holds the binaries the tests build; TestMain removes it.
var binDir string

// ticketsBinary builds examples/tickets-service once per test binary.
var ticketsBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tickets-service-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "tickets-service")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ticketkit/ticketkit/examples/tickets-service").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startTickets runs the tickets service's binary on b and returns its base
// URL. SIGTERM stops it when the test ends; it must exit 0.
func startTickets(t *testing.T, b broker) string {
	t.Helper()
	bin, err := ticketsBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	for k, v := range serviceEnv(t, b) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tickets-service exited with %v after SIGTERM\n%s", err, out)
			}
		case <-time.After(service.DefaultShutdownTimeout + 5*time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("tickets-service did not exit within its shutdown timeout\n%s", out)
		}
	})
	return listeningOn(t, out, exited)
}

// startOrders runs this service in the test's process on b, as main does.
func startOrders(t *testing.T, b broker, handled *eventstest.Handled) string {
	t.Helper()
	cfg, err := loadConfig(env(serviceEnv(t, b)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownTimeout = wait
	out := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, cfg, log, func(ctx context.Context, s *service.Service) (http.Handler, error) {
			a, err := build(ctx, s)
			if err != nil {
				return nil, err
			}
			return a.api, nil
		}, service.WithHooks(handled.Hooks()))
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("orders service stopped with %v", err)
			}
		case <-time.After(2 * wait):
			t.Errorf("orders service did not stop within %v", 2*wait)
		}
		if t.Failed() {
			t.Logf("orders service log:\n%s", out)
		}
	})
	return listeningOn(t, out, done)
}

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

// listeningOn waits for a service's "listening" log line and returns its
// base URL, or fails if the service ended first.
func listeningOn[E any](t *testing.T, out *syncBuffer, ended <-chan E) string {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(out.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				_, port, err := net.SplitHostPort(l.Addr)
				if err != nil {
					t.Fatal(err)
				}
				return "http://127.0.0.1:" + port
			}
		}
		select {
		case err := <-ended:
			t.Fatalf("service ended at start-up: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("service not listening within %v\n%s", e2eWait, out)
	return ""
}

// peer publishes as the expiration and payments services do.
func peer(t *testing.T, b broker) events.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var tr events.Transport
	if b.transport == service.TransportJetStream {
		cfg, err := jsclient.FromEnv(env(b.env), jsclient.Stream{Name: wire.StreamName, Subjects: wire.Subjects()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Name = testenv.UniqueName(t)
		js, err := jsclient.Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr = js
	} else {
		nc, err := streaming.Connect(ctx, natsclient.Config{ClusterID: b.env["NATS_CLUSTER_ID"], ClientID: testenv.UniqueName(t), URLs: []string{b.env["NATS_URL"]}})
		if err != nil {
			t.Fatal(err)
		}
		tr = nc
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			t.Errorf("close peer: %v", err)
		}
	})
	return tr
}

// eventually polls cond until it holds, for what the services do in the
// background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, e2eWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoServicesOnRealServers(t *testing.T) { onEachTransport(t, testTwoServices) }

func testTwoServices(t *testing.T, b broker) {
	handled := eventstest.NewHandled()
	ticketsURL := startTickets(t, b)
	ordersURL := startOrders(t, b, handled)
	pub := peer(t, b)
	publish := func(e events.Event) {
		t.Helper()
		data, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := pub.Publish(ctx, events.Outgoing{Subject: string(e.Subject()), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	seller, buyer := ticketkit.NewID(), ticketkit.NewID()
	ticketOrder := func(id string) string {
		var tk struct {
			OrderID string `json:"orderId"`
		}
		r := send(t, ticketsURL, "GET", "/api/tickets/"+id, "", "")
		if r.status != http.StatusOK || json.Unmarshal(r.body, &tk) != nil {
			t.Fatalf("GET ticket: %d %s", r.status, r.body)
		}
		return tk.OrderID
	}
	orderStatus := func(id string) string {
		return string(send(t, ordersURL, "GET", "/api/orders/"+id, "", buyer).order(t).Status)
	}

	// 1. A ticket.
	r := send(t, ticketsURL, "POST", "/api/tickets", `{"title":"concert","price":20}`, seller)
	if r.status != http.StatusCreated {
		t.Fatalf("create ticket: %d %s", r.status, r.body)
	}
	var tk struct{ ID string }
	if err := json.Unmarshal(r.body, &tk); err != nil {
		t.Fatal(err)
	}

	// 2. Ordered, once the orders service has heard of it; the tickets
	// service reserves it.
	var first orderJSON
	eventually(t, "the orders service knows the ticket", func() bool {
		r := send(t, ordersURL, "POST", "/api/orders", `{"ticketId":"`+tk.ID+`"}`, buyer)
		if r.status == http.StatusCreated {
			first = r.order(t)
		} else if r.status != http.StatusNotFound {
			t.Fatalf("order: %d %s", r.status, r.body)
		}
		return r.status == http.StatusCreated
	})
	eventually(t, "the tickets service reserves the ticket", func() bool { return ticketOrder(tk.ID) == first.ID })

	// 3. A reserved ticket can't be edited.
	if r := send(t, ticketsURL, "PUT", "/api/tickets/"+tk.ID, `{"title":"x","price":30}`, seller); r.status != http.StatusBadRequest {
		t.Errorf("edit of a reserved ticket: %d %s", r.status, r.body)
	}

	// 4. The order expires: cancelled, and the ticket released.
	publish(wire.ExpirationComplete{OrderID: first.ID})
	eventually(t, "the order is cancelled", func() bool { return orderStatus(first.ID) == "cancelled" })
	eventually(t, "the ticket is released", func() bool { return ticketOrder(tk.ID) == "" })

	// 5. Ordered again.
	r = send(t, ordersURL, "POST", "/api/orders", `{"ticketId":"`+tk.ID+`"}`, buyer)
	if r.status != http.StatusCreated {
		t.Fatalf("order again: %d %s", r.status, r.body)
	}
	second := r.order(t)
	eventually(t, "the tickets service reserves it again", func() bool { return ticketOrder(tk.ID) == second.ID })

	// 6. Paid: complete, and a later expiration changes nothing.
	publish(wire.PaymentCreated{ID: ticketkit.NewID(), OrderID: second.ID, StripeID: "ch_e2e"})
	eventually(t, "the order is complete", func() bool { return orderStatus(second.ID) == "complete" })
	expirations := handled.Count(wire.SubjectExpirationComplete, events.Acked)
	publish(wire.ExpirationComplete{OrderID: second.ID})
	handled.Await(t, wire.SubjectExpirationComplete, events.Acked, expirations+1)
	if s := orderStatus(second.ID); s != "complete" {
		t.Errorf("after a late expiration: %s, want complete", s)
	}
	if id := ticketOrder(tk.ID); id != second.ID {
		t.Errorf("after a late expiration the ticket is reserved by %q, want %s", id, second.ID)
	}
}
