package jsclient_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/wire"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/natsclient/jsclient"
	"github.com/ticketkit/ticketkit/testenv"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Examples can't skip: without a server (and outside CI, where a
	// missing server must fail) run only the tests, which skip one by one.
	if os.Getenv(testenv.EnvJetStreamURL) == "" && os.Getenv("CI") == "" && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "jsclient: %s is unset: examples not run (make test sets it)\n", testenv.EnvJetStreamURL)
		_ = flag.Set("test.run", "^Test")
	}
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests; generous, since CI runs -race.
const wait = 30 * time.Second

func ctxFor(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

// fast is a Config that retries quickly, for tests that break things.
func fast(urls ...string) jsclient.Config {
	return jsclient.Config{Config: natsclient.Config{
		URLs:           urls,
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		ConnectTimeout: 2 * time.Second,
	}}
}

// connect connects with cfg and closes the client when the test ends.
func connect(t testing.TB, cfg jsclient.Config) *jsclient.Client {
	t.Helper()
	c, err := jsclient.Connect(ctxFor(t), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(ctxFor(t)); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// rawJS is a plain nats.go JetStream context, for looking at what the
// server holds without going through the code under test.
func rawJS(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}

// testStream returns a stream of the test's own capturing prefix.>, and
// deletes it when the test ends.
func testStream(t testing.TB, js jetstream.JetStream) (jsclient.Stream, string) {
	t.Helper()
	name := testenv.UniqueName(t)
	prefix := name + "."
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil && !isNotFound(err) {
			t.Errorf("delete stream %s: %v", name, err)
		}
	})
	return jsclient.Stream{Name: name, Subjects: []string{prefix + ">"}}, prefix
}

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrStreamNotFound) }

// streamMsgs returns how many messages the stream holds on subject.
func streamMsgs(t testing.TB, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	s, err := js.Stream(ctxFor(t), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctxFor(t), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Subjects[subject]
}

// appStream stands for an application's stream: the cluster's, as a
// service passes it to FromEnv.
var appStream = jsclient.Stream{Name: "APP", Subjects: wire.Subjects()}
