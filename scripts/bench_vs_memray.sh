#!/usr/bin/env bash
# memform against memray on the same capture, in one run:
#   scripts/bench_vs_memray.sh CAPTURE [FORMAT] [MODES]
# FORMAT: csv (default), gprof2dot, speedscope or parquet (memform only: memray has none);
#   or stats: `memray stats --json` against `memform stats --json` (MODES is then ignored).
# MODES: comma list among peak, leaks, temporary (default peak,leaks,temporary);
#   temporary = --temporary-allocations.
# For each mode both tools run RUNS times (default 3), interleaved (memray, memform, memray,
# memform, ...); wall seconds and peak RSS come from /usr/bin/time -f '%e %M'. One table row
# per mode: median wall of each tool, the ratio memray/memform, median peak RSS of each tool
# (MB = 2^20 bytes). With FORMAT csv or stats, a note says where the outputs differ byte-wise.
# Environment:
#   MEMRAY        memray executable (default: memray on PATH, else the corpus venv's memray
#                 1.20.0 that ../shared/corpus/make_captures.py makes)
#   MEMFORM       memform executable (default: <cargo target dir>/release/memform, built first)
#   MEMFORM_BUILD=0  do not run `cargo build --release` before measuring
#   MEMFORM_ONLY=1   skip memray (memform columns only), for quick iteration
#   RUNS          runs per tool and mode (default 3)
# Reports go to a temporary directory removed on exit. Exit status 1 if any run failed (the
# row then shows the tool's last stderr line instead of numbers).
set -euo pipefail
usage="usage: scripts/bench_vs_memray.sh CAPTURE [FORMAT] [MODES]"
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "$usage" >&2; exit 2; }
capture=$(realpath -e -- "$1" 2>/dev/null) || { echo "bench_vs_memray: no such capture: $1" >&2; exit 2; }
format=${2:-csv}
modes=${3:-peak,leaks,temporary}
[ "$format" = stats ] && modes=stats
runs=${RUNS:-3}
memform_only=${MEMFORM_ONLY:-0}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench_vs_memray: RUNS must be a positive integer" >&2; exit 2; }
IFS=, read -r -a mode_list <<<"$modes"
[ ${#mode_list[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
for m in "${mode_list[@]}"; do
  case $m in peak | leaks | temporary | stats) ;; *) echo "bench_vs_memray: unknown mode '$m' (peak, leaks, temporary)" >&2; exit 2 ;; esac
done
[ -x /usr/bin/time ] || { echo "bench_vs_memray: needs GNU time at /usr/bin/time" >&2; exit 2; }
cd "$(dirname "$0")/.."

if [ -n "${MEMFORM:-}" ]; then
  memform=$MEMFORM
else
  if [ "${MEMFORM_BUILD:-1}" != 0 ]; then cargo build --release --quiet; fi
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  memform=$target_dir/release/memform
fi
[ -x "$memform" ] || { echo "bench_vs_memray: memform executable not found: $memform" >&2; exit 2; }
tools=(memform)
if [ "$memform_only" != 1 ]; then
  if [ "$(echo "$format" | tr '[:upper:]' '[:lower:]')" = parquet ]; then
    echo "note: memray has no parquet format; measuring memform only" >&2
    memform_only=1
  else
    corpus_memray=$HOME/.cache/memform-corpus/venvs/memray-1.20.0-py3.11/bin/memray
    if [ -n "${MEMRAY:-}" ]; then memray=$MEMRAY
    elif command -v memray >/dev/null; then memray=$(command -v memray)
    elif [ -x "$corpus_memray" ]; then memray=$corpus_memray
    else echo "bench_vs_memray: memray not found (set MEMRAY)" >&2; exit 2
    fi
    tools=(memray memform)
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench_vs_memray.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# measure TOOL MODE -> appends "wall kB" to $work/TOOL.MODE.times, or the error to .err
measure() {
  local tool=$1 mode=$2 flags=() rc=0
  case $mode in leaks) flags=(--leaks) ;; temporary) flags=(--temporary-allocations) ;; esac
  local out=$work/$tool.$mode.out cmd
  if [ "$format" = stats ]; then
    cmd=("$memray" stats --json -f -o "$out" "$capture")
    [ "$tool" = memform ] && cmd=("$memform" stats --json -q -f -o "$out" "$capture")
  elif [ "$tool" = memray ]; then
    cmd=("$memray" transform "$format" -f -o "$out" "${flags[@]}" "$capture")
  else
    cmd=("$memform" transform "$format" -q -f -o "$out" "${flags[@]}" "$capture")
  fi
  /usr/bin/time -f '%e %M' -o "$work/time" "${cmd[@]}" >"$work/log" 2>&1 </dev/null || rc=$?
  if [ "$rc" = 0 ]; then
    tail -n 1 "$work/time" >>"$work/$tool.$mode.times"
  else
    { grep -v '^[[:space:]]*$' "$work/log" | tail -n 1 || true; } | cut -c1-100 >"$work/$tool.$mode.err"
    [ -s "$work/$tool.$mode.err" ] || echo "exit status $rc" >"$work/$tool.$mode.err"
  fi
}

printf 'capture %s: %s bytes (%s MB), format %s, %s run(s) per tool and mode\n' "$capture" \
  "$(stat -c %s "$capture")" "$(( $(stat -c %s "$capture") >> 20 ))" "$format" "$runs"
differ=()
for mode in "${mode_list[@]}"; do
  for run in $(seq "$runs"); do
    line="$mode run $run/$runs:" left=0
    for tool in "${tools[@]}"; do
      [ -e "$work/$tool.$mode.err" ] && continue  # it failed before: no point repeating
      left=1
      measure "$tool" "$mode"
      if [ -e "$work/$tool.$mode.err" ]; then line+=" $tool failed;"
      else line+=" $tool $(tail -n 1 "$work/$tool.$mode.times" | awk '{printf "%.2f s %.1f MB", $1, $2 / 1024}');"
      fi
    done
    [ "$left" = 1 ] || break
    echo "${line%;}" >&2
  done
  if [ "$memform_only" != 1 ] && { [ "$format" = csv ] || [ "$format" = stats ]; } && [ ! -e "$work/memray.$mode.err" ] &&
    [ ! -e "$work/memform.$mode.err" ] && ! cmp -s "$work/memray.$mode.out" "$work/memform.$mode.out"; then
    differ+=("$mode")
  fi
  rm -f "$work"/*."$mode".out
done

status=0
MODES=$modes TOOLS="${tools[*]}" python3 - "$work" <<'EOF' || status=$?
import os, statistics, sys
work = sys.argv[1]
tools = os.environ["TOOLS"].split()
def stats(tool, mode):
    err = os.path.join(work, f"{tool}.{mode}.err")
    if os.path.exists(err):
        return None, open(err).read().strip() or "failed"
    rows = [line.split() for line in open(os.path.join(work, f"{tool}.{mode}.times")) if line.strip()]
    return (statistics.median(float(r[0]) for r in rows),
            statistics.median(int(r[1]) for r in rows) / 1024), None
head = ["mode"] + [f"{t} s" for t in tools] + (["ratio"] if len(tools) == 2 else []) + [f"{t} MB" for t in tools]
print("".join(f"{h:>12}" if i else f"{h:<10}" for i, h in enumerate(head)))
for mode in os.environ["MODES"].split(","):
    got = {t: stats(t, mode) for t in tools}
    errors = [f"{t}: {e}" for t, (_, e) in got.items() if e]
    cells = [f"{mode:<10}"]
    cells += [f"{got[t][0][0]:12.2f}" if got[t][0] else f"{'-':>12}" for t in tools]
    if len(tools) == 2:
        m, f = got["memray"][0], got["memform"][0]
        cells.append(f"{m[0] / f[0]:11.1f}x" if m and f and f[0] > 0 else f"{'-':>12}")
    cells += [f"{got[t][0][1]:12.1f}" if got[t][0] else f"{'-':>12}" for t in tools]
    print("".join(cells) + ("   " + "; ".join(errors) if errors else ""))
sys.exit(1 if any(n.endswith(".err") for n in os.listdir(work)) else 0)
EOF
if [ ${#differ[@]} -gt 0 ]; then
  echo "note: $format outputs differ byte-wise in ${differ[*]}"
fi
exit $status
