#!/usr/bin/env bash
# How long each install path takes on this machine from cold: every path gets an empty
# CARGO_HOME (so cargo downloads and builds every crate anew), an empty target directory and a
# fresh venv with nothing but pip. Paths: README's one-line `pip install ./crates/python`, its
# URL form (`pip install "memform @ git+file://localhost<this checkout>#subdirectory=crates/python"`,
# HEAD of this checkout), the sdist (`maturin sdist`, then pip; the time is pip's), and the
# portable wheel (scripts/build_wheel.sh, then pip installing the wheel file). Prints a
# Markdown table; `install_times.sh one-line url sdist wheel` (the default) or any of them.
# Needs python3, PyPI, crates.io and the maturin/zig venv of build_wheel.sh
# (MEMFORM_WHEEL_VENV, default ~/.cache/memform-wheel-venv). Not part of the test command:
# it takes about 20 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel_venv=${MEMFORM_WHEEL_VENV:-$HOME/.cache/memform-wheel-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Rustup's proxies keep finding the toolchain in RUSTUP_HOME when CARGO_HOME moves.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}

cold() {
  rm -rf "$work/cargo-home" "$work/target" "$work/venv"
  mkdir -p "$work/cargo-home"
  export CARGO_HOME=$work/cargo-home CARGO_TARGET_DIR=$work/target
  python3 -m venv "$work/venv"
}

check() {
  "$work/venv/bin/memform" transform csv -q -f -o "$work/example.csv" \
    tests/fixtures/captures/v1.20.0-py3.11-default.bin
  cmp "$work/example.csv" tests/fixtures/expected/v1.20.0-py3.11-default-csv-peak.csv
}

pip_install() {
  "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(one-line url sdist wheel)
echo "| install path | time (cold cargo cache) |"
echo "|---|---|"
for path in "${paths[@]}"; do
  case $path in
    one-line)
      cold
      start=$SECONDS
      pip_install ./crates/python
      echo "| \`pip install ./crates/python\` | $((SECONDS - start)) s |"
      ;;
    url)
      cold
      start=$SECONDS
      # PEP 508 wants a host in the URL: a local repository is file://localhost/<path>.
      GIT_ALLOW_PROTOCOL=file pip_install "memform @ git+file://localhost$PWD#subdirectory=crates/python"
      echo "| \`pip install \"memform @ git+<url>#subdirectory=crates/python\"\` (a file:// URL) | $((SECONDS - start)) s |"
      ;;
    sdist)
      "$wheel_venv/bin/maturin" sdist -m crates/python/Cargo.toml -o "$work/sdist" >/dev/null 2>&1
      cold
      start=$SECONDS
      pip_install "$work"/sdist/memform-*.tar.gz
      echo "| \`pip install memform-*.tar.gz\` (the sdist \`maturin sdist\` makes) | $((SECONDS - start)) s |"
      ;;
    wheel)
      cold
      start=$SECONDS
      wheel=$(PATH="$wheel_venv/bin:$PATH" bash scripts/build_wheel.sh "$work/dist" 2>/dev/null)
      built=$((SECONDS - start))
      start=$SECONDS
      pip_install "$wheel"
      echo "| \`scripts/build_wheel.sh\` (manylinux_2_17 wheel) | $built s |"
      echo "| \`pip install memform-*-manylinux_2_17_x86_64.whl\` | $((SECONDS - start)) s |"
      ;;
    *)
      echo "install_times: no install path $path (one-line, url, sdist, wheel)" >&2
      exit 2
      ;;
  esac
  check
done
