# Tests run against real servers: .bin/devservers (built from the nested
# module in devservers/, so the servers' dependencies stay out of ours)
# starts NATS Streaming, JetStream and a MongoDB wire server for the length
# of one command, passes their addresses in the environment, and stops them
# however the command ends. See internal/testenv for the variables.

DEVSERVERS := .bin/devservers

.PHONY: test bench dev check devservers

## test: run every test of the module, with -race, against fresh servers
test: devservers
	$(DEVSERVERS) run -- go test -race -count=1 ./...

## bench: run the benchmarks against fresh servers, then print their ratios (see BENCHMARKS.md)
# The raw output stays in .bin/bench.txt; internal/benchcmp/benchreport
# turns it into the tables of BENCHMARKS.md. About 7 minutes.
bench: devservers
	$(DEVSERVERS) run -- bash -c "set -o pipefail; go test -run '^$$' -bench . -benchmem -timeout 30m ./... | tee .bin/bench.txt"
	go run ./internal/benchcmp/benchreport .bin/bench.txt

## dev: start the servers, print their env as export lines, serve until Ctrl-C
dev: devservers
	$(DEVSERVERS) run

## check: gofmt, go vet (in this module and in devservers/), and test servers kept out of go.mod
check:
	@unformatted=$$(git ls-files '*.go' | xargs -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	@if grep -qiE 'ferretdb|nats-streaming-server' go.mod; then \
		echo "go.mod names a test server: keep those in devservers/ (and don't run go mod tidy here; see README)"; exit 1; fi
	go vet ./...
	cd devservers && go vet ./...

# go build is incremental, so this costs well under a second once built.
devservers:
	@test -x $(DEVSERVERS) || echo "Building $(DEVSERVERS), the test servers (first time only: a few minutes)..."
	cd devservers && go build -o ../$(DEVSERVERS) .
