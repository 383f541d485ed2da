#!/usr/bin/env bash
# Fuzz the whole API from its own OpenAPI document with schemathesis.
#
# Starts a real Eddy (run.py) on a free port with a temporary data dir, registers a user for a bearer
# token, creates a site with keys and a metric so site-scoped operations have something real to hit, runs
# `schemathesis run` against /api/openapi.json with the checks below. Exits non-zero on any failure.
#
#   scripts/schemathesis.sh                       # defaults: 30 examples per operation
#   MAX_EXAMPLES=200 scripts/schemathesis.sh      # longer run
#   PHASES=examples,coverage,fuzzing scripts/schemathesis.sh
#
# Environment: PYTHON (default .venv/bin/python), MAX_EXAMPLES, WORKERS, PHASES, CHECKS, SEED, REPORT_DIR, and
# MAX_TIME (seconds: a budget for the whole run).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
SCHEMATHESIS="${SCHEMATHESIS:-$(dirname "$PYTHON")/schemathesis}"
MAX_EXAMPLES="${MAX_EXAMPLES:-30}"
# One worker thread: under CPython 3.11 two threads building ASTs at once (hypothesis parses source files
# to describe its filters) race on the interpreter's shared AST recursion counter and crash the tool with
# "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905).
WORKERS="${WORKERS:-1}"
PHASES="${PHASES:-examples,coverage,fuzzing}"
CHECKS="${CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance}"
DATA_DIR="$(mktemp -d)"
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:${PORT}"
LOG="${DATA_DIR}/eddy.log"

cleanup() {
  if [[ -n "${EDDY_PID:-}" ]] && kill -0 "$EDDY_PID" 2>/dev/null; then
    kill -TERM "$EDDY_PID" 2>/dev/null || true
    wait "$EDDY_PID" 2>/dev/null || true
  fi
  if [[ -f "$LOG" ]] && grep -q "Traceback" "$LOG"; then
    echo "--- server tracebacks (from ${LOG}) ---" >&2
    grep -A 30 "Traceback" "$LOG" | head -200 >&2
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# A high per-user API limit: the fuzzer is one user sending thousands of requests.
EDDY_API_RATE_LIMIT=1000000 "$PYTHON" run.py --port "$PORT" --data-dir "$DATA_DIR/data" >"$LOG" 2>&1 &
EDDY_PID=$!

# Wait for readiness, then sign up and create a site with a key of each kind.
IDS="$("$PYTHON" - "$BASE" <<'PY'
import json, sys, time, urllib.error, urllib.request, uuid

base = sys.argv[1]


def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


for _ in range(300):
    try:
        call("GET", "/healthz")
        break
    except (urllib.error.URLError, ConnectionError):
        time.sleep(0.1)
else:
    sys.exit("Eddy did not start")
email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
token = call("POST", "/api/v1/auth/register", {"email": email, "password": "fuzzing password 1"})["access_token"]
site = call("POST", "/api/v1/sites", {"name": "Fuzz", "domain": "fuzz.example"}, token)["site"]
keys = [
    call("POST", f"/api/v1/sites/{site['id']}/keys", {"name": kind, "kind": kind}, token)["key"]
    for kind in ("public", "secret")
]
metric = {"name": "fuzz_total", "type": "counter"}
metric = call("POST", f"/api/v1/sites/{site['id']}/metrics", metric, token)["metric"]
print(token, site["id"], keys[1]["id"], metric["id"])
PY
)"
read -r TOKEN SITE_ID KEY_ID METRIC_ID <<<"$IDS"

# Path parameters point at the real site, key and metric (so operations reach their logic instead of
# answering 404), except deleting the site itself, which would end the run's coverage early.
CONFIG="${DATA_DIR}/schemathesis.toml"
cat >"$CONFIG" <<TOML
[parameters]
"path.site_id" = "${SITE_ID}"
"path.key_id" = "${KEY_ID}"
"path.metric_id" = "${METRIC_ID}"

[[operations]]
include-path = "/api/v1/sites/{site_id}"
include-method = "DELETE"
parameters = { "path.site_id" = "not-this-site" }
TOML

ARGS=(
  --config-file "$CONFIG"
  run "${BASE}/api/openapi.json"
  --url "$BASE"
  --checks "$CHECKS"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --header "Authorization: Bearer ${TOKEN}"
  --workers "$WORKERS"
  --request-timeout 20
  --suppress-health-check all
)
if [[ -n "${SEED:-}" ]]; then ARGS+=(--seed "$SEED"); fi
if [[ -n "${MAX_TIME:-}" ]]; then ARGS+=(--max-time "$MAX_TIME"); fi
if [[ -n "${REPORT_DIR:-}" ]]; then ARGS+=(--report junit --report-dir "$REPORT_DIR"); fi

set +e
"$SCHEMATHESIS" --no-color "${ARGS[@]}"
STATUS=$?
set -e
if ! kill -0 "$EDDY_PID" 2>/dev/null; then
  echo "Eddy died during the run" >&2
  STATUS=1
fi
exit "$STATUS"
