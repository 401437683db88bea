#!/usr/bin/env bash
# Load benchmark of the API (issue: control plane API). Starts `storeplane serve` (release
# build) on loopback against SQLite or PostgreSQL with the guardrails opened up, creates a tenant
# with 5 stores, then drives it with wrk:
#   GET /api/v1/stores (authenticated, 5 stores), GET /api/v1/auth/me, POST /api/v1/stores.
# Prints requests/s and p50/p99 per scenario, and the server's idle RSS.
#
#   bench/api-load.sh sqlite|postgres [duration-seconds]
#
# Needs: wrk (apt-get install wrk), curl, python3, helm (.ci/install-helm), PostgreSQL on
# 127.0.0.1:5432 for the postgres run.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${2:-15}
port=3999
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; [ "$backend" = postgres ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS storeplane_bench WITH (FORCE)" postgres; rm -rf "$work"' EXIT

cargo build --release --quiet --bin storeplane
export PATH="$PWD/.tools/bin:$PATH"
case "$backend" in
  sqlite) db="sqlite://$work/bench.db" ;;
  postgres)
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS storeplane_bench WITH (FORCE)" postgres
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE storeplane_bench" postgres
    db="postgres://postgres@127.0.0.1:5432/storeplane_bench" ;;
  *) echo "usage: $0 sqlite|postgres [seconds]" >&2; exit 2 ;;
esac

start_server() {
  DATABASE_URL=$db DATA_DIR=$work/data PORT=$port LOG_LEVEL=warn \
    JWT_SECRET=bench-secret-bench-secret-bench-secret \
    RATE_LIMIT_MAX=0 LOGIN_RATE_LIMIT_MAX=0 REGISTER_RATE_LIMIT_MAX=0 \
    MAX_STORES_PER_USER=1000000 STORE_CREATION_COOLDOWN_MS=0 \
    ./target/release/storeplane serve >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }

# The first start compiles the engine plugins and fills the artifact cache in DATA_DIR; a
# normal start (the cache is on the data volume) loads them from it.
start_server
rss_first=$(rss)
kill "$server"; wait "$server" 2>/dev/null || true
start_server
rss_idle=$(rss)
base=http://127.0.0.1:$port/api/v1

token=$(curl -sf -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","username":"bench","password":"bench-password"}' \
  "$base/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
for i in 1 2 3 4 5; do
  curl -sf -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\":\"bench-$i\",\"engine\":\"woocommerce\"}" "$base/stores"
done
sleep 1
rss_setup=$(rss)

cat >"$work/post.lua" <<'LUA'
-- Unique store names per thread: setup() numbers the threads, names are load-<thread>-<n>.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  -- wrk.headers holds -H (the bearer token); a header table passed to wrk.format would replace it.
  wrk.headers["content-type"] = "application/json"
  local body = string.format('{"name":"load-%d-%d","engine":"woocommerce"}', tid, n)
  return wrk.format("POST", nil, nil, body)
end
LUA
run() {
  local name=$1; shift
  local out
  out=$(wrk --latency -t2 -c32 -d"${duration}s" -H "authorization: Bearer $token" "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-10s %-26s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$backend" "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}
run "GET /stores (5 stores)" "$base/stores"
run "GET /auth/me" "$base/auth/me"
run "POST /stores" -s "$work/post.lua" "$base/stores"
printf '%-10s RSS idle after start %s KiB (first start, compiling plugins: %s KiB), after setup %s KiB, after load %s KiB\n' \
  "$backend" "$rss_idle" "$rss_first" "$rss_setup" "$(rss)"
