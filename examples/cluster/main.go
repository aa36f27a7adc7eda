// Command cluster runs the cluster's whole back end in one process (package
// backend): the auth, tickets, orders, payments and expiration services
// behind one gateway on PORT (3000), in memory by default, on MongoDB and
// NATS from the cluster's variables otherwise. It prints where to point a
// browser and runs until interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ticketkit/ticketkit/examples/cluster/backend"
	"github.com/ticketkit/ticketkit/service"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := service.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"))
	b, err := backend.Start(ctx, os.Getenv, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	where := "in memory"
	if !b.InMemory() {
		where = "on MongoDB and NATS"
	}
	fmt.Printf("The back end runs %s: point the cluster's client (or a browser, for the API) at http://localhost:%d/api/users/currentuser\n", where, ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(os.Stderr, "cluster:", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = errors.Join(srv.Shutdown(sctx), b.Shutdown(sctx))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "cluster: shutdown:", err)
		return 1
	}
	return 0
}
