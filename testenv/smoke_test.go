package testenv_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/testenv"
)

// These tests check that the servers testenv hands out are real and
// reachable, so that a failure elsewhere is not a harness problem.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 10 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

type doc struct {
	ID    string `bson:"_id"`
	Event string `bson:"event"`
	Price int64  `bson:"price"`
}

func TestMongoRoundTrip(t *testing.T) {
	coll := testenv.Mongo(t).Collection("tickets")
	want := doc{ID: "t-1", Event: "concert", Price: 4200}
	if _, err := coll.InsertOne(ctx(t), want); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got doc
	if err := coll.FindOne(ctx(t), bson.D{{Key: "_id", Value: "t-1"}}).Decode(&got); err != nil {
		t.Fatalf("find: %v", err)
	}
	if got != want {
		t.Fatalf("found %+v, want %+v", got, want)
	}
}

func TestMongoDatabasesAreIsolated(t *testing.T) {
	a, b := testenv.Mongo(t), testenv.Mongo(t)
	if a.Name() == b.Name() {
		t.Fatalf("two calls gave the same database %q", a.Name())
	}
	if _, err := a.Collection("c").InsertOne(ctx(t), doc{ID: "x"}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	n, err := b.Collection("c").CountDocuments(ctx(t), bson.D{})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 0 {
		t.Fatalf("database %s sees %d documents written to %s", b.Name(), n, a.Name())
	}
}

// Optimistic concurrency needs MongoDB's guarantee that a conditional
// single-document update is atomic: of writers racing to update the same
// version, exactly one wins. FerretDB alone does not give it; devservers
// makes sure it does.
func TestMongoConditionalUpdateHasOneWinner(t *testing.T) {
	coll := testenv.Mongo(t).Collection("tickets")
	const writers, rounds = 20, 5
	for round := range rounds {
		id := fmt.Sprint("t-", round)
		if _, err := coll.InsertOne(ctx(t), bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 0}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var (
			wg     sync.WaitGroup
			won    atomic.Int64
			errs   = make(chan error, writers)
			start  = make(chan struct{})
			filter = bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 0}}
			inc    = bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}}
		)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := coll.UpdateOne(ctx(t), filter, inc)
				if err != nil {
					errs <- err
					return
				}
				won.Add(res.ModifiedCount)
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("update: %v", err)
		}
		var got struct{ Version int64 }
		if err := coll.FindOne(ctx(t), bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
			t.Fatalf("find: %v", err)
		}
		if won.Load() != 1 || got.Version != 1 {
			t.Fatalf("round %d: %d of %d writers won version 1, and the document is at version %d; want exactly one winner and version 1",
				round, won.Load(), writers, got.Version)
		}
	}
}

func stanConnect(t *testing.T, url, clusterID string, opts ...stan.Option) stan.Conn {
	t.Helper()
	sc, err := stan.Connect(clusterID, testenv.UniqueName(t), append(opts, stan.NatsURL(url))...)
	if err != nil {
		t.Fatalf("connect to NATS Streaming %s (cluster %s): %v", url, clusterID, err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// receive subscribes to channel from its first message and returns the
// next n payloads.
func receive(t *testing.T, sc stan.Conn, channel string, n int) []string {
	t.Helper()
	msgs := make(chan string, n)
	sub, err := sc.Subscribe(channel, func(m *stan.Msg) { msgs <- string(m.Data) },
		stan.DeliverAllAvailable())
	if err != nil {
		t.Fatalf("subscribe %s: %v", channel, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	var got []string
	for len(got) < n {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-time.After(wait):
			t.Fatalf("received %q on %s, want %d messages", got, channel, n)
		}
	}
	return got
}

func TestStanPublishReceive(t *testing.T) {
	url, clusterID := testenv.NATS(t)
	sc := stanConnect(t, url, clusterID)
	channel := testenv.UniqueName(t)
	if err := sc.Publish(channel, []byte("ticket sold")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := receive(t, sc, channel, 1); got[0] != "ticket sold" {
		t.Fatalf("received %q, want %q", got[0], "ticket sold")
	}
}

func TestJetStreamPublishAck(t *testing.T) {
	nc, err := nats.Connect(testenv.JetStreamURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	name := testenv.UniqueName(t)
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	defer func() { _ = js.DeleteStream(context.Background(), name) }()
	ack, err := js.Publish(ctx(t), name+".sold", []byte("ticket sold"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != name || ack.Sequence != 1 {
		t.Fatalf("ack = %+v, want stream %s sequence 1", ack, name)
	}
}

// A client whose NATS Streaming server crashes and comes back on the same
// port and store finds its messages there, and can publish again.
func TestStanKillRestart(t *testing.T) {
	srv := testenv.StartStan(t, t.TempDir())
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(srv.URL(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	before := stanConnect(t, srv.URL(), srv.ClusterID(), stan.NatsConn(nc))
	channel := testenv.UniqueName(t)
	if err := before.Publish(channel, []byte("before")); err != nil {
		t.Fatalf("publish before kill: %v", err)
	}

	srv.Kill()
	srv.Restart()

	select {
	case <-reconnected:
	case <-time.After(wait):
		t.Fatalf("client did not reconnect to the restarted server")
	}
	if err := before.Publish(channel, []byte("reconnected")); err != nil {
		t.Fatalf("publish on the reconnected client: %v", err)
	}
	after := stanConnect(t, srv.URL(), srv.ClusterID())
	if err := after.Publish(channel, []byte("after")); err != nil {
		t.Fatalf("publish on a fresh client: %v", err)
	}
	got := receive(t, after, channel, 3)
	if want := []string{"before", "reconnected", "after"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %q, want %q", got, want)
	}

	for _, sc := range []stan.Conn{before, after} {
		if err := sc.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	srv.Stop() // fails the test unless the server exits cleanly
}

// A JetStream server stopped and restarted keeps its streams.
func TestJetStreamStopRestart(t *testing.T) {
	srv := testenv.StartJetStream(t, t.TempDir())
	publish := func(payload string) *jetstream.PubAck {
		t.Helper()
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatalf("jetstream: %v", err)
		}
		if _, err := js.CreateOrUpdateStream(ctx(t), jetstream.StreamConfig{Name: "tickets", Subjects: []string{"tickets.>"}}); err != nil {
			t.Fatalf("create stream: %v", err)
		}
		ack, err := js.Publish(ctx(t), "tickets.sold", []byte(payload))
		if err != nil {
			t.Fatalf("publish %s: %v", payload, err)
		}
		return ack
	}
	publish("before")
	srv.Restart()
	if ack := publish("after"); ack.Sequence != 2 {
		t.Fatalf("after restart, publish got sequence %d, want 2: the stream lost its message", ack.Sequence)
	}
	srv.Stop()
}

// A MongoDB client whose server is killed and restarted finds what it
// wrote before.
func TestMongoKillRestart(t *testing.T) {
	srv := testenv.StartMongo(t, t.TempDir())
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URL()))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	coll := client.Database("ticketkit").Collection("tickets")
	want := doc{ID: "t-1", Event: "concert", Price: 4200}
	if _, err := coll.InsertOne(ctx(t), want); err != nil {
		t.Fatalf("insert: %v", err)
	}

	srv.Kill()
	srv.Restart()

	var got doc
	if err := coll.FindOne(ctx(t), bson.D{{Key: "_id", Value: "t-1"}}).Decode(&got); err != nil {
		t.Fatalf("find after restart: %v", err)
	}
	if got != want {
		t.Fatalf("found %+v, want %+v", got, want)
	}
	if err := client.Disconnect(ctx(t)); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	srv.Stop()
}

// stripe-mock answers Stripe's API as its spec says: a charge for a valid
// request, a 400 for one the spec refuses, a 401 without a key.
func TestStripeAPIBase(t *testing.T) {
	base := testenv.StripeAPIBase(t)
	post := func(key, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx(t), "POST", base+"/v1/charges", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if key != "" {
			req.SetBasicAuth(key, "")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if got := post("sk_test_123", "amount=2000&currency=usd&source=tok_visa"); got != http.StatusOK {
		t.Errorf("a valid charge: %d, want 200", got)
	}
	if got := post("sk_test_123", "amount=twenty&currency=usd"); got != http.StatusBadRequest {
		t.Errorf("an amount that is not a number: %d, want 400", got)
	}
	if got := post("", "amount=2000&currency=usd"); got != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", got)
	}
	http.DefaultClient.CloseIdleConnections()
}
