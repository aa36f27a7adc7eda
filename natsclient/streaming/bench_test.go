package streaming_test

// Benchmarks of natsclient, and of the typed events API over it, against
// raw stan.go on the same server in the same run (see internal/benchcmp):
// each reports "<side>-ratio", the side's throughput over raw stan.go's.
// Every side starts from the same typed payloads and does the same work
// an application would: raw stan.go sides json.Marshal the event
// themselves, as events.Encode does for the typed API. `make bench` runs
// them on the dev servers; without NATS_URL they skip.

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/benchcmp"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// benchEvent is the payload every benchmark sends: a ticket:created as the
// tickets service publishes it.
func benchEvent(i int) wire.TicketCreated {
	return wire.TicketCreated{
		ID:      fmt.Sprintf("64b7f0c2a1b2c3d4%08x", i),
		Title:   "concert",
		Price:   ticketkit.Cents(2000),
		UserID:  "64b7f0c2a1b2c3d4e5f60718",
		Version: 0,
	}
}

var benchSubject = string(wire.SubjectTicketCreated)

// benchConns connects a natsclient Client and a raw stan.go connection to
// the shared server, with the same in-flight bound and ack timeout, and
// closes both when b ends.
func benchConns(b *testing.B) (*streaming.Client, stan.Conn) {
	b.Helper()
	url, cluster := testenv.NATS(b)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := streaming.Connect(ctx, natsclient.Config{
		ClusterID: cluster, ClientID: testenv.UniqueName(b), URLs: []string{url},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			b.Errorf("close natsclient: %v", err)
		}
	})
	sc, err := stan.Connect(cluster, testenv.UniqueName(b), stan.NatsURL(url),
		stan.MaxPubAcksInflight(streaming.DefaultMaxPubAcksInFlight),
		stan.PubAckWait(streaming.DefaultAckTimeout))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sc.Close(); err != nil {
			b.Errorf("close stan: %v", err)
		}
	})
	return c, sc
}

func mustMarshal(b *testing.B, e wire.TicketCreated) []byte {
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkPublish is one synchronous publish at a time: the typed
// Publisher and natsclient's Publish against stan.go's Publish.
func BenchmarkPublish(b *testing.B) {
	c, sc := benchConns(b)
	pub, err := events.NewPublisher[wire.TicketCreated](c)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	benchcmp.Compare(b, benchcmp.Options{Rounds: 10, Warmup: 50},
		benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
			for i := range n {
				if err := sc.Publish(benchSubject, mustMarshal(b, benchEvent(i))); err != nil {
					b.Fatal(err)
				}
			}
		}},
		benchcmp.Side{Name: "typed", Run: func(b *testing.B, n int) {
			for i := range n {
				if err := pub.Publish(ctx, benchEvent(i)); err != nil {
					b.Fatal(err)
				}
			}
		}},
		benchcmp.Side{Name: "streaming", Run: func(b *testing.B, n int) {
			for i := range n {
				if err := c.Publish(ctx, events.Outgoing{Subject: benchSubject, Data: mustMarshal(b, benchEvent(i))}); err != nil {
					b.Fatal(err)
				}
			}
		}},
	)
}

// BenchmarkPublishBatch is a burst, as the outbox relay sends one:
// natsclient's PublishBatch and the typed PublishBatch against stan.go's
// PublishAsync with the same in-flight bound, waiting for every ack. An op
// is one message.
func BenchmarkPublishBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			c, sc := benchConns(b)
			pub, err := events.NewPublisher[wire.TicketCreated](c)
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			es := make([]wire.TicketCreated, size)
			for i := range es {
				es[i] = benchEvent(i)
			}
			// batches calls send once per batch of at most size of n.
			batches := func(n int, send func([]wire.TicketCreated)) {
				for n > 0 {
					k := min(n, size)
					send(es[:k])
					n -= k
				}
			}
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 8, MinPerRound: size, Warmup: size},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					batches(n, func(es []wire.TicketCreated) {
						var wg sync.WaitGroup
						var failed atomic.Value
						wg.Add(len(es))
						for _, e := range es {
							_, err := sc.PublishAsync(benchSubject, mustMarshal(b, e), func(_ string, err error) {
								if err != nil {
									failed.Store(err)
								}
								wg.Done()
							})
							if err != nil {
								b.Fatal(err)
							}
						}
						wg.Wait()
						if err := failed.Load(); err != nil {
							b.Fatal(err)
						}
					})
				}},
				benchcmp.Side{Name: "typed", Run: func(b *testing.B, n int) {
					batches(n, func(es []wire.TicketCreated) {
						for _, err := range pub.PublishBatch(ctx, es) {
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				}},
				benchcmp.Side{Name: "streaming", Run: func(b *testing.B, n int) {
					msgs := make([]events.Outgoing, size)
					batches(n, func(es []wire.TicketCreated) {
						for i, e := range es {
							msgs[i] = events.Outgoing{Subject: benchSubject, Data: mustMarshal(b, e)}
						}
						for _, err := range c.PublishBatch(ctx, msgs[:len(es)]) {
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				}},
			)
		})
	}
}

// publishBacklog stores n events on the subject for a consumer to find.
func publishBacklog(b *testing.B, c *streaming.Client, n int) {
	b.Helper()
	msgs := make([]events.Outgoing, n)
	for i := range msgs {
		msgs[i] = events.Outgoing{Subject: benchSubject, Data: mustMarshal(b, benchEvent(i))}
	}
	for _, err := range c.PublishBatch(b.Context(), msgs) {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// counter signals done once n messages were handled.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newCounter(want int) *counter { return &counter{want: int64(want), done: make(chan struct{})} }

func (c *counter) add() {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}

func (c *counter) wait(b *testing.B) {
	b.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		b.Fatalf("consumed %d of %d messages in %v", c.n.Load(), c.want, timeout)
	}
}

// consumer consumes a backlog, with a raw stan.go durable queue
// subscription with manual acks or with a typed Listener, running up to
// handlers handlers at once, each taking work per message.
type consumer struct {
	c        *streaming.Client
	sc       stan.Conn
	handlers int
	work     time.Duration
	seq      int
	durable  string
	cnt      *counter
}

// The raw consumer: a durable queue subscription with manual acks that
// decodes, handles and acks each message; with more than one handler, it
// hands each message to a goroutine, at most handlers at once, as the
// Listener does. close waits for running handlers, then closes.
func (k *consumer) rawSubscribe(b *testing.B) (close func()) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, k.handlers)
	process := func(m *stan.Msg) {
		var e wire.TicketCreated
		if err := json.Unmarshal(m.Data, &e); err != nil {
			b.Error(err)
			return
		}
		if k.work > 0 {
			time.Sleep(k.work)
		}
		if err := m.Ack(); err != nil {
			b.Error(err)
		}
		k.cnt.add()
	}
	s, err := k.sc.QueueSubscribe(benchSubject, k.durable, func(m *stan.Msg) {
		if k.handlers == 1 {
			process(m)
			return
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			process(m)
		})
	}, stan.DurableName(k.durable), stan.SetManualAckMode(),
		stan.AckWait(events.DefaultAckWait), stan.MaxInflight(events.DefaultMaxInFlight))
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		wg.Wait()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func (k *consumer) listen(b *testing.B) *events.Listener {
	l, err := events.Listen(b.Context(), k.c, k.durable,
		func(ctx context.Context, e wire.TicketCreated, meta events.Metadata) error {
			if k.work > 0 {
				time.Sleep(k.work)
			}
			k.cnt.add() // the Listener acks after this; Close waits for it
			return nil
		}, events.Concurrency(k.handlers))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func closeListener(b *testing.B, l *events.Listener) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// sides returns the raw and typed sides. Prepare makes a new durable,
// closes it (so it stands at the end of the channel), and publishes n
// messages; Run subscribes it again and returns once all n are handled.
func (k *consumer) sides(name string) (raw, typed benchcmp.Side) {
	prepare := func(b *testing.B, n int) {
		k.seq++
		k.durable = fmt.Sprintf("%s-%d", name, k.seq)
		k.cnt = newCounter(n)
		k.rawSubscribe(b)()
		publishBacklog(b, k.c, n)
	}
	raw = benchcmp.Side{Name: "raw", Prepare: prepare, Run: func(b *testing.B, n int) {
		close := k.rawSubscribe(b)
		k.cnt.wait(b)
		close()
	}}
	typed = benchcmp.Side{Name: "typed", Prepare: prepare, Run: func(b *testing.B, n int) {
		l := k.listen(b)
		k.cnt.wait(b)
		closeListener(b, l)
	}}
	return raw, typed
}

// BenchmarkConsume is a typed Listener (decode, handler, ack) draining a
// backlog, against a raw stan.go manual-ack durable queue subscription
// doing the same (json.Unmarshal, handler, Ack). An op is one message.
func BenchmarkConsume(b *testing.B) {
	c, sc := benchConns(b)
	k := &consumer{c: c, sc: sc, handlers: 1}
	raw, typed := k.sides(testenv.UniqueName(b))
	b.ReportAllocs()
	benchcmp.Compare(b, benchcmp.Options{Rounds: 6, MinPerRound: 500}, raw, typed)
}

// BenchmarkPublishConcurrent is how synchronous publishing scales with
// concurrent publishers, each waiting for its acks: the typed Publisher
// against stan.go's Publish from as many goroutines. An op is one message.
func BenchmarkPublishConcurrent(b *testing.B) {
	for _, p := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", p), func(b *testing.B) {
			c, sc := benchConns(b)
			pub, err := events.NewPublisher[wire.TicketCreated](c)
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			parallel := func(b *testing.B, n int, publish func(i int) error) {
				var wg sync.WaitGroup
				for g := range p {
					share := n / p
					if g < n%p {
						share++
					}
					wg.Go(func() {
						for i := range share {
							if err := publish(i); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 6, MinPerRound: p, Warmup: p},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					parallel(b, n, func(i int) error { return sc.Publish(benchSubject, mustMarshal(b, benchEvent(i))) })
				}},
				benchcmp.Side{Name: "typed", Run: func(b *testing.B, n int) {
					parallel(b, n, func(i int) error { return pub.Publish(ctx, benchEvent(i)) })
				}},
			)
		})
	}
}

// BenchmarkConsumeConcurrent is how consuming scales with concurrent
// handlers, each taking 1ms per message as a handler that writes to a
// database would: a typed Listener with Concurrency(n) against a raw
// stan.go subscription handing messages to n goroutines. (n members of a
// stan.go queue group would not share a backlog: the first to join takes
// MaxInflight messages.) An op is one message.
func BenchmarkConsumeConcurrent(b *testing.B) {
	for _, h := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("handlers=%d", h), func(b *testing.B) {
			c, sc := benchConns(b)
			k := &consumer{c: c, sc: sc, handlers: h, work: time.Millisecond}
			raw, typed := k.sides(testenv.UniqueName(b))
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 4, MinPerRound: 100}, raw, typed)
		})
	}
}
