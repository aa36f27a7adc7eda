package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/idempotency"
)

// Idempotent puts a Key bound to the caller, the route and the body in
// the context, leaves the body for the handler, and says when a store
// answered from an earlier request.
func TestIdempotent(t *testing.T) {
	var got []idempotency.Key
	var bodies []string
	h := httpapi.Idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := idempotency.FromContext(r.Context())
		if ok {
			got = append(got, k)
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if r.URL.Query().Get("replay") != "" {
			idempotency.MarkReplayed(r.Context(), "earlier")
		}
		httpapi.WriteJSON(w, http.StatusCreated, map[string]string{})
	}), func(r *http.Request) string { return r.Header.Get("X-User") }, 0)
	send := func(method, path, user, key, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("X-User", user)
		if key != "" {
			req.Header.Set(httpapi.IdempotencyKeyHeader, key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	send("POST", "/a", "alice", "k", `{"x":1}`)
	send("POST", "/a", "alice", "k", `{"x":1}`)
	send("POST", "/a", "alice", "k", `{"x":2}`)
	send("POST", "/b", "alice", "k", `{"x":1}`)
	send("POST", "/a", "bob", "k", `{"x":1}`)
	send("POST", "/a", "alice", "", `{"x":1}`)
	send("PUT", "/a", "alice", "k", `{"x":1}`)
	if len(got) != 5 {
		t.Fatalf("%d keys seen, want 5 (none without the header or on PUT)", len(got))
	}
	for i, b := range bodies {
		if b != `{"x":1}` && b != `{"x":2}` {
			t.Errorf("handler %d read body %q: the middleware must leave it whole", i, b)
		}
	}
	switch {
	case got[0].ID != got[1].ID || got[0].Request != got[1].Request:
		t.Error("the same request gave two keys")
	case got[2].ID != got[0].ID || got[2].Request == got[0].Request:
		t.Error("another body must keep the key and change the request")
	case got[3].Request == got[0].Request:
		t.Error("another path must change the request")
	case got[4].ID == got[0].ID:
		t.Error("another caller's key of the same name must be another key")
	}
	if rec := send("POST", "/a?replay=1", "alice", "k", `{}`); rec.Header().Get(httpapi.ReplayedHeader) != "true" {
		t.Errorf("replayed answer without %s", httpapi.ReplayedHeader)
	}
	if rec := send("POST", "/a", "alice", "k", `{}`); rec.Header().Get(httpapi.ReplayedHeader) != "" {
		t.Errorf("first answer with %s", httpapi.ReplayedHeader)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "ключ", "a\nb"} {
		req := httptest.NewRequest("POST", "/a", strings.NewReader(`{}`))
		req.Header[httpapi.IdempotencyKeyHeader] = []string{bad}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("key %q: %d, want 400", bad, rec.Code)
		}
	}
	req := httptest.NewRequest("POST", "/a", strings.NewReader(`{}`))
	req.Header[httpapi.IdempotencyKeyHeader] = []string{"a", "b"}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("two keys: %d, want 400", rec.Code)
	}
}

// An unknown outcome is a 500 without Retry-After that says so; a reused
// key a 422.
func TestFailUnknownAndReused(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	rec := httptest.NewRecorder()
	httpapi.Fail(rec, httptest.NewRequest("POST", "/a", nil), log, &ticketkit.Error{Code: ticketkit.EUNKNOWN, Message: ticketkit.ErrUnknown.Message})
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Retry-After") != "" || !strings.Contains(decode(t, rec).Errors[0].Message, "may have been saved") {
		t.Errorf("EUNKNOWN: %d, Retry-After %q, %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = httptest.NewRecorder()
	httpapi.Fail(rec, httptest.NewRequest("POST", "/a", nil), log, idempotency.ErrReused)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("ErrReused: %d, want 422", rec.Code)
	}
}
