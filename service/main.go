package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

// Build adds a service's own stores, listeners and routes to a started
// Service and returns its API handler, which Handler wraps. It is all a
// service has to write besides its domain: Run and Main do the rest.
type Build func(ctx context.Context, s *Service) (http.Handler, error)

// Telemetry sets up a service's exporters (the OpenTelemetry SDK, which
// this library never links): it returns the handler to serve at /metrics
// (nil for none) and what flushes the exporters at the end.
type Telemetry func(service string) (metrics http.Handler, shutdown func(context.Context) error, err error)

// WithTelemetry has Run and Main set up telemetry before the backends and
// flush it after the shutdown; Start ignores it.
func WithTelemetry(setup Telemetry) Option {
	return func(o *settings) error {
		if setup == nil {
			return fmt.Errorf("service: WithTelemetry(nil)")
		}
		o.telemetry = setup
		return nil
	}
}

// Main is all of a service's main function but the exit, which it leaves
// to the caller, as a library must: a service's main is one line that
// exits with the status Main("orders-service", build) returns (see
// examples/orders-service).
//
// It reads the configuration with FromEnv(name, os.Getenv), logs JSON
// lines on standard output at LOG_LEVEL (NewLogger), runs Run until
// SIGINT or SIGTERM (a second signal kills the process at once), and
// returns the exit status: 0 after a clean shutdown, 1 after a failure,
// which it prints on standard error, and 2 for command-line arguments,
// which a service takes none of.
func Main(name string, build Build, opts ...Option) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	defer stop()
	return runMain(ctx, name, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, build, opts...)
}

// runMain is Main with its inputs and outputs passed in, for the tests.
func runMain(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer, build Build, opts ...Option) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "%s: unknown argument %q; the service takes none (its configuration is the environment)\n", name, args[0])
		return 2
	}
	cfg, err := FromEnv(name, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := Run(ctx, cfg, NewLogger(stdout, getenv("LOG_LEVEL")), build, opts...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
