#!/usr/bin/env bash
# The Python package's tests: build the portable manylinux_2_17 wheel (scripts/build_wheel.sh:
# maturin with zig, checked by auditwheel), install it into a fresh venv (with the test tools:
# pytest, polars, duckdb, dask.distributed, memray 1.20.0 to record a large capture, tqdm for
# progress bars, mypy with pyarrow's and tqdm's stubs for docs/python.md's examples), and
# run pytest over crates/python/tests there. Needs python3 (3.9+) and PyPI. maturin, ziglang
# and auditwheel live in their own venv, reused while it works (MEMFORM_WHEEL_VENV, default
# ~/.cache/memform-wheel-venv); the test venv is made anew each run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wheel=$(bash scripts/build_wheel.sh "$work/dist")
echo "python tests: built $(basename "$wheel")" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel" \
  pytest polars duckdb "dask[distributed]" memray==1.20.0 tqdm \
  mypy==2.4.1 pyarrow-stubs==20.0.0.20260819 types-tqdm  # type-checking pinned: results change with them
# The one abi3 wheel on the oldest and newest CPython supported, where pyenv has them.
for version in 3.9 3.13; do
  python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python3 2>/dev/null | tail -n 1)
  if [ -z "$python" ]; then
    echo "python tests: no CPython $version here; its smoke check skipped" >&2
    continue
  fi
  "$python" -m venv "$work/venv-$version"
  "$work/venv-$version/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
  "$work/venv-$version/bin/python" crates/python/tests/smoke.py
done
# The installed wheel is what is tested: run from the tests' folder, not the source tree.
cd crates/python/tests
PATH="$work/venv/bin:$PATH" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider
