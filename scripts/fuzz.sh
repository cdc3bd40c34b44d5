#!/usr/bin/env bash
# Run one cargo-fuzz target for a while: scripts/fuzz.sh <target> <seconds>
# Targets of memform (fuzz/): header records aggregated_records lz4 transform stats diff; of the
# symbolizer crate (crates/symbolizer/fuzz/): resolve. The corpus is seeded from the
# committed fixture captures (whole files for header/lz4/transform/stats/diff, record streams for the
# record decoders) or, for resolve, small ELF files of this machine; crashes land in
# <fuzz dir>/artifacts/<target>/.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain provide them.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh <target> <seconds>}
seconds=${2:?usage: scripts/fuzz.sh <target> <seconds>}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
root=$PWD
fuzz_dir=fuzz
[ "$target" = resolve ] && fuzz_dir=crates/symbolizer/fuzz
corpus=$root/$fuzz_dir/corpus/$target
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
  python3 scripts/fuzz_seeds.py "$target" "$corpus"
fi
export RUSTC_BOOTSTRAP=1
# transform: inputs up to 8 KiB (a header and a few hundred records, enough for every record
# kind; larger inputs only repeat them and cost time in proportion), and ASan keeps no
# allocation stacks (malloc_context_size=0; rerun a finding without it for the full report).
# With both, about 1,200 inputs a second here instead of 360 (650 since the target also runs
# the aggregate and events passes).
max_len=262144
if [ "$target" = transform ] || [ "$target" = stats ] || [ "$target" = diff ]; then
  max_len=8192
  export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
fi
cd "$fuzz_dir/.."
cargo fuzz run --release "$target" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len="$max_len"
