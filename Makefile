# Tests run against real servers: .bin/devservers (built from the nested
# module in devservers/, so the servers' dependencies stay out of ours)
# starts NATS Streaming, JetStream, a MongoDB wire server and stripe-mock
# for the length of one command, passes their addresses in the environment,
# and stops them however the command ends. See testenv for the variables.

DEVSERVERS := .bin/devservers

.PHONY: test bench dev check devservers postgresql node-check browser-check soak

## test: run every test of the module, with -race, against fresh servers
test: devservers
	$(DEVSERVERS) run -- go test -race -count=1 ./...

## bench: run the benchmarks against fresh servers, then print their ratios (see BENCHMARKS.md)
# Everything on FerretDB's SQLite backend first, then what touches MongoDB
# again on its PostgreSQL backend. The raw output stays in .bin/bench.txt
# and .bin/bench-pg.txt; internal/benchcmp/benchreport turns each into the
# tables of BENCHMARKS.md.
# The Node services' own tests, run from outside against the Go ones,
# each on fresh servers: the orders and payments route and listener tests
# (the Go services as Node peers on NATS Streaming), the expiration
# listener's behaviour (the course has no test of it), and the auth route
# tests, with its password format checked both ways by Node's crypto.
# Needs Node and npm, so it is not part of make test.
node-check: devservers
	$(DEVSERVERS) run -- examples/orders-service/nodecheck/run.sh
	$(DEVSERVERS) run -- examples/payments-service/nodecheck/run.sh
	$(DEVSERVERS) run -- examples/expiration-service/nodecheck/run.sh
	$(DEVSERVERS) run -- examples/auth-service/nodecheck/run.sh

# The cluster's own Next.js client, unchanged, in headless Chromium
# against the whole Go back end (in memory): sign up, sell, sign out, sign
# up, order, pay, the order complete, sign in; a screenshot of each step
# in examples/cluster/browser/screenshots. Needs Node, npm, git, chromium
# and the course repository (TICKETING_REPO: GitHub by default, or a local
# clone), so it is not part of make test. See examples/README.md.
browser-check:
	examples/cluster/browser/run.sh

# The tickets service under a mixed load on the real servers, reporting
# every 30s and failing on answers outside its deadline or on growth:
# SOAK_DURATION (5m), SOAK_RATE (50 req/s), SOAK_TICKETS (3300 seeded).
soak: devservers
	$(DEVSERVERS) run -- go test -tags soak -run '^(TestSoak|TestFreezeDuplicates)$$' -count=1 -timeout 0 -v ./examples/tickets-service/systemtest/

bench: devservers postgresql
	$(DEVSERVERS) run -- bash -c "set -o pipefail; go test -run '^$$' -bench . -benchmem -timeout 30m ./... | tee .bin/bench.txt"
	$(DEVSERVERS) run -mongo-backend=postgresql -- bash -c "set -o pipefail; go test -run '^$$' -bench . -benchmem -timeout 30m ./mongostore/ ./examples/tickets-service/... | tee .bin/bench-pg.txt"
	@echo "== FerretDB on SQLite"; go run ./internal/benchcmp/benchreport .bin/bench.txt
	@echo "== FerretDB on PostgreSQL"; go run ./internal/benchcmp/benchreport .bin/bench-pg.txt

## postgresql: Debian's server binaries for FerretDB's PostgreSQL backend, installed when missing (as root)
# devservers runs its own throwaway cluster as the postgres user; the
# package must not create or start one of its own, so the install turns
# off the main cluster and keeps invoke-rc.d from starting a service.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ]; then echo "make bench needs Debian's postgresql package: apt-get install postgresql, as root"; exit 1; fi; \
		echo "Installing Debian's postgresql package (no cluster, no service)..."; \
		mkdir -p /etc/postgresql-common; \
		[ -e /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
		policy=""; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >/dev/null; rc=$$?; \
		[ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; \
		exit $$rc; \
	fi

## dev: start the servers, print their env as export lines, serve until Ctrl-C
dev: devservers
	$(DEVSERVERS) run

## check: gofmt, go vet (here and in devservers/), no library package importing a test server, only payments/stripecharger linking Stripe's client, no generic package importing a domain, an adopter's go mod tidy (.ci/modcheck), and the API changes since the last commit (printed, not a gate)
check:
	@unformatted=$$(git ls-files '*.go' | xargs -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	cd devservers && go vet ./...
	@servers=$$(go list -deps ./... | grep -E '^github.com/(nats-io/nats-server|nats-io/nats-streaming-server|FerretDB|stripe/stripe-mock)'); \
	if [ -n "$$servers" ]; then echo "a package of the module imports a test server (keep them in devservers/):"; echo "$$servers"; exit 1; fi
	@domains=$$(go list -deps ./events/... ./natsclient/... ./outbox/... ./httpapi ./idempotency ./session ./password ./store/... ./memstore ./mongostore | grep -E '^github.com/ticketkit/ticketkit/(tickets|orders|payments|expiration|auth|wire)(/|$$)'); \
	if [ -n "$$domains" ]; then echo "a generic package (events, a transport, outbox, httpapi, session, store and its backends) imports a domain or the wire contract:"; echo "$$domains"; exit 1; fi
	@stripe=$$(go list -deps $$(go list ./... | grep -v -E '/payments/stripecharger$$|/examples/') | grep -E '^github.com/stripe/'); \
	if [ -n "$$stripe" ]; then echo "a library package other than payments/stripecharger links the Stripe client (keep it there):"; echo "$$stripe" | head -5; exit 1; fi
	@sdk=$$(go list -deps $$(go list ./... | grep -v /examples/) | grep -E '^go.opentelemetry.io/otel/(sdk|exporters)|^github.com/prometheus/'); \
	if [ -n "$$sdk" ]; then echo "a library package links the OpenTelemetry SDK or an exporter (the API only; those are the examples'):"; echo "$$sdk"; exit 1; fi
	@go mod tidy -diff || { echo "go.mod is not tidy: run go mod tidy"; exit 1; }
	.ci/modcheck
	@.ci/apidiff

# go build is incremental, so this costs well under a second once built.
devservers:
	@test -x $(DEVSERVERS) || echo "Building $(DEVSERVERS), the test servers (first time only: a few minutes)..."
	cd devservers && go build -o ../$(DEVSERVERS) .
