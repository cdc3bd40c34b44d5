#!/usr/bin/env python3
"""Record the committed test fixtures with memray and store memray's own outputs.

    python3 scripts/make_fixtures.py [--memray 1.20.0] [--pythons 3.9,3.10,3.11,3.12,3.13]

For every Python version the fixture workload (tests/fixtures/workload.py) is recorded in the
default mode; Python 3.11 (the first of --full-pythons) also in every other capture mode.
memray's `memray transform` is then run for each format and report mode, and its output (or
its refusal) is written to tests/fixtures/expected/. For peak and leak reports of full captures
the members of every row are written too (replay.py from ../shared/corpus), because memray
picks a merged row's allocator and thread from an arbitrary member when members differ.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
WORKLOAD = FIXTURES / "workload.py"
REPLAY = ROOT.parent / "shared" / "corpus" / "replay.py"

MODES = {
    "default": [],
    "pyalloc": ["--trace-python-allocators"],
    "aggregate": ["--aggregate"],
    "nocompress": ["--no-compress"],
    "killed": ["--no-compress"],
}
REPORTS = {
    "peak": [],
    "leaks": ["--leaks"],
    "temp": ["--temporary-allocations"],
    "temp0": ["--temporary-allocation-threshold", "0"],
    "temp5": ["--temporary-allocation-threshold", "5"],
}
SUFFIX = {"csv": ".csv", "gprof2dot": ".json"}


def find_python(version):
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    for c in sorted(Path(root, "versions").glob(f"{version}.*"), reverse=True):
        if (c / "bin" / "python").exists():
            return str(c / "bin" / "python")
    raise SystemExit(f"no Python {version}")


def venv_for(memray, py):
    for base in (Path.home() / ".cache" / "memform-corpus" / "venvs", Path.home() / ".cache" / "memform-fixtures"):
        python = base / f"memray-{memray}-py{py}" / "bin" / "python"
        if python.exists():
            return python
    venv = Path.home() / ".cache" / "memform-fixtures" / f"memray-{memray}-py{py}"
    subprocess.check_call([find_python(py), "-m", "venv", "--clear", str(venv)])
    subprocess.check_call([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"memray=={memray}"])
    return venv / "bin" / "python"


def record(python, mode, capture):
    env = dict(os.environ, PYTHONHASHSEED="0")
    args = [str(python), "-m", "memray", "run", "-q", "-f", *MODES[mode], "-o", str(capture), str(WORKLOAD)]
    if mode != "killed":
        subprocess.run(args, check=True, env=env, capture_output=True)
        return
    proc = subprocess.Popen(args + ["sleep"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memray", default="1.20.0")
    ap.add_argument("--pythons", default="3.9,3.10,3.11,3.12,3.13")
    ap.add_argument("--full-pythons", default="3.11,3.13")
    opts = ap.parse_args()
    captures = FIXTURES / "captures"
    expected = FIXTURES / "expected"
    captures.mkdir(parents=True, exist_ok=True)
    expected.mkdir(parents=True, exist_ok=True)
    full = opts.full_pythons.split(",")
    for py in opts.pythons.split(","):
        python = venv_for(opts.memray, py)
        for mode in MODES if py in full else ["default"]:
            name = f"v{opts.memray}-py{py}-{mode}"
            capture = captures / f"{name}.bin"
            print(f"record {name}", file=sys.stderr)
            record(python, mode, capture)
            for fmt, suffix in SUFFIX.items():
                for report, flags in REPORTS.items():
                    case = f"{name}-{fmt}-{report}"
                    out = expected / f"{case}{suffix}"
                    proc = subprocess.run(
                        [str(python), "-m", "memray", "transform", fmt, "-f", *flags, "-o", str(out), str(capture)],
                        capture_output=True, text=True,
                    )
                    if proc.returncode != 0:
                        if out.exists():
                            out.unlink()
                        message = (proc.stderr.strip().splitlines() or [""])[-1]
                        (expected / f"{case}.error").write_text(message + "\n")
                        continue
                    if fmt == "csv" and report in ("peak", "leaks") and mode != "aggregate" and REPLAY.exists():
                        members = subprocess.run(
                            [str(python), str(REPLAY), str(capture), report], capture_output=True, text=True, check=True
                        ).stdout
                        rows = [
                            {"allocators": g["allocators"], "tids": g["tids"]}
                            for g in json.loads(members)
                        ]
                        (expected / f"{name}-{report}.members.json").write_text(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
