package streaming_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestCloseIdempotentAndConcurrent(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	st := newStates()
	cfg := config(t, url, cluster)
	cfg.OnStateChange = st.record
	c, err := streaming.Connect(ctxFor(t, timeout), cfg)
	if err != nil {
		t.Fatal(err)
	}
	subject := testenv.UniqueName(t)
	sub, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{Durable: "d"}, func(events.Message) {})
	if err != nil {
		t.Fatal(err)
	}

	// The client and its subscription, each closed several times at once.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs[i] = c.Close(ctxFor(t, timeout))
			} else {
				errs[i] = sub.Close(ctxFor(t, timeout))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Close %d: %v", i, err)
		}
	}
	if err := c.Close(ctxFor(t, timeout)); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
	if s := c.Status(); s != natsclient.Closed {
		t.Errorf("Status after Close = %v", s)
	}
	if got, want := st.list(), []natsclient.State{natsclient.Connected, natsclient.Closed}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject}); !errors.Is(err, natsclient.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	for i, err := range c.PublishBatch(ctxFor(t, timeout), []events.Outgoing{{Subject: subject}, {Subject: subject}}) {
		if !errors.Is(err, natsclient.ErrClosed) {
			t.Errorf("PublishBatch after Close: message %d: %v, want ErrClosed", i, err)
		}
	}
	if _, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{}, func(events.Message) {}); !errors.Is(err, natsclient.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// blocked subscribes with a callback that signals when it starts and then
// waits for release; it acknowledges after, and reports the ack's result.
type blocked struct {
	started chan struct{}
	release chan struct{}
	acked   chan error
}

func subscribeBlocked(t *testing.T, c *streaming.Client, subject string) *blocked {
	t.Helper()
	b := &blocked{started: make(chan struct{}, 1), release: make(chan struct{}), acked: make(chan error, 1)}
	_, err := c.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{
		QueueGroup: "q", Durable: "q", DeliverAll: true, ManualAck: true, AckWait: time.Second, MaxInFlight: 1,
	}, func(m events.Message) {
		select {
		case b.started <- struct{}{}:
		default:
			return // a redelivery while the first is held: not this test's business
		}
		<-b.release
		b.acked <- m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("slow")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.started:
	case <-time.After(timeout):
		t.Fatal("the callback never started")
	}
	return b
}

// awaitClosing waits until Close has begun: calls are refused.
func awaitClosing(t *testing.T, c *streaming.Client, subject string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("probe")})
		if errors.Is(err, natsclient.ErrClosed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseWaitsForRunningCallback(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	c, err := streaming.Connect(ctxFor(t, timeout), config(t, url, cluster))
	if err != nil {
		t.Fatal(err)
	}
	subject := testenv.UniqueName(t)
	b := subscribeBlocked(t, c, subject)

	closed := make(chan error, 1)
	go func() { closed <- c.Close(ctxFor(t, timeout)) }()
	awaitClosing(t, c, subject)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a callback was running", err)
	default:
	}
	close(b.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Close did not return once the callback had")
	}
	// The callback acked before Close closed the connection.
	if err := <-b.acked; err != nil {
		t.Fatalf("Ack from a callback Close waited for: %v", err)
	}

	// And so the durable doesn't get it again.
	c2 := connect(t, config(t, url, cluster))
	in := newInbox()
	if _, err := c2.Subscribe(ctxFor(t, timeout), subject, events.SubscribeOptions{
		QueueGroup: "q", Durable: "q", DeliverAll: true, ManualAck: true, AckWait: time.Second, MaxInFlight: 10,
	}, in.deliver(t)); err != nil {
		t.Fatal(err)
	}
	if err := c2.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte("next")}); err != nil {
		t.Fatal(err)
	}
	in.await(t, "the next message", hasAll([]string{"next"}))
	if md := in.metadata(); md[0].Sequence != 2 {
		t.Fatalf("resumed durable got sequence %d first, want 2: %+v", md[0].Sequence, md)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	c, err := streaming.Connect(ctxFor(t, timeout), config(t, url, cluster))
	if err != nil {
		t.Fatal(err)
	}
	subject := testenv.UniqueName(t)
	b := subscribeBlocked(t, c, subject)
	defer close(b.release) // after the leak check's cleanup has been registered, before it runs

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck callback = %v, want deadline exceeded", err)
	}
	if s := c.Status(); s != natsclient.Closed {
		t.Fatalf("Status = %v after a Close that gave up waiting; it still closes", s)
	}
}

// A durable subscription outlives Close: a new client with the same
// durable name resumes after the last acknowledged message.
func TestDurableSurvivesClose(t *testing.T) {
	noLeaks(t)
	url, cluster := testenv.NATS(t)
	subject := testenv.UniqueName(t)
	opts := events.SubscribeOptions{QueueGroup: "q", Durable: "q", DeliverAll: true, ManualAck: true, AckWait: time.Second, MaxInFlight: 10}
	payloads := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprint(i))
		}
		return out
	}
	publish := func(c *streaming.Client, ps []string) {
		t.Helper()
		for _, p := range ps {
			if err := c.Publish(ctxFor(t, timeout), events.Outgoing{Subject: subject, Data: []byte(p)}); err != nil {
				t.Fatal(err)
			}
		}
	}

	cfg := config(t, url, cluster)
	first, err := streaming.Connect(ctxFor(t, timeout), cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	if _, err := first.Subscribe(ctxFor(t, timeout), subject, opts, in.deliver(t)); err != nil {
		t.Fatal(err)
	}
	publish(first, payloads(0, 3))
	in.await(t, "the first 3", hasAll(payloads(0, 3)))
	if err := first.Close(ctxFor(t, timeout)); err != nil {
		t.Fatal(err)
	}

	// The same client id again, as a restarted service would.
	second := connect(t, cfg)
	publish(second, payloads(3, 5))
	again := newInbox()
	if _, err := second.Subscribe(ctxFor(t, timeout), subject, opts, again.deliver(t)); err != nil {
		t.Fatal(err)
	}
	again.await(t, "the last 2", hasAll(payloads(3, 5)))
	for _, m := range again.metadata() {
		if m.Sequence <= 3 {
			t.Fatalf("resumed durable got sequence %d, acknowledged before Close: %+v", m.Sequence, again.metadata())
		}
	}
}

// Close while the connection is down, either under nats.go's reconnection
// or in the client's own reconnect loop: it returns, stops the loop, and
// leaves nothing running.
func TestCloseWhileReconnecting(t *testing.T) {
	for _, long := range []bool{false, true} {
		t.Run(fmt.Sprintf("stan gave up=%v", long), func(t *testing.T) {
			noLeaks(t)
			srv := testenv.StartStan(t, t.TempDir())
			logs := newLogs(t)
			st := newStates()
			cfg := config(t, srv.URL(), srv.ClusterID())
			cfg.Logger = logs.logger()
			cfg.OnStateChange = st.record
			c, err := streaming.Connect(ctxFor(t, timeout), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Subscribe(ctxFor(t, timeout), testenv.UniqueName(t), events.SubscribeOptions{Durable: "d"}, func(events.Message) {}); err != nil {
				t.Fatal(err)
			}
			srv.Kill()
			st.await(t, c, natsclient.Reconnecting)
			if long {
				logs.await("NATS Streaming connection lost")
			}
			if err := c.Close(ctxFor(t, timeout)); err != nil {
				t.Fatalf("Close while reconnecting: %v", err)
			}
			if got := st.list(); got[len(got)-1] != natsclient.Closed {
				t.Fatalf("states %v, want closed last", got)
			}
		})
	}
}

// Close while the server is frozen (SIGSTOP: the connection stays up and
// nothing answers) returns by its deadline: stan.go's own waits for the
// server's answers, a connect timeout per subscription, don't hold it.
func TestCloseWithAFrozenServer(t *testing.T) {
	noLeaks(t)
	srv := testenv.StartStan(t, t.TempDir())
	c := connect(t, config(t, srv.URL(), srv.ClusterID()))
	for i := range 3 {
		if _, err := c.Subscribe(ctxFor(t, timeout), testenv.UniqueName(t), events.SubscribeOptions{Durable: fmt.Sprint("d", i)}, func(events.Message) {}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Freeze()
	defer srv.Thaw()
	const deadline = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Close(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close with a frozen server: %v, want the deadline's error", err)
		}
	case <-time.After(deadline + time.Second): // slack for a loaded machine, well below a request timeout per subscription
		t.Fatalf("Close with a frozen server did not return within a second of its %v deadline", deadline)
	}
}
