package paymentsvc

// BenchmarkPay drives POST /api/payments on the real servers (MongoDB,
// NATS Streaming, stripe-mock), each payment counted once its
// payment:created reached a listener (another service's connection), and
// compares it in the same run with two floors, bare net/http handlers on
// the raw clients of the same servers. Per POST, "bare" (the issue's
// floor) charges with stripe-go's raw client against the same stripe-mock
// (the same parameters, idempotency key and metadata), InsertOnes the
// payment with mongo-driver and publishes payment:created with stan.go,
// waiting for the ack; "floor" first reads the order by _id, as the Node
// service does. Neither checks a token, validates more than the JSON or
// logs: they are what the servers and Stripe's client allow. The service
// does what main does: the session check, the read of its order copy and
// of an existing payment, the charge through stripecharger, the payment
// and its event in one write, and the outbox relay's publish.
//
// Every payment needs an order of its own (a paid order is answered with
// its payment, charging nothing): before each of its runs, untimed, the
// service gets the run's orders as order:created events and waits until
// it has copied them, and "floor" inserts them. The sides run in turn, in
// all six orders over six rounds (as benchcmp.Compare orders three),
// benchPayRounds rounds of benchPayPerRound payments each, at
// benchConcurrency; "service-sustained-ratio" is the median over the
// rounds of the service's payments per second, counted until the listener
// got the last one's event, over the floor's ("-vs-bare": over bare's). A
// 503 of the service's load limiter is retried shortly and counted
// (service-503s). It skips without the servers, as the integration tests
// do, and runs a fixed amount of work whatever b.N is. See BENCHMARKS.md.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
	"github.com/stripe/stripe-go/v83"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/benchcmp"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/payments"
	"github.com/ticketkit/ticketkit/payments/stripecharger"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

const (
	benchConcurrency = 16
	benchPayRounds   = 6
	benchPayPerRound = 200
	benchWait        = 2 * time.Minute
	benchJWTKey      = "bench-jwt-key"
	benchStripeKey   = "sk_test_bench"
	benchUser        = "64b7f0c2a1b2c3d4e5f60718"
)

// paySide is the service or a floor behind a loopback HTTP server.
type paySide struct {
	name    string
	prefix  string // of the order ids it pays: the floors' are ObjectIDs of times near 0
	url     string
	prepare func(b *testing.B, ids []string) // makes the orders ids payable
	// delivered counts the payment:created events the listener got from
	// this side.
	delivered *atomic.Int64
	answered  []time.Duration // per round: until the last 201
	mu        sync.Mutex
	latencies []time.Duration // of every request of the measured rounds
	shed      atomic.Int64    // 503s (the limiter's), each retried
	sustained []time.Duration // per round: until the last event arrived
}

func BenchmarkPay(b *testing.B) {
	testenv.MongoURI(b) // skipped (or failed) here without the database
	natsURL, clusterID := testenv.NATS(b)
	stripeBase := testenv.StripeAPIBase(b)
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()

	user := session.User{ID: benchUser, Email: "bench@example.com"}
	token, err := session.Mint([]byte(benchJWTKey), user, time.Now(), 0)
	if err != nil {
		b.Fatal(err)
	}
	peer, err := streaming.Connect(ctx, natsclient.Config{ClusterID: clusterID, ClientID: testenv.UniqueName(b), URLs: []string{natsURL}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchClose(b, "the peer's connection", peer.Close) })

	svc := benchPayService(ctx, b, natsURL, clusterID, stripeBase, user, peer)
	floor := benchPayFloor(b, "floor", "00000000", true, natsURL, clusterID, stripeBase)
	bare := benchPayFloor(b, "bare", "00000001", false, natsURL, clusterID, stripeBase)
	sides := []*paySide{svc, floor, bare}
	l, err := events.Listen(ctx, peer, "bench-listener-"+testenv.UniqueName(b), func(_ context.Context, e wire.PaymentCreated, _ events.Metadata) error {
		for _, s := range sides[1:] {
			if strings.HasPrefix(e.OrderID, s.prefix) {
				s.delivered.Add(1)
				return nil
			}
		}
		svc.delivered.Add(1)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchClose(b, "listener", l.Close) })

	run := func(s *paySide, n int) {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = ticketkit.NewID()
			if s.prefix != "" {
				ids[i] = s.prefix + ids[i][8:]
			}
		}
		s.prepare(b, ids)
		before := s.delivered.Load()
		start := time.Now()
		benchPost(b, s, token, ids)
		s.answered = append(s.answered, time.Since(start))
		for s.delivered.Load() < before+int64(n) {
			if time.Since(start) > benchWait {
				b.Fatalf("%s: %d of %d payment:created within %v", s.name, s.delivered.Load()-before, n, benchWait)
			}
			time.Sleep(2 * time.Millisecond)
		}
		s.sustained = append(s.sustained, time.Since(start))
	}
	// Warm-up: connections, the servers' caches, stripe-go's pools.
	for _, s := range sides {
		run(s, 50)
		s.answered, s.sustained, s.latencies = nil, nil, nil
		s.shed.Store(0)
	}
	b.ResetTimer()
	ratios := map[*paySide][]float64{}
	answeredRatios := map[*paySide][]float64{}
	for r := range benchPayRounds {
		// As benchcmp.Compare orders its sides: all six orders of three
		// in six rounds.
		order := make([]int, len(sides))
		for k := range order {
			order[k] = (k + r/2) % len(sides)
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			run(sides[i], benchPayPerRound)
		}
		b.Logf("round %d: service %v (answered %v), floor %v, bare %v", r, svc.sustained[r], svc.answered[r], floor.sustained[r], bare.sustained[r])
		for _, f := range sides[1:] {
			ratios[f] = append(ratios[f], float64(f.sustained[r])/float64(svc.sustained[r]))
			answeredRatios[f] = append(answeredRatios[f], float64(f.answered[r])/float64(svc.answered[r]))
		}
	}
	b.StopTimer()
	for _, s := range sides {
		rate := func(ds []time.Duration) float64 {
			rs := make([]float64, len(ds))
			for i, d := range ds {
				rs[i] = benchPayPerRound / d.Seconds()
			}
			return benchcmp.Median(rs)
		}
		b.ReportMetric(rate(s.answered), s.name+"-req/s")
		b.ReportMetric(rate(s.sustained), s.name+"-sustained/s")
		var lag time.Duration
		for i := range s.sustained {
			lag = max(lag, s.sustained[i]-s.answered[i])
		}
		b.ReportMetric(float64(lag.Microseconds())/1000, s.name+"-drain-ms")
		slices.Sort(s.latencies)
		b.ReportMetric(ms(benchcmp.Percentile(s.latencies, 50)), s.name+"-p50-ms")
		b.ReportMetric(ms(benchcmp.Percentile(s.latencies, 99)), s.name+"-p99-ms")
		b.ReportMetric(float64(s.shed.Load()), s.name+"-503s")
	}
	for _, f := range sides[1:] {
		suffix := ""
		if f == bare {
			suffix = "-vs-bare"
		}
		b.ReportMetric(benchcmp.Median(answeredRatios[f]), "service-ratio"+suffix)
		b.ReportMetric(benchcmp.Median(ratios[f]), "service-sustained-ratio"+suffix)
	}
}

// benchClient keeps a connection per worker.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency}}

// benchPost pays every order of ids on s, benchConcurrency at a time,
// failing b on any answer but 201.
func benchPost(b *testing.B, s *paySide, token string, ids []string) {
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				for {
					status, body, err := benchPay(s, token, ids[i])
					if err != nil {
						b.Errorf("%s: %v", s.name, err)
						failed.Store(true)
						return
					}
					if status == http.StatusCreated {
						break
					}
					if status == http.StatusServiceUnavailable {
						// Shed by the limiter: retried shortly, as a
						// client would, and counted.
						s.shed.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					b.Errorf("%s: %d %s", s.name, status, body)
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		b.FailNow()
	}
}

// benchPay pays order id on s, recording the answer's latency.
func benchPay(s *paySide, token, id string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, s.url+"/api/payments", strings.NewReader(`{"token":"tok_visa","orderId":"`+id+`"}`))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", session.CookieHeader(token))
	start := time.Now()
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable {
		s.mu.Lock()
		s.latencies = append(s.latencies, took)
		s.mu.Unlock()
	}
	return resp.StatusCode, body, err
}

// benchPayService starts the service as main does, on a database of its
// own, charging through stripecharger on stripe-mock; its prepare
// publishes the orders of user as the orders service would and waits
// until the service has copied them.
func benchPayService(ctx context.Context, b *testing.B, natsURL, clusterID, stripeBase string, user session.User, peer events.Transport) *paySide {
	unique := testenv.UniqueName(b)
	env := map[string]string{
		"MONGO_URI": testenv.DatabaseURI(b, testenv.Mongo(b)), "NATS_TRANSPORT": service.TransportStan,
		"NATS_URL": natsURL, "NATS_CLUSTER_ID": clusterID, "NATS_CLIENT_ID": unique,
		"JWT_KEY": benchJWTKey, "PORT": "0",
		stripecharger.EnvKey: benchStripeKey, stripecharger.EnvAPIBase: stripeBase,
	}
	cfg, err := service.FromEnv(Name, func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	cfg.QueueGroup, cfg.DeadLetters = Name+"-"+unique, "dead-letter-"+unique
	// As main logs: JSON lines at info, one per request; to nowhere.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	bk, err := service.Open(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	var copied atomic.Int64
	s, err := service.Start(ctx, cfg, log, bk, service.WithHooks(events.Hooks{Handled: func(m events.Metadata, _ time.Duration, o events.Outcome) {
		if m.Subject == string(wire.SubjectOrderCreated) && o == events.Acked {
			copied.Add(1)
		}
	}}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchClose(b, "service", s.Shutdown) })
	charger, err := stripecharger.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	build, err := New(WithCharger(charger))
	if err != nil {
		b.Fatal(err)
	}
	api, err := build(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(api))
	b.Cleanup(srv.Close)
	return &paySide{name: "service", url: srv.URL, delivered: new(atomic.Int64), prepare: func(b *testing.B, ids []string) {
		want := copied.Load() + int64(len(ids))
		for _, id := range ids {
			data, err := events.Encode(wire.OrderCreated{ID: id, Status: "created", UserID: user.ID,
				ExpiresAt: wire.Time{Time: time.Now().Add(15 * time.Minute)}, Ticket: wire.OrderTicket{ID: ticketkit.NewID(), Price: ticketkit.Cents(2000)}})
			if err != nil {
				b.Fatal(err)
			}
			if err := peer.Publish(context.Background(), events.Outgoing{Subject: string(wire.SubjectOrderCreated), Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		for copied.Load() < want {
			if time.Since(start) > benchWait {
				b.Fatalf("the service copied %d of %d orders within %v", copied.Load()-want+int64(len(ids)), len(ids), benchWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}}
}

// benchPayFloor serves a floor on the raw clients, paying orders whose
// ids start with prefix: with readOrder, the Node service's work
// (findById of the order, the charge, the insert, the acked publish), its
// prepare inserting the orders as the copy holds them; without, the bare
// floor (the charge, the insert, the acked publish).
func benchPayFloor(b *testing.B, name, prefix string, readOrder bool, natsURL, clusterID, stripeBase string) *paySide {
	sc, err := stan.Connect(clusterID, testenv.UniqueName(b), stan.NatsURL(natsURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sc.Close(); err != nil {
			b.Errorf("close the floor's stan connection: %v", err)
		}
	})
	db := testenv.Mongo(b)
	coll, orders := db.Collection("payments"), db.Collection("orders")
	client := stripe.NewClient(benchStripeKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL: stripe.String(stripeBase), MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Token   string `json:"token"`
			OrderID string `json:"orderId"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if readOrder {
			oid, err := bson.ObjectIDFromHex(in.OrderID)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			var o struct {
				UserID string `bson:"userId"`
				Price  int64  `bson:"price"`
				Status string `bson:"status"`
			}
			if err := orders.FindOne(r.Context(), bson.D{{Key: "_id", Value: oid}}).Decode(&o); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
		}
		charge, err := client.V1Charges.Create(r.Context(), &stripe.ChargeCreateParams{
			Params:   stripe.Params{IdempotencyKey: stripe.String(payments.ChargeKey(in.OrderID, ""))},
			Amount:   stripe.Int64(2000),
			Currency: stripe.String(payments.Currency),
			Source:   &stripe.PaymentSourceSourceParams{Token: stripe.String(in.Token)},
			Metadata: map[string]string{"order_id": in.OrderID},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		id := bson.NewObjectID()
		if _, err := coll.InsertOne(r.Context(), bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: in.OrderID}, {Key: "stripeId", Value: charge.ID}}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data, _ := json.Marshal(wire.PaymentCreated{ID: id.Hex(), OrderID: in.OrderID, StripeID: charge.ID})
		if err := sc.Publish(string(wire.SubjectPaymentCreated), data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"` + id.Hex() + `"}`))
	})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	side := &paySide{name: name, prefix: prefix, url: srv.URL, delivered: new(atomic.Int64), prepare: func(*testing.B, []string) {}}
	if readOrder {
		side.prepare = func(b *testing.B, ids []string) {
			docs := make([]any, len(ids))
			for i, id := range ids {
				oid, err := bson.ObjectIDFromHex(id)
				if err != nil {
					b.Fatal(err)
				}
				docs[i] = bson.D{{Key: "_id", Value: oid}, {Key: "version", Value: 0}, {Key: "userId", Value: benchUser},
					{Key: "price", Value: 2000}, {Key: "status", Value: "created"}}
			}
			if _, err := orders.InsertMany(context.Background(), docs); err != nil {
				b.Fatal(err)
			}
		}
	}
	return side
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchClose(b *testing.B, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := close(ctx); err != nil {
		b.Errorf("close %s: %v", what, err)
	}
}
