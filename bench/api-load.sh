#!/usr/bin/env bash
# Load benchmark of the API. Starts `storeplane serve` (release build) on loopback against SQLite
# or PostgreSQL with the guardrails opened up, creates an admin and a tenant with 5 stores, then
# drives the tenant's requests with wrk (2 threads, 32 connections):
#   GET /api/v1/stores (authenticated, 5 stores), GET /api/v1/auth/me, POST /api/v1/stores.
# Prints requests/s, p50 and p99 per scenario, and the server's idle RSS.
#
#   bench/api-load.sh sqlite|postgres [duration-seconds] [baseline-git-revision [rounds]]
#
# With a baseline revision, that revision is built too (release, in a git worktree under
# target/bench-baseline, reused by later runs) and the two builds are measured alternately,
# `rounds` times each (3 by default), each on a fresh database, on the two GET scenarios; the
# last lines give each build's median and the ratio this build / baseline.
#
# Needs: wrk (apt-get install wrk), curl, python3, helm (.ci/install-helm), PostgreSQL on
# 127.0.0.1:5432 for the postgres run.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${2:-15}
baseline=${3:-}
rounds=${4:-3}
port=3999
work=$(mktemp -d)
server=
drop_db() {
  [ "$backend" = postgres ] || return 0
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS storeplane_bench WITH (FORCE)" postgres
}
trap 'kill $server 2>/dev/null || true; drop_db; rm -rf "$work"' EXIT
case "$backend" in
  sqlite|postgres) ;;
  *) echo "usage: $0 sqlite|postgres [seconds] [baseline-revision [rounds]]" >&2; exit 2 ;;
esac

cargo build --release --quiet --bin storeplane
current=$PWD/target/release/storeplane
export PATH="$PWD/.tools/bin:$PATH"
if [ -n "$baseline" ]; then
  rev=$(git rev-parse --short "$baseline")
  tree=$PWD/target/bench-baseline/$rev
  if [ ! -x "$tree/target/release/storeplane" ]; then
    [ -d "$tree" ] || git worktree add --detach "$tree" "$rev" >/dev/null
    (cd "$tree" && cargo build --release --quiet --bin storeplane)
  fi
  baseline_bin=$tree/target/release/storeplane
fi

# Starts build `$1` on a fresh database, with data directory `$2` (the plugin artifact cache).
start_server() {
  local bin=$1 data=${2:-this}
  case "$backend" in
    sqlite) rm -rf "$work/bench.db"*; db="sqlite://$work/bench.db" ;;
    postgres)
      drop_db
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE storeplane_bench" postgres
      db="postgres://postgres@127.0.0.1:5432/storeplane_bench" ;;
  esac
  DATABASE_URL=$db DATA_DIR=$work/data-$data \
    PORT=$port LOG_LEVEL=warn \
    JWT_SECRET=bench-secret-bench-secret-bench-secret \
    RATE_LIMIT_MAX=0 LOGIN_RATE_LIMIT_MAX=0 REGISTER_RATE_LIMIT_MAX=0 \
    MAX_STORES_PER_USER=1000000 STORE_CREATION_COOLDOWN_MS=0 \
    "$bin" serve >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
base=http://127.0.0.1:$port/api/v1

# Registers the platform's first user (its admin), then the tenant (sets $token), and creates
# the tenant's 5 stores.
set_up_tenant() {
  curl -sf -o /dev/null -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","username":"admin","password":"admin-password"}' \
    "$base/auth/register"
  token=$(curl -sf -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","username":"bench","password":"bench-password"}' \
    "$base/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  for i in 1 2 3 4 5; do
    curl -sf -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"name\":\"bench-$i\",\"engine\":\"woocommerce\"}" "$base/stores"
  done
  sleep 1
}

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
# `run LABEL SCENARIO wrk-args…`: prints one line, and appends `label scenario rps p99-ms` to
# $work/results.
run() {
  local label=$1 name=$2; shift 2
  local out rps p50 p99 non2xx
  out=$(wrk --latency -t2 -c32 -d"${duration}s" -H "authorization: Bearer $token" "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-10s %-9s %-24s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' \
    "$backend" "$label" "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  python3 - "$label" "$name" "$rps" "$p99" >>"$work/results" <<'PY'
import sys
label, name, rps, p99 = sys.argv[1:]
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
for suffix in ("us", "ms", "s"):
    if p99.endswith(suffix):
        ms = float(p99[: -len(suffix)]) * unit[suffix]
        break
print(f"{label}\t{name}\t{rps}\t{ms:.2f}")
PY
}

if [ -z "$baseline" ]; then
  # The first start compiles the engine plugins and fills the artifact cache in DATA_DIR; a
  # normal start (the cache is on the data volume) loads them from it.
  start_server "$current"
  rss_first=$(rss)
  stop_server
  start_server "$current"
  rss_idle=$(rss)
  set_up_tenant
  rss_setup=$(rss)
  run this "GET /stores (5 stores)" "$base/stores"
  run this "GET /auth/me" "$base/auth/me"
  run this "POST /stores" -s "$work/post.lua" "$base/stores"
  printf '%-10s RSS idle after start %s KiB (first start, compiling plugins: %s KiB), after setup %s KiB, after load %s KiB\n' \
    "$backend" "$rss_idle" "$rss_first" "$rss_setup" "$(rss)"
  exit 0
fi

for label_bin in "baseline:$baseline_bin" "this:$current"; do
  # Fills each build's artifact cache, so every measured start is a normal one.
  start_server "${label_bin#*:}" "${label_bin%%:*}"; stop_server
done
for round in $(seq "$rounds"); do
  for label_bin in "baseline:$baseline_bin" "this:$current"; do
    label=${label_bin%%:*}
    start_server "${label_bin#*:}" "$label"
    sleep 2
    printf '%-10s %-9s round %s: idle RSS %s KiB\n' "$backend" "$label" "$round" "$(rss)"
    echo -e "$label\tidle RSS KiB\t$(rss)\t0" >>"$work/results"
    set_up_tenant
    run "$label" "GET /stores (5 stores)" "$base/stores"
    run "$label" "GET /auth/me" "$base/auth/me"
    stop_server
  done
done
python3 - "$work/results" "$backend" "$rev" <<'PY'
import statistics, sys
from collections import defaultdict
path, backend, rev = sys.argv[1:]
runs = defaultdict(list)
for line in open(path):
    label, name, value, p99 = line.rstrip("\n").split("\t")
    runs[(label, name)].append((float(value), float(p99)))
print(f"\n{backend}: medians of the rounds; baseline = {rev}")
for name in ("GET /stores (5 stores)", "GET /auth/me", "idle RSS KiB"):
    base = statistics.median(v for v, _ in runs[("baseline", name)])
    this = statistics.median(v for v, _ in runs[("this", name)])
    if name == "idle RSS KiB":
        print(f"{name:24} baseline {base:>9.0f}   this {this:>9.0f}   ratio {this / base:.2f}")
        continue
    base_p99 = statistics.median(p for _, p in runs[("baseline", name)])
    this_p99 = statistics.median(p for _, p in runs[("this", name)])
    print(f"{name:24} baseline {base:>9.0f} req/s (p99 {base_p99:.1f} ms)   "
          f"this {this:>9.0f} req/s (p99 {this_p99:.1f} ms)   ratio {this / base:.2f}")
PY
