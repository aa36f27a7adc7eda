//go:build figures

package expirationsvc_test

// How late delayed events arrive, for BENCHMARKS.md (never in make test):
//
//	.bin/devservers run -- go test -tags figures -run Lateness -v ./examples/expiration-service/expirationsvc/

import (
	"slices"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/wire"
)

func TestLateness(t *testing.T) {
	for _, transport := range []string{service.TransportStan, service.TransportJetStream} {
		t.Run(transport+"/steady", func(t *testing.T) { lateness(t, servicetest.Servers(t, transport), false) })
		t.Run(transport+"/restart", func(t *testing.T) { lateness(t, servicetest.Servers(t, transport), true) })
	}
}

// lateness schedules 1,000 expirations over 5 s, 8 s ahead, and reports
// how late each arrives; with restart, the instance holding them stops
// halfway through and another starts.
func lateness(t *testing.T, c *servicetest.Cluster, restart bool) {
	const n = 1000
	first := c.Start(expirationsvc.Name, expirationsvc.Build)
	start := time.Now()
	due := make(map[string]time.Time, n)
	for i := range n {
		o := orderCreated(start.Add(8*time.Second + time.Duration(i)*5*time.Millisecond))
		due[o.ID] = o.ExpiresAt.Time
		c.Publish(o)
	}
	c.AwaitHandled(wire.SubjectOrderCreated, events.Acked, n)
	t.Logf("%d scheduled in %v", n, time.Since(start).Round(time.Millisecond))
	stopAt := start.Add(10500 * time.Millisecond)
	seen := make(map[string]time.Time, n)
	deadline := time.Now().Add(60 * time.Second)
	restarted := false
	for len(seen) < n && time.Now().Before(deadline) {
		published := servicetest.Published[wire.ExpirationComplete](c)
		now := time.Now() // after the read: never earlier than the arrival
		for _, e := range published {
			if _, ok := seen[e.OrderID]; !ok {
				seen[e.OrderID] = now
			}
		}
		if restart && !restarted && now.After(stopAt) {
			restarted = true
			first.Stop()
			c.Start(expirationsvc.Name, expirationsvc.Build)
			t.Logf("restarted at +%v", time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var late []time.Duration
	early := 0
	for id, at := range due {
		got, ok := seen[id]
		if !ok {
			t.Errorf("order %s never expired", id)
			continue
		}
		if got.Before(at) {
			early++
		}
		late = append(late, got.Sub(at))
	}
	slices.Sort(late)
	pct := func(p float64) time.Duration {
		return late[min(len(late)-1, int(p*float64(len(late))))].Round(time.Millisecond)
	}
	t.Logf("%d expirations: lateness median %v, p99 %v, max %v (polling every 20 ms); %d seen early", len(late), pct(0.5), pct(0.99), pct(1), early)
	if early > 0 {
		t.Errorf("%d expirations before their time", early)
	}
	if dup := len(servicetest.Published[wire.ExpirationComplete](c)) - n; dup != 0 {
		t.Errorf("%d expiration:complete more than one per order", dup)
	}
}
