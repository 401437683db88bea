#!/usr/bin/env bash
# Schema-driven fuzzing of the API with schemathesis (PyPI), every check (bench/schemathesis.toml
# says which and the one exception): every operation of /api/v1/openapi.json is called with
# generated inputs, authenticated as an admin, in every phase (examples, coverage, fuzzing,
# stateful); responses are checked for 5xx, documented status codes, content types, headers and
# schemas, and valid input must be accepted and invalid input refused.
#
#   bench/api-fuzz.sh [max-examples-per-operation]
#
# Needs: pip install schemathesis, curl, python3, helm (.ci/install-helm).
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
port=3998
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --quiet --bin storeplane
export PATH="$PWD/.tools/bin:$PATH"
DATABASE_URL="sqlite://$work/fuzz.db" DATA_DIR=$work/data PORT=$port LOG_LEVEL=warn \
  JWT_SECRET=fuzz-secret-fuzz-secret-fuzz-secret-xx \
  RATE_LIMIT_MAX=0 LOGIN_RATE_LIMIT_MAX=0 REGISTER_RATE_LIMIT_MAX=0 STORE_CREATION_COOLDOWN_MS=0 \
  MAX_STORES_PER_USER=1000 \
  ./target/debug/storeplane serve >"$work/server.log" 2>&1 &
server=$!
base=http://127.0.0.1:$port
# The first start compiles the engine plugins (a minute or more for a debug build).
for _ in $(seq 1800); do curl -sf "$base/api/v1/health" >/dev/null && break; sleep 0.1; done
curl -sf "$base/api/v1/health" >/dev/null || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
token=$(curl -sf -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","username":"fuzzer","password":"fuzz-password"}' \
  "$base/api/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

status=0
schemathesis --config-file bench/schemathesis.toml run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --max-examples "$examples" \
  --suppress-health-check all || status=$?
if grep -q "panicked" "$work/server.log"; then
  echo "the server logged a panic:" >&2
  grep -A5 panicked "$work/server.log" >&2
  status=1
fi
exit $status
