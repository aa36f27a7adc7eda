package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/testenv"
)

// A three-node cluster keeps an R3 stream writable with any one node
// killed, and the killed node comes back into it.
func TestJetStreamCluster(t *testing.T) {
	nodes := testenv.StartJetStreamCluster(t, t.TempDir(), 3)
	urls := nodes[0].URL() + "," + nodes[1].URL() + "," + nodes[2].URL()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		t.Helper()
		for i := range n {
			// A publish during an election may time out: retry it, as a
			// client would, until the deadline.
			for {
				_, err := js.Publish(ctx, "r3.x", []byte{byte(i)})
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("publish: %v", err)
				}
			}
		}
	}
	publish(10)
	nodes[1].Kill()
	publish(10)
	nodes[1].Restart()
	s, err := js.Stream(ctx, "R3")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.State.Msgs < 20 {
		t.Fatalf("stream %d replicas, %d messages; want 3 and at least 20", info.Config.Replicas, info.State.Msgs)
	}
}
