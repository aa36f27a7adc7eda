package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func check(t *testing.T, getenv func(string) string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), getenv, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "received ticket:created: {ID:") || !strings.Contains(out.String(), "Title:concert Price:20.00") {
		t.Errorf("printed %q", out.String())
	}
}

func TestInMemory(t *testing.T) {
	check(t, func(string) string { return "" })
	// The transport's server is what's missing, not NATS_TRANSPORT.
	check(t, func(k string) string { return map[string]string{"NATS_TRANSPORT": "jetstream"}[k] })
}

func TestNATSStreaming(t *testing.T) {
	url, cluster := testenv.NATS(t)
	check(t, func(k string) string {
		return map[string]string{"NATS_URL": url, "NATS_CLUSTER_ID": cluster}[k]
	})
}

func TestJetStream(t *testing.T) {
	url := testenv.JetStreamURL(t)
	check(t, func(k string) string {
		return map[string]string{"NATS_TRANSPORT": "jetstream", "NATS_JETSTREAM_URL": url}[k]
	})
}

func TestUnknownTransport(t *testing.T) {
	err := run(context.Background(), func(k string) string { return map[string]string{"NATS_TRANSPORT": "kafka"}[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `NATS_TRANSPORT "kafka" is not one of stan`) {
		t.Errorf("error %v, want one naming the choices", err)
	}
}
