// Command ingress stands in for the cluster's ingress-nginx in front of
// the cluster's own Next.js client and the Go back end, so a browser can
// use the client as it does in the cluster (see ../run.sh). It routes as
// the course's ingress-srv.yaml does: paths under /api/users,
// /api/tickets, /api/orders and /api/payments to the back end (command
// cluster's gateway), everything else to the client.
//
// The client's server side calls the ingress by its in-cluster name,
// http://ingress-nginx-controller.ingress-nginx.svc.cluster.local, which
// resolves nowhere outside a cluster. Rather than an /etc/hosts entry and
// port 80 (root, and a change to the machine), the client runs with
// http_proxy set to this program, which its axios honours: those requests
// arrive here in absolute form and are routed like any other. Only that
// host is served so; this is not an open proxy.
//
// Usage:
//
//	ingress -backend http://127.0.0.1:3000 -client http://127.0.0.1:3001 [-listen 127.0.0.1:0]
//
// It prints "ingress listening on http://ADDR" once it listens, logs one
// line per request on stderr, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// clusterHost is the name the client's server side gives the ingress.
const clusterHost = "ingress-nginx-controller.ingress-nginx.svc.cluster.local"

// backendPrefixes are the paths the cluster's ingress sends to the
// services; its rules are the regexes /api/users/?(.*) and so on, which
// match any path that starts so.
var backendPrefixes = []string{"/api/payments", "/api/users", "/api/tickets", "/api/orders"}

func main() { os.Exit(run()) }

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	backend := flag.String("backend", "", "URL of the back end's gateway (go run ./examples/cluster)")
	client := flag.String("client", "", "URL of the client's Next.js server")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := newIngress(*backend, *client, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingress:", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingress:", err)
		return 1
	}
	fmt.Printf("ingress listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(os.Stderr, "ingress:", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "ingress: shutdown:", err)
		return 1
	}
	return 0
}

// newIngress returns the handler routing to the back end and the client
// at the given base URLs.
func newIngress(backend, client string, log *slog.Logger) (http.Handler, error) {
	be, err := upstream("backend", backend, log)
	if err != nil {
		return nil, err
	}
	cl, err := upstream("client", client, log)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect || (r.URL.IsAbs() && (r.URL.Scheme != "http" || r.URL.Hostname() != clusterHost || (r.URL.Port() != "" && r.URL.Port() != "80"))) {
			log.Warn("refused a proxy request for another host", "method", r.Method, "url", r.URL.String())
			http.Error(w, "this ingress proxies only http://"+clusterHost, http.StatusForbidden)
			return
		}
		for _, p := range backendPrefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				be.ServeHTTP(w, r)
				return
			}
		}
		cl.ServeHTTP(w, r)
	}), nil
}

// upstream is a reverse proxy to base that passes the request's Host on,
// as ingress-nginx does, and sets X-Forwarded-For, -Host and -Proto to what
// it saw (dropping what the request claimed, as ingress-nginx does unless
// told to trust them).
func upstream(name, base string, log *slog.Logger) (http.Handler, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-%s: want an http URL, got %q", name, base)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Error("upstream failed", "upstream", name, "method", r.Method, "path", r.URL.Path, "err", err)
			http.Error(w, name+" unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &status{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(rec, r)
		log.Info("request", "upstream", name, "method", r.Method, "host", r.Host, "path", r.URL.Path, "status", rec.code)
	}), nil
}

// status records the status a handler wrote.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets the proxy stream (Next's dev server sends events).
func (s *status) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *status) Unwrap() http.ResponseWriter { return s.ResponseWriter }
