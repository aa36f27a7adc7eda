#!/usr/bin/env bash
# Runs the cluster's own Next.js client, unchanged, against the Go back
# end and drives it through a purchase in headless Chromium (drive.mjs),
# keeping a screenshot of every step in screenshots/: `make browser-check`.
# Needs Go, Node (20), npm and Debian's chromium, so it is not part of
# make test. Exits non-zero on any failure.
#
#   browser -> ingress (ingress/, the cluster's ingress-nginx routes)
#                /api/users|tickets|orders|payments -> go run ./examples/cluster (in memory)
#                everything else                   -> the client (next start)
#   client's server side -> http://ingress-nginx-controller.ingress-nginx.svc.cluster.local
#                through http_proxy=the ingress (its axios honours it), so no
#                /etc/hosts entry, port 80 or root is needed.
#
# The client is the course's client/ at TICKETING_COMMIT, from
# TICKETING_REPO (a URL to clone, or a local clone or bare mirror), built
# once with `next build` under .bin/browser/ and reused. Node 17+ needs
# NODE_OPTIONS=--openssl-legacy-provider for its webpack 4 (the client's
# source is not touched). The back end runs on MongoDB and NATS instead
# when MONGO_URI and NATS_URL are set, as with go run ./examples/cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
repo=${TICKETING_REPO:-https://github.com/StephenGrider/ticketing}
commit=${TICKETING_COMMIT:-e4637036649bd93e3188cc358e539c9ef8279071}
chromium=${CHROMIUM:-$(command -v chromium || true)}
shots=${SCREENSHOTS:-$here/screenshots}
cache="$root/.bin/browser"
client="$cache/client-$commit"

for tool in go node npm git; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed"; exit 1; }
done
[ -n "$chromium" ] || { echo "run.sh: chromium is needed (apt-get install chromium)"; exit 1; }

export NEXT_TELEMETRY_DISABLED=1
if [ ! -f "$client/.next/BUILD_ID" ]; then
  mkdir -p "$cache"
  if [ -d "$repo" ]; then
    gitdir=$(git -C "$repo" rev-parse --absolute-git-dir)
  else
    gitdir="$cache/ticketing.git"
    [ -d "$gitdir" ] || git clone --bare --quiet "$repo" "$gitdir"
  fi
  echo "== the client: client/ of $repo at $commit, unchanged"
  rm -rf "$client" && mkdir -p "$client"
  git --git-dir="$gitdir" archive "$commit" client | tar -x -C "$client" --strip-components=1
  (cd "$client" && npm ci --no-audit --no-fund --loglevel=error)
  (cd "$client" && NODE_OPTIONS=--openssl-legacy-provider ./node_modules/.bin/next build)
fi
(cd "$here" && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/cluster" "$root/examples/cluster"
go build -o "$work/ingress" "$root/examples/cluster/browser/ingress"
freeport() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
backend_port=$(freeport) client_port=$(freeport) ingress_port=$(freeport)
logs() { for f in "$work"/*.log; do echo "== $f"; tail -40 "$f"; done; }

PORT=$backend_port "$work/cluster" >"$work/backend.log" 2>&1 &
pids+=($!)
(cd "$client" && exec env http_proxy="http://127.0.0.1:$ingress_port" HTTP_PROXY= no_proxy= NO_PROXY= \
  NODE_OPTIONS=--openssl-legacy-provider ./node_modules/.bin/next start -H 127.0.0.1 -p "$client_port") >"$work/client.log" 2>&1 &
pids+=($!)
"$work/ingress" -listen "127.0.0.1:$ingress_port" -backend "http://127.0.0.1:$backend_port" \
  -client "http://127.0.0.1:$client_port" >"$work/ingress.log" 2>&1 &
pids+=($!)

# Up when the landing page renders: the client's server side has reached
# the back end through the ingress.
base="http://127.0.0.1:$ingress_port"
for _ in $(seq 600); do
  curl -fs -o /dev/null "$base/" && break
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "run.sh: a server exited"; logs; exit 1; }; done
  sleep 0.1
done
curl -fs -o /dev/null "$base/" || { echo "run.sh: the landing page does not render"; curl -s "$base/" | head -20; logs; exit 1; }
echo "== the client at $base, the back end at http://127.0.0.1:$backend_port"

status=0
BASE_URL="$base" SCREENSHOTS="$shots" CHROMIUM="$chromium" node "$here/drive.mjs" || status=$?
# The client's server-side calls that reached the back end by the cluster's name.
ssr=$(grep -c "host=ingress-nginx-controller.ingress-nginx.svc.cluster.local" "$work/ingress.log" || true)
echo "== $ssr server-side requests of the client reached the back end as http://ingress-nginx-controller.ingress-nginx.svc.cluster.local"
[ "$ssr" -gt 0 ] || { echo "run.sh: no server-side request reached the back end"; status=1; }
[ "$status" = 0 ] || logs
exit "$status"
