#!/usr/bin/env python3
"""Record the committed test fixtures with memray and store memray's own outputs.

    python3 scripts/make_fixtures.py [--memray 1.20.0] [--pythons 3.9,3.10,3.11,3.12,3.13]
                                     [--formats csv,gprof2dot,speedscope]
    python3 scripts/make_fixtures.py --transform-only [--formats speedscope]
    python3 scripts/make_fixtures.py --diff

For every Python version the fixture workload (tests/fixtures/workload.py) is recorded in the
default mode; the --full-pythons also in every other capture mode. The modes `mixed` and
`mixedpyalloc` record tests/fixtures/mixed_sites.py instead (threads and allocators mixed at
shared lines, a rehash of memray's map after the peak), plain and with
--trace-python-allocators. memray's `memray transform` is then run for each format and report
mode, and its output (or its refusal) is written to tests/fixtures/expected/.

With --diff only the diff fixtures are recorded (tests/fixtures/diff/workload.py with N=1 and
N=2, and memray's peak and leaks CSV reports of each, for `memform diff`).

With --transform-only nothing is recorded: every capture already in tests/fixtures/captures is
transformed again (with the memray and Python its name gives, `v<memray>-py<python>-<mode>`) in
the formats of --formats, e.g. to add the expected outputs of a new format.
Expected files are named `<capture>-<format>-<report><suffix>`, where the suffix of
speedscope is `.json` (not memray's `.speedscope.json`), so that the name splits at its last dot.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
WORKLOAD = FIXTURES / "workload.py"
MIXED = FIXTURES / "mixed_sites.py"

MODES = {
    "default": [],
    "pyalloc": ["--trace-python-allocators"],
    "aggregate": ["--aggregate"],
    "nocompress": ["--no-compress"],
    "killed": ["--no-compress"],
    "native": ["--native"],
    "nativeagg": ["--native", "--aggregate"],
    "mixed": [],
    "mixedpyalloc": ["--trace-python-allocators"],
}
WORKLOADS = {"mixed": MIXED, "mixedpyalloc": MIXED}
REPORTS = {
    "peak": [],
    "leaks": ["--leaks"],
    "temp": ["--temporary-allocations"],
    "temp0": ["--temporary-allocation-threshold", "0"],
    "temp5": ["--temporary-allocation-threshold", "5"],
}
SUFFIX = {"csv": ".csv", "gprof2dot": ".json", "speedscope": ".json", "stats": ".txt", "stats-json": ".json"}
# `memray stats` (text on standard output, or --json) in place of transform's report modes.
STATS_REPORTS = {"top5": [], "top12": ["-n", "12"]}


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
    workload = WORKLOADS.get(mode, WORKLOAD)
    args = [str(python), "-m", "memray", "run", "-q", "-f", *MODES[mode], "-o", str(capture), str(workload)]
    if mode != "killed":
        subprocess.run(args, check=True, env=env, capture_output=True)
        return
    proc = subprocess.Popen(args + ["sleep"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def run_memray(python, fmt, flags, out, capture):
    """memray's output for `capture` in `fmt` (a transform format, or `stats` / `stats-json`)
    written to `out`; the finished process, to tell a refusal. The text of `stats` is its
    standard output."""
    if fmt == "stats":
        proc = subprocess.run([str(python), "-m", "memray", "stats", *flags, str(capture)],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            out.write_text(proc.stdout, encoding="utf-8")
        return proc
    command = ["stats", "--json"] if fmt == "stats-json" else ["transform", fmt]
    return subprocess.run([str(python), "-m", "memray", *command, "-f", *flags, "-o", str(out), str(capture)],
                          capture_output=True, text=True)


def transform(python, name, capture, expected, formats):
    """memray's outputs (or refusals) for `capture` in `formats` and every report mode."""
    for fmt in formats:
        suffix = SUFFIX[fmt]
        for report, flags in (STATS_REPORTS if fmt.startswith("stats") else REPORTS).items():
            case = f"{name}-{fmt}-{report}"
            out = expected / f"{case}{suffix}"
            error = expected / f"{case}.error"
            proc = run_memray(python, fmt, flags, out, capture)
            if proc.returncode != 0:
                if out.exists():
                    out.unlink()
                message = (proc.stderr.strip().splitlines() or [""])[-1]
                error.write_text(message + "\n")
                continue
            if error.exists():
                error.unlink()


def build_id(path):
    """The GNU build-id of an ELF file, as hex, or None."""
    proc = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", proc.stdout)
    return m.group(1) if m else None


def write_images(python, name, capture, expected):
    """For native captures: the ELF images that hold the capture's native instruction pointers,
    with build-ids and whether a separate debug file is installed, so the tests can tell whether
    this machine resolves native frames as the recording machine did."""
    dump = subprocess.run([str(python), "-m", "memray", "parse", str(capture)], capture_output=True, text=True).stdout
    ranges = []  # (start, end, filename)
    ips = set()
    current = None
    for line in dump.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "SEGMENT_HEADER":
            kv = dict(f.split("=", 1) for f in fields[1:])
            current = (kv["filename"], int(kv["addr"], 16))
        elif fields[0] == "SEGMENT" and current:
            vaddr = 0 if fields[1] == "(nil)" else int(fields[1], 16)
            start = current[1] + vaddr
            ranges.append((start, start + int(fields[2], 16), current[0]))
        elif fields[0] == "NATIVE_FRAME_ID":
            ips.add(int(fields[1].split("=", 1)[1], 16))
    used = {f for ip in ips for (start, end, f) in ranges if start <= ip - 1 < end}
    images = {}
    for path in sorted(used):
        if not Path(path).is_file():
            continue
        bid = build_id(path)
        debug = bool(bid) and Path(f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug").is_file()
        images[path] = {"build_id": bid, "debug_file": debug}
    (expected / f"{name}.images.json").write_text(json.dumps(images, indent=1, sort_keys=True) + "\n")


def record_diff_fixtures(python):
    """The diff fixtures: tests/fixtures/diff/workload.py run with N=1 and N=2 (from its own
    folder, so that its frames name `workload.py`), and memray's peak and leaks CSV reports of
    each: `diff-n<N>.bin`, `diff-n<N>.csv`, `diff-n<N>-leaks.csv`."""
    folder = FIXTURES / "diff"
    for n in (1, 2):
        capture = f"diff-n{n}.bin"
        (folder / capture).unlink(missing_ok=True)
        print(f"record {capture}", file=sys.stderr)
        subprocess.check_call(
            [str(python), "-m", "memray", "run", "-q", "-o", capture, "workload.py", str(n)], cwd=folder
        )
        for suffix, flags in (("", []), ("-leaks", ["--leaks"])):
            out = f"diff-n{n}{suffix}.csv"
            (folder / out).unlink(missing_ok=True)
            subprocess.check_call(
                [str(python), "-m", "memray", "transform", "csv", *flags, "-o", out, capture],
                cwd=folder,
                stdout=subprocess.DEVNULL,
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memray", default="1.20.0")
    ap.add_argument("--pythons", default="3.9,3.10,3.11,3.12,3.13")
    ap.add_argument("--full-pythons", default="3.11,3.13")
    ap.add_argument("--modes", default=None, help="comma-separated capture modes; default: all for --full-pythons")
    ap.add_argument("--formats", default=None, help="comma-separated; default: all (speedscope with --transform-only)")
    ap.add_argument("--transform-only", action="store_true", help="re-transform the committed captures; record nothing")
    ap.add_argument("--diff", action="store_true", help="record only the diff fixtures (tests/fixtures/diff)")
    opts = ap.parse_args()
    if opts.diff:
        record_diff_fixtures(venv_for(opts.memray, "3.11"))
        return
    captures = FIXTURES / "captures"
    expected = FIXTURES / "expected"
    captures.mkdir(parents=True, exist_ok=True)
    expected.mkdir(parents=True, exist_ok=True)
    default_formats = "speedscope" if opts.transform_only else ",".join(SUFFIX)
    formats = (opts.formats or default_formats).split(",")
    unknown = set(formats) - set(SUFFIX)
    if unknown:
        raise SystemExit(f"unknown formats: {sorted(unknown)}")
    if opts.transform_only:
        for capture in sorted(captures.glob("v*-py*-*.bin")):
            name = capture.stem
            version, py, mode = re.fullmatch(r"v(.+?)-py(\d+\.\d+)-(\w+)", name).groups()
            if opts.modes and mode not in opts.modes.split(","):
                continue
            print(f"transform {name}", file=sys.stderr)
            if MODES[mode][:1] == ["--native"]:
                write_images(venv_for(version, py), name, capture, expected)
            transform(venv_for(version, py), name, capture, expected, formats)
        return
    full = opts.full_pythons.split(",")
    for py in opts.pythons.split(","):
        python = venv_for(opts.memray, py)
        modes = list(MODES) if py in full else ["default"]
        if opts.modes:
            modes = [m for m in opts.modes.split(",") if m in modes]
        for mode in modes:
            name = f"v{opts.memray}-py{py}-{mode}"
            capture = captures / f"{name}.bin"
            print(f"record {name}", file=sys.stderr)
            record(python, mode, capture)
            if MODES[mode][:1] == ["--native"]:
                write_images(python, name, capture, expected)
            transform(python, name, capture, expected, formats)


if __name__ == "__main__":
    main()
