package mongostore_test

import (
	"io"
	"os"
	"testing"

	"github.com/ticketkit/ticketkit/testenv"
)

// TestExamples runs the examples that need servers against the test
// servers, and checks that they print what their comments say.
func TestExamples(t *testing.T) {
	for _, ex := range []struct {
		name  string
		needs func(*testing.T)
		run   func()
		want  string
	}{
		{"outbox", func(t *testing.T) { testenv.MongoURI(t); testenv.NATS(t) }, Example_outbox,
			"committed versions 0 and 1\nbacklog after close: 0 <nil>\n"},
		{"Replica", func(t *testing.T) { testenv.MongoURI(t) }, ExampleReplica,
			"update first, out of order: true\ncreate: apply <nil>\nupdate redelivered: apply <nil>\ncreate redelivered: duplicate <nil>\nconcert 25.00 version 1 <nil>\n"},
	} {
		t.Run(ex.name, func(t *testing.T) {
			noLeaks(t)
			ex.needs(t) // skips, or fails under CI, without the servers
			if _, ok := os.LookupEnv("NATS_CLUSTER_ID"); !ok {
				t.Setenv("NATS_CLUSTER_ID", testenv.DefaultClusterID) // testenv's default
			}
			if got := captureStdout(t, ex.run); got != ex.want {
				t.Errorf("printed:\n%s\nwant:\n%s", got, ex.want)
			}
		})
	}
}

// captureStdout runs f with os.Stdout going to a pipe, as go test does
// for examples, and returns what f printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		r.Close()
		read <- string(b)
	}()
	stdout := os.Stdout
	os.Stdout = w
	func() {
		defer func() {
			os.Stdout = stdout
			w.Close()
		}()
		f()
	}()
	return <-read
}
