package service

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMainExitStatus(t *testing.T) {
	noBuild := func(context.Context, *Service) (http.Handler, error) { return http.NotFoundHandler(), nil }

	t.Run("arguments are refused with 2", func(t *testing.T) {
		var stderr bytes.Buffer
		if code := runMain(context.Background(), "x-service", []string{"serve"}, env(nil), &bytes.Buffer{}, &stderr, noBuild); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
		if !strings.Contains(stderr.String(), `unknown argument "serve"`) {
			t.Errorf("stderr %q", stderr.String())
		}
	})
	t.Run("a broken environment is 1, every problem said", func(t *testing.T) {
		var stderr bytes.Buffer
		code := runMain(context.Background(), "x-service", nil, env(map[string]string{"PORT": "http", "MONGO_URI": "mongodb://db/x"}), &bytes.Buffer{}, &stderr, noBuild)
		if code != 1 || !strings.Contains(stderr.String(), "PORT") || !strings.Contains(stderr.String(), "NATS_URL") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("a failing build is 1", func(t *testing.T) {
		var stderr bytes.Buffer
		failing := func(context.Context, *Service) (http.Handler, error) { return nil, errors.New("no routes today") }
		if code := runMain(context.Background(), "x-service", nil, env(map[string]string{"PORT": "0"}), &bytes.Buffer{}, &stderr, failing); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(stderr.String(), "x-service: no routes today") {
			t.Errorf("stderr %q", stderr.String())
		}
	})
	t.Run("a clean stop is 0, with telemetry flushed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var stdout, stderr bytes.Buffer
		flushed := false
		telemetry := func(name string) (http.Handler, func(context.Context) error, error) {
			if name != "x-service" {
				t.Errorf("telemetry for %q", name)
			}
			return http.NotFoundHandler(), func(context.Context) error { flushed = true; return nil }, nil
		}
		stopOnceBuilt := func(ctx context.Context, s *Service) (http.Handler, error) {
			if s.Config().Database != "x-service" {
				t.Errorf("database %q, want the service's name", s.Config().Database)
			}
			cancel() // as a SIGTERM would, once the service is up
			return http.NotFoundHandler(), nil
		}
		code := runMain(ctx, "x-service", nil, env(map[string]string{"PORT": "0"}), &stdout, &stderr, stopOnceBuilt, WithTelemetry(telemetry))
		if code != 0 || !flushed {
			t.Fatalf("exit %d, flushed %v, stderr %q", code, flushed, stderr.String())
		}
		if !strings.Contains(stdout.String(), "in-memory mode") {
			t.Errorf("stdout is not the service's log: %q", stdout.String())
		}
	})
}

func TestFromEnvDatabase(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"", "orders-service"},
		{"mongodb://orders-mongo-srv:27017", "orders-service"},
		{"mongodb://orders-mongo-srv:27017/orders", "orders"},
	} {
		m := map[string]string{"MONGO_URI": tc.uri, "JWT_KEY": "k"}
		if tc.uri != "" {
			m["NATS_URL"], m["NATS_CLUSTER_ID"] = "nats://n:4222", "ticketing"
		}
		cfg, err := FromEnv("orders-service", env(m))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Database; got != tc.want {
			t.Errorf("MONGO_URI %q: database %q, want %q", tc.uri, got, tc.want)
		}
	}
}
