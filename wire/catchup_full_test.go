//go:build catchup

package wire_test

import (
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/mongostore"
	"github.com/ticketkit/ticketkit/orders"
	"github.com/ticketkit/ticketkit/testenv"
)

// The trial's shape (issue 20): 4,500 ticket:created with 500
// ticket:updated (version 1) published ahead of them. They take minutes,
// hence the build tag:
//
//	.bin/devservers run -- go test -tags catchup -race -count=1 -v -timeout 30m -run TrialShape ./wire/
//
// The times they log are BENCHMARKS.md's figures (Issue 20: catch-up).
var trialShape = catchUpShape{n: 4500, m: 500}

// TestCatchUpTrialShape copies into a memory store whose every call takes
// 5 ms of a database that answers one call at a time, with the service's
// 5 s ack wait: the consumer's own behaviour, whatever the machine's
// database does.
func TestCatchUpTrialShape(t *testing.T) {
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) {
			d := catchUp(t, transport, trialShape, memoryCopy(t, 5*time.Millisecond), 5*time.Second)
			t.Logf("%s: %d creations + %d early updates converged in %v", transport, trialShape.n, trialShape.m, d.Round(time.Millisecond))
		})
	}
}

// TestCatchUpTrialShapeMongo copies into MongoDB (the test server,
// FerretDB under devservers) as the orders service does, with the
// service's 5 s ack wait. How fast it goes is the database's; what it
// shows is that the copy keeps advancing.
func TestCatchUpTrialShapeMongo(t *testing.T) {
	for _, transport := range []string{"stan", "jetstream"} {
		t.Run(transport, func(t *testing.T) {
			r, err := mongostore.NewReplica[orders.Ticket](testenv.Mongo(t), "tickets")
			if err != nil {
				t.Fatal(err)
			}
			shape := trialShape
			shape.perEvent = 200 * time.Millisecond
			d := catchUp(t, transport, shape, r, 5*time.Second)
			t.Logf("%s: %d creations + %d early updates converged in %v", transport, shape.n, shape.m, d.Round(time.Millisecond))
		})
	}
}
