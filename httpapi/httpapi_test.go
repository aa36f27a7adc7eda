package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/tickets"
)

// body is the cluster's error body.
type body struct {
	Errors []httpapi.Problem `json:"errors"`
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) body {
	t.Helper()
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return b
}

func TestReadObject(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		ok                bool
		status            int
		problems          []httpapi.Problem
	}{
		{name: "object", ctype: "application/json", body: `{"title":"x","price":{"$gt":""}}`, ok: true},
		{name: "not declared JSON", ctype: "text/plain", body: `{"title":1}`, ok: true},
		{name: "empty", ctype: "application/json", body: "  ", ok: true},
		{name: "malformed", ctype: "application/json", body: `{"title":`, status: 400, problems: []httpapi.Problem{{Message: "Request body is not valid JSON"}}},
		{name: "array", ctype: "application/json", body: `[1]`, status: 400, problems: []httpapi.Problem{{Message: "Request body must be a JSON object"}}},
		{name: "null", ctype: "application/json; charset=utf-8", body: `null`, status: 400, problems: []httpapi.Problem{{Message: "Request body must be a JSON object"}}},
		{name: "too large", ctype: "application/json", body: `{"t":"` + strings.Repeat("x", 2048) + `"}`, status: 413, problems: []httpapi.Problem{{Message: "Request body must be at most 1 KiB"}}},
		{name: "invalid UTF-8", ctype: "application/json", body: "{\"title\":\"caf\xe9\",\"price\":20,\"z\":\"\xff\"}", status: 400,
			problems: []httpapi.Problem{{Field: "title", Message: "Must be valid UTF-8"}, {Field: "z", Message: "Must be valid UTF-8"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			rec := httptest.NewRecorder()
			fields, ok := httpapi.ReadObject(rec, r, 1<<10)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%d %s)", ok, tc.ok, rec.Code, rec.Body)
			}
			if ok {
				if tc.name == "object" && string(fields["price"]) != `{"$gt":""}` {
					t.Errorf("an operator-shaped value must stay raw data: %s", fields["price"])
				}
				return
			}
			if rec.Code != tc.status || fmt.Sprint(decode(t, rec).Errors) != fmt.Sprint(tc.problems) {
				t.Errorf("answered %d %s, want %d %v", rec.Code, rec.Body, tc.status, tc.problems)
			}
		})
	}
}

func TestFail(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, tc := range []struct {
		err     error
		status  int
		message string
	}{
		{ticketkit.ErrNotFound, 404, "Not Found"},
		{tickets.ErrReserved, 400, "Cannot edit a reserved ticket"},
		{ticketkit.ErrNotOwner, 401, "Not authorized"},
		{ticketkit.ErrConflict, 409, ticketkit.ErrConflict.Message},
		{ticketkit.Errorf(ticketkit.EINVALID, "Price must be greater than 0"), 400, "Price must be greater than 0"},
		{errors.New("mongo: connection refused at 10.0.0.7"), 500, "Something went wrong"},
		{ticketkit.ErrUnavailable, 503, ticketkit.ErrUnavailable.Message},
	} {
		rec := httptest.NewRecorder()
		httpapi.Fail(rec, httptest.NewRequest(http.MethodGet, "/x", nil), log, tc.err)
		b := decode(t, rec)
		if rec.Code != tc.status || len(b.Errors) != 1 || b.Errors[0].Message != tc.message {
			t.Errorf("Fail(%v) = %d %s, want %d %q", tc.err, rec.Code, rec.Body, tc.status, tc.message)
		}
		if (tc.status == 503) != (rec.Header().Get("Retry-After") != "") {
			t.Errorf("Fail(%v): Retry-After %q", tc.err, rec.Header().Get("Retry-After"))
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the internal error is not logged in full: %s", logs.String())
	}
}

func TestLogRequestsTurnsAPanicIntoA500(t *testing.T) {
	var logs bytes.Buffer
	h := httpapi.LogRequests(slog.New(slog.NewJSONHandler(&logs, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/x?token=secret", nil))
	if b := decode(t, rec); rec.Code != 500 || len(b.Errors) != 1 || b.Errors[0].Message != "Something went wrong" {
		t.Fatalf("answered %d %s", rec.Code, rec.Body)
	}
	out := logs.String()
	if !strings.Contains(out, `"panic":"boom"`) || !strings.Contains(out, `"status":500`) || strings.Contains(out, "secret") {
		t.Fatalf("log = %s", out)
	}
}

// The 404 every service's mux ends with, and the cluster's error body.
func ExampleNotFound() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteErrors(w, http.StatusBadRequest, httpapi.Problem{Field: "id", Message: "Invalid id"})
	})
	mux.HandleFunc("/", httpapi.NotFound)
	for _, path := range []string{"/api/things/1", "/nowhere"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 400 {"errors":[{"message":"Invalid id","field":"id"}]}
	// 404 {"errors":[{"message":"Not Found"}]}
}
