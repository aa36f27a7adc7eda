// Package systemtest holds the tickets service's system tests, apart
// from the service's own tests (in package ticketsvc): the service end to
// end on the real servers, on both transports; several instances on one
// database, a killed one taken over, a SIGKILL mid-load; shutdown with a
// frozen broker; duplicates around a freeze; the soak (build tag soak,
// `make soak`) and the benchmarks (`make bench`). They run the service
// through its exported Build, as a cluster runs it, and its binary where a
// real process is the point. `make test` runs them with the rest.
package systemtest
