#!/usr/bin/env bash
# Runs the Node auth service's tests (check.test.mjs) against the Go auth
# service, on the servers `devservers run` exported: part of `make
# node-check`. Needs Node and npm, which `make test` does not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$here" && npm ci --no-audit --no-fund --silent)
go build -o "$work/auth-service" github.com/ticketkit/ticketkit/examples/auth-service
# The database is named in the URI, as the cluster's manifests name it,
# so the check reads the service's users where the service writes them.
export MONGO_URI="${MONGO_URI%/}/auth-nodecheck-$$"
export JWT_KEY=nodecheck-key PORT=0 NATS_TRANSPORT=stan NATS_CLIENT_ID="auth-nodecheck-$$"
"$work/auth-service" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  addr=$(sed -n 's/.*"msg":"listening","addr":"\([^"]*\)".*/\1/p' "$work/log")
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "auth-service is not listening"; cat "$work/log"; exit 1; }
status=0
AUTH_URL="http://127.0.0.1:${addr##*:}" npm --prefix "$here" test || status=$?
kill -TERM "$pid"
wait "$pid" || { echo "auth-service did not stop cleanly"; status=1; }
[ "$status" = 0 ] || tail -50 "$work/log"
exit "$status"
