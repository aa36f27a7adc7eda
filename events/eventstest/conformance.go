package eventstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
)

// Run is the conformance suite for an events.Transport: a driver that
// passes it works under the typed Publisher and Listener exactly as the
// in-memory one does. open must return a new, connected Transport to the
// same broker each time it is called; the suite closes what it opens.
//
// Every test works on subjects of its own, so the suite can share a broker
// with other tests, and the tests run in parallel: open must be safe for
// concurrent use. Redelivery tests wait for the one-second ack wait, the
// shortest NATS Streaming allows.
func Run(t *testing.T, open func(t *testing.T) events.Transport) {
	tests := []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"PublishBatch", testPublishBatch},
		{"QueueGroupSharesMessages", testQueueGroup},
		{"DurableResumesAfterClose", testDurableResume},
		{"RedeliveryOnHandlerError", testRedeliveryOnError},
		{"RedeliveryOnPanic", testRedeliveryOnPanic},
		{"RedeliveryWithoutAck", testRedeliveryWithoutAck},
		{"OrderPerSubject", testOrder},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"CloseWaitsForRunningHandlers", testCloseWaits},
		{"CloseGivesUpWhenContextEnds", testCloseGivesUp},
		{"CloseReturnsByDeadlineWithAHandlerIgnoringCtx", testCloseHandlerIgnoresCtx},
		{"DeliverAllForLateSubscriber", testDeliverAll},
		{"PoisonDeadLetteredOnce", testPoison},
		{"DeadLetterSubject", testDeadLetterSubject},
		{"Headers", testHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &suite{t: t, open: open, prefix: fmt.Sprintf("conformance.%s.%d.", unsafe.ReplaceAllString(tt.name, "_"), time.Now().UnixNano())}
			tt.run(t, s)
		})
	}
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// timeout bounds every wait in the suite; generous, since CI is slow.
const timeout = 20 * time.Second

// ackWait is the shortest ack wait NATS Streaming accepts.
const ackWait = time.Second

type suite struct {
	t      *testing.T
	open   func(*testing.T) events.Transport
	prefix string
}

// transport opens a connection whose subjects are all under the test's
// prefix, and closes it when the test ends.
func (s *suite) transport() events.Transport {
	inner := s.open(s.t)
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := inner.Close(ctx); err != nil {
			s.t.Errorf("closing transport: %v", err)
		}
	})
	return prefixed{Transport: inner, prefix: s.prefix}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return c
}

// CarriesHeaders passes the inner transport's answer on.
func (p prefixed) CarriesHeaders() bool { return events.CarriesHeaders(p.Transport) }

// prefixed moves every subject under a prefix, so tests don't see each
// other's messages on a shared broker.
type prefixed struct {
	events.Transport
	prefix string
}

func (p prefixed) Publish(ctx context.Context, m events.Outgoing) error {
	m.Subject = p.prefix + m.Subject
	return p.Transport.Publish(ctx, m)
}

func (p prefixed) PublishBatch(ctx context.Context, msgs []events.Outgoing) []error {
	moved := make([]events.Outgoing, len(msgs))
	for i, m := range msgs {
		m.Subject = p.prefix + m.Subject
		moved[i] = m
	}
	return p.Transport.PublishBatch(ctx, moved)
}

func (p prefixed) Subscribe(ctx context.Context, subject string, opts events.SubscribeOptions, deliver func(events.Message)) (events.Subscription, error) {
	return p.Transport.Subscribe(ctx, p.prefix+subject, opts, deliver)
}

// received is one handled event.
type received struct {
	e    Sample
	meta events.Metadata
}

// inbox collects what a handler received, for waiting on conditions.
type inbox struct {
	mu      sync.Mutex
	got     []received
	changed chan struct{}
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{})} }

func (in *inbox) add(r received) {
	in.mu.Lock()
	in.got = append(in.got, r)
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
}

func (in *inbox) snapshot() ([]received, chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got), in.changed
}

// await waits until cond holds for what was received.
func (in *inbox) await(t *testing.T, what string, cond func([]received) bool) []received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		got, changed := in.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; received %d: %v", what, len(got), versions(got))
		}
	}
}

// quiet asserts that nothing more arrives for a while: long enough for an
// unacknowledged message to come back. It is the one place the suite must
// wait for something not to happen.
func (in *inbox) quiet(t *testing.T, want int) {
	t.Helper()
	deadline := time.After(ackWait + ackWait/2)
	for {
		got, changed := in.snapshot()
		if len(got) != want {
			t.Fatalf("received %d messages, want exactly %d: %v", len(got), want, versions(got))
		}
		select {
		case <-changed:
		case <-deadline:
			return
		}
	}
}

func (in *inbox) handler() events.Handler[Sample] {
	return func(_ context.Context, e Sample, meta events.Metadata) error {
		in.add(received{e, meta})
		return nil
	}
}

func count(n int) func([]received) bool {
	return func(got []received) bool { return len(got) >= n }
}

func versions(got []received) []int64 {
	out := make([]int64, len(got))
	for i, r := range got {
		out[i] = r.e.Version
	}
	return out
}

// distinct returns the versions received, without redeliveries.
func distinct(got []received) []int64 {
	seen := make(map[int64]bool)
	var out []int64
	for _, r := range got {
		if !seen[r.e.Version] {
			seen[r.e.Version] = true
			out = append(out, r.e.Version)
		}
	}
	slices.Sort(out)
	return out
}

func upTo(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

var ticketID = ticketkit.NewID()

// event returns the n-th test event; its version tells events apart.
func event(n int) Sample {
	return Sample{ID: ticketID, Title: fmt.Sprint("event ", n), Price: int64(100 + n), UserID: "user", Version: int64(n)}
}

func publish(t *testing.T, tr events.Transport, from, to int) {
	t.Helper()
	pub, err := events.NewPublisher[Sample](tr)
	if err != nil {
		t.Fatal(err)
	}
	for n := from; n < to; n++ {
		if err := pub.Publish(ctx(t), event(n)); err != nil {
			t.Fatalf("Publish(%d): %v", n, err)
		}
	}
}

func listen(t *testing.T, tr events.Transport, group string, h events.Handler[Sample], opts ...events.ListenerOption) *events.Listener {
	t.Helper()
	l, err := events.Listen(ctx(t), tr, group, h, append([]events.ListenerOption{events.AckWait(ackWait)}, opts...)...)
	if err != nil {
		t.Fatalf("Listen(%s): %v", group, err)
	}
	t.Cleanup(func() { closeListener(t, l) })
	return l
}

func closeListener(t *testing.T, l *events.Listener) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.Close(c); err != nil {
		t.Errorf("Listener.Close: %v", err)
	}
}

func testPublishSubscribe(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	listen(t, tr, "group", in.handler())
	publish(t, tr, 0, 3)
	got := in.await(t, "3 events", count(3))
	for i, r := range got {
		if r.e != event(i) {
			t.Fatalf("event %d = %+v, want %+v", i, r.e, event(i))
		}
		m := r.meta
		if m.Subject != s.prefix+string(SubjectSample) || m.Redelivered || m.DeliveryCount > 1 || m.Timestamp.IsZero() {
			t.Fatalf("metadata of event %d = %+v", i, m)
		}
		if i > 0 && m.Sequence <= got[i-1].meta.Sequence {
			t.Fatalf("sequence %d after %d", m.Sequence, got[i-1].meta.Sequence)
		}
	}
	in.quiet(t, 3)
}

func testPublishBatch(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	listen(t, tr, "group", in.handler())
	pub, err := events.NewPublisher[Sample](tr)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]Sample, 100)
	for i := range batch {
		batch[i] = event(i)
	}
	for i, err := range pub.PublishBatch(ctx(t), batch) {
		if err != nil {
			t.Fatalf("PublishBatch: message %d: %v", i, err)
		}
	}
	got := in.await(t, "100 events", count(100))
	if !slices.Equal(versions(got), upTo(100)) {
		t.Fatalf("batch arrived as %v, want in order", versions(got))
	}
}

func testQueueGroup(t *testing.T, s *suite) {
	const n = 40
	a, b := newInbox(), newInbox()
	listen(t, s.transport(), "shared", a.handler())
	listen(t, s.transport(), "shared", b.handler())
	publish(t, s.transport(), 0, n)
	all := newInbox()
	check := func() bool {
		ga, _ := a.snapshot()
		gb, _ := b.snapshot()
		return len(distinct(append(ga, gb...))) == n
	}
	deadline := time.Now().Add(timeout)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatal("the queue group did not receive every message")
		}
		_, ca := a.snapshot()
		_, cb := b.snapshot()
		select {
		case <-ca:
		case <-cb:
		case <-time.After(time.Until(deadline)):
		}
	}
	ga, _ := a.snapshot()
	gb, _ := b.snapshot()
	for _, r := range append(ga, gb...) {
		if !r.meta.Redelivered {
			all.add(r)
		}
	}
	firsts, _ := all.snapshot()
	if len(firsts) != n {
		t.Fatalf("first deliveries: %d, want %d (each message to one member)", len(firsts), n)
	}
	if len(ga) == 0 || len(gb) == 0 {
		t.Fatalf("members got %d and %d messages; a queue group shares them", len(ga), len(gb))
	}
}

func testDurableResume(t *testing.T, s *suite) {
	first := newInbox()
	l := listen(t, s.transport(), "durable", first.handler(), events.DeliverAll())
	publish(t, s.transport(), 0, 5)
	first.await(t, "the first 5", count(5))
	closeListener(t, l)

	publish(t, s.transport(), 5, 10)
	second := newInbox()
	listen(t, s.transport(), "durable", second.handler(), events.DeliverAll())
	got := second.await(t, "the next 5", count(5))
	if !slices.Equal(distinct(got), []int64{5, 6, 7, 8, 9}) {
		t.Fatalf("resumed durable received %v, want 5..9", versions(got))
	}
	second.quiet(t, 5)
}

func testRedeliveryOnError(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	var calls atomic.Int32
	listen(t, tr, "group", func(ctx context.Context, e Sample, meta events.Metadata) error {
		in.add(received{e, meta})
		if calls.Add(1) == 1 {
			return errors.New("transient failure")
		}
		return nil
	})
	publish(t, tr, 0, 1)
	got := in.await(t, "a redelivery", count(2))
	if got[0].meta.Redelivered || !got[1].meta.Redelivered || got[1].e != got[0].e {
		t.Fatalf("deliveries = %+v, want the same event, then redelivered", got)
	}
	if c := got[1].meta.DeliveryCount; c != 0 && c != 2 {
		t.Fatalf("second delivery count = %d, want 2 (or 0 when unknown)", c)
	}
	in.quiet(t, 2)
}

func testRedeliveryOnPanic(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	var calls atomic.Int32
	var mu sync.Mutex
	var outcomes []events.Outcome
	hooks := events.Hooks{Handled: func(_ events.Metadata, _ time.Duration, o events.Outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}}
	listen(t, tr, "group", func(ctx context.Context, e Sample, meta events.Metadata) error {
		in.add(received{e, meta})
		if calls.Add(1) == 1 {
			panic("handler bug")
		}
		return nil
	}, events.WithHooks(hooks))
	publish(t, tr, 0, 1)
	got := in.await(t, "a redelivery after a panic", count(2))
	if !got[1].meta.Redelivered {
		t.Fatalf("second delivery not marked redelivered: %+v", got[1].meta)
	}
	in.quiet(t, 2)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(outcomes, []events.Outcome{events.Panicked, events.Acked}) {
		t.Fatalf("outcomes = %v, want panicked then acked", outcomes)
	}
}

func testRedeliveryWithoutAck(t *testing.T, s *suite) {
	tr := s.transport()
	type delivery struct {
		data []byte
		meta events.Metadata
	}
	got := make(chan delivery, 10)
	sub, err := tr.Subscribe(ctx(t), string(SubjectSample), events.SubscribeOptions{
		QueueGroup: "raw", Durable: "raw", ManualAck: true, AckWait: ackWait, MaxInFlight: 10,
	}, func(m events.Message) {
		got <- delivery{m.Data(), m.Metadata()}
		if m.Metadata().Redelivered {
			if err := m.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	publish(t, tr, 0, 1)
	var first, second delivery
	for i, d := range []*delivery{&first, &second} {
		select {
		case *d = <-got:
		case <-time.After(timeout):
			t.Fatalf("delivery %d never came", i+1)
		}
	}
	if first.meta.Redelivered || !second.meta.Redelivered || string(first.data) != string(second.data) || first.meta.Sequence != second.meta.Sequence {
		t.Fatalf("deliveries %+v then %+v, want one message redelivered after no ack", first.meta, second.meta)
	}
}

func testOrder(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	listen(t, tr, "group", in.handler(), events.MaxInFlight(16))
	publish(t, tr, 0, 50)
	got := in.await(t, "50 events", count(50))
	if !slices.Equal(versions(got), upTo(50)) {
		t.Fatalf("received %v, want 0..49 in order", versions(got))
	}
}

func testConcurrentPublishers(t *testing.T, s *suite) {
	const publishers, each = 8, 25
	in := newInbox()
	listen(t, s.transport(), "group", in.handler(), events.Concurrency(4))
	tr := s.transport()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, err := events.NewPublisher[Sample](tr)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range each {
				if err := pub.Publish(ctx(t), event(p*each+i)); err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := in.await(t, "every event", func(got []received) bool { return len(distinct(got)) == publishers*each })
	seqs := make(map[uint64]bool)
	for _, r := range got {
		if !r.meta.Redelivered && seqs[r.meta.Sequence] {
			t.Fatalf("sequence %d handed out twice", r.meta.Sequence)
		}
		seqs[r.meta.Sequence] = true
	}
}

func testCloseWaits(t *testing.T, s *suite) {
	const n = 4
	tr := s.transport()
	started := make(chan struct{}, n)
	release := make(chan struct{})
	var finished atomic.Int32
	l, err := events.Listen(ctx(t), tr, "group", func(ctx context.Context, e Sample, meta events.Metadata) error {
		started <- struct{}{}
		<-release
		finished.Add(1)
		return nil
	}, events.AckWait(ackWait), events.Concurrency(n))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, tr, 0, n)
	for range n {
		select {
		case <-started:
		case <-time.After(timeout):
			t.Fatal("handlers did not start")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close(ctx(t)) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while handlers were running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Close did not return after the handlers finished")
	}
	if finished.Load() != n {
		t.Fatalf("%d handlers finished, want %d", finished.Load(), n)
	}
	if err := l.Close(ctx(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The finished handlers acknowledged: a resumed durable gets only what is new.
	in := newInbox()
	listen(t, s.transport(), "group", in.handler())
	publish(t, tr, n, n+1)
	got := in.await(t, "the new event", count(1))
	if got[0].e.Version != n {
		t.Fatalf("resumed durable received version %d first, want %d", got[0].e.Version, n)
	}
	in.quiet(t, 1)
}

func testCloseGivesUp(t *testing.T, s *suite) {
	tr := s.transport()
	started := make(chan struct{})
	cancelled := make(chan struct{})
	l, err := events.Listen(ctx(t), tr, "group", func(ctx context.Context, e Sample, meta events.Metadata) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}, events.AckWait(ackWait))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, tr, 0, 1)
	select {
	case <-started:
	case <-time.After(timeout):
		t.Fatal("handler did not start")
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck handler = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(timeout):
		t.Fatal("the stuck handler's context was not cancelled")
	}
	// Its message was never acknowledged, so the durable gets it again.
	in := newInbox()
	listen(t, s.transport(), "group", in.handler())
	got := in.await(t, "the unacknowledged event", count(1))
	if got[0].e.Version != 0 || !got[0].meta.Redelivered {
		t.Fatalf("got %+v, want version 0 redelivered", got[0])
	}
}

// testCloseHandlerIgnoresCtx: a handler that ignores its context (it
// blocks until released) must not hold Listener.Close past Close's
// deadline, even while the transport waits for it to return.
func testCloseHandlerIgnoresCtx(t *testing.T, s *suite) {
	tr := s.transport()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l, err := events.Listen(ctx(t), tr, "group", func(context.Context, Sample, events.Metadata) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	}, events.AckWait(ackWait))
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
		_ = l.Close(ctx(t))
	})
	publish(t, tr, 0, 1)
	select {
	case <-started:
	case <-time.After(timeout):
		t.Fatal("handler did not start")
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err = l.Close(short)
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("Close took %v with a 100ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a handler ignoring its ctx = %v, want deadline exceeded", err)
	}
	// Once the handler returns, a later Close completes.
	close(release)
	released = true
	if err := l.Close(ctx(t)); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close after the handler returned = %v", err)
	}
}

func testDeliverAll(t *testing.T, s *suite) {
	tr := s.transport()
	publish(t, tr, 0, 5)
	all, fresh := newInbox(), newInbox()
	listen(t, tr, "late-all", all.handler(), events.DeliverAll())
	listen(t, tr, "late-new", fresh.handler())
	publish(t, tr, 5, 6)
	got := all.await(t, "all 6 events", count(6))
	if !slices.Equal(versions(got), upTo(6)) {
		t.Fatalf("deliver-all durable received %v, want 0..5", versions(got))
	}
	got = fresh.await(t, "the new event", count(1))
	if got[0].e.Version != 5 {
		t.Fatalf("new-only durable received version %d first, want 5", got[0].e.Version)
	}
	fresh.quiet(t, 1)
}

var poison = []string{
	`not json`,
	`{"id": 5, "title": "wrong types", "price": 10, "userId": "u", "version": 0}`,
	`{"id": "` + ticketID + `", "title": "string price", "price": "10", "userId": "u", "version": 0}`,
	`{"id": {"$gt": ""}, "title": "operator", "price": 10, "userId": "u", "version": 0}`,
	`null`,
	`[]`,
	`{"id": "not-an-object-id", "title": "bad id", "price": 10, "userId": "u", "version": 0}`,
}

func testPoison(t *testing.T, s *suite) {
	tr := s.transport()
	in := newInbox()
	var mu sync.Mutex
	var dead []events.DeadLetter
	listen(t, tr, "group", in.handler(), events.OnDeadLetter(func(_ context.Context, dl events.DeadLetter) error {
		mu.Lock()
		dead = append(dead, dl)
		mu.Unlock()
		return nil
	}))
	for _, p := range poison {
		if err := tr.Publish(ctx(t), events.Outgoing{Subject: string(SubjectSample), Data: []byte(p), ID: p}); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, tr, 0, 1)
	// The good event after the poison still gets through.
	in.await(t, "the good event", count(1))
	in.quiet(t, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != len(poison) {
		t.Fatalf("%d dead letters, want %d (each exactly once)", len(dead), len(poison))
	}
	for i, dl := range dead {
		if string(dl.Data) != poison[i] || !errors.Is(dl.Err, events.ErrDecode) || dl.Sequence == 0 {
			t.Fatalf("dead letter %d = %q (%v, seq %d), want %q with a decode error", i, dl.Data, dl.Err, dl.Sequence, poison[i])
		}
	}
}

func testDeadLetterSubject(t *testing.T, s *suite) {
	tr := s.transport()
	const deadSubject = "dead-letters"
	dead := make(chan []byte, 10)
	sub, err := tr.Subscribe(ctx(t), deadSubject, events.SubscribeOptions{
		QueueGroup: "dlq", Durable: "dlq", DeliverAll: true, ManualAck: true, AckWait: ackWait, MaxInFlight: 10,
	}, func(m events.Message) {
		dead <- m.Data()
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	in := newInbox()
	listen(t, tr, "group", in.handler(), events.DeadLetterSubject(deadSubject))
	if err := tr.Publish(ctx(t), events.Outgoing{Subject: string(SubjectSample), Data: []byte(poison[0])}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-dead:
		if string(got) != poison[0] {
			t.Fatalf("dead-letter subject got %q, want the payload unchanged", got)
		}
	case <-time.After(timeout):
		t.Fatal("nothing arrived on the dead-letter subject")
	}
	in.quiet(t, 0)
}

// A transport that carries headers delivers them beside the payload; one
// that doesn't (CarriesHeaders false: NATS Streaming) delivers none, and
// the payload unchanged: headers are never folded into it.
func testHeaders(t *testing.T, s *suite) {
	tr := s.transport()
	carries := events.CarriesHeaders(tr)
	subject := "headers"
	got := make(chan events.Message, 4)
	sub, err := tr.Subscribe(ctx(t), subject, events.SubscribeOptions{DeliverAll: true, AckWait: ackWait, MaxInFlight: 16}, func(m events.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	data := []byte(`{"id":"x","version":0}`)
	h := events.Header{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", events.HeaderCorrelationID: "c-1"}
	if err := tr.Publish(ctx(t), events.Outgoing{Subject: subject, Data: data, Header: h}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Publish(ctx(t), events.Outgoing{Subject: subject, Data: data}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []events.Header{h, nil} {
		select {
		case m := <-got:
			if !bytes.Equal(m.Data(), data) {
				t.Fatalf("message %d: payload %q, want %q unchanged", i, m.Data(), data)
			}
			gotH := m.Metadata().Header
			switch {
			case !carries && len(gotH) != 0:
				t.Fatalf("message %d: headers %v from a transport that says it carries none", i, gotH)
			case carries && !maps.Equal(gotH, want):
				t.Fatalf("message %d: headers %v, want %v", i, gotH, want)
			}
		case <-time.After(timeout):
			t.Fatalf("message %d never arrived", i)
		}
	}
}
