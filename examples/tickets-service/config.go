package main

import (
	"github.com/ticketkit/ticketkit/service"
)

// config is the shared configuration and what only the tickets service
// has.
type config struct {
	service.Config
	reservedRetries int // see onOrderCreated
}

const (
	serviceName            = "tickets-service" // the queue group and durable name, as in the Node listeners
	defaultDatabase        = "tickets"         // the database the cluster's manifests name
	defaultReservedRetries = 12                // a minute of redeliveries at the 5s ack wait
)

// loadConfig reads the environment, as service.FromEnv does.
func loadConfig(getenv func(string) string) (config, error) {
	c, err := service.FromEnv(serviceName, getenv)
	c.Database = defaultDatabase
	return config{Config: c, reservedRetries: defaultReservedRetries}, err
}
