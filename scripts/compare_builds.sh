#!/usr/bin/env bash
# Several memform builds on one capture, round robin, for a change's cost measured side by side:
#   scripts/compare_builds.sh CAPTURE ROUNDS REFERENCE BUILD... [-- TRANSFORM FLAGS]
# Each round runs `BUILD transform csv -q -f [FLAGS] -o TMP CAPTURE` once for the REFERENCE and
# each BUILD, in turn; wall seconds and peak RSS come from /usr/bin/time -f '%e %M'. A build's
# ratio is taken round by round against the reference's run of the same round (pairing keeps
# it meaningful when the machine's speed drifts), and the table gives each build's median wall,
# the median, least and largest of its ratios, and its median peak RSS (MiB).
# Example: the model of memray's map order against the build without it (docs/labels.md):
#   scripts/compare_builds.sh bigcap.lz4.bin 13 /tmp/memform-nomodel target/release/memform
set -euo pipefail
usage="usage: scripts/compare_builds.sh CAPTURE ROUNDS REFERENCE BUILD... [-- FLAGS]"
[ $# -ge 4 ] || { echo "$usage" >&2; exit 2; }
capture=$(realpath -e -- "$1" 2>/dev/null) || { echo "compare_builds: no such capture: $1" >&2; exit 2; }
rounds=$2
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "compare_builds: ROUNDS must be a positive integer" >&2; exit 2; }
shift 2
builds=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  [ -x "$1" ] || { echo "compare_builds: not an executable: $1" >&2; exit 2; }
  builds+=("$1")
  shift
done
[ "${1:-}" = -- ] && shift
flags=("$@")
[ ${#builds[@]} -ge 2 ] || { echo "$usage" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for ((b = 0; b < ${#builds[@]}; b++)); do
    /usr/bin/time -o "$work/time" -f '%e %M' "${builds[b]}" transform csv -q -f "${flags[@]}" \
      -o "$work/report.csv" "$capture"
    echo "$r $b $(cat "$work/time")" >>"$work/runs"
  done
done
python3 - "$work/runs" "${builds[@]}" <<'EOF'
import statistics, sys
runs, builds = sys.argv[1], sys.argv[2:]
table = {}
for line in open(runs):
    r, b, wall, rss = line.split()
    table[(int(r), int(b))] = (float(wall), int(rss) / 1024)
rounds = sorted({r for r, _ in table})
print(f"{len(rounds)} rounds; ratios against {builds[0]}")
print("| build | median wall s | ratio median | least | largest | median peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- |")
for b, name in enumerate(builds):
    walls = [table[(r, b)][0] for r in rounds]
    ratios = [table[(r, b)][0] / table[(r, 0)][0] for r in rounds]
    rss = [table[(r, b)][1] for r in rounds]
    print(f"| {name} | {statistics.median(walls):.2f} | {statistics.median(ratios):.3f} "
          f"| {min(ratios):.3f} | {max(ratios):.3f} | {statistics.median(rss):.0f} |")
EOF
