#!/usr/bin/env bash
# memray 1.20.0 reads memform's aggregated captures (`memform transform aggregate`) of every
# full fixture capture, and its peak and leaks CSV rows from them equal those of the original
# capture; its flamegraph renders them (scripts/aggregate_check.py says what is compared).
# Needs python3 (3.9+) and PyPI: the venv of scripts/check_venv.sh, shared with
# scripts/parquet_check.sh (MEMFORM_PARQUET_VENV, default ~/.cache/memform-parquet-venv), and
# ../shared/corpus/check.py for the row comparison rules (MEMFORM_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/check_venv.sh "aggregate check")
memform=$(bash scripts/memform_binary.sh)
"$venv/bin/python" scripts/aggregate_check.py --memform "$memform" --memray "$venv/bin/memray" \
  --check "${MEMFORM_SHARED:-../shared}/corpus/check.py"
