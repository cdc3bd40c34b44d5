#!/usr/bin/env bash
# Build the portable memform wheel: usage `scripts/build_wheel.sh DIR` writes
# memform-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl into DIR (made if missing)
# and prints its path on stdout.
#
# No Docker: maturin links with zig (`--zig`, the `ziglang` package from PyPI), which brings
# its own glibc 2.17 stubs, so the wheel runs on glibc 2.17 and later whatever this machine's
# glibc is (a plain `maturin build` here is tagged with the host's glibc, e.g. manylinux_2_34).
# The C code in the build (zstd-sys, libmimalloc-sys) is compiled by `zig cc` as well.
# Then `auditwheel show` checks the wheel, and the script fails unless it names
# manylinux_2_17 (manylinux2014).
#
# maturin, ziglang and auditwheel live in their own venv, reused while it works
# (MEMFORM_WHEEL_VENV, default ~/.cache/memform-wheel-venv). Needs python3 and PyPI the first
# time; the cargo build honours CARGO_TARGET_DIR as usual.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
venv=${MEMFORM_WHEEL_VENV:-$HOME/.cache/memform-wheel-venv}
if ! "$venv/bin/maturin" --version >/dev/null 2>&1 \
  || ! "$venv/bin/python" -m ziglang version >/dev/null 2>&1 \
  || ! "$venv/bin/auditwheel" --version >/dev/null 2>&1; then
  echo "build_wheel: making $venv" >&2
  python3 -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.9.4,<2" ziglang auditwheel
fi
# maturin finds zig through the ziglang module of the Python it runs next to: put the venv
# first on PATH.
export PATH="$venv/bin:$PATH"
# A fresh folder for this build, so the one wheel in it is the one just built.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
(cd crates/python && maturin build --release --locked -q \
  --compatibility manylinux2014 --zig -o "$stage") >&2
wheel=$(ls "$stage"/memform-*.whl)
report=$(auditwheel show "$wheel")
echo "$report" >&2
# auditwheel wraps its lines: join them before looking for the tag.
if ! tr '\n' ' ' <<<"$report" | grep -Eq 'consistent with the following platform tag: *"(manylinux_2_17|manylinux2014)_x86_64"'; then
  echo "build_wheel: auditwheel does not find $(basename "$wheel") manylinux_2_17 compliant" >&2
  exit 1
fi
mv -f "$wheel" "$out/"
echo "$out/$(basename "$wheel")"
