#!/usr/bin/env bash
# Many captures in one run: the same COUNT captures converted
#   loop     one `memform transform` per capture, one after the other (as before batches);
#   jobs 1   one batch run, --jobs 1 (each capture decoded on a second thread, as alone);
#   jobs 2   one batch run, --jobs 2 (two captures at once, each on one thread);
# RUNS times each, interleaved (loop, jobs 1, jobs 2, loop, …). Prints each run, then the
# median wall time and peak RSS of each (MB = 2^20 bytes; a batch's RSS is that of all its
# jobs together, the loop's that of its largest run) and the ratios of the medians.
#   scripts/batch_bench.sh [DIR]
# DIR (default ${TMPDIR:-/tmp}/memform-batch-bench) keeps the captures between runs: if it
# has no cap-*.bin, DISTINCT captures are recorded with memray (`memray run
# --trace-python-allocators` of ../shared/bench/bigcap.py, EVENTS × 0.5, 0.75, 1, 1.25, …
# allocation calls) and copied to COUNT files cap-00.bin, cap-01.bin, ….
# Environment:
#   COUNT (20), DISTINCT (5), EVENTS (1500000), RUNS (3), FORMAT (csv)
#   MEMRAY   memray executable for recording (default: memray on PATH, else ../venv/bin/memray)
#   MEMFORM  memform executable (default: built by scripts/memform_binary.sh)
#   BIGCAP   the workload (default ../shared/bench/bigcap.py)
# Other processes on the machine skew these numbers: the load average is printed before and
# after.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-20}
distinct=${DISTINCT:-5}
events=${EVENTS:-1500000}
runs=${RUNS:-3}
format=${FORMAT:-csv}
dir=${1:-${TMPDIR:-/tmp}/memform-batch-bench}
for v in count distinct events runs; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "batch_bench: ${v^^} must be a positive integer" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "batch_bench: needs GNU time at /usr/bin/time" >&2; exit 2; }
memform=${MEMFORM:-$(bash scripts/memform_binary.sh)}
mkdir -p "$dir"
dir=$(realpath "$dir")

if ! compgen -G "$dir/cap-*.bin" >/dev/null; then
  if [ -n "${MEMRAY:-}" ]; then memray=$MEMRAY
  elif command -v memray >/dev/null; then memray=$(command -v memray)
  elif [ -x ../venv/bin/memray ]; then memray=$(realpath ../venv/bin/memray)
  else echo "batch_bench: memray not found (set MEMRAY)" >&2; exit 2
  fi
  bigcap=$(realpath -e "${BIGCAP:-../shared/bench/bigcap.py}")
  for i in $(seq 0 $((distinct - 1))); do
    n=$((events * (2 + i) / 4))
    echo "recording $dir/distinct-$i.bin ($n allocation calls)" >&2
    "$memray" run --trace-python-allocators -q -f -o "$dir/distinct-$i.bin" "$bigcap" "$n" >/dev/null
  done
  for i in $(seq 0 $((count - 1))); do
    cp "$dir/distinct-$((i % distinct)).bin" "$dir/$(printf 'cap-%02d.bin' "$i")"
  done
  rm -f "$dir"/distinct-*.bin
fi
captures=("$dir"/cap-*.bin)
total=$(cat "${captures[@]}" | wc -c)
printf '%d captures, %d MB in all (%s), format %s, %d run(s) each; %d cores; load average %s\n' \
  "${#captures[@]}" $((total >> 20)) "$dir" "$format" "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d "${TMPDIR:-/tmp}/batch_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# measure NAME CMD… -> appends "wall kB" to $work/NAME.times
measure() {
  local name=$1
  shift
  rm -rf "$work/out"
  mkdir "$work/out"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/log" ||
    { echo "batch_bench: $name failed: $(tail -n 1 "$work/log")" >&2; exit 1; }
  local made
  made=$(find "$work/out" -type f | wc -l)
  [ "$made" = "${#captures[@]}" ] || { echo "batch_bench: $name wrote $made reports" >&2; exit 1; }
  tail -n 1 "$work/time" >>"$work/$name.times"
}

# loop -> appends "wall kB" to $work/loop.times (kB: the largest run's peak RSS)
loop() {
  local c m=0 rss start=$EPOCHREALTIME
  rm -rf "$work/out" && mkdir "$work/out"
  for c in "${captures[@]}"; do
    /usr/bin/time -f '%M' -o "$work/rss" "$memform" transform "$format" -q -f \
      -o "$work/out/$(basename "$c").report" "$c"
    rss=$(tail -n 1 "$work/rss")
    [ "$rss" -gt "$m" ] && m=$rss
  done
  echo "$start $EPOCHREALTIME $m" | awk '{printf "%.3f %d\n", $2 - $1, $3}' >>"$work/loop.times"
}

for run in $(seq "$runs"); do
  loop
  line="run $run/$runs: loop $(tail -n 1 "$work/loop.times" | awk '{printf "%.2f s", $1}');"
  for jobs in 1 2; do
    measure "jobs$jobs" "$memform" transform "$format" -q -f --jobs "$jobs" --output-dir "$work/out" "${captures[@]}"
    line+=" jobs $jobs $(tail -n 1 "$work/jobs$jobs.times" | awk '{printf "%.2f s", $1}');"
    [ "$run" = 1 ] && cp -r "$work/out" "$work/first$jobs"
  done
  echo "${line%;}" >&2
done
diff -r -q "$work/first1" "$work/first2" >/dev/null ||
  { echo "batch_bench: --jobs 1 and --jobs 2 wrote different reports" >&2; exit 1; }

python3 - "$work" <<'EOF'
import statistics, sys
work = sys.argv[1]
med = {}
for name in ["loop", "jobs1", "jobs2"]:
    rows = [l.split() for l in open(f"{work}/{name}.times") if l.strip()]
    med[name] = (statistics.median(float(r[0]) for r in rows), statistics.median(int(r[1]) for r in rows) / 1024)
print(f"{'':10}{'median s':>10}{'peak MB':>10}")
for name, label in [("loop", "loop"), ("jobs1", "--jobs 1"), ("jobs2", "--jobs 2")]:
    print(f"{label:<10}{med[name][0]:10.2f}{med[name][1]:10.1f}")
print(f"--jobs 1 / --jobs 2: {med['jobs1'][0] / med['jobs2'][0]:.2f}x;"
      f" loop / --jobs 2: {med['loop'][0] / med['jobs2'][0]:.2f}x")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)"
