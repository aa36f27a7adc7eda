package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is what an upstream received.
type seen struct{ upstream, path, host, xff string }

func upstreamServer(t *testing.T, name string, got chan<- seen) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{name, r.URL.Path, r.Host, r.Header.Get("X-Forwarded-For")}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func newTestIngress(t *testing.T) (*httptest.Server, chan seen) {
	t.Helper()
	got := make(chan seen, 1)
	be, cl := upstreamServer(t, "backend", got), upstreamServer(t, "client", got)
	h, err := newIngress(be.URL, cl.URL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	in := httptest.NewServer(h)
	t.Cleanup(in.Close)
	return in, got
}

// The routes of the course's ingress-srv.yaml: the four services' paths
// to the back end, everything else (pages, Next's assets, other /api
// paths) to the client; the Host passed on, X-Forwarded-For what the
// ingress saw rather than what the request claimed.
func TestRoutesAsTheClustersIngress(t *testing.T) {
	in, got := newTestIngress(t)
	for path, want := range map[string]string{
		"/api/users/currentuser": "backend",
		"/api/users/signup":      "backend",
		"/api/tickets":           "backend",
		"/api/tickets/abc":       "backend",
		"/api/orders/abc":        "backend",
		"/api/payments":          "backend",
		"/":                      "client",
		"/tickets/new":           "client",
		"/orders/abc":            "client",
		"/_next/static/x.js":     "client",
		"/api/other":             "client",
		"/api":                   "client",
	} {
		req, err := http.NewRequest("GET", in.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "ticketing.dev"
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		s := <-got
		if res.StatusCode != http.StatusOK || string(body) != want || s.upstream != want || s.path != path {
			t.Errorf("GET %s: %d %q reached %+v, want %s", path, res.StatusCode, body, s, want)
		}
		if s.host != "ticketing.dev" || s.xff != "127.0.0.1" {
			t.Errorf("GET %s: upstream saw Host %q, X-Forwarded-For %q", path, s.host, s.xff)
		}
	}
}

// The client's server side calls the ingress by its in-cluster name
// through http_proxy, as its axios does: such a request is routed like
// any other; one for any other host is refused.
func TestServesTheClusterNameAsAProxy(t *testing.T) {
	in, got := newTestIngress(t)
	proxy, _ := url.Parse(in.URL)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer c.CloseIdleConnections()
	get := func(u string) (int, string) {
		t.Helper()
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for path, want := range map[string]string{"/api/users/currentuser": "backend", "/": "client"} {
		status, body := get("http://" + clusterHost + path)
		s := <-got
		if status != http.StatusOK || body != want || s.path != path || s.host != clusterHost {
			t.Errorf("%s through the proxy: %d %q reached %+v, want %s", path, status, body, s, want)
		}
	}
	for _, u := range []string{"http://example.com/api/users/currentuser", "http://" + clusterHost + ":8080/"} {
		if status, _ := get(u); status != http.StatusForbidden {
			t.Errorf("%s through the proxy: %d, want 403", u, status)
		}
		select {
		case s := <-got:
			t.Errorf("%s reached %+v", u, s)
		default:
		}
	}
}

func TestRefusesBadUpstreams(t *testing.T) {
	for _, c := range [][2]string{{"", "http://127.0.0.1:1"}, {"http://127.0.0.1:1", "ftp://x"}, {"127.0.0.1:1", "http://127.0.0.1:1"}} {
		if _, err := newIngress(c[0], c[1], slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("newIngress(%q, %q): no error", c[0], c[1])
		}
	}
}
