#!/usr/bin/env bash
# Builds memform's release binary when needed and prints its path, wherever cargo puts its
# target directory (CARGO_TARGET_DIR, build.target-dir, or target/): scripts use
#   memform=$(bash scripts/memform_binary.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin memform >&2
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
echo "$target_dir/release/memform"
