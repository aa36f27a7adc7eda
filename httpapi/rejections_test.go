package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketkit/ticketkit/httpapi"
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

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// What net/http refuses by itself reaches the log, with the client's
// address; what a handler answers does not (LogRequests logs that).
func TestLogRejections(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Message: "handler's own"})
		}),
		MaxHeaderBytes:    1 << 10,
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(httpapi.LogRejections(ln, log))
	defer srv.Close()

	for _, c := range []struct {
		name, request string
		status        int
		logged        bool
	}{
		{"handler", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
		{"malformed", "NOT A REQUEST\r\n\r\n", 400, true},
		{"expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, true},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, true},
		{"transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, true},
		{"version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			before := len(logs.lines())
			if _, err := conn.Write([]byte(c.request)); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
			// The log line is written before the response, so it is
			// there once the response has been read.
			lines := logs.lines()[before:]
			switch {
			case !c.logged && len(lines) != 0:
				t.Errorf("logged %v for a handler's answer", lines)
			case c.logged && len(lines) != 1:
				t.Fatalf("log %v, want one line", lines)
			case c.logged:
				l := lines[0]
				if l["level"] != "WARN" || l["status"] != float64(c.status) || l["remote"] != conn.LocalAddr().String() {
					t.Errorf("log line %v", l)
				}
			}
		})
	}
}

// Routes serve a path with or without one trailing slash, and everything
// else the cluster's 404, another method on a known path too.
func TestRoutes(t *testing.T) {
	r := httpapi.NewRoutes()
	r.Handle("GET /api/things/{id}", func(w http.ResponseWriter, req *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": req.PathValue("id")})
	})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/things/1", 200}, {"GET", "/api/things/1/", 200},
		{"POST", "/api/things/1", 404}, {"GET", "/api/other", 404},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, rec.Code, rec.Body, c.status)
		}
		if c.status == 404 && !strings.Contains(rec.Body.String(), `"Not Found"`) {
			t.Errorf("%s %s: body %s, want the cluster's 404", c.method, c.path, rec.Body)
		}
	}
}
