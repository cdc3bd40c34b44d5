"""A quick check of the installed wheel on one Python (scripts/python_test.sh runs it on the
oldest and newest CPython it finds, to show that the one abi3 wheel serves them): every
report mode of a fixture capture as a table, equal to the wheel's command's CSV report."""

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import memform

CAPTURE = Path(__file__).resolve().parents[3] / "tests/fixtures/captures/v1.20.0-py3.11-default.bin"
COLUMNS = ["allocator", "num_allocations", "size", "tid", "thread_name", "stack_trace"]
memform_command = str(Path(sys.executable).with_name("memform"))

with tempfile.TemporaryDirectory() as tmp:
    for kwargs, flags in [({}, []), ({"leaks": True}, ["--leaks"]),
                          ({"temporary_threshold": 3}, ["--temporary-allocation-threshold", "3"])]:
        out = Path(tmp) / "r.csv"
        subprocess.run([memform_command, "transform", "csv", "-q", "-f", *flags, "-o", str(out),
                        str(CAPTURE)], check=True)
        with open(out, newline="") as f:
            expected = [tuple(r) for r in list(csv.reader(f))[1:]]
        table = memform.report(CAPTURE, **kwargs)
        rows = list(zip(*(table.column(c).to_pylist() for c in COLUMNS)))
        assert [tuple(map(str, r)) for r in rows] == expected, kwargs
        assert expected, kwargs
print(f"smoke: Python {sys.version.split()[0]}: the wheel's tables equal its CSV reports")
