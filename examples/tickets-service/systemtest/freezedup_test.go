//go:build soak

package systemtest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/streaming"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/testenv"
	"github.com/ticketkit/ticketkit/wire"
)

// TestFreezeDuplicates (make soak) measures the outside trial's finding:
// creates at 20/s while NATS Streaming is frozen for longer than the ack
// timeout (35 s against 30 s), then how many tickets' ticket:created the
// channel stores more than once. It reports the figure; the bound is
// that no ticket is lost.
func TestFreezeDuplicates(t *testing.T) {
	srv := testenv.StartStan(t, t.TempDir())
	b := stanBroker(srv.URL(), srv.ClusterID())
	mongoURI := testenv.DatabaseURI(t, testenv.Mongo(t))
	inst := runOn(t, b, mongoURI, func(c *config) { c.ShutdownTimeout = 5 * time.Second })

	// Distinct stored messages per ticket, by stream sequence: a
	// redelivery to this counter is not a duplicate, a second sequence is.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	nc, err := streaming.Connect(ctx, natsclient.Config{ClusterID: srv.ClusterID(), ClientID: testenv.UniqueName(t), URLs: []string{srv.URL()}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seqs := map[string]map[uint64]bool{}
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	l, err := events.Listen(ctx, nc, "dup-counter", func(_ context.Context, e wire.TicketCreated, m events.Metadata) error {
		mu.Lock()
		defer mu.Unlock()
		if seqs[e.ID] == nil {
			seqs[e.ID] = map[uint64]bool{}
		}
		seqs[e.ID][m.Sequence] = true
		return nil
	}, events.DeliverAll())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = l.Close(ctx)
		_ = nc.Close(ctx)
	}()

	var ids []string
	tick := time.NewTicker(50 * time.Millisecond)
	start := time.Now()
	frozen, thawed := false, false
	for time.Since(start) < 60*time.Second {
		<-tick.C
		switch e := time.Since(start); {
		case !frozen && e > 10*time.Second:
			srv.Freeze()
			frozen = true
		case frozen && !thawed && e > 45*time.Second:
			srv.Thaw()
			thawed = true
		}
		r := send(t, inst.base, "POST", "/api/tickets", `{"title":"t","price":20}`, as(t, alice)...)
		if r.status == http.StatusCreated {
			ids = append(ids, r.ticket(t).ID)
		}
	}
	tick.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		missing, twice := 0, 0
		for _, id := range ids {
			switch len(seqs[id]) {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		mu.Unlock()
		if missing == 0 {
			t.Logf("%s: %d tickets created around a 35 s freeze; ticket:created stored more than once for %d", service.TransportStan, len(ids), twice)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tickets' events never arrived", missing, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
