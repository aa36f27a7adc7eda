package streaming_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

// The suite every events.Transport passes, on the shared server.
func TestConformance(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	var n atomic.Int64
	prefix := testenv.UniqueName(t)
	eventstest.Run(t, func(t *testing.T) events.Transport {
		cfg := config(t, url, cluster)
		// The suite opens several connections per test, in parallel.
		cfg.ClientID = fmt.Sprintf("%s_%d", prefix, n.Add(1))
		c, err := streaming.Connect(ctxFor(t, timeout), cfg)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		return c // the suite closes it
	})
}
