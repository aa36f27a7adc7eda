package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/stripe/stripe-mock/embedded"
	stripemock "github.com/stripe/stripe-mock/server"
)

// startStripeMock serves stripe-mock, Stripe's own API mock, over plain
// HTTP on addr. It answers every endpoint of Stripe's API from the
// OpenAPI spec and fixtures it embeds, validating requests against the
// spec; it is stateless, so it keeps no objects between requests and
// honours no idempotency key (it only echoes the Idempotency-Key header).
// Clients point their API base at the URL (STRIPE_API_BASE).
func startStripeMock(addr string, logw io.Writer) (*server, error) {
	spec, err := stripemock.LoadSpec(embedded.OpenAPISpec, "")
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	fixtures, err := stripemock.LoadFixtures(embedded.OpenAPIFixtures, "")
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	stub, err := stripemock.NewStubServer(fixtures, spec, false, false)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", stub.HandleRequest)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	srv := &http.Server{
		Handler:           &stripemock.DoubleSlashFixHandler{Mux: mux},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logw, "stripe-mock ", log.LstdFlags|log.Lmicroseconds),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "stripe-mock: %v\n", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}
	return &server{url: "http://" + l.Addr().String(), stop: stop}, nil
}
