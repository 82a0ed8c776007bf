#!/usr/bin/env bash
# Benchmarks calsync-ical's expand on a generated feed (10,000 events, 1,000 series,
# one-year window) and, when pip can install them, python icalendar +
# recurring-ical-events on the same file and window. Prints times, peak memory and ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

work="${BENCH_DIR:-$(mktemp -d)}"
feed="$work/feed.ics"

echo "== building the benchmark (release) =="
bin=$(cargo bench -p calsync-ical --bench expand --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "expand" and m.get("executable"):
        print(m["executable"])' | tail -n1)
[ -x "$bin" ] || { echo "benchmark binary not found" >&2; exit 1; }

"$bin" --write "$feed" >/dev/null
echo "feed: $feed ($(wc -c <"$feed") bytes)"

echo "== calsync-ical (5 runs in process) =="
"$bin"

peak_kib() { grep "Maximum resident set size" "$1" | awk '{print $NF}'; }

/usr/bin/time -v "$bin" --once "$feed" >"$work/rust.out" 2>"$work/rust.time"
rust_s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/rust.out")
rust_n=$(sed -n 's/.*instances=\([0-9]*\).*/\1/p' "$work/rust.out")
rust_kib=$(peak_kib "$work/rust.time")
echo "rust:   ${rust_s}s for $rust_n instances, peak RSS ${rust_kib} KiB"

venv="$work/venv"
if python3 -m venv "$venv" >/dev/null 2>&1 \
   && "$venv/bin/pip" install -q icalendar recurring-ical-events >/dev/null 2>&1; then
  cat >"$work/bench.py" <<'PY'
import sys, time, datetime
import icalendar, recurring_ical_events
text = open(sys.argv[1], "rb").read()
start = time.perf_counter()
cal = icalendar.Calendar.from_ical(text)
events = recurring_ical_events.of(cal).between(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                                               datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))
print(f"instances={len(events)} seconds={time.perf_counter() - start:.3f}")
PY
  /usr/bin/time -v "$venv/bin/python" "$work/bench.py" "$feed" >"$work/py.out" 2>"$work/py.time"
  py_s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/py.out")
  py_n=$(sed -n 's/.*instances=\([0-9]*\).*/\1/p' "$work/py.out")
  py_kib=$(peak_kib "$work/py.time")
  echo "python: ${py_s}s for $py_n instances, peak RSS ${py_kib} KiB" \
       "(icalendar $("$venv/bin/python" -c 'import icalendar; print(icalendar.__version__)'))"
  python3 -c "print(f'ratio: python/rust time {float($py_s)/float($rust_s):.1f}x, memory {int($py_kib)/int($rust_kib):.1f}x')"
else
  echo "python icalendar / recurring-ical-events not installable: comparison skipped"
fi
