#!/usr/bin/env bash
# Loopback benchmark of availability (issue 7.5): one specialist over 30 days with 500
# external events and 100 appointments, and the 500-specialist search over 14 days.
# Prints the query plans, then wrk's throughput and latency percentiles for each.
# Needs PostgreSQL and RabbitMQ at their defaults and `wrk` (apt-get install -y wrk).
# Usage: scripts/bench-availability.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
# Release build without LTO: optimised code, a shorter build.
export CARGO_PROFILE_RELEASE_LTO=false
cargo build -q --release -p calsync-api --example bench_availability
WORK="$(mktemp -d)"
BENCH_SECONDS=900 cargo run -q --release -p calsync-api --example bench_availability >"$WORK/out" 2>"$WORK/err" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do grep -q '^SEARCH ' "$WORK/out" && break; sleep 0.5; done
grep -q '^SEARCH ' "$WORK/out" || { cat "$WORK/err" >&2; exit 1; }
# Plans of the 500-id queries list every id: keep lines readable.
grep '^PLAN' "$WORK/out" | sed 's/^PLAN //' | cut -c1-200
GET_URL="$(grep '^GET ' "$WORK/out" | cut -d' ' -f2)"
SEARCH_URL="$(grep '^SEARCH ' "$WORK/out" | cut -d' ' -f2)"
grep '^SEARCH ' "$WORK/out" | cut -d' ' -f3- >"$WORK/body.json"
cat >"$WORK/post.lua" <<LUA
local f = io.open("$WORK/body.json", "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
echo
echo "== single specialist, 30 days, 500 events + 100 appointments =="
curl -sf "$GET_URL" | head -c 200; echo
wrk -t2 -c8 -d"${SECS}s" --latency "$GET_URL"
echo
echo "== search: 500 specialists, 14 days =="
wrk -t2 -c4 -d"${SECS}s" --latency -s "$WORK/post.lua" "$SEARCH_URL"
