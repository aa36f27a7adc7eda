package streaming_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

// A server paused past the ack timeout answers everything at once when it
// resumes. Messages of a batch whose acks timed out during the pause, but
// that went out before messages the server then acknowledged, were stored:
// sending them again would store them twice (the outside trial saw
// ticket:created twice for 8 of 1,200 tickets after a 30 s freeze).
func TestPausedServerStoresAPartlyAcknowledgedBatchOnce(t *testing.T) {
	noLeaks(t)
	srv := testenv.StartStan(t, t.TempDir())
	cfg := config(t, srv.URL(), srv.ClusterID())
	cfg.AckTimeout, cfg.MaxPubAcksInFlight = time.Second, 10
	cfg.PingInterval = 5 * time.Second // the pause is no lost connection
	c := connect(t, cfg)
	subject := testenv.UniqueName(t)
	const n = 30
	msgs := make([]events.Outgoing, n)
	for i := range msgs {
		msgs[i] = events.Outgoing{Subject: subject, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}

	// Ten go out and wait; at the ack timeout they fail, and the next ten
	// go out; the server resumes while those wait, and acknowledges them.
	srv.Freeze()
	done := make(chan []error, 1)
	go func() { done <- c.PublishBatch(ctxFor(t, timeout), msgs) }()
	time.Sleep(1500 * time.Millisecond) // the pause being tested
	srv.Thaw()
	for i, err := range <-done {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}

	// What the channel holds, up to a marker published after the batch.
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte(`"end"`)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stored := map[string]int{}
	end := make(chan struct{})
	sub, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{DeliverAll: true}, func(m events.Message) {
		mu.Lock()
		defer mu.Unlock()
		if string(m.Data()) == `"end"` {
			close(end)
			return
		}
		stored[string(m.Data())]++
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	select {
	case <-end:
	case <-time.After(timeout):
		t.Fatal("the marker never arrived")
	}
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, k := range stored {
		if k > 1 {
			twice++
		}
	}
	if len(stored) != n || twice != 0 {
		t.Fatalf("%d distinct messages stored, %d of them more than once; want %d, each once", len(stored), twice, n)
	}
}

// NATS Streaming has no headers, and says so: events.CarriesHeaders is
// false, and the conformance suite's Headers case checks that none arrive
// and the payload is untouched.
func TestCarriesNoHeaders(t *testing.T) {
	var c *streaming.Client
	if events.CarriesHeaders(c) {
		t.Fatal("NATS Streaming claims to carry headers")
	}
}
