package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/internal/testenv"
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
}

func TestNATSStreaming(t *testing.T) {
	url, cluster := testenv.NATS(t)
	check(t, func(k string) string {
		return map[string]string{"NATS_URL": url, "NATS_CLUSTER_ID": cluster}[k]
	})
}
