// Command orders-service is a drop-in Go replacement for the cluster's
// Node orders service: the same routes, error bodies, cookie and events,
// on ticketkit (package ordersvc). See examples/README.md.
package main

import (
	"os"

	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/examples/orders-service/ordersvc"
	"github.com/ticketkit/ticketkit/service"
)

func main() {
	os.Exit(service.Main(ordersvc.Name, ordersvc.Build, service.WithTelemetry(telemetry.FromEnv(os.Getenv, os.Stderr))))
}
