#!/usr/bin/env bash
# Schema-driven fuzzing of the API with schemathesis (PyPI): every operation of
# /api/v1/openapi.json is called with generated inputs, authenticated as an admin, and every
# response is checked for 5xx and for conformance to the documented status codes, content types
# and schemas.
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
for _ in $(seq 100); do curl -sf "$base/api/v1/health" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","username":"fuzzer","password":"fuzz-password"}' \
  "$base/api/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

status=0
schemathesis run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --suppress-health-check all || status=$?
if grep -q "panicked" "$work/server.log"; then
  echo "the server logged a panic:" >&2
  grep -A5 panicked "$work/server.log" >&2
  status=1
fi
exit $status
