// Command auth-service is a drop-in Go replacement for the cluster's Node
// auth service: the same routes, error bodies, cookie and password
// hashes, on ticketkit (package authsvc), with a unique email, limited
// sign-in attempts and an optional token lifetime (JWT_TTL). See
// examples/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/ticketkit/ticketkit/examples/auth-service/authsvc"
	"github.com/ticketkit/ticketkit/examples/internal/telemetry"
	"github.com/ticketkit/ticketkit/service"
)

func main() {
	build, err := authsvc.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth-service:", err)
		os.Exit(2)
	}
	os.Exit(service.Main(authsvc.Name, build, service.WithTelemetry(telemetry.FromEnv(os.Getenv, os.Stderr))))
}
