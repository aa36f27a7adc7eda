package systemtest

// BenchmarkService drives the service over HTTP with a closed-loop load
// generator (internal/loadgen: fixed concurrency, fixed duration), with a
// listener consuming the ticket:created events it publishes, and compares
// it in the same run with a floor: a bare net/http handler doing the same
// work per request directly on the raw clients (the driver's InsertOne and
// stan.go's Publish for POST, FindOne by _id for GET). Service and floor
// run in this process, alternately, for the same time each, round after
// round; "service-ratio" is the median over the rounds of the service's
// requests per second over the floor's. For POST, where the service
// answers once the ticket and its event are in the outbox and publishes
// later, "service-sustained-ratio" compares the tickets created per second
// counting until the listener got the last one's event.
//
// The floor is a floor: it checks no token, validates nothing but the
// JSON, logs nothing, and publishes synchronously instead of through an
// outbox, so it is what the backends allow rather than a service one
// would deploy.
//
// Its sub-benchmarks run on the in-memory backends (the default of `go run
// ./examples/tickets-service`, against an in-memory floor: a map and
// memtransport) and on the dev servers (MongoDB and NATS Streaming; they
// skip without MONGO_URI and NATS_URL). Each runs a fixed time whatever
// b.N is: run it with the default -benchtime, or any up to a few seconds.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/memtransport"
	"github.com/ticketkit/ticketkit/internal/benchcmp"
	"github.com/ticketkit/ticketkit/internal/loadgen"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/tickets/ticketstore"
	"github.com/ticketkit/ticketkit/wire"
)

// The load of every comparison.
const (
	benchConcurrency = 16
	benchRounds      = 3
	benchRoundTime   = 2 * time.Second
	benchWarmup      = 300 * time.Millisecond
	benchSeedCount   = 1000 // tickets each side has before a GET run
	benchDrainWait   = 2 * time.Minute
	benchJWTKey      = "bench-jwt-key"
	benchUserID      = "64b7f0c2a1b2c3d4e5f60718"
	benchBody        = `{"title":"concert","price":20}`
)

// concurrency is BENCH_CONCURRENCY, for a run at another load than the
// standard one's benchConcurrency.
func concurrency() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return benchConcurrency
}

func BenchmarkService(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		b.Run("POST", func(b *testing.B) { benchService(b, false, true) })
		b.Run("GET", func(b *testing.B) { benchService(b, false, false) })
	})
	b.Run("mongo-stan", func(b *testing.B) {
		b.Run("POST", func(b *testing.B) { benchService(b, true, true) })
		b.Run("GET", func(b *testing.B) { benchService(b, true, false) })
	})
}

// benchSide is the service or the floor, behind an HTTP server, with the
// ids of the tickets it holds.
type benchSide struct {
	name string
	url  string
	ids  []string
	// created counts the tickets this side created (201s, and the
	// seeds), published what the listener received from it.
	created, published *atomic.Int64
	results            []loadgen.Result
	events             []float64 // events per second received during each run
	drains             []time.Duration
	sustained          []float64 // tickets created and delivered per second, POST only
}

func benchService(b *testing.B, real bool, post bool) {
	ctx := context.Background()
	var svc, floor *benchSide
	// POST runs start on empty collections; GET runs on benchSeedCount
	// tickets each.
	if real {
		svc, floor = benchRealSides(b, !post)
	} else {
		svc, floor = benchMemorySides(b, !post)
	}
	token, err := session.Mint([]byte(benchJWTKey), session.User{ID: benchUserID, Email: "bench@example.com"}, time.Now(), 0)
	if err != nil {
		b.Fatal(err)
	}
	request := func(s *benchSide) func(w, i int) (*http.Request, error) {
		if post {
			return func(w, i int) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, s.url+"/api/tickets", strings.NewReader(benchBody))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("Authorization", "Bearer "+token)
				}
				return r, err
			}
		}
		return func(w, i int) (*http.Request, error) {
			id := s.ids[(w*7919+i*104729)%len(s.ids)]
			return http.NewRequest(http.MethodGet, s.url+"/api/tickets/"+id, nil)
		}
	}
	want := http.StatusOK
	if post {
		want = http.StatusCreated
	}

	roundTime := benchRoundTime
	if real && post {
		// Long enough for the sustained figure: at least 3,000
		// creates per side and round at the floor's rate on FerretDB.
		roundTime = 4 * time.Second
	}
	sides := []*benchSide{svc, floor}
	var ratios, sustainedRatios []float64
	for r := range benchRounds {
		for k := range sides {
			s := sides[(k+r)%len(sides)]
			published, created := s.published.Load(), s.created.Load()
			start := time.Now()
			res := loadgen.Run(ctx, loadgen.Config{
				Concurrency: concurrency(), Duration: roundTime, Warmup: benchWarmup,
				Request: request(s), Want: want,
			})
			if res.Errors > 0 {
				b.Fatalf("%s: %d errors, the first: %v", s.name, res.Errors, res.FirstErr)
			}
			s.results = append(s.results, res)
			s.events = append(s.events, float64(s.published.Load()-published)/time.Since(start).Seconds())
			if post {
				// Every ticket created must reach the listener. The
				// sustained rate counts the tickets created from the
				// start of the run (warm-up included) until the last of
				// their events arrived: the outbox's lag, for the
				// service. Waiting here also keeps one side's backlog
				// out of the other's run.
				s.drains = append(s.drains, benchDrain(b, s))
				s.sustained = append(s.sustained, float64(s.created.Load()-created)/time.Since(start).Seconds())
			}
		}
		ratios = append(ratios, svc.results[r].Rate()/floor.results[r].Rate())
		if post {
			sustainedRatios = append(sustainedRatios, svc.sustained[r]/floor.sustained[r])
		}
	}

	for _, s := range sides {
		var all loadgen.Result
		rates := make([]float64, len(s.results))
		for i, res := range s.results {
			rates[i] = res.Rate()
			all.Latencies = append(all.Latencies, res.Latencies...)
		}
		slices.Sort(all.Latencies)
		b.ReportMetric(benchcmp.Median(rates), s.name+"-req/s")
		b.ReportMetric(ms(all.Percentile(50)), s.name+"-p50-ms")
		b.ReportMetric(ms(all.Percentile(99)), s.name+"-p99-ms")
		if post {
			b.ReportMetric(benchcmp.Median(s.events), s.name+"-events/s")
			var worst time.Duration
			for _, d := range s.drains {
				worst = max(worst, d)
			}
			b.ReportMetric(ms(worst), s.name+"-drain-ms")
			b.ReportMetric(benchcmp.Median(s.sustained), s.name+"-sustained/s")
		}
		b.Logf("%s: %s", s.name, strings.Join(resultStrings(s.results), "; "))
	}
	b.ReportMetric(benchcmp.Median(ratios), "service-ratio")
	if post {
		b.ReportMetric(benchcmp.Median(sustainedRatios), "service-sustained-ratio")
	}
}

func resultStrings(rs []loadgen.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchDrain waits until the listener has received the event of every
// ticket s created, and returns how long that took.
func benchDrain(b *testing.B, s *benchSide) time.Duration {
	b.Helper()
	start := time.Now()
	for {
		n, want := s.published.Load(), s.created.Load()
		if n >= want {
			return time.Since(start)
		}
		if time.Since(start) > benchDrainWait {
			b.Fatalf("%s: the listener got %d events of %d tickets created within %v", s.name, n, want, benchDrainWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchCounter is a listener's handler counting ticket:created events by
// who published them: the floor's carry a title of its own.
func benchCounter(svc, floor *atomic.Int64) events.Handler[wire.TicketCreated] {
	return func(_ context.Context, e wire.TicketCreated, _ events.Metadata) error {
		if e.Title == floorTitle {
			floor.Add(1)
		} else {
			svc.Add(1)
		}
		return nil
	}
}

// floorTitle marks the floor's tickets, so the listener can tell them apart.
const floorTitle = "concert (floor)"

// benchMemorySides starts the service on its in-memory backends and the
// in-memory floor on the same memtransport, with a listener on it.
func benchMemorySides(b *testing.B, seed bool) (svc, floor *benchSide) {
	cfg, err := loadConfig(func(k string) string {
		if k == "JWT_KEY" {
			return benchJWTKey
		}
		return ""
	})
	if err != nil {
		b.Fatal(err)
	}
	tr := memtransport.New()
	bk := memoryBackends(tr)
	svc, floor = benchStartService(b, cfg, bk)
	benchListen(b, tr, svc, floor)

	store := &memFloorStore{docs: make(map[string]floorDoc)}
	floor.url = benchServe(b, floorHandler(store, func(ctx context.Context, data []byte) error {
		return tr.Publish(ctx, events.Outgoing{Subject: string(wire.SubjectTicketCreated), Data: data})
	}), floor.created)
	if seed {
		benchSeed(b, bk.store, nil, svc, store, floor)
	}
	return svc, floor
}

// benchRealSides starts the service on MongoDB and NATS Streaming as main
// does, and the floor on raw clients of the same servers, each with a
// database of its own, with a listener (another service's connection).
func benchRealSides(b *testing.B, seed bool) (svc, floor *benchSide) {
	mongoURI := testenv.MongoURI(b)
	natsURL, clusterID := testenv.NATS(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	svcDB, floorDB := testenv.Mongo(b), testenv.Mongo(b) // dropped at the end
	u, err := url.Parse(mongoURI)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + svcDB.Name()
	vars := map[string]string{
		"MONGO_URI": u.String(), "NATS_URL": natsURL, "NATS_CLUSTER_ID": clusterID,
		"NATS_CLIENT_ID": testenv.UniqueName(b), "JWT_KEY": benchJWTKey,
		"GROUP_COMMIT": os.Getenv("GROUP_COMMIT"), // to compare with it off
	}
	cfg, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		b.Fatal(err)
	}
	unique := testenv.UniqueName(b)
	cfg.QueueGroup = "tickets-service-" + unique
	cfg.DeadLetters = "dead-letter-" + unique
	bk, err := openBackends(ctx, cfg, benchLogger())
	if err != nil {
		b.Fatal(err)
	}
	svc, floor = benchStartService(b, cfg, bk)

	peer, err := streaming.Connect(ctx, natsclient.Config{ClusterID: clusterID, ClientID: testenv.UniqueName(b), URLs: []string{natsURL}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchClose(b, "listener connection", peer.Close) })
	benchListen(b, peer, svc, floor)

	sc, err := stan.Connect(clusterID, testenv.UniqueName(b), stan.NatsURL(natsURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sc.Close(); err != nil {
			b.Errorf("close the floor's stan connection: %v", err)
		}
	})
	store := &mongoFloorStore{coll: floorDB.Collection("tickets")}
	floor.url = benchServe(b, floorHandler(store, func(_ context.Context, data []byte) error {
		return sc.Publish(string(wire.SubjectTicketCreated), data)
	}), floor.created)
	if seed {
		svcStore := &mongoFloorStore{coll: svcDB.Collection(ticketstore.Name)}
		benchSeed(b, bk.store, svcStore, svc, store, floor)
	}
	return svc, floor
}

func benchLogger() *slog.Logger {
	// As main logs: JSON lines at info, one per request; to nowhere.
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// benchStartService starts the service on bk behind an HTTP server, and
// stops it cleanly when b ends.
func benchStartService(b *testing.B, cfg config, bk *backends) (svc, floor *benchSide) {
	s, err := startService(context.Background(), cfg, benchLogger(), bk, events.Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		benchClose(b, "service", s.Shutdown)
	})
	svc = &benchSide{name: "service", created: new(atomic.Int64), published: new(atomic.Int64)}
	floor = &benchSide{name: "floor", created: new(atomic.Int64), published: new(atomic.Int64)}
	svc.url = benchServe(b, s.handler, svc.created)
	return svc, floor
}

// benchServe serves h on a loopback port until b ends, counting the 201s
// in created.
func benchServe(b *testing.B, h http.Handler, created *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &createdWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status == http.StatusCreated {
			created.Add(1)
		}
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

type createdWriter struct {
	http.ResponseWriter
	status int
}

func (w *createdWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func benchListen(b *testing.B, t events.Transport, svc, floor *benchSide) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := events.Listen(ctx, t, "bench-listener-"+testenv.UniqueName(b), benchCounter(svc.published, floor.published))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchClose(b, "listener", l.Close) })
}

func benchClose(b *testing.B, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := close(ctx); err != nil {
		b.Errorf("close %s: %v", what, err)
	}
}

// benchSeed gives each side benchSeedCount published tickets, so that
// GET runs read collections of the same size: the service's are inserted
// into its collection as the Store leaves a ticket once its event is out
// (svcStore), or, in memory, created through its Store and published.
func benchSeed(b *testing.B, store tickets.Store, svcStore floorStore, svc *benchSide, fs floorStore, floor *benchSide) {
	ctx := context.Background()
	seed := func(fs floorStore, s *benchSide) {
		docs := make([]floorDoc, benchSeedCount)
		for i := range docs {
			docs[i] = newFloorDoc("concert", 2000)
			s.ids = append(s.ids, docs[i].ID.Hex())
		}
		if err := fs.insertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	seed(fs, floor)
	if svcStore != nil {
		seed(svcStore, svc)
		return
	}
	uc, err := tickets.NewService(store)
	if err != nil {
		b.Fatal(err)
	}
	for range benchSeedCount {
		c, err := uc.Create(ctx, benchUserID, tickets.Input{Title: "concert", Price: ticketkit.Cents(2000)})
		if err != nil {
			b.Fatal(err)
		}
		svc.ids = append(svc.ids, c.Ticket.ID)
	}
	svc.created.Add(benchSeedCount)
	benchDrain(b, svc)
}

// floorDoc is the floor's ticket, as stored and as answered.
type floorDoc struct {
	ID        bson.ObjectID `bson:"_id" json:"-"`
	Hex       string        `bson:"-" json:"id"`
	Title     string        `bson:"title" json:"title"`
	Price     int64         `bson:"price" json:"-"`
	Dollars   float64       `bson:"-" json:"price"`
	UserID    string        `bson:"userId" json:"userId"`
	Version   int64         `bson:"version" json:"version"`
	CreatedAt time.Time     `bson:"createdAt" json:"-"`
	UpdatedAt time.Time     `bson:"updatedAt" json:"-"`
}

func newFloorDoc(title string, cents int64) floorDoc {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return floorDoc{ID: bson.NewObjectID(), Title: title, Price: cents, UserID: benchUserID, CreatedAt: now, UpdatedAt: now}
}

// floorStore is where the floor keeps tickets.
type floorStore interface {
	insert(ctx context.Context, d floorDoc) error
	insertMany(ctx context.Context, ds []floorDoc) error
	get(ctx context.Context, id bson.ObjectID) (floorDoc, error)
}

type mongoFloorStore struct{ coll *mongo.Collection }

func (s *mongoFloorStore) insert(ctx context.Context, d floorDoc) error {
	_, err := s.coll.InsertOne(ctx, d)
	return err
}

func (s *mongoFloorStore) insertMany(ctx context.Context, ds []floorDoc) error {
	docs := make([]any, len(ds))
	for i := range ds {
		docs[i] = ds[i]
	}
	_, err := s.coll.InsertMany(ctx, docs)
	return err
}

func (s *mongoFloorStore) get(ctx context.Context, id bson.ObjectID) (floorDoc, error) {
	var d floorDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	return d, err
}

type memFloorStore struct {
	mu   sync.RWMutex
	docs map[string]floorDoc
}

func (s *memFloorStore) insert(_ context.Context, d floorDoc) error {
	s.mu.Lock()
	s.docs[d.ID.Hex()] = d
	s.mu.Unlock()
	return nil
}

func (s *memFloorStore) insertMany(ctx context.Context, ds []floorDoc) error {
	for _, d := range ds {
		_ = s.insert(ctx, d)
	}
	return nil
}

func (s *memFloorStore) get(_ context.Context, id bson.ObjectID) (floorDoc, error) {
	s.mu.RLock()
	d, ok := s.docs[id.Hex()]
	s.mu.RUnlock()
	if !ok {
		return d, mongo.ErrNoDocuments
	}
	return d, nil
}

// floorHandler serves POST /api/tickets (decode, insert, publish the
// event, answer) and GET /api/tickets/{id} (find, answer) with nothing
// else.
func floorHandler(store floorStore, publish func(context.Context, []byte) error) http.Handler {
	answer := func(w http.ResponseWriter, status int, d floorDoc) {
		d.Hex, d.Dollars = d.ID.Hex(), float64(d.Price)/100
		body, _ := json.Marshal(d)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title string  `json:"title"`
			Price float64 `json:"price"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := newFloorDoc(floorTitle, int64(math.Round(in.Price*100)))
		if err := store.insert(r.Context(), d); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data, _ := json.Marshal(struct {
			ID      string  `json:"id"`
			Title   string  `json:"title"`
			Price   float64 `json:"price"`
			UserID  string  `json:"userId"`
			Version int64   `json:"version"`
		}{d.ID.Hex(), d.Title, float64(d.Price) / 100, d.UserID, d.Version})
		if err := publish(r.Context(), data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answer(w, http.StatusCreated, d)
	})
	mux.HandleFunc("GET /api/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := bson.ObjectIDFromHex(r.PathValue("id"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		d, err := store.get(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		answer(w, http.StatusOK, d)
	})
	return mux
}
