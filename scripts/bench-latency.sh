#!/usr/bin/env bash
# Push → availability latency over 200 changes per provider (Google and Graph
# sandboxes, webhook-ingest, sync-worker and api in-process on loopback), release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p calsync --test e2e -- --ignored --nocapture --test-threads 1 latency 2>&1 \
  | grep -E "push → availability|test result"
