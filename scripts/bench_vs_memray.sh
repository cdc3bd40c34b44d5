#!/usr/bin/env bash
# memform against memray on the same capture, in one run:
#   scripts/bench_vs_memray.sh CAPTURE [FORMAT [FLAGS...]]
# MEMRAY names the memray executable (default: the corpus venv's memray 1.20.0). Each tool
# runs RUNS times (default 1; memray takes minutes on big captures); prints wall seconds of
# the best run and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:?usage: scripts/bench_vs_memray.sh CAPTURE [FORMAT [FLAGS...]]}
format=${2:-csv}
shift $(( $# >= 2 ? 2 : 1 ))
memray=${MEMRAY:-$HOME/.cache/memform-corpus/venvs/memray-1.20.0-py3.11/bin/memray}
runs=${RUNS:-1}
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
best() { # command... -> best wall seconds of $runs runs
  local best=""
  for _ in $(seq "$runs"); do
    local t0 t1 t
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}
m=$(best "$memray" transform "$format" -f "$@" -o "$out/memray.out" "$capture")
f=$(best target/release/memform transform "$format" -q -f "$@" -o "$out/memform.out" "$capture")
size=$(stat -c %s "$capture")
printf 'capture %s (%s bytes), %s %s\n' "$capture" "$size" "$format" "$*"
printf 'memray  %8.2f s\nmemform %8.2f s\nratio   %8.1fx\n' "$m" "$f" "$(echo "$m / $f" | bc -l)"
if [ "$format" = csv ] && ! cmp -s "$out/memray.out" "$out/memform.out"; then
  echo "note: outputs differ byte-wise (merged rows may name another member's allocator/thread)"
fi
