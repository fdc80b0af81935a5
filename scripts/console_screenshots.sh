#!/usr/bin/env bash
# Draws the README's pictures of the operator console: the overview, the
# dead letters and one event, in the same headless Chromium harness the
# console's tests drive (tests/it/browser.rs), against a real ingest,
# worker and database. Needs PostgreSQL on 127.0.0.1:5432 (or
# TEST_DATABASE_URL) and Debian's chromium + chromium-driver.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/console}"
mkdir -p "$out"
TETHER_CONSOLE_SCREENSHOTS="$(cd "$out" && pwd)" \
  cargo test --test it -- --ignored --exact console::screenshots
ls -l "$out"/*.png
