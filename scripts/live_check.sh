#!/usr/bin/env bash
# Live comparison against pip-installed memray: record the fixture workload with memray 1.20.0
# in several capture modes, let that memray transform it, and compare memform with
# ../shared/corpus/check.py, allocator and thread of every merged row included (--no-replay):
# the fixture workloads (workload.py, mixed_sites.py) in each mode, reports and `memray stats`
# (text and JSON). Needs python3.11 (or pyenv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${MEMFORM_SHARED:-../shared}
if [ ! -f "$shared/corpus/check.py" ]; then
  echo "live check: $shared/corpus not found; skipped" >&2
  exit 0
fi
memform=$(bash scripts/memform_binary.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venvs=${MEMFORM_VENVS:-$HOME/.cache/memform-corpus/venvs}
python3 "$shared/corpus/make_captures.py" "$work/corpus" --workloads tests/fixtures \
  --versions 1.20.0 --pythons 3.11 --modes default,pyalloc,aggregate,nocompress,native \
  --formats csv,gprof2dot,speedscope,stats,stats-json --venvs "$venvs"
python3 "$shared/corpus/check.py" "$work/corpus" --venvs "$venvs" \
  --no-replay --tool-cmd "$memform transform {format} {flags} -q -f -o {out} {capture}"
