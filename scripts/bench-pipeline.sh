#!/usr/bin/env bash
# The whole pipeline under load (issue 11, items 1 and 4): `calsync up` in release mode
# against the provider sandboxes, driven from outside by the load generator
# services/calsync/examples/bench_pipeline (see its header for the phases):
#
#   setup    C agents (half Google, half Graph) connected through the real OAuth flow
#   ingest   webhook-ingest alone: bare /healthz vs valid pushes at max rate, and at 5,000/s
#   steady   R coworker changes/s over the agents for 60 s: push → slot gone latency
#   storm    20,000 pushes for one connection while others change at 20/s
#   workers  the storm again with a second sync-worker process; no double syncs
#
# Prints a results table with MET / MISSED per target. Exits non-zero only when the
# benchmark could not run; a missed target is a result, not a failure.
#
# Environment (all optional):
#   AGENTS=1000 RATE=500 STEADY_SECS=60 STORM_PUSHES=20000 PHASES=ingest,steady,storm,workers
#   BLAST_SECS=10 FIXED_RATE=5000 BLAST_CONNECTIONS=64 POLL_MS=20
#   API_PORT=18080 INGEST_PORT=18081 WORKER_PORT=18082 WORKER2_PORT=18083
#   DATABASE_BASE=postgres://postgres@127.0.0.1:5432  AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
#   SKIP_BUILD=1 (reuse the built binaries)   KEEP=1 (keep the database and queues)
#   PROFILE=debug (smoke-test the bench itself; numbers meaningless)
# Extra arguments go to the load generator (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR=${CARGO_TARGET_DIR:-target}
PROFILE=${PROFILE:-release}   # PROFILE=debug: a quick smoke run of the bench itself
BIN="$TARGET_DIR/$PROFILE/calsync"
BENCH="$TARGET_DIR/$PROFILE/examples/bench_pipeline"
API_PORT=${API_PORT:-18080}
INGEST_PORT=${INGEST_PORT:-18081}
WORKER_PORT=${WORKER_PORT:-18082}
WORKER2_PORT=${WORKER2_PORT:-18083}
DATABASE_BASE=${DATABASE_BASE:-postgres://postgres@127.0.0.1:5432}
RUN_ID="$(date +%Y%m%d%H%M%S)_$$"
OUT="$TARGET_DIR/bench-pipeline/$RUN_ID"
mkdir -p "$OUT"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  echo "[bench-pipeline] building $PROFILE binaries (calsync, bench_pipeline)"
  profile_flag=(--release)
  [[ "$PROFILE" == release ]] || profile_flag=()
  cargo build "${profile_flag[@]}" --locked -p calsync --bin calsync --example bench_pipeline
fi
[[ -x "$BIN" && -x "$BENCH" ]] || { echo "missing $BIN or $BENCH" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 8091 8092 "$API_PORT" "$INGEST_PORT" "$WORKER_PORT" "$WORKER2_PORT"; do
  if port_busy "$p"; then
    echo "[bench-pipeline] port $p is in use (another calsync up?); cannot run" >&2
    exit 1
  fi
done

# A fresh database and AMQP prefix for this run; no provider app configured, so
# `calsync up` starts the Google and Graph sandboxes (127.0.0.1:8091 and :8092).
export CALSYNC__DATABASE__URL="$DATABASE_BASE/calsync_bench_$RUN_ID"
export CALSYNC__AMQP__URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
export CALSYNC__AMQP__PREFIX="bench-$RUN_ID"
export CALSYNC__API__BIND="127.0.0.1:$API_PORT"
export CALSYNC__API__PUBLIC_URL="http://127.0.0.1:$API_PORT"
export CALSYNC__INGEST__BIND="127.0.0.1:$INGEST_PORT"
export CALSYNC__INGEST__PUBLIC_URL="http://127.0.0.1:$INGEST_PORT"
export CALSYNC__WORKER__BIND="127.0.0.1:$WORKER_PORT"
# The bench asks availability from one address for a thousand agents' changes: the
# per-address limit of the public endpoints (600/min) would measure itself (a change
# refused 429 waits for the next poll), as it did in the first runs.
export CALSYNC__API__RATE_LIMIT_PER_MINUTE=0
export CALSYNC__API__OPERATOR_TOKEN="bench-operator-$RUN_ID"
export CALSYNC__API__JWT_SECRET="bench-jwt-$RUN_ID-$RANDOM$RANDOM"
export CALSYNC__SECURITY__WEBHOOK_SECRET="bench-hook-$RUN_ID-$RANDOM$RANDOM"
export CALSYNC__SECURITY__ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
unset CALSYNC__GOOGLE__CLIENT_ID CALSYNC__MICROSOFT__CLIENT_ID

UP_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then
    echo "[bench-pipeline] stopping calsync up ($UP_PID)"
    kill -TERM "$UP_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  if [[ -z "${KEEP:-}" ]]; then
    "$BENCH" --cleanup --database-url "$CALSYNC__DATABASE__URL" >/dev/null 2>&1 || true
    psql "$DATABASE_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"calsync_bench_$RUN_ID\"" >/dev/null 2>&1 || true
  fi
  echo "[bench-pipeline] logs and results.json in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "[bench-pipeline] run $RUN_ID; starting calsync up (log: $OUT/up.log)"
"$BIN" up >"$OUT/up.log" 2>&1 &
UP_PID=$!

ready=""
for _ in $(seq 1 600); do
  if ! kill -0 "$UP_PID" 2>/dev/null; then
    echo "[bench-pipeline] calsync up exited early:" >&2
    tail -n 30 "$OUT/up.log" >&2
    exit 1
  fi
  if curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 &&
     curl -fsS "http://127.0.0.1:$INGEST_PORT/readyz" >/dev/null 2>&1 &&
     curl -fsS "http://127.0.0.1:$WORKER_PORT/readyz" >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || { echo "[bench-pipeline] services not ready within 120 s" >&2; tail -n 30 "$OUT/up.log" >&2; exit 1; }

args=(
  --api "http://127.0.0.1:$API_PORT" --ingest "http://127.0.0.1:$INGEST_PORT"
  --worker "http://127.0.0.1:$WORKER_PORT"
  --google http://127.0.0.1:8091 --graph http://127.0.0.1:8092
  --agents "${AGENTS:-1000}" --rate "${RATE:-500}" --steady-secs "${STEADY_SECS:-60}"
  --storm-pushes "${STORM_PUSHES:-20000}" --phases "${PHASES:-ingest,steady,storm,workers}"
  --blast-secs "${BLAST_SECS:-10}" --fixed-rate "${FIXED_RATE:-5000}"
  --blast-connections "${BLAST_CONNECTIONS:-64}" --poll-ms "${POLL_MS:-20}"
  --calsync-bin "$BIN" --worker2-bind "127.0.0.1:$WORKER2_PORT"
  --worker2-log "$OUT/worker2.log" --up-log "$OUT/up.log" --up-pid "$UP_PID"
  --results-json "$OUT/results.json"
)
set +e
"$BENCH" "${args[@]}" "$@" 2>&1 | tee "$OUT/bench.out"
status=${PIPESTATUS[0]}
set -e
exit "$status"
