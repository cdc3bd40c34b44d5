#!/usr/bin/env bash
# The formats made of the whole capture against the peak CSV report of the same capture:
# wall time, user time and peak RSS of
#   csv        `memform transform csv CAPTURE` (the reference: one report);
#   events     `memform transform events CAPTURE` (the events dataset, docs/events-dataset.md);
#   aggregate  `memform transform aggregate CAPTURE` (memray's aggregated capture,
#              docs/aggregate.md);
# RUNS times each, interleaved, for each CAPTURE; prints each run, then the medians, the
# ratios to csv, and the sizes of the capture and of each output.
#   scripts/whole_capture_bench.sh CAPTURE...
# Environment: RUNS (3); MEMFORM (default: built by scripts/memform_binary.sh).
# Other processes on the machine skew these numbers: the load average is printed before and
# after.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "whole_capture_bench: RUNS must be a positive integer" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: scripts/whole_capture_bench.sh CAPTURE..." >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "whole_capture_bench: needs GNU time at /usr/bin/time" >&2; exit 2; }
memform=${MEMFORM:-$(bash scripts/memform_binary.sh)}
printf '%d run(s) each, %d cores; load average %s\n' "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d "${TMPDIR:-/tmp}/whole_capture_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for capture in "$@"; do
  printf '\n%s (%d bytes)\n' "$capture" "$(stat -c %s "$capture")"
  for format in csv events aggregate; do : >"$work/$format.times"; done
  for run in $(seq "$runs"); do
    for format in csv events aggregate; do
      out="$work/out-$format"
      rm -rf "$out"
      /usr/bin/time -f '%e %U %M' -o "$work/time" "$memform" transform "$format" -q -o "$out" "$capture"
      read -r wall user rss <"$work/time"
      printf '  run %d %-9s %6.2f s wall %6.2f s user %7d KB\n' "$run" "$format" "$wall" "$user" "$rss"
      echo "$wall $user $rss" >>"$work/$format.times"
      du -sb "$out" | cut -f1 >"$work/$format.size"
    done
  done
  csv_wall=$(cut -d' ' -f1 "$work/csv.times" | median)
  for format in csv events aggregate; do
    wall=$(cut -d' ' -f1 "$work/$format.times" | median)
    user=$(cut -d' ' -f2 "$work/$format.times" | median)
    rss=$(cut -d' ' -f3 "$work/$format.times" | median)
    printf '  median %-9s %6.2f s wall (%.2fx csv) %6.2f s user %7d KB  output %d bytes\n' \
      "$format" "$wall" "$(awk -v a="$wall" -v b="$csv_wall" 'BEGIN { print a / b }')" \
      "$user" "$rss" "$(cat "$work/$format.size")"
  done
done
printf '\nload average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
