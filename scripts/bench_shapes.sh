#!/usr/bin/env bash
# memform against memray on every capture of a directory, as one markdown table:
#   scripts/bench_shapes.sh DIR [MODES]
# For each DIR/*.bin (sorted by name) runs `scripts/bench_vs_memray.sh CAPTURE csv MODES`
# (MODES: comma list among peak, leaks, temporary; default peak,leaks). Prints one row per
# capture and mode: median wall seconds of memray and memform, the ratio memray/memform,
# median peak RSS of each (MB = 2^20 bytes), the ratio memform/memray, and whether the two
# CSV reports were byte-identical. A failed run shows "-" for its numbers and its error in
# the last column. bench_vs_memray.sh's own output (each run, its table) goes to stderr.
# Environment: MEMFORM, MEMFORM_BUILD, MEMRAY, RUNS: passed to scripts/bench_vs_memray.sh
#   (MEMFORM_ONLY is not: both tools always run).
# Other processes on the machine skew the seconds (less so the ratios: runs are
# interleaved): the load average goes to stderr before and after.
# Exit status 1 if any run failed.
set -euo pipefail
usage="usage: scripts/bench_shapes.sh DIR [MODES]"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
[ -d "$1" ] || { echo "bench_shapes: no such directory: $1" >&2; exit 2; }
modes=${2:-peak,leaks}
IFS=, read -r -a mode_list <<<"$modes"
[ ${#mode_list[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
for m in "${mode_list[@]}"; do
  case $m in peak | leaks | temporary) ;; *) echo "bench_shapes: unknown mode '$m' (peak, leaks, temporary)" >&2; exit 2 ;; esac
done
captures=()
while IFS= read -r c; do captures+=("$c"); done < <(find "$1" -maxdepth 1 -name '*.bin' -type f | LC_ALL=C sort)
[ ${#captures[@]} -gt 0 ] || { echo "bench_shapes: no *.bin capture in $1" >&2; exit 2; }
bench=$(dirname "$0")/bench_vs_memray.sh

out=$(mktemp "${TMPDIR:-/tmp}/bench_shapes.XXXXXX")
rows=$(mktemp "${TMPDIR:-/tmp}/bench_shapes.XXXXXX")
trap 'rm -f "$out" "$rows"' EXIT
trap 'exit 130' INT TERM
echo "bench_shapes: ${#captures[@]} capture(s), modes $modes; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
status=0
for capture in "${captures[@]}"; do
  rc=0
  MEMFORM_ONLY=0 "$bench" "$capture" csv "$modes" | tee "$out" >&2 || rc=$?
  [ "$rc" = 0 ] || status=1
  # bench_vs_memray's rows: mode, memray s, memform s, ratio, memray MB, memform MB[, errors]
  awk -v cap="$(basename "$capture" .bin)" -v rc="$rc" -v modes="$modes" '
    function ratio(a, b) { return (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) ? sprintf("%.2fx", a / b) : "-" }
    /^note: csv outputs differ byte-wise in / {
      s = $0; sub(/^note: csv outputs differ byte-wise in /, "", s); sub(/ \(.*/, "", s)
      n = split(s, d, " "); for (i = 1; i <= n; i++) differ[d[i]] = 1; next
    }
    $1 ~ /^(peak|leaks|temporary)$/ && NF >= 6 {
      err = ""; for (i = 7; i <= NF; i++) err = err (i > 7 ? " " : "") $i
      gsub(/\|/, "\\|", err)
      k++; row[k] = sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", cap, $1, $2, $3, ratio($2, $3),
        $5, $6, ratio($6, $5)); mode[k] = $1; e[k] = err
    }
    END {
      if (k == 0) { printf "| %s | %s | - | - | - | - | - | - | failed: bench_vs_memray.sh exit %s (see stderr) |\n", cap, modes, rc; exit }
      for (i = 1; i <= k; i++) print row[i], (e[i] != "" ? "- (" e[i] ")" : mode[i] in differ ? "no" : "yes"), "|"
    }' "$out" >>"$rows"
done
echo "bench_shapes: done; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| capture | mode | memray s | memform s | ratio | memray RSS MB | memform RSS MB | RSS ratio | identical CSV |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
cat "$rows"
exit $status
