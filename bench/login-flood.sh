#!/usr/bin/env bash
# Login-flood benchmark (issue: tenancy hardening). Starts `storeplane serve` (release build,
# SQLite, default guardrail settings) and floods POST /api/v1/auth/login from one address with
# random e-mails (64 connections, wrk), while polling GET /api/v1/health/live every 100 ms.
# Prints the server's RSS at idle, its peak during the flood and a minute after it, the answers
# the flood got, and every liveness status seen.
#
#   bench/login-flood.sh [flood-seconds] [settle-seconds] [extra server env, e.g. RATE_LIMIT_MAX=0 ...]
#
# Needs: wrk (apt-get install wrk), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
settle=${2:-60}
shift 2 || true
port=3998
work=$(mktemp -d)
trap 'kill $server $prober 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet --bin storeplane
export PATH="$PWD/.tools/bin:$PATH"
env DATABASE_URL="sqlite://$work/bench.db" DATA_DIR="$work/data" PORT=$port LOG_LEVEL=error \
  JWT_SECRET=bench-secret-bench-secret-bench-secret "$@" \
  ./target/release/storeplane serve >>"$work/server.log" 2>&1 &
server=$!
base=http://127.0.0.1:$port/api/v1
for _ in $(seq 300); do curl -sf "$base/health/live" >/dev/null && break; sleep 0.1; done
# One real account, so the flood also meets a known e-mail now and then.
curl -sf -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"owner@example.com","username":"owner","password":"password-owner"}' "$base/auth/register"
sleep 7  # past the hashing workers' 5 s idle release, so "idle" holds no hash buffer
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
idle=$(rss)

# Liveness and RSS sampled every 100 ms from before the flood until the end of the settle time.
( while :; do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$base/health/live" || echo 000)
    echo "$code $(rss)"
    sleep 0.1
  done ) >"$work/samples" &
prober=$!

cat >"$work/flood.lua" <<'LUA'
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local email = string.format("u%d-%d@example.com", math.random(1, 1e9), math.random(1, 1e9))
  return wrk.format(nil, nil, nil, '{"email":"' .. email .. '","password":"guess-password"}')
end
LUA
wrk -t2 -c64 -d"${duration}s" --latency -s "$work/flood.lua" "$base/auth/login" >"$work/wrk.txt"
flood_end=$(wc -l <"$work/samples")
sleep "$settle"
kill "$prober"; prober=
settled=$(rss)

python3 - "$work/samples" "$flood_end" "$idle" "$settled" "$work/wrk.txt" <<'PY'
import sys, collections
samples = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2]
flood_end, idle, settled = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
peak = max(int(r) for _, r in samples)
codes = collections.Counter(c for c, _ in samples)
wrk = open(sys.argv[5]).read()
reqs = next((l for l in wrk.splitlines() if "requests in" in l), "").strip()
print(f"flood: {reqs}")
print(f"RSS idle {idle/1024:.1f} MB, peak {peak/1024:.1f} MB, settled {settled/1024:.1f} MB "
      f"({(settled-idle)*100/idle:+.0f}% of idle)")
print("liveness answers:", dict(codes))
PY
echo "server answers during the flood (from its metrics):"
curl -s "$base/metrics" | grep -E "http_requests_total.*auth/login" || true
