// Command orders-service is a drop-in Go replacement for the cluster's
// Node orders service: the same routes, error bodies, cookie and events,
// on ticketkit. Unlike the Node original, two simultaneous orders of one
// ticket can't both succeed. See examples/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders-service:", err)
		os.Exit(1)
	}
}
