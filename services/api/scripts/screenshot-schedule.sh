#!/usr/bin/env bash
# Renders the agent schedule page in headless Chromium (Debian's `chromium` package):
# starts the `schedule_demo` example (api + a seeded throw-away database), signs in with
# a token in the URL, checks what the page shows and saves a screenshot.
# Needs PostgreSQL and RabbitMQ at their defaults. Usage: scripts/screenshot-schedule.sh [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target-schedule.png}"
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$CHROMIUM" ]; then
  echo "chromium is not installed (apt-get install -y chromium); skipping" >&2
  exit 0
fi
cargo build -q -p calsync-api --example schedule_demo
LOG="$(mktemp)"
DEMO_SECONDS=90 cargo run -q -p calsync-api --example schedule_demo >"$LOG" 2>&1 &
DEMO=$!
trap 'kill "$DEMO" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 120); do
  grep -q '^URL ' "$LOG" && break
  sleep 0.5
done
URL="$(grep '^URL ' "$LOG" | head -1 | cut -d' ' -f2)"
[ -n "$URL" ] || { echo "the demo did not start:" >&2; cat "$LOG" >&2; exit 1; }
FLAGS=(--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1100)
DOM="$("$CHROMIUM" "${FLAGS[@]}" --dump-dom "$URL" 2>/dev/null)"
fail=0
for want in "Europe/Berlin" "Booking: Grace Hopper" "Team stand-up" "Client call (Outlook)" \
            "Public holiday" "needs re-authorisation" "Reconnect" "Previous week" "Next week" \
            "&lt;script&gt;alert"; do
  if ! grep -qF -- "$want" <<<"$DOM"; then echo "MISSING: $want" >&2; fail=1; fi
done
if grep -qF "<script>alert" <<<"$DOM"; then echo "UNESCAPED title in the page" >&2; fail=1; fi
"$CHROMIUM" "${FLAGS[@]}" --screenshot="$OUT" "$URL" 2>/dev/null
echo "screenshot: $OUT"
if [ "$fail" -ne 0 ]; then echo "1 passed, 1 failed"; exit 1; fi
echo "1 passed, 0 failed"
