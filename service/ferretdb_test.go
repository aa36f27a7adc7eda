package service_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The test servers' MongoDB is FerretDB 1.x, whose filtered updates are
// not atomic: Open finds it out from the server's build information,
// turns document locks on for the service's collections and replicas,
// and says at Warn that this is correct within one process only.
func TestOpenDetectsFerretDB1(t *testing.T) {
	url, cluster := testenv.NATS(t)
	env := map[string]string{
		"MONGO_URI": testenv.DatabaseURI(t, testenv.Mongo(t)), "NATS_URL": url, "NATS_CLUSTER_ID": cluster,
		"NATS_CLIENT_ID": testenv.UniqueName(t), "JWT_KEY": "k",
	}
	cfg, err := service.FromEnv("ferret-service", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := service.Open(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if !b.DocumentLocks {
		t.Error("FerretDB 1.x not detected: document locks are off")
	}
	if l := logs.String(); !strings.Contains(l, `"level":"WARN"`) || !strings.Contains(l, "FerretDB 1.x") {
		t.Errorf("no Warn about FerretDB 1.x:\n%s", l)
	}
}
