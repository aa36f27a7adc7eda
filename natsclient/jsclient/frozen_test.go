package jsclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// Close returns by its ctx's deadline while the server is frozen
// (SIGSTOP: the connection stays open and nothing is answered), with a
// subscription pulling and a publish waiting for its ack. The outside
// trial saw a service's shutdown run about 1 s past its timeout on a
// frozen JetStream (issue 20, finding 11).
//
// The second case freezes the server for longer than the connection's
// pings allow, so that nats.go is reconnecting to it (dialing a server
// that accepts and never answers) when Close begins.
func TestCloseWithAFrozenServer(t *testing.T) {
	t.Run("Connected", func(t *testing.T) { testCloseFrozen(t, false) })
	t.Run("Reconnecting", func(t *testing.T) { testCloseFrozen(t, true) })
}

func testCloseFrozen(t *testing.T, reconnecting bool) {
	srv := testenv.StartJetStream(t, t.TempDir())
	js := rawJS(t, srv.URL())
	stream, prefix := testStream(t, js)
	subject := prefix + "ticket:created"
	cfg := fast(srv.URL())
	cfg.Streams = []jsclient.Stream{stream}
	if reconnecting {
		cfg.PingInterval, cfg.PingMaxOut = 100*time.Millisecond, 2
	}
	c, err := jsclient.Connect(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 10)
	if _, err := c.Subscribe(ctxFor(t), subject, events.SubscribeOptions{QueueGroup: "svc", Durable: "svc", DeliverAll: true, ManualAck: true, AckWait: 5 * time.Second, MaxInFlight: 10},
		func(m events.Message) { _ = m.Ack(); got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(0))}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(wait):
		t.Fatal("no delivery before the freeze")
	}

	srv.Freeze()
	t.Cleanup(srv.Thaw) // before the server's own cleanup stops it
	published := make(chan error, 1)
	go func() { // waits for an ack that can't come
		published <- c.Publish(ctxFor(t), events.Outgoing{Subject: subject, Data: encode(t, ticket(1))})
	}()
	if reconnecting {
		deadline := time.Now().Add(wait)
		for c.Status() != natsclient.Reconnecting {
			if time.Now().After(deadline) {
				t.Fatalf("still %v %v after the freeze, want Reconnecting", c.Status(), wait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	err = c.Close(ctx)
	returned := time.Now()
	t.Logf("Close with a frozen server returned %v after its deadline: %v", returned.Sub(deadline).Round(time.Millisecond), err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a frozen server = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	// The slack is for the goroutines on a loaded machine; what is checked
	// is that nothing waits on the server past the deadline.
	if late := returned.Sub(deadline); late > 500*time.Millisecond {
		t.Errorf("Close returned %v after its ctx's deadline", late.Round(time.Millisecond))
	}
	srv.Thaw()
	select {
	case <-published:
	case <-time.After(wait):
		t.Fatal("the publish waiting for an ack did not return after Close")
	}
}

// Ping is the readiness check: nil while the server answers,
// ErrDisconnected within its ctx while the server is frozen (Status still
// says Connected then), ErrClosed after Close (issue 20, item 11).
func TestPing(t *testing.T) {
	srv := testenv.StartJetStream(t, t.TempDir())
	cfg := fast(srv.URL())
	cfg.PingInterval = time.Minute // the connection's own verdict stays out of the way
	c, err := jsclient.Connect(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = c.Ping(ctx)
	cancel()
	if !errors.Is(err, natsclient.ErrDisconnected) {
		t.Errorf("Ping with a frozen server = %v, want ErrDisconnected", err)
	}
	srv.Thaw()
	if err := c.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping after the thaw: %v", err)
	}
	if err := c.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctxFor(t)); !errors.Is(err, natsclient.ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
}
