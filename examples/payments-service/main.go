// Command payments-service is a drop-in Go replacement for the cluster's
// Node payments service: the same route, error bodies and events, on
// ticketkit (package paymentsvc), charging each order once. See
// examples/README.md.
package main

import (
	"os"

	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/examples/payments-service/paymentsvc"
	"github.com/ticketkit/ticketkit/service"
)

func main() {
	os.Exit(service.Main(paymentsvc.Name, paymentsvc.Build, service.WithTelemetry(telemetry.FromEnv(os.Getenv, os.Stderr))))
}
