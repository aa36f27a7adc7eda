package natsconn

import (
	"github.com/ticketkit/ticketkit/natsclient"

	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckDefaultsAndReportsEveryProblem(t *testing.T) {
	var s Settings
	s.URLs = []string{"nats://a:4222"}
	var p Problems
	s.Check(&p, 2)
	if err := p.Err("x"); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	if s.PingInterval != DefaultPingInterval || s.PingMaxOut != DefaultPingMaxOut || s.ConnectTimeout != DefaultConnectTimeout ||
		s.MinBackoff != DefaultMinBackoff || s.MaxBackoff != DefaultMaxBackoff || s.PublishWait != DefaultPublishWait || s.Logger == nil {
		t.Fatalf("defaults not applied: %+v", s)
	}

	bad := Settings{Config: natsclient.Config{URLs: []string{"http://u:s3cret@x"}, User: "u", Token: "t", PingMaxOut: 1, MinBackoff: time.Second, MaxBackoff: time.Millisecond, PublishWait: -1}}
	p = nil
	bad.Check(&p, 2)
	err := p.Err("x")
	if !errors.Is(err, ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "x: invalid config: ") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Err = %v", err)
	}
	for _, want := range []string{`"http://x"`, "at most one", "PingMaxOut 1 is below 2", "MaxBackoff", "PublishWait is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

func TestGate(t *testing.T) {
	g := NewGate()
	if !g.Enter() {
		t.Fatal("an open gate refused")
	}
	entered := make(chan bool)
	go func() { entered <- g.Enter() }() // waits for the turn
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	g.Stop()
	if got := <-entered; got {
		t.Fatal("a delivery waiting for its turn entered after Stop")
	}
	if err := g.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a delivery running = %v", err)
	}
	g.Leave()
	if err := g.Drain(context.Background()); err != nil {
		t.Fatalf("Drain once it left = %v", err)
	}
	if g.Enter() || !g.Stopped() {
		t.Fatal("a stopped gate let a delivery in")
	}
	g.Stop() // idempotent
}
