#!/usr/bin/env bash
# Parquet reports read by pandas, polars and DuckDB, against memform's CSV reports of the same
# captures, with the metadata and the example queries of docs/parquet-schema.md
# (tests/parquet/check_readers.py says what is compared); and the events dataset read by
# DuckDB, polars and pyarrow, with the queries of docs/events-dataset.md, against memray's
# peak and leaks reports (tests/events/check_events.py). Needs python3 (3.9+) and PyPI: the
# venv of scripts/check_venv.sh (pyarrow, pandas, polars, duckdb, lz4 and memray 1.20.0;
# MEMFORM_PARQUET_VENV chooses where, default ~/.cache/memform-parquet-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/check_venv.sh "parquet check")
memform=$(bash scripts/memform_binary.sh)
"$venv/bin/python" tests/parquet/check_readers.py --memform "$memform" \
  --replay "${MEMFORM_SHARED:-../shared}/corpus/replay.py"
"$venv/bin/python" tests/events/check_events.py --memform "$memform"
