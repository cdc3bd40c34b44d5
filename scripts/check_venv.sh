#!/usr/bin/env bash
# The venv of the checks that need PyPI (scripts/parquet_check.sh, scripts/aggregate_check.sh):
# pyarrow, pandas, polars, DuckDB, lz4 and memray 1.20.0, made when it is missing or no longer
# imports them, reused otherwise. Prints its path. MEMFORM_PARQUET_VENV chooses where
# (default ~/.cache/memform-parquet-venv). Needs python3 (3.9+) and PyPI to make it.
#   venv=$(bash scripts/check_venv.sh "<who asks>")
set -euo pipefail
who=${1:-check}
venv=${MEMFORM_PARQUET_VENV:-$HOME/.cache/memform-parquet-venv}
packages=(pyarrow pandas polars duckdb lz4 memray==1.20.0)
if ! "$venv/bin/python" -c 'import pyarrow, pandas, polars, duckdb, lz4.frame, memray' 2>/dev/null; then
  echo "$who: making $venv" >&2
  python3 -m venv --clear "$venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$venv"
