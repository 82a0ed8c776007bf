#!/usr/bin/env bash
# Loopback benchmark of availability (issue 13.1), on the seed of the issue: one specialist
# with 500 external events and 100 appointments over 30 days, and 500 specialists with 40
# events each over 14 days. In one run, with wrk:
#   - bare GET /healthz at 8 connections (the ceiling of this machine and stack),
#   - one specialist over 30 days: p99 at 1 connection, throughput at 8 and its ratio
#     to the bare rate,
#   - the 500-specialist search over 14 days at 1 connection, full and compact answers,
# each against two api servers on the same seed: without the availability cache (every
# request reads the database: "db") and with it ("cache"), bare /healthz measured
# before and after them.
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
stop() { if kill -INT "$PID" 2>/dev/null; then wait "$PID" 2>/dev/null || true; grep "^cache:" "$WORK/err" || true; fi; }
trap 'stop; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do grep -q '^READY' "$WORK/out" && break; sleep 0.5; done
grep -q '^READY' "$WORK/out" || { cat "$WORK/err" >&2; exit 1; }
HEALTH_URL="$(grep '^HEALTH ' "$WORK/out" | cut -d' ' -f2)"
GET_URL="$(grep '^GET ' "$WORK/out" | cut -d' ' -f2)"
SEARCH_URL="$(grep '^SEARCH ' "$WORK/out" | cut -d' ' -f2)"
CGET_URL="$(grep '^CACHED_GET ' "$WORK/out" | cut -d' ' -f2)"
CSEARCH_URL="$(grep '^CACHED_SEARCH ' "$WORK/out" | cut -d' ' -f2)"
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
cmp <(curl -sf "$GET_URL") <(curl -sf "$CGET_URL") >/dev/null || { echo "the cached server answers differently" >&2; exit 1; }
# Warm the statement caches, the cache and the server before measuring.
for u in "$GET_URL" "$CGET_URL"; do wrk -t1 -c2 -d2s "$u" >/dev/null; done
for u in "$SEARCH_URL" "$CSEARCH_URL"; do wrk -t1 -c1 -d2s -s "$WORK/full.lua" "$u" >/dev/null; done
echo
printf "| %-46s | %9s | %8s | %8s | %5s |\n" "run" "req/s" "p50 ms" "p99 ms" "non-2xx"
printf "|%s|%s|%s|%s|%s|\n" "------------------------------------------------" "-----------" "----------" "----------" "-------"
HEALTH8="$(run 2 8 "$HEALTH_URL")"; row "bare GET /healthz, 8 connections" "$HEALTH8"
declare -A R
for mode in db cache; do
  if [ "$mode" = db ]; then g="$GET_URL"; su="$SEARCH_URL"; else g="$CGET_URL"; su="$CSEARCH_URL"; fi
  R[$mode.one1]="$(run 1 1 "$g")"; row "$mode: one specialist, 30 days, 1 connection" "${R[$mode.one1]}"
  R[$mode.one8]="$(run 2 8 "$g")"; row "$mode: one specialist, 30 days, 8 connections" "${R[$mode.one8]}"
  R[$mode.search1]="$(run 1 1 "$su" "$WORK/full.lua")"; row "$mode: search 500 × 14 days, full, 1 conn." "${R[$mode.search1]}"
  R[$mode.compact1]="$(run 1 1 "$su" "$WORK/compact.lua")"; row "$mode: search 500 × 14 days, compact, 1 conn." "${R[$mode.compact1]}"
done
HEALTH8B="$(run 2 8 "$HEALTH_URL")"; row "bare GET /healthz, 8 connections, again" "$HEALTH8B"
echo
read -r h8a _ _ _ <<<"$HEALTH8"
read -r h8b _ _ _ <<<"$HEALTH8B"
h8=$(awk -v a="$h8a" -v b="$h8b" 'BEGIN { printf "%.0f", (a + b) / 2 }')
echo "bare /healthz: $h8 req/s (mean of the two runs)"
for mode in db cache; do
  read -r o8 _ _ _ <<<"${R[$mode.one8]}"
  read -r _ _ o1p99 _ <<<"${R[$mode.one1]}"
  read -r _ _ s1p99 _ <<<"${R[$mode.search1]}"
  read -r _ _ c1p99 _ <<<"${R[$mode.compact1]}"
  awk -v m="$mode" -v o="$o8" -v h="$h8" 'BEGIN { printf "%s: one specialist at 8 connections: %.1f %% of the bare /healthz rate (goal >= 10 %%)\n", m, 100 * o / h }'
  echo "$mode: one specialist p99 at 1 connection: $o1p99 ms (goal <= 5 ms)"
  echo "$mode: search p99 at 1 connection: full $s1p99 ms, compact $c1p99 ms (goal <= 50 ms)"
done
echo "answer sizes: one specialist $(size "$GET_URL") B; search full $(size -X POST -H 'content-type: application/json' --data-binary @"$WORK/full.json" "$SEARCH_URL") B, compact $(size -X POST -H 'content-type: application/json' --data-binary @"$WORK/compact.json" "$SEARCH_URL") B"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
stop

if [ "$PLANS" = 1 ]; then
  echo
  echo "== query plans on 1,000,000 external events =="
  "$BIN" plans | sed 's/^PLAN //' | cut -c1-220
fi
