#!/usr/bin/env bash
# memray 1.20.0 reads memform's aggregated captures (`memform transform aggregate`) of every
# full fixture capture, and its peak and leaks CSV rows from them equal those of the original
# capture; its flamegraph renders them (scripts/aggregate_check.py says what is compared).
# Needs python3 (3.9+) and PyPI: it reuses the venv of scripts/parquet_check.sh
# (MEMFORM_PARQUET_VENV, default ~/.cache/memform-parquet-venv), making it if needed, and
# ../shared/corpus/check.py for the row comparison rules (MEMFORM_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${MEMFORM_PARQUET_VENV:-$HOME/.cache/memform-parquet-venv}
packages=(pyarrow pandas polars duckdb lz4 memray==1.20.0)
if ! "$venv/bin/python" -c 'import pyarrow, pandas, polars, duckdb, lz4.frame, memray' 2>/dev/null; then
  echo "aggregate check: making $venv" >&2
  python3 -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}"
fi
memform=$(bash scripts/memform_binary.sh)
"$venv/bin/python" scripts/aggregate_check.py --memform "$memform" --memray "$venv/bin/memray" \
  --check "${MEMFORM_SHARED:-../shared}/corpus/check.py"
