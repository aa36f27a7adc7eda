#!/usr/bin/env bash
# Checks the Go expiration service against the Node expiration service's
# behaviour (check.test.mjs), on the servers `devservers run` exported
# (MongoDB, NATS Streaming), as a Node peer: `make node-check`. Needs Node
# and npm, which `make test` does not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$work"' EXIT

(cd "$here" && npm ci --no-audit --no-fund --silent)
go build -o "$work/expiration-service" github.com/ticketkit/ticketkit/examples/expiration-service
export JWT_KEY=nodecheck-key PORT=0 NATS_TRANSPORT=stan NATS_CLIENT_ID="expiration-nodecheck-$$"
"$work/expiration-service" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  grep -q '"msg":"listening"' "$work/log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
  sleep 0.1
done
status=0
npm --prefix "$here" test || status=$?
kill -TERM "$pid"
wait "$pid" || { echo "expiration-service did not stop cleanly"; status=1; }
pid=
[ "$status" = 0 ] || tail -50 "$work/log"
exit "$status"
