#!/usr/bin/env python3
"""Cut uncompressed fixture captures short and record what memray makes of each cut.

    python3 scripts/make_truncation_fixtures.py [--points 12]

A capture cut anywhere inside its record stream (a killed process, a full disk) is read by
memray up to the last complete record. For each uncompressed fixture capture this writes
`--points` truncated copies to tests/fixtures/truncated/ (cut points spread evenly over the
record stream, plus a few fixed pseudo-random ones) and memray's own outputs for them:
gprof2dot peak and leaks reports and the CSV temporary-allocations report.
"""
import argparse
import random
import subprocess
import sys
from pathlib import Path

from capture_layout import v13_header_len

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "truncated"
REPORTS = [("gprof2dot", "peak", [], ".json"), ("gprof2dot", "leaks", ["--leaks"], ".json"),
           ("csv", "temp", ["--temporary-allocations"], ".csv")]


def venv_python(py):
    for base in (Path.home() / ".cache" / "memform-corpus" / "venvs", Path.home() / ".cache" / "memform-fixtures"):
        python = base / f"memray-1.20.0-py{py}" / "bin" / "python"
        if python.exists():
            return python
    raise SystemExit(f"no memray 1.20.0 venv for Python {py}; run scripts/make_fixtures.py first")


def header_len(capture):
    """Bytes before the first record of a v13 capture."""
    return v13_header_len(capture.read_bytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=12)
    opts = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261125)
    for capture in sorted((FIXTURES / "captures").glob("v1.20.0-py*-nocompress.bin")):
        py = capture.name.split("-")[1][2:]
        python = venv_python(py)
        data = capture.read_bytes()
        start = header_len(capture)
        span = len(data) - start
        even = [start + span * (i + 1) // (opts.points - 3) for i in range(opts.points - 4)]
        cuts = sorted(set(even + [start + 1] + [start + rng.randrange(span) for _ in range(3)]))
        for cut in cuts:
            name = f"{capture.stem}-cut{cut}"
            path = OUT / f"{name}.bin"
            path.write_bytes(data[:cut])
            for fmt, report, flags, suffix in REPORTS:
                out = OUT / f"{name}-{fmt}-{report}{suffix}"
                proc = subprocess.run(
                    [str(python), "-m", "memray", "transform", fmt, "-f", *flags, "-o", str(out), str(path)],
                    capture_output=True, text=True,
                )
                if proc.returncode != 0:
                    print(f"memray failed on {name} {report}: {proc.stderr[-300:]}", file=sys.stderr)
                    out.unlink(missing_ok=True)
            print(f"cut {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
