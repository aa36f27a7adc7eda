// Command tickets-service is a drop-in Go replacement for the cluster's Node
// tickets service: the same routes, error bodies, cookie and events, on
// ticketkit (package ticketsvc). `tickets-service token` prints a token
// for local testing. See examples/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/examples/tickets-service/ticketsvc"
	"github.com/ticketkit/ticketkit/service"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := tokenCommand(os.Args[2:], os.Getenv, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tickets-service token:", err)
			os.Exit(2)
		}
		return
	}
	os.Exit(service.Main(ticketsvc.Name, ticketsvc.Build, service.WithTelemetry(telemetry.FromEnv(os.Getenv, os.Stderr))))
}
