#!/usr/bin/env bash
# The install paths a new user takes, each into a fresh venv with nothing but pip:
#  1. `pip install ./crates/python` (PEP 517: pip runs maturin, maturin runs cargo);
#  2. the source distribution `maturin sdist` makes, installed by pip the same way;
# and after each, README's bundled-capture example: `memform transform csv` gives memray's own
# CSV report byte for byte, `memform.report` its rows, and `memform --version` agrees with
# `memform.__version__`. Prints each path's time. Needs python3 (3.9+), PyPI and cargo.
# Both builds share one cargo target directory (pip's isolated builds honour CARGO_TARGET_DIR):
# MEMFORM_INSTALL_TARGET_DIR, default <cargo target dir>/install-check, kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=tests/fixtures/captures/v1.20.0-py3.11-default.bin
expected=tests/fixtures/expected/v1.20.0-py3.11-default-csv-peak.csv
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export CARGO_TARGET_DIR=${MEMFORM_INSTALL_TARGET_DIR:-$target/install-check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

example() {
  local venv=$1 what=$2
  "$venv/bin/memform" transform csv -q -f -o "$work/example.csv" "$capture"
  cmp "$work/example.csv" "$expected"
  "$venv/bin/python" - "$capture" "$expected" <<'PY'
import csv, sys
import memform
table = memform.report(sys.argv[1])
with open(sys.argv[2], newline="") as f:
    rows = list(csv.DictReader(f))
assert table.num_rows == len(rows), (table.num_rows, len(rows))
assert table.column("size").to_pylist() == [int(r["size"]) for r in rows]
PY
  local version
  version=$("$venv/bin/python" -c 'import memform; print(memform.__version__)')
  [ "$("$venv/bin/memform" --version)" = "memform $version" ]
  echo "install check: $what: the example matches memray's report (memform $version)" >&2
}

start=$SECONDS
python3 -m venv "$work/one-line"
"$work/one-line/bin/python" -m pip install -q --disable-pip-version-check ./crates/python
echo "install check: pip install ./crates/python took $((SECONDS - start)) s" >&2
example "$work/one-line" "pip install ./crates/python"

start=$SECONDS
python3 -m venv "$work/build"
"$work/build/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9.4,<2"
"$work/build/bin/maturin" sdist -m crates/python/Cargo.toml -o "$work/sdist" >&2
sdist=$(ls "$work"/sdist/memform-*.tar.gz)
python3 -m venv "$work/from-sdist"
"$work/from-sdist/bin/python" -m pip install -q --disable-pip-version-check "$sdist"
echo "install check: $(basename "$sdist") made and installed in $((SECONDS - start)) s" >&2
example "$work/from-sdist" "the sdist"
