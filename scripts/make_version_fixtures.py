#!/usr/bin/env python3
"""Record the older-memray test fixtures (capture header versions 10, 11, 12) and store the
outputs of the `memray transform` of the memray that wrote each one.

    python3 scripts/make_version_fixtures.py [--memray 1.19.3,1.18.0,1.10.0] [--python 3.11]
                                             [--modes default,aggregate]

The fixture workload (tests/fixtures/workload.py) is recorded with PYTHONHASHSEED=0 by each
memray in each capture mode, into tests/fixtures/versions/captures/v<memray>-py<python>-<mode>.bin;
the mode `mixed` records tests/fixtures/mixed_sites.py (threads and allocators mixed at shared
lines, a rehash of memray's map after the peak).
Then that memray's transform writes csv and gprof2dot reports (peak, leaks, temp, temp0,
temp5), and its `stats` the text and `--json` statistics (top5, and top12 with `-n 12`), into tests/fixtures/versions/expected/<capture>-<format>-<report>.{csv,json}, or
`.error` holding the last line of its stderr when it refuses (temporary reports of aggregated
captures).

memray before 1.20 writes rows in hash-map order; tests/integration/older_versions.rs compares
rows as multisets (allocator and thread included).

Venvs: ~/.cache/memform-corpus/venvs/memray-<ver>-py<python> when it has a `.complete`
marker, else ~/.cache/memform-fixtures/memray-<ver>-py<python> (created with pip if needed).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import run_memray  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
WORKLOAD = FIXTURES / "workload.py"
OUT = FIXTURES / "versions"
MIXED = FIXTURES / "mixed_sites.py"

# The capture header version each memray writes (records.h CURRENT_HEADER_VERSION).
HEADER_VERSION = {"1.7.0": 10, "1.10.0": 10, "1.18.0": 11, "1.19.3": 12}
MODES = {
    "default": [],
    "aggregate": ["--aggregate"],
    "pyalloc": ["--trace-python-allocators"],
    "mixed": [],
}
WORKLOADS = {"mixed": MIXED}
REPORTS = {
    "peak": [],
    "leaks": ["--leaks"],
    "temp": ["--temporary-allocations"],
    "temp0": ["--temporary-allocation-threshold", "0"],
    "temp5": ["--temporary-allocation-threshold", "5"],
}
SUFFIX = {"csv": ".csv", "gprof2dot": ".json", "stats": ".txt", "stats-json": ".json"}
# `memray stats` (text on standard output, or --json) in place of transform's report modes.
STATS_REPORTS = {"top5": [], "top12": ["-n", "12"]}


def find_python(version):
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    for c in sorted(Path(root, "versions").glob(f"{version}.*"), reverse=True):
        if (c / "bin" / "python").exists():
            return str(c / "bin" / "python")
    raise SystemExit(f"no Python {version}")


def venv_for(memray, py):
    corpus = Path.home() / ".cache" / "memform-corpus" / "venvs" / f"memray-{memray}-py{py}"
    if (corpus / ".complete").exists():
        return corpus / "bin" / "python"
    venv = Path.home() / ".cache" / "memform-fixtures" / f"memray-{memray}-py{py}"
    if not (venv / ".complete").exists():
        subprocess.check_call([find_python(py), "-m", "venv", "--clear", str(venv)])
        subprocess.check_call([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"memray=={memray}"])
        (venv / ".complete").write_text("")
    return venv / "bin" / "python"


def header_version(capture):
    data = capture.read_bytes()
    if data[:4] == b"\x04\x22\x4d\x18":
        data = subprocess.run(["lz4", "-d", "-c", str(capture)], capture_output=True, check=True).stdout
    assert data[:7] == b"memray\0", capture
    return int.from_bytes(data[7:11], "little", signed=True)


def record(python, mode, capture):
    env = dict(os.environ, PYTHONHASHSEED="0")
    workload = WORKLOADS.get(mode, WORKLOAD)
    args = [str(python), "-m", "memray", "run", "-q", "-f", *MODES[mode], "-o", str(capture), str(workload)]
    subprocess.run(args, check=True, env=env, capture_output=True)


def transform(python, name, capture, expected):
    for fmt, suffix in SUFFIX.items():
        for report, flags in (STATS_REPORTS if fmt.startswith("stats") else REPORTS).items():
            case = f"{name}-{fmt}-{report}"
            out = expected / f"{case}{suffix}"
            error = expected / f"{case}.error"
            for stale in (out, error):
                if stale.exists():
                    stale.unlink()
            # memray 1.7 has no --json: it refuses, and the refusal is the expected output.
            proc = run_memray(python, fmt, flags, out, capture)
            if proc.returncode != 0:
                if out.exists():
                    out.unlink()
                message = (proc.stderr.strip().splitlines() or [""])[-1]
                error.write_text(message + "\n")
                continue


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memray", default=",".join(HEADER_VERSION))
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--modes", default="default,aggregate")
    opts = ap.parse_args()
    captures = OUT / "captures"
    expected = OUT / "expected"
    captures.mkdir(parents=True, exist_ok=True)
    expected.mkdir(parents=True, exist_ok=True)
    for memray in opts.memray.split(","):
        python = venv_for(memray, opts.python)
        for mode in opts.modes.split(","):
            name = f"v{memray}-py{opts.python}-{mode}"
            capture = captures / f"{name}.bin"
            print(f"record {name}", file=sys.stderr)
            record(python, mode, capture)
            found = header_version(capture)
            if memray in HEADER_VERSION and found != HEADER_VERSION[memray]:
                raise SystemExit(f"{capture}: header version {found}, expected {HEADER_VERSION[memray]}")
            transform(python, name, capture, expected)


if __name__ == "__main__":
    main()
