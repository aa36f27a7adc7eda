#!/usr/bin/env bash
# Runs the Node payments service's tests (check.test.mjs) against the Go
# payments service, on the servers `devservers run` exported (MongoDB,
# NATS Streaming, stripe-mock): `make node-check`. The service charges
# through stripe-go with a test key, via stripe-recorder.mjs in front of
# stripe-mock. Needs Node and npm, which `make test` does not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid= rpid=
trap 'for p in $pid $rpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# await <pid> <log> <sed expression>: what the expression finds in the log
# once the process has printed it.
await() {
  local found
  for _ in $(seq 300); do
    found=$(sed -n "$3" "$2")
    [ -n "$found" ] && { echo "$found"; return; }
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "process $1 did not start:" >&2; cat "$2" >&2; return 1
}

(cd "$here" && npm ci --no-audit --no-fund --silent)
node "$here/stripe-recorder.mjs" >"$work/recorder.log" 2>&1 &
rpid=$!
rport=$(await "$rpid" "$work/recorder.log" 's/^listening \([0-9]*\)$/\1/p')

go build -o "$work/payments-service" github.com/ticketkit/ticketkit/examples/payments-service
export JWT_KEY=nodecheck-key PORT=0 NATS_TRANSPORT=stan NATS_CLIENT_ID="payments-nodecheck-$$"
STRIPE_KEY=sk_test_nodecheck STRIPE_API_BASE="http://127.0.0.1:$rport" "$work/payments-service" >"$work/log" 2>&1 &
pid=$!
addr=$(await "$pid" "$work/log" 's/.*"msg":"listening","addr":"\([^"]*\)".*/\1/p')
status=0
PAYMENTS_URL="http://127.0.0.1:${addr##*:}" STRIPE_RECORDER="http://127.0.0.1:$rport" npm --prefix "$here" test || status=$?
kill -TERM "$pid"
wait "$pid" || { echo "payments-service did not stop cleanly"; status=1; }
pid=
[ "$status" = 0 ] || tail -50 "$work/log"
exit "$status"
