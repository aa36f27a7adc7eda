package streaming_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

// Ping is the readiness check: it answers nil while the streaming server
// answers, ErrDisconnected within its ctx while the server is frozen
// (Status still says Connected then: the pings have not timed out), and
// ErrClosed after Close (issue 20, item 11).
func TestPing(t *testing.T) {
	noLeaks(t)
	srv := testenv.StartStan(t, t.TempDir())
	cfg := config(t, srv.URL(), srv.ClusterID())
	cfg.PingInterval = time.Minute // the connection's own verdict stays out of the way
	c, err := streaming.Connect(ctxFor(t, timeout), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctxFor(t, timeout)); err != nil {
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
	if err := c.Ping(ctxFor(t, timeout)); err != nil {
		t.Fatalf("Ping after the thaw: %v", err)
	}
	if err := c.Close(ctxFor(t, timeout)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctxFor(t, timeout)); !errors.Is(err, natsclient.ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
}
