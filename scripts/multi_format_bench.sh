#!/usr/bin/env bash
# Several reports from one read: wall time and peak RSS of
#   one      `memform transform csv CAPTURE` (the first format of LIST alone);
#   list     `memform transform LIST CAPTURE` (default csv,parquet,speedscope: one read);
#   each     every format of LIST in its own run, one after the other (summed);
# RUNS times each, interleaved (one, list, each, one, …), for each CAPTURE; prints each run,
# then the medians and the ratios list/one and list/each.
#   scripts/multi_format_bench.sh [CAPTURE...]
# Default captures: the largest cap-*.bin of scripts/batch_bench.sh's directory
# (${TMPDIR:-/tmp}/memform-batch-bench; recorded from ../shared/bench/bigcap.py).
# Environment:
#   LIST     the formats (default csv,parquet,speedscope); MODE_FLAGS (e.g. --leaks; default
#            none: the peak report); RUNS (3)
#   MEMFORM  memform executable (default: built by scripts/memform_binary.sh)
# Other processes on the machine skew these numbers: the load average is printed before and
# after.
set -euo pipefail
cd "$(dirname "$0")/.."
list=${LIST:-csv,parquet,speedscope}
runs=${RUNS:-3}
read -r -a mode_flags <<<"${MODE_FLAGS:-}"
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "multi_format_bench: RUNS must be a positive integer" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "multi_format_bench: needs GNU time at /usr/bin/time" >&2; exit 2; }
memform=${MEMFORM:-$(bash scripts/memform_binary.sh)}
if [ $# -gt 0 ]; then
  captures=("$@")
else
  dir=${TMPDIR:-/tmp}/memform-batch-bench
  largest=$(ls -S "$dir"/cap-*.bin 2>/dev/null | head -1 || true)
  [ -n "$largest" ] || { echo "multi_format_bench: no capture given and none in $dir (run scripts/batch_bench.sh)" >&2; exit 2; }
  captures=("$largest")
fi
IFS=, read -r -a formats <<<"$list"
first=${formats[0]}
printf 'list %s (first: %s), %d run(s) each, %d cores; load average %s\n' \
  "$list" "$first" "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d "${TMPDIR:-/tmp}/multi_format_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# timed OUTFILE ARGS...: runs memform ARGS, appends "seconds max_rss_kb" to OUTFILE.
timed() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$memform" "$@" >/dev/null
  cat "$work/time" >>"$out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for capture in "${captures[@]}"; do
  size=$(stat -c %s "$capture")
  printf '\n%s (%d MB)\n' "$capture" $((size >> 20))
  : >"$work/one" ; : >"$work/list" ; : >"$work/each"
  for run in $(seq "$runs"); do
    rm -rf "$work/out" && mkdir "$work/out"
    timed "$work/one" transform "$first" -q -f "${mode_flags[@]}" -o "$work/out/one" "$capture"
    timed "$work/list" transform "$list" -q -f "${mode_flags[@]}" -o "$work/out" "$capture"
    : >"$work/each.run"
    for format in "${formats[@]}"; do
      timed "$work/each.run" transform "$format" -q -f "${mode_flags[@]}" -o "$work/out/each" "$capture"
    done
    awk '{ s += $1; if ($2 > m) m = $2 } END { printf "%.2f %d\n", s, m }' "$work/each.run" >>"$work/each"
    printf '  run %d: one %ss, list %ss, each %ss\n' "$run" \
      "$(tail -1 "$work/one" | cut -d' ' -f1)" "$(tail -1 "$work/list" | cut -d' ' -f1)" \
      "$(tail -1 "$work/each" | cut -d' ' -f1)"
  done
  for what in one list each; do
    t=$(cut -d' ' -f1 "$work/$what" | median)
    m=$(cut -d' ' -f2 "$work/$what" | median)
    printf '  median %-4s %6.2f s  peak RSS %5d MB\n' "$what" "$t" $((${m%.*} >> 10))
    eval "t_$what=$t"
  done
  awk -v o="$t_one" -v l="$t_list" -v e="$t_each" \
    'BEGIN { printf "  list/one %.2f, list/each %.2f\n", l / o, l / e }'
done
printf '\nload average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
