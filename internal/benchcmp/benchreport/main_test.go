package main

import (
	"strings"
	"testing"
)

// The tickets service's benchmarks keep their names, and so their
// targets and their rows in BENCHMARKS.md, from the system tests'
// package.
func TestParseNamesBenchmarksByPackage(t *testing.T) {
	out := `pkg: github.com/ticketkit/ticketkit/examples/tickets-service/systemtest
BenchmarkService/mongo-stan/POST-2   	       1	1000 ns/op	   0.75 service-ratio
pkg: github.com/ticketkit/ticketkit/mongostore
BenchmarkGet-2   	       1	1000 ns/op	   0.95 lib-ratio
`
	benches, _ := parse(strings.NewReader(out))
	var names []string
	for _, b := range benches {
		names = append(names, b.name)
	}
	if got := strings.Join(names, " "); got != "tickets-service.Service/mongo-stan/POST mongostore.Get" {
		t.Errorf("names %q", got)
	}
}
