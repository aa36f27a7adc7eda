package ticketsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/service/servicetest"
	"github.com/ticketkit/ticketkit/session"
	"github.com/ticketkit/ticketkit/tickets"
	"github.com/ticketkit/ticketkit/wire"
)

func TestCreatePublishesTicketCreated(t *testing.T) {
	h := newHarness(t)
	r := h.send("POST", "/api/tickets", `{"title":"  concert  ","price":12.5}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	// The exact keys the Node service returns: no orderId while unreserved.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"id", "price", "title", "userId", "version"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v (body %s)", keys, want, r.body)
	}
	if string(raw["price"]) != "12.5" {
		t.Errorf("price written as %s, want the JSON number 12.5", raw["price"])
	}
	tk := r.ticket(t)
	if !ticketkit.ValidID(tk.ID) || tk.Title != "concert" || tk.Price != ticketkit.Cents(1250) || tk.UserID != alice || tk.Version != 0 {
		t.Errorf("created %+v", tk)
	}

	e := servicetest.Await(h.c, func(e wire.TicketCreated) bool { return e.ID == tk.ID })
	want := wire.TicketCreated{ID: tk.ID, Title: "concert", Price: ticketkit.Cents(1250), UserID: alice, Version: 0}
	if e != want {
		t.Errorf("published %+v, want %+v", e, want)
	}

	got := h.send("GET", "/api/tickets/"+tk.ID, "")
	if got.status != http.StatusOK || !reflect.DeepEqual(got.ticket(t), tk) {
		t.Errorf("GET: status %d, body %s", got.status, got.body)
	}
}

func TestUpdatePublishesTicketUpdated(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	r := h.send("PUT", "/api/tickets/"+tk.ID, `{"title":"opera","price":35.75}`, as(t, alice)...)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	up := r.ticket(t)
	if up.ID != tk.ID || up.Title != "opera" || up.Price != ticketkit.Cents(3575) || up.Version != 1 || up.UserID != alice {
		t.Errorf("updated %+v", up)
	}
	e := servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID })
	want := wire.TicketUpdated{ID: tk.ID, Title: "opera", Price: ticketkit.Cents(3575), UserID: alice, Version: 1}
	if e != want {
		t.Errorf("published %+v, want %+v", e, want)
	}
}

// The cluster's client sends the price as its form field's text
// ("20.00", a JSON string), which the Node service takes as the number:
// so does this one, on create and on update, and writes it back as a number.
func TestPriceAsTheClientSendsIt(t *testing.T) {
	h := newHarness(t)
	r := h.send("POST", "/api/tickets", `{"title":"concert","price":"20.00"}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"price":20,`) {
		t.Errorf("create: body %s, want the price as the JSON number 20", r.body)
	}
	tk := r.ticket(t)
	if tk.Price != ticketkit.Cents(2000) {
		t.Errorf("created %+v", tk)
	}
	r = h.send("PUT", "/api/tickets/"+tk.ID, `{"title":"opera","price":"35.5"}`, as(t, alice)...)
	if r.status != http.StatusOK {
		t.Fatalf("update: status %d, body %s", r.status, r.body)
	}
	if up := r.ticket(t); up.Price != ticketkit.Cents(3550) || up.Version != 1 {
		t.Errorf("updated %+v", up)
	}
	e := servicetest.Await(h.c, func(e wire.TicketUpdated) bool { return e.ID == tk.ID })
	if e.Price != ticketkit.Cents(3550) {
		t.Errorf("published %+v", e)
	}
}

func TestUpdateOwnerOnlyAndNotReserved(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	body := `{"title":"opera","price":30}`

	if r := h.send("PUT", "/api/tickets/"+tk.ID, body); r.status != http.StatusUnauthorized || r.errors(t)[0].Message != "Not authorized" {
		t.Errorf("signed out: status %d, body %s", r.status, r.body)
	}
	if r := h.send("PUT", "/api/tickets/"+tk.ID, body, as(t, bob)...); r.status != http.StatusUnauthorized || r.errors(t)[0].Message != "Not authorized" {
		t.Errorf("not the owner: status %d, body %s", r.status, r.body)
	}

	if _, err := h.svc.Reserve(context.Background(), tk.ID, orderA); err != nil {
		t.Fatal(err)
	}
	r := h.send("PUT", "/api/tickets/"+tk.ID, body, as(t, alice)...)
	if r.status != http.StatusBadRequest {
		t.Fatalf("reserved: status %d, body %s", r.status, r.body)
	}
	if errs := r.errors(t); len(errs) != 1 || errs[0] != (apiError{Message: "Cannot edit a reserved ticket"}) {
		t.Errorf("reserved: errors %+v", errs)
	}

	h.flush()
	if n := len(servicetest.Published[wire.TicketUpdated](h.c)); n != 1 {
		t.Errorf("%d ticket:updated published, want 1 (the reservation only)", n)
	}
	got := h.send("GET", "/api/tickets/"+tk.ID, "").ticket(t)
	if got.Title != "concert" || got.Version != 1 {
		t.Errorf("refused updates changed the ticket: %+v", got)
	}
}

func TestUpdateValidatesBeforeLookingUp(t *testing.T) {
	h := newHarness(t)
	r := h.send("PUT", "/api/tickets/"+ticketkit.NewID(), `{"title":"","price":0}`, as(t, alice)...)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	want := []apiError{{Field: "title", Message: "Title is required"}, {Field: "price", Message: "Price must be greater than 0"}}
	if errs := r.errors(t); !slices.Equal(errs, want) {
		t.Errorf("errors %+v, want %+v", errs, want)
	}
}

func TestNotFound(t *testing.T) {
	h := newHarness(t)
	tk := h.create(alice, "concert", 20)
	notFound := func(t *testing.T, r response) {
		t.Helper()
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		if errs := r.errors(t); len(errs) != 1 || errs[0] != (apiError{Message: "Not Found"}) {
			t.Errorf("errors %+v", errs)
		}
	}
	for _, id := range []string{
		ticketkit.NewID(),            // well-formed, unknown
		"abc",                        // too short
		tk.ID + "0",                  // 25 hex
		"zzzzzzzzzzzzzzzzzzzzzzzz",   // 24, not hex
		url.PathEscape(`{"$gt":""}`), // operator-shaped
		url.PathEscape(`{"$ne":null}`),
		"%24where",
		"a%2Fb",
	} {
		t.Run("GET "+id, func(t *testing.T) { notFound(t, h.send("GET", "/api/tickets/"+id, "")) })
		t.Run("PUT "+id, func(t *testing.T) {
			notFound(t, h.send("PUT", "/api/tickets/"+id, `{"title":"x","price":1}`, as(t, alice)...))
		})
	}
	for _, route := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/api"},
		{"GET", "/api/users/currentuser"},
		{"GET", "/api/tickets/" + tk.ID + "/orders"},
		{"DELETE", "/api/tickets/" + tk.ID},
		{"PATCH", "/api/tickets/" + tk.ID},
		{"POST", "/api/tickets/" + tk.ID},
		{"DELETE", "/api/tickets"},
		{"PUT", "/api/tickets"},
		{"OPTIONS", "/api/tickets"},
		{"POST", "/healthz"},
	} {
		t.Run(route.method+" "+route.path, func(t *testing.T) {
			r := h.send(route.method, route.path, "", as(t, alice)...)
			notFound(t, r)
			if allow := r.header.Get("Allow"); allow != "" {
				t.Errorf("Allow: %s; the Node service 404s wrong methods rather than 405", allow)
			}
		})
	}
}

func TestErrorsFromTheStore(t *testing.T) {
	t.Run("version conflict is 409", func(t *testing.T) {
		h := newHarness(t, withStore(func(s tickets.Store) tickets.Store { return conflictingStore{s} }))
		tk := h.create(alice, "concert", 20)
		r := h.send("PUT", "/api/tickets/"+tk.ID, `{"title":"opera","price":30}`, as(t, alice)...)
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		if msg := r.errors(t)[0].Message; msg != tickets.ErrConflict.Message {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("unknown outcome is a 500 without Retry-After that says so", func(t *testing.T) {
		h := newHarness(t, withStore(func(s tickets.Store) tickets.Store { return unsureStore{s, nil} }))
		r := h.send("POST", "/api/tickets", `{"title":"concert","price":20}`, as(t, alice)...)
		if r.status != http.StatusInternalServerError || r.header.Get("Retry-After") != "" {
			t.Fatalf("status %d, Retry-After %q, body %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if msg := r.errors(t)[0].Message; msg != ticketkit.ErrUnknown.Message {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("nothing written is a 503 with Retry-After", func(t *testing.T) {
		h := newHarness(t, withStore(func(s tickets.Store) tickets.Store { return unsureStore{s, ticketkit.ErrUnavailable} }))
		r := h.send("POST", "/api/tickets", `{"title":"concert","price":20}`, as(t, alice)...)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q, body %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	})
	t.Run("internal error is a generic 500, logged", func(t *testing.T) {
		h := newHarness(t, withStore(func(s tickets.Store) tickets.Store { return brokenStore{s} }))
		for _, r := range []response{
			h.send("GET", "/api/tickets/"+ticketkit.NewID(), ""),
			h.send("GET", "/api/tickets", ""),
		} {
			if r.status != http.StatusInternalServerError {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if errs := r.errors(t); len(errs) != 1 || errs[0] != (apiError{Message: "Something went wrong"}) {
				t.Errorf("errors %+v", errs)
			}
			if strings.Contains(string(r.body), "10.1.2.3") || strings.Contains(string(r.body), "hunter2") {
				t.Errorf("internals leaked: %s", r.body)
			}
		}
		if !strings.Contains(h.logs.String(), "hunter2") {
			t.Errorf("the cause was not logged:\n%s", h.logs)
		}
	})
}

// conflictingStore loses every compare-and-set race.
type conflictingStore struct{ tickets.Store }

func (conflictingStore) Update(context.Context, tickets.Ticket, int64) (tickets.Ticket, error) {
	return tickets.Ticket{}, ticketkit.ErrConflict
}

// unsureStore's creates end as a database that stops answering ends
// them: EUNKNOWN, unless err says otherwise.
type unsureStore struct {
	tickets.Store
	err error
}

func (s unsureStore) Create(context.Context, tickets.Ticket) error {
	if s.err != nil {
		return s.err
	}
	return &ticketkit.Error{Code: ticketkit.EUNKNOWN, Message: ticketkit.ErrUnknown.Message, Err: errors.New("i/o timeout")}
}

// brokenStore fails reads the way a driver does; List panics.
type brokenStore struct{ tickets.Store }

func (brokenStore) Get(context.Context, string) (tickets.Ticket, error) {
	return tickets.Ticket{}, errors.New("server selection error: 10.1.2.3:27017 auth failed for password hunter2")
}

func (brokenStore) List(context.Context, tickets.Filter) (tickets.Page, error) {
	panic("store exploded")
}

func TestBodies(t *testing.T) {
	h := newHarness(t)
	field := func(f, m string) apiError { return apiError{Field: f, Message: m} }
	titleRequired := field("title", "Title is required")
	priceRequired := field("price", "Price must be greater than 0")
	for _, c := range []struct {
		name        string
		contentType string
		body        string
		status      int
		want        []apiError
	}{
		{"malformed JSON", "", `{"title":"x",`, 400, []apiError{{Message: "Request body is not valid JSON"}}},
		{"trailing garbage", "", `{"title":"x","price":1} {}`, 400, []apiError{{Message: "Request body is not valid JSON"}}},
		{"array", "", `[{"title":"x","price":1}]`, 400, []apiError{{Message: "Request body must be a JSON object"}}},
		{"string", "", `"hello"`, 400, []apiError{{Message: "Request body must be a JSON object"}}},
		{"null", "", `null`, 400, []apiError{{Message: "Request body must be a JSON object"}}},
		{"empty", "", ` `, 400, []apiError{titleRequired, priceRequired}},
		{"empty object", "", `{}`, 400, []apiError{titleRequired, priceRequired}},
		{"nulls", "", `{"title":null,"price":null}`, 400, []apiError{titleRequired, priceRequired}},
		{"blank title", "", `{"title":"   ","price":1}`, 400, []apiError{titleRequired}},
		{"title a number", "", `{"title":5,"price":1}`, 400, []apiError{field("title", "Title must be a string")}},
		{"title an array", "", `{"title":["a"],"price":1}`, 400, []apiError{field("title", "Title must be a string")}},
		{"price a string that is no number", "", `{"title":"x","price":"twelve"}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price a string padded", "", `{"title":"x","price":" 12"}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price a string of a string", "", `{"title":"x","price":"\"12\""}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price a string of an object", "", `{"title":"x","price":"{}"}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price a string of null", "", `{"title":"x","price":"null"}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price an empty string", "", `{"title":"x","price":""}`, 400, []apiError{field("price", "Price must be a number")}},
		{"price a string, negative", "", `{"title":"x","price":"-5"}`, 400, []apiError{priceRequired}},
		{"price a string, three decimals", "", `{"title":"x","price":"1.005"}`, 400, []apiError{field("price", "Price must have at most two decimal places")}},
		{"price a bool", "", `{"title":"x","price":true}`, 400, []apiError{field("price", "Price must be a number")}},
		{"operators", "", `{"title":{"$gt":""},"price":{"$gt":""}}`, 400,
			[]apiError{field("title", "Title must be a string"), field("price", "Price must be a number")}},
		{"operator title, missing price", "", `{"title":{"$ne":null}}`, 400, []apiError{field("title", "Title must be a string"), priceRequired}},
		{"negative price", "", `{"title":"x","price":-5}`, 400, []apiError{priceRequired}},
		{"zero price", "", `{"title":"x","price":0}`, 400, []apiError{priceRequired}},
		{"three decimals", "", `{"title":"x","price":1.005}`, 400, []apiError{field("price", "Price must have at most two decimal places")}},
		{"huge price", "", `{"title":"x","price":1e300}`, 400, []apiError{field("price", "Price must be at most 100000000.00")}},
		{"long title", "", `{"title":"` + strings.Repeat("é", 201) + `","price":1}`, 400, []apiError{field("title", "Title must be at most 200 characters")}},
		{"control characters", "", `{"title":"a\u0000b","price":1}`, 400, []apiError{field("title", "Title must not contain control characters")}},
		// Not rewritten to U+FFFD and stored with a 201, as a decoder would.
		{"invalid UTF-8", "", "{\"title\":\"caf\xe9\",\"price\":20}", 400, []apiError{field("title", "Must be valid UTF-8")}},
		// Like express.json, a body not declared JSON is not parsed: it is
		// an empty body, which fails validation.
		{"text/plain", "text/plain", `{"title":"x","price":1}`, 400, []apiError{titleRequired, priceRequired}},
		{"form", "application/x-www-form-urlencoded", `title=x&price=1`, 400, []apiError{titleRequired, priceRequired}},
		{"no content type", "-", `{"title":"x","price":1}`, 400, []apiError{titleRequired, priceRequired}},
		{"oversized", "", `{"title":"x","price":1,"pad":"` + strings.Repeat("a", maxBodyBytes) + `"}`, 413,
			[]apiError{{Message: "Request body must be at most 100 KiB"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			headers := as(t, alice)
			switch c.contentType {
			case "":
			case "-":
				headers = append(headers, "Content-Type", "")
			default:
				headers = append(headers, "Content-Type", c.contentType)
			}
			for _, method := range []string{"POST", "PUT"} {
				path := "/api/tickets"
				if method == "PUT" {
					path += "/" + ticketkit.NewID()
				}
				r := h.send(method, path, c.body, headers...)
				if r.status != c.status {
					t.Fatalf("%s: status %d, want %d; body %s", method, r.status, c.status, r.body)
				}
				if errs := r.errors(t); !slices.Equal(errs, c.want) {
					t.Errorf("%s: errors %+v, want %+v", method, errs, c.want)
				}
			}
		})
	}
	h.flush()
	if n := len(h.c.Messages()); n != 0 {
		t.Errorf("refused bodies published %d events", n)
	}
}

func TestBodyAcceptedForms(t *testing.T) {
	h := newHarness(t)
	other := ticketkit.NewID()
	for _, c := range []struct{ name, contentType, body string }{
		{"charset", "application/json; charset=utf-8", `{"title":"a","price":1}`},
		{"upper case media type", "Application/JSON", `{"title":"a","price":1}`},
		// Fields the client has no say in are ignored, not trusted.
		{"unknown and server-owned fields", "application/json",
			`{"title":"a","price":1,"userId":"` + bob + `","id":"` + other + `","version":7,"orderId":"` + other + `","extra":{"$gt":""}}`},
		{"exponent price", "application/json", `{"title":"a","price":1e0}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.send("POST", "/api/tickets", c.body, append(as(t, alice), "Content-Type", c.contentType)...)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			tk := r.ticket(t)
			if tk.UserID != alice || tk.ID == other || tk.Version != 0 || tk.OrderID != "" || tk.Price != ticketkit.Cents(100) || tk.Title != "a" {
				t.Errorf("created %+v", tk)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	h := newHarness(t)
	if r := h.send("GET", "/api/tickets", ""); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty list: status %d, body %s", r.status, r.body)
	}

	ctx := context.Background()
	var ids []string
	for i := range 105 {
		c, err := h.svc.Create(ctx, alice, tickets.Input{Title: fmt.Sprintf("t%d", i), Price: ticketkit.Cents(100)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.Ticket.ID)
	}
	// A reserved ticket is not offered.
	if _, err := h.svc.Reserve(ctx, ids[3], orderA); err != nil {
		t.Fatal(err)
	}
	unreserved := slices.Delete(slices.Clone(ids), 3, 4)

	listed := func(r response) []string {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		var out []string
		for _, tk := range r.tickets(t) {
			out = append(out, tk.ID)
		}
		return out
	}

	t.Run("default page and cursor", func(t *testing.T) {
		r := h.send("GET", "/api/tickets", "")
		if got := listed(r); !slices.Equal(got, unreserved[:tickets.DefaultLimit]) {
			t.Fatalf("first page: %d tickets %v", len(got), got)
		}
		next := r.header.Get("X-Next-Cursor")
		if next != unreserved[tickets.DefaultLimit-1] {
			t.Errorf("X-Next-Cursor %q, want %q", next, unreserved[tickets.DefaultLimit-1])
		}
		wantLink := fmt.Sprintf(`</api/tickets?after=%s&limit=%d>; rel="next"`, next, tickets.DefaultLimit)
		if link := r.header.Get("Link"); link != wantLink {
			t.Errorf("Link %q, want %q", link, wantLink)
		}
		// Follow the Link, as a generic client would.
		target := strings.TrimSuffix(strings.TrimPrefix(wantLink, "<"), `>; rel="next"`)
		if got := listed(h.send("GET", target, "")); !slices.Equal(got, unreserved[tickets.DefaultLimit:2*tickets.DefaultLimit]) {
			t.Errorf("second page: %v", got)
		}
	})

	t.Run("walk to the end", func(t *testing.T) {
		var all []string
		path := "/api/tickets?limit=30"
		for pages := 0; path != ""; pages++ {
			if pages > 10 {
				t.Fatal("more pages than tickets allow")
			}
			r := h.send("GET", path, "")
			all = append(all, listed(r)...)
			path = ""
			if next := r.header.Get("X-Next-Cursor"); next != "" {
				path = "/api/tickets?limit=30&after=" + next
			} else if r.header.Get("Link") != "" {
				t.Error("Link without X-Next-Cursor")
			}
		}
		if !slices.Equal(all, unreserved) {
			t.Errorf("walked %d tickets, want the %d unreserved ones in order", len(all), len(unreserved))
		}
	})

	t.Run("max limit", func(t *testing.T) {
		r := h.send("GET", fmt.Sprintf("/api/tickets?limit=%d", tickets.MaxLimit), "")
		if got := listed(r); len(got) != tickets.MaxLimit {
			t.Errorf("%d tickets, want %d", len(got), tickets.MaxLimit)
		}
	})

	t.Run("empty parameters take defaults", func(t *testing.T) {
		if got := listed(h.send("GET", "/api/tickets?limit=&after=", "")); len(got) != tickets.DefaultLimit {
			t.Errorf("%d tickets", len(got))
		}
	})

	limitErr := apiError{Field: "limit", Message: fmt.Sprintf("Limit must be a whole number from 1 to %d", tickets.MaxLimit)}
	afterErr := apiError{Field: "after", Message: "After must be a cursor from a previous page"}
	for _, c := range []struct {
		query string
		want  []apiError
	}{
		{"limit=0", []apiError{limitErr}},
		{"limit=-1", []apiError{limitErr}},
		{"limit=101", []apiError{limitErr}},
		{"limit=abc", []apiError{limitErr}},
		{"limit=1.5", []apiError{limitErr}},
		{"limit=99999999999999999999", []apiError{limitErr}},
		{"after=xyz", []apiError{afterErr}},
		{"after=" + url.QueryEscape(`{"$gt":""}`), []apiError{afterErr}},
		{"after[$gt]=", nil}, // unknown parameter: ignored
		{"limit=0&after=nope", []apiError{limitErr, afterErr}},
	} {
		t.Run(c.query, func(t *testing.T) {
			r := h.send("GET", "/api/tickets?"+c.query, "")
			if c.want == nil {
				listed(r)
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if errs := r.errors(t); !slices.Equal(errs, c.want) {
				t.Errorf("errors %+v, want %+v", errs, c.want)
			}
		})
	}
}

func TestProbes(t *testing.T) {
	h := newHarness(t)
	if r := h.send("GET", "/healthz", ""); r.status != http.StatusOK {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	if r := h.send("GET", "/readyz", ""); r.status != http.StatusOK {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := h.send("GET", "/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz while stopping: %d %s", r.status, r.body)
	}
}

func TestRequestLogs(t *testing.T) {
	h := newHarness(t)
	tok := token(t, alice)
	h.send("POST", "/api/tickets?token="+tok, `{"title":"x","price":1}`, append(bearer(tok), cookie(tok)...)...)
	line := h.logs.await(t, "for the request", func(l map[string]any) bool { return l["msg"] == "request" })
	if line["method"] != "POST" || line["path"] != "/api/tickets" || line["status"] != float64(201) || line["duration_ms"] == nil {
		t.Errorf("request log %v", line)
	}
	signature := tok[strings.LastIndex(tok, ".")+1:]
	_, cookieValue, _ := strings.Cut(session.CookieHeader(tok), "=")
	if strings.Contains(h.logs.String(), signature) || strings.Contains(h.logs.String(), cookieValue) {
		t.Errorf("a token reached the log:\n%s", h.logs)
	}
}

func TestTrailingSlashesAsInExpress(t *testing.T) {
	h := newHarness(t)
	r := h.send("POST", "/api/tickets/", `{"title":"concert","price":20}`, as(t, alice)...)
	if r.status != http.StatusCreated {
		t.Fatalf("POST with slash: status %d, body %s", r.status, r.body)
	}
	tk := r.ticket(t)
	if r := h.send("GET", "/api/tickets/", ""); r.status != http.StatusOK || len(r.tickets(t)) != 1 {
		t.Errorf("GET list with slash: status %d, body %s", r.status, r.body)
	}
	if r := h.send("GET", "/api/tickets/"+tk.ID+"/", ""); r.status != http.StatusOK || r.ticket(t).ID != tk.ID {
		t.Errorf("GET one with slash: status %d, body %s", r.status, r.body)
	}
	if r := h.send("PUT", "/api/tickets/"+tk.ID+"/", `{"title":"opera","price":30}`, as(t, alice)...); r.status != http.StatusOK {
		t.Errorf("PUT with slash: status %d, body %s", r.status, r.body)
	}
}
