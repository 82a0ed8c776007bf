#!/usr/bin/env bash
# Loopback benchmark of availability (issue 13.1), on the seed of the issue: one specialist
# with 500 external events and 100 appointments over 30 days, and 500 specialists with 40
# events each over 14 days. In one run, with wrk:
#   - bare GET /healthz at 8 connections (the ceiling of this machine and stack),
#   - one specialist over 30 days: p99 at 1 connection, throughput at 8 and its ratio
#     to the bare rate,
#   - the 500-specialist search over 14 days at 1 connection, full and compact answers.
# Then the query plans of the three statements availability runs, on a throw-away
# database seeded with 1,000,000 external events (created and dropped by the example).
#
# Needs PostgreSQL and RabbitMQ at their defaults, and wrk (Debian: apt-get install -y
# wrk; installed here when missing and run as root).
# Usage: scripts/bench-availability.sh [seconds per run, default 10] [--no-plans]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
PLANS=1
[ "${2:-}" = "--no-plans" ] && PLANS=0
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
fi
# Release build without LTO: optimised code, a shorter build.
export CARGO_PROFILE_RELEASE_LTO=false
cargo build -q --release -p calsync-api --example bench_availability
BIN="${CARGO_TARGET_DIR:-../../target}/release/examples/bench_availability"
WORK="$(mktemp -d)"
BENCH_SECONDS=1800 "$BIN" >"$WORK/out" 2>"$WORK/err" &
PID=$!
# SIGINT: the example stops serving and drops its database.
stop() { kill -INT "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; }
trap 'stop; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do grep -q '^COMPACT ' "$WORK/out" && break; sleep 0.5; done
grep -q '^COMPACT ' "$WORK/out" || { cat "$WORK/err" >&2; exit 1; }
HEALTH_URL="$(grep '^HEALTH ' "$WORK/out" | cut -d' ' -f2)"
GET_URL="$(grep '^GET ' "$WORK/out" | cut -d' ' -f2)"
SEARCH_URL="$(grep '^SEARCH ' "$WORK/out" | cut -d' ' -f2)"
grep '^SEARCH ' "$WORK/out" | cut -d' ' -f3- >"$WORK/full.json"
grep '^COMPACT ' "$WORK/out" | cut -d' ' -f3- >"$WORK/compact.json"
for f in full compact; do
  cat >"$WORK/$f.lua" <<LUA
local f = io.open("$WORK/$f.json", "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
done

# wrk's summary as "rate p50 p99" (ms); its latencies are printed with units.
run() { # threads connections url [script]
  local args=(-t"$1" -c"$2" -d"${SECS}s" --latency)
  [ -n "${4:-}" ] && args+=(-s "$4")
  wrk "${args[@]}" "$3" >"$WORK/wrk.txt"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rate = $2 }
    / 50%/ { p50 = ms($2) }
    / 99%/ { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %s\n", rate, p50, p99, (bad == "" ? 0 : bad) }' "$WORK/wrk.txt"
}
row() { # label "rate p50 p99 bad"
  read -r rate p50 p99 bad <<<"$2"
  printf "| %-46s | %9s | %8s | %8s | %5s |\n" "$1" "$rate" "$p50" "$p99" "$bad"
}
size() { curl -s -o /dev/null -w '%{size_download}' "$@"; }

echo "seconds per run: $SECS; machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -sf "$GET_URL" | head -c 160; echo " …"
# Warm the statement caches and the server before measuring.
wrk -t1 -c2 -d2s "$GET_URL" >/dev/null
wrk -t1 -c1 -d2s -s "$WORK/full.lua" "$SEARCH_URL" >/dev/null
echo
printf "| %-46s | %9s | %8s | %8s | %5s |\n" "run" "req/s" "p50 ms" "p99 ms" "non-2xx"
printf "|%s|%s|%s|%s|%s|\n" "------------------------------------------------" "-----------" "----------" "----------" "-------"
HEALTH8="$(run 2 8 "$HEALTH_URL")"; row "bare GET /healthz, 8 connections" "$HEALTH8"
ONE1="$(run 1 1 "$GET_URL")"; row "one specialist, 30 days, 1 connection" "$ONE1"
ONE8="$(run 2 8 "$GET_URL")"; row "one specialist, 30 days, 8 connections" "$ONE8"
SEARCH1="$(run 1 1 "$SEARCH_URL" "$WORK/full.lua")"; row "search 500 × 14 days, full, 1 connection" "$SEARCH1"
COMPACT1="$(run 1 1 "$SEARCH_URL" "$WORK/compact.lua")"; row "search 500 × 14 days, compact, 1 connection" "$COMPACT1"
echo
read -r h8 _ _ _ <<<"$HEALTH8"
read -r o8 _ _ _ <<<"$ONE8"
read -r _ _ o1p99 _ <<<"$ONE1"
read -r _ _ s1p99 _ <<<"$SEARCH1"
read -r _ _ c1p99 _ <<<"$COMPACT1"
awk -v o="$o8" -v h="$h8" 'BEGIN { printf "one specialist at 8 connections: %.1f %% of the bare /healthz rate (goal >= 10 %%)\n", 100 * o / h }'
echo "one specialist p99 at 1 connection: $o1p99 ms (goal <= 5 ms)"
echo "search p99 at 1 connection: full $s1p99 ms, compact $c1p99 ms (goal <= 50 ms)"
echo "answer sizes: one specialist $(size "$GET_URL") B; search full $(size -X POST -H 'content-type: application/json' --data-binary @"$WORK/full.json" "$SEARCH_URL") B, compact $(size -X POST -H 'content-type: application/json' --data-binary @"$WORK/compact.json" "$SEARCH_URL") B"
stop

if [ "$PLANS" = 1 ]; then
  echo
  echo "== query plans on 1,000,000 external events =="
  "$BIN" plans | sed 's/^PLAN //' | cut -c1-220
fi
