// Command expiration-service is a drop-in Go replacement for the
// cluster's Node expiration service: for each order:created it publishes
// expiration:complete at the order's expiresAt, through its own MongoDB
// instead of Redis (package expirationsvc). See examples/README.md.
package main

import (
	"os"

	"github.com/ticketkit/ticketkit/examples/expiration-service/expirationsvc"
	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/service"
)

func main() {
	os.Exit(service.Main(expirationsvc.Name, expirationsvc.Build, service.WithTelemetry(telemetry.FromEnv(os.Getenv, os.Stderr))))
}
