#!/usr/bin/env bash
# Records the benchmark captures with memray, one at a time:
#   scripts/make_bench_captures.sh OUTDIR [SCALE [CAPTURES]]
# CAPTURES is a comma list of the names below (default: all). Every capture is recorded with
# `memray run --trace-python-allocators` (LZ4 unless said otherwise); EVENTS = base * SCALE
# (SCALE defaults to 1, at which each LZ4 capture is roughly 200-450 MB):
#   bigcap.lz4          ../shared/bench/bigcap.py   8000000
#   bigcap.raw          the same, --no-compress (~1 GB)
#   bigcap.native       the same, --native, 5000000 events (native LZ4 captures of bigcap are
#                       only ~10% larger per event, but recording is ~3x slower)
#   bigcap.aggregate    the same, --aggregate (a few hundred kB whatever EVENTS)
#   many_sites.lz4      scripts/bench_workloads/many_sites.py      6000000
#   many_threads.lz4    scripts/bench_workloads/many_threads.py    5000000
#   deep_recursion.lz4  scripts/bench_workloads/deep_recursion.py  8000000
#   pandas_etl.lz4      scripts/bench_workloads/pandas_etl.py      60000000 (needs pandas and
#                       pyarrow in the Python that runs memray; checked before recording)
#   random_calls.lz4    scripts/bench_workloads/random_calls.py    3300000
# Writes OUTDIR/NAME.bin (replacing it; a failed recording leaves nothing), prints each
# capture's size and recording time, and a summary at the end.
# MEMRAY names the memray executable (default: memray on PATH, else the corpus venv's memray
# 1.20.0 that ../shared/corpus/make_captures.py makes); MEMFORM_SHARED the shared folder
# (default ../shared beside the checkout).
set -euo pipefail
usage="usage: scripts/make_bench_captures.sh OUTDIR [SCALE [CAPTURES]]"
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "$usage" >&2; exit 2; }
mkdir -p "$1"
outdir=$(realpath -e -- "$1")
scale=${2:-1}
python3 -c 'import sys; s = float(sys.argv[1]); assert s > 0 and s == s and s != float("inf")' "$scale" 2>/dev/null ||
  { echo "make_bench_captures: SCALE must be a positive number, not '$scale'" >&2; exit 2; }
all=bigcap.lz4,bigcap.raw,bigcap.native,bigcap.aggregate,many_sites.lz4,many_threads.lz4,deep_recursion.lz4,pandas_etl.lz4,random_calls.lz4
IFS=, read -r -a names <<<"${3:-$all}"
cd "$(dirname "$0")/.."
repo=$PWD
shared=$(realpath -m -- "${MEMFORM_SHARED:-../shared}")
corpus_memray=$HOME/.cache/memform-corpus/venvs/memray-1.20.0-py3.11/bin/memray
if [ -n "${MEMRAY:-}" ]; then memray=$MEMRAY
elif command -v memray >/dev/null; then memray=$(command -v memray)
elif [ -x "$corpus_memray" ]; then memray=$corpus_memray
else echo "make_bench_captures: memray not found (set MEMRAY)" >&2; exit 2
fi

# name -> script, base EVENTS, extra memray flags
spec() {
  local bigcap=$shared/bench/bigcap.py workloads=$repo/scripts/bench_workloads
  case $1 in
    bigcap.lz4) echo "$bigcap 8000000" ;;
    bigcap.raw) echo "$bigcap 8000000 --no-compress" ;;
    bigcap.native) echo "$bigcap 5000000 --native" ;;
    bigcap.aggregate) echo "$bigcap 8000000 --aggregate" ;;
    many_sites.lz4) echo "$workloads/many_sites.py 6000000" ;;
    many_threads.lz4) echo "$workloads/many_threads.py 5000000" ;;
    deep_recursion.lz4) echo "$workloads/deep_recursion.py 8000000" ;;
    pandas_etl.lz4) echo "$workloads/pandas_etl.py 60000000" ;;
    random_calls.lz4) echo "$workloads/random_calls.py 3300000" ;;
    *) return 1 ;;
  esac
}
# name -> the modules beyond the standard library that its script imports
needs() {
  case $1 in
    pandas_etl.lz4) echo "pandas pyarrow" ;;
  esac
}
for name in "${names[@]}"; do
  spec "$name" >/dev/null || { echo "make_bench_captures: unknown capture '$name' (one of $all)" >&2; exit 2; }
  read -r script _ <<<"$(spec "$name")"
  [ -f "$script" ] || { echo "make_bench_captures: $script not found" >&2; exit 2; }
done

partial=
trap 'rm -f "$partial"' EXIT
trap 'exit 130' INT TERM
# The modules the chosen scripts need, imported once in the Python that runs memray (the
# check records a tiny capture, removed at once).
needed=$(for name in "${names[@]}"; do needs "$name"; done | tr ' ' '\n' | sed '/^$/d' | sort -u |
  paste -sd, - | sed 's/,/, /g')
if [ -n "$needed" ]; then
  partial=$(mktemp --tmpdir make_bench_captures.XXXXXX.bin)
  if ! check=$("$memray" run -q -f -o "$partial" -c "import sys; print(sys.executable)
import $needed" 2>&1 </dev/null); then
    python=$(head -n 1 <<<"$check")
    pip="$python -m pip"
    [ -x "$python" ] || pip=pip
    echo "make_bench_captures: 'import $needed' fails in the Python that runs $memray:" >&2
    tail -n 1 <<<"$check" | sed 's/^/  /' >&2
    echo "  install them there ($pip install ${needed//,/})" \
      "or set MEMRAY to a memray whose Python has them" >&2
    exit 2
  fi
  rm -f "$partial"
  partial=
fi
echo "memray $("$memray" --version 2>&1 | head -n 1) ($memray), SCALE $scale, into $outdir"
summary=()
for name in "${names[@]}"; do
  read -r script base flags <<<"$(spec "$name")"
  events=$(python3 -c 'import sys; print(max(1, round(int(sys.argv[1]) * float(sys.argv[2]))))' "$base" "$scale")
  out=$outdir/$name.bin
  partial=$outdir/.$name.partial.bin
  rm -f "$partial"
  echo "recording $name: memray run --trace-python-allocators ${flags:+$flags }$(basename "$script") $events"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # flags is one word or none
  "$memray" run -q -f --trace-python-allocators $flags -o "$partial" "$script" "$events" </dev/null
  t1=$(date +%s.%N)
  mv -f "$partial" "$out"
  partial=
  size=$(stat -c %s "$out")
  line=$(python3 -c 'import sys; n, s, t0, t1, e = sys.argv[1:]; s = int(s)
print(f"{n:<20}{s:>12} bytes {s / 2**20:9.1f} MB  {float(t1) - float(t0):7.1f} s  EVENTS {e}")' \
    "$name" "$size" "$t0" "$t1" "$events")
  echo "  $line"
  summary+=("$line")
done
echo "captures in $outdir (MB = 2^20 bytes; seconds of memray run):"
printf '  %s\n' "${summary[@]}"
