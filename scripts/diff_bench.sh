#!/usr/bin/env bash
# `memform diff BASE NEW` against its yardstick, the two CSV reports made one after the
# other (`memform transform csv BASE`, then `memform transform csv NEW`): wall time, user
# time and peak RSS, RUNS times each, interleaved; prints each run, the medians and the
# ratio diff / (csv BASE + csv NEW). Issue 23 asks for at most 1.1.
#   scripts/diff_bench.sh BASE NEW
# Environment: RUNS (3); MEMFORM (default: built by scripts/memform_binary.sh).
# Other processes on the machine skew these numbers: the load average is printed before and
# after.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "diff_bench: RUNS must be a positive integer" >&2; exit 2; }
[ $# -eq 2 ] || { echo "usage: scripts/diff_bench.sh BASE NEW" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "diff_bench: needs GNU time at /usr/bin/time" >&2; exit 2; }
memform=${MEMFORM:-$(bash scripts/memform_binary.sh)}
base=$1 new=$2
printf '%d run(s) each, %d cores; load average %s\n' "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'base %s (%d bytes)\nnew  %s (%d bytes)\n' "$base" "$(stat -c %s "$base")" "$new" "$(stat -c %s "$new")"

work=$(mktemp -d "${TMPDIR:-/tmp}/diff_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
timed() { /usr/bin/time -f '%e %U %M' -o "$work/time" "$@"; cat "$work/time"; }

: >"$work/csv.times"
: >"$work/diff.times"
for run in $(seq "$runs"); do
  read -r wall1 user1 rss1 < <(timed "$memform" transform csv -q -f -o "$work/base.csv" "$base")
  read -r wall2 user2 rss2 < <(timed "$memform" transform csv -q -f -o "$work/new.csv" "$new")
  wall=$(echo "$wall1 + $wall2" | bc) user=$(echo "$user1 + $user2" | bc)
  rss=$((rss1 > rss2 ? rss1 : rss2))
  printf '  run %d two csv  %6.2f s wall %6.2f s user %7d KB\n' "$run" "$wall" "$user" "$rss"
  echo "$wall $user $rss" >>"$work/csv.times"
  read -r wall user rss < <(timed "$memform" diff -q -f -o "$work/diff.csv" "$base" "$new" 2>/dev/null)
  printf '  run %d diff     %6.2f s wall %6.2f s user %7d KB\n' "$run" "$wall" "$user" "$rss"
  echo "$wall $user $rss" >>"$work/diff.times"
done
for what in csv diff; do
  for col in 1 2 3; do
    cut -d' ' -f"$col" "$work/$what.times" | median >"$work/$what.$col"
  done
done
printf '\nmedians: two csv %.2f s wall %.2f s user %d KB; diff %.2f s wall %.2f s user %d KB\n' \
  "$(cat "$work/csv.1")" "$(cat "$work/csv.2")" "$(cat "$work/csv.3")" \
  "$(cat "$work/diff.1")" "$(cat "$work/diff.2")" "$(cat "$work/diff.3")"
printf 'diff / two csv: %.3f wall, %.3f user, %.3f peak RSS\n' \
  "$(echo "$(cat "$work/diff.1") / $(cat "$work/csv.1")" | bc -l)" \
  "$(echo "$(cat "$work/diff.2") / $(cat "$work/csv.2")" | bc -l)" \
  "$(echo "$(cat "$work/diff.3") / $(cat "$work/csv.3")" | bc -l)"
printf 'diff rows: %d\n' "$(($(wc -l <"$work/diff.csv") - 1))"
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
