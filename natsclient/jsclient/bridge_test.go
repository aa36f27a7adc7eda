package jsclient_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/natsclient/streaming"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

// stanClient connects to the NATS Streaming server of make test.
func stanClient(t *testing.T) *streaming.Client {
	t.Helper()
	url, cluster := testenv.NATS(t)
	c, err := streaming.Connect(ctxFor(t), natsclient.Config{ClusterID: cluster, ClientID: testenv.UniqueName(t), URLs: []string{url}})
	if err != nil {
		t.Fatalf("natsclient.Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(ctxFor(t)) })
	return c
}

// forwarded records what a bridge forwarded, per subject.
type forwarded struct {
	mu      sync.Mutex
	seqs    map[string][]uint64
	changed chan struct{}
}

func newForwarded() *forwarded {
	return &forwarded{seqs: map[string][]uint64{}, changed: make(chan struct{})}
}

func (f *forwarded) add(subject string, seq uint64) {
	f.mu.Lock()
	f.seqs[subject] = append(f.seqs[subject], seq)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// waitSeq waits until seq of subject was forwarded.
func (f *forwarded) waitSeq(t *testing.T, subject string, seq uint64) {
	t.Helper()
	deadline := time.After(wait)
	for {
		f.mu.Lock()
		done := false
		for _, s := range f.seqs[subject] {
			done = done || s == seq
		}
		changed := f.changed
		f.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the bridge never forwarded %s #%d", subject, seq)
		}
	}
}

// The bridge copies NATS Streaming's history and live messages to
// JetStream in order; killed between JetStream's ack and NATS Streaming's
// (the worst moment) and replaced, it loses nothing, and the messages it
// copies twice are dropped by the stream: a JetStream consumer sees each
// message once, in order.
func TestBridgeRestartMidStream(t *testing.T) {
	url := testenv.JetStreamURL(t)
	js := rawJS(t, url)
	stream, prefix := testStream(t, js)
	to := connect(t, jsclient.Config{Config: natsclient.Config{URLs: []string{url}}, Streams: []jsclient.Stream{stream}})
	subjects := []string{prefix + "ticket:created", prefix + "order:created"}
	const history, total = 100, 400
	const crashAt = 150 // NATS Streaming sequence of subjects[0] where the first bridge dies

	publisher := stanClient(t)
	publish := func(from, to int) {
		for n := from; n < to; n++ {
			for _, s := range subjects {
				if err := publisher.Publish(ctxFor(t), events.Outgoing{Subject: s, Data: []byte(strconv.Itoa(n))}); err != nil {
					t.Errorf("stan publish: %v", err)
					return
				}
			}
		}
	}
	publish(0, history) // before any bridge: DeliverAll copies it
	cfg := jsclient.BridgeConfig{Subjects: subjects, Durable: "bridge", AckWait: time.Second, MaxInFlight: 32}

	// The first bridge publishes everything it gets, but from crashAt on
	// it "dies" before acknowledging on NATS Streaming.
	first := newForwarded()
	crashed := make(chan struct{})
	var crashOnce sync.Once
	from1 := stanClient(t)
	b1, err := jsclient.StartBridgeWithHook(ctxFor(t), from1, to, cfg, func(subject string, seq uint64) bool {
		first.add(subject, seq)
		if subject == subjects[0] && seq >= crashAt {
			crashOnce.Do(func() { close(crashed) })
			return false
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // live traffic, through the crash and the restart
		defer wg.Done()
		publish(history, total)
	}()
	select {
	case <-crashed:
	case <-time.After(wait):
		t.Fatal("the first bridge never reached the crash point")
	}
	// Let it publish (without acking) a few more, then it is gone with
	// its connection.
	first.waitSeq(t, subjects[0], crashAt+5)
	if err := b1.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := from1.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	first.mu.Lock()
	copiedBefore := len(first.seqs[subjects[0]])
	first.mu.Unlock()

	second := newForwarded()
	from2 := stanClient(t)
	b2, err := jsclient.StartBridgeWithHook(ctxFor(t), from2, to, cfg, func(subject string, seq uint64) bool {
		second.add(subject, seq)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close(ctxFor(t))
	wg.Wait()
	for _, s := range subjects {
		second.waitSeq(t, s, total)
	}

	// The second bridge published again what the first had not
	// acknowledged...
	second.mu.Lock()
	again := 0
	for _, seq := range second.seqs[subjects[0]] {
		if seq >= crashAt && seq < uint64(crashAt+5) {
			again++
		}
	}
	second.mu.Unlock()
	if again == 0 {
		t.Fatalf("the second bridge did not get the unacknowledged messages again (first copied %d)", copiedBefore)
	}
	// ...and JetStream holds every message exactly once, in order.
	for _, s := range subjects {
		if n := streamMsgs(t, js, stream.Name, s); n != total {
			t.Fatalf("%s: the stream holds %d messages, want %d", s, n, total)
		}
		readInOrder(t, js, stream.Name, s, total)
	}
	t.Logf("first bridge copied %d of %s before dying, second re-copied %d unacknowledged ones, deduplicated", copiedBefore, subjects[0], again)
}

// readInOrder reads subject from the start of the stream with a consumer
// of its own and checks the payloads are 0..n-1 and their IDs the bridge's.
func readInOrder(t *testing.T, js jetstream.JetStream, stream, subject string, n int) {
	t.Helper()
	cons, err := js.OrderedConsumer(ctxFor(t), stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("%s: message %d: %v", subject, i, err)
		}
		if got := string(m.Data()); got != strconv.Itoa(i) {
			t.Fatalf("%s: message %d is %q, want %d (order or duplicates wrong)", subject, i, got, i)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != jsclient.BridgeMsgID(subject, uint64(i+1)) {
			t.Fatalf("%s: message %d has Nats-Msg-Id %q", subject, i, id)
		}
	}
}

func TestBridgeMsgID(t *testing.T) {
	if a, b := jsclient.BridgeMsgID("ticket:created", 7), jsclient.BridgeMsgID("ticket:updated", 7); a == b || a != jsclient.BridgeMsgID("ticket:created", 7) {
		t.Fatalf("ids %q, %q", a, b)
	}
}
