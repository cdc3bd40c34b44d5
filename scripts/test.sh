#!/usr/bin/env bash
# The project's test command (README.md; CI runs it through .ci/run):
#  1. unit and integration tests over the committed fixtures (byte-identical to memray), with
#     the flame graphs rendered by headless Chromium (apt-get installs it when missing);
#  2. a small live comparison: memray 1.20.0 from PyPI records the fixture workload, and
#     ../shared/corpus/check.py compares memform with that memray's own outputs;
#  3. the Parquet reports read by pandas, polars and DuckDB (from PyPI) against the CSV reports,
#     and the events dataset read by DuckDB, polars and pyarrow against memray's reports;
#  4. memform's aggregated captures read by memray 1.20.0 (same venv) against the originals;
#  5. the portable Python wheel (scripts/build_wheel.sh: manylinux_2_17, checked by auditwheel),
#     installed into a fresh venv, and its pytest suite;
#  6. the install paths of README (scripts/install_check.sh): `pip install ./crates/python` and
#     the sdist, each into a fresh venv, then the bundled-capture example against memray's report.
# MEMFORM_SKIP_LIVE=1 skips 2 to 6, the parts that need PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/integration/pprof.rs reads the pprof reports with `go tool pprof` (Debian's golang-go);
# tests/integration/hash_order.rs builds a real std::unordered_map with g++ (Debian's g++).
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v g++ >/dev/null || missing+=(g++)
# The pictures' tests render them in headless Chromium (tests/integration/flamegraph.rs).
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
cargo build --release --locked
# Chromium is installed above: its tests must not skip. Their screenshots are kept here (the
# PNGs of docs/ come from them).
export MEMFORM_REQUIRE_CHROMIUM=1
export MEMFORM_PICTURES_DIR=${MEMFORM_PICTURES_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/pictures}
# The malformed-input suite runs on its own so that its case counts are printed.
cargo test --release --locked --workspace -- --skip damaged_captures --skip hostile_headers
cargo test --release --locked --workspace --test integration -- --nocapture damaged_captures hostile_headers
if [ "${MEMFORM_SKIP_LIVE:-0}" != 1 ]; then
  bash scripts/live_check.sh
  bash scripts/parquet_check.sh
  bash scripts/aggregate_check.sh
  bash scripts/python_test.sh
  bash scripts/install_check.sh
fi
