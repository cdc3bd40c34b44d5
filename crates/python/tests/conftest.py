"""Shared by the Python tests: the repository's fixture captures and memray's outputs for them,
and the installed wheel's `memform` command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memform

ROOT = Path(__file__).resolve().parents[3]
CAPTURES = ROOT / "tests" / "fixtures" / "captures"
EXPECTED = ROOT / "tests" / "fixtures" / "expected"

#: Report modes as (name in the expected files' names, keyword arguments of memform.report,
#: command-line flags).
MODES = [
    ("peak", {}, []),
    ("leaks", {"leaks": True}, ["--leaks"]),
    ("temp", {"temporary_threshold": 1}, ["--temporary-allocations"]),
    ("temp0", {"temporary_threshold": 0}, ["--temporary-allocation-threshold", "0"]),
    ("temp5", {"temporary_threshold": 5}, ["--temporary-allocation-threshold", "5"]),
]

CAPTURE_FILES = sorted(CAPTURES.glob("*.bin"))

#: A capture every API function reads (README's example).
EXAMPLE_CAPTURE = CAPTURES / "v1.20.0-py3.11-default.bin"

WORKLOAD = Path(__file__).with_name("workload_alloc_loop.py")


@pytest.fixture(scope="session")
def large_capture(tmp_path_factory):
    """A real capture of about eight million allocation records, recorded by memray: long
    enough to read (about a second) that what happens during a call can be watched."""
    path = tmp_path_factory.mktemp("large") / "loop.bin"
    subprocess.run(
        [sys.executable, "-m", "memray", "run", "-q", "-o", str(path), str(WORKLOAD), "4000000"],
        check=True,
    )
    return path


def memform_command():
    """The `memform` command the wheel installed into this venv."""
    found = shutil.which("memform", path=str(Path(sys.executable).parent))
    assert found, "the wheel's memform command is not installed beside this Python"
    return found


def run_memform(*args, cwd=None):
    return subprocess.run(
        [memform_command(), *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture
def fixture_copy(tmp_path):
    """A copy of a fixture capture in a temporary folder (reports go beside captures)."""

    def copy(name):
        target = tmp_path / name
        shutil.copyfile(CAPTURES / name, target)
        return target

    return copy


#: The API's long calls: those that read a whole capture (two, for diff).
LONG_CALLS = ["report", "transform", "events", "stats", "diff"]


def long_call(api, capture, output, progress=False):
    """One of :data:`LONG_CALLS` on `capture`, writing (where it writes) into `output`."""
    if api == "report":
        memform.report(capture, progress=progress)
    elif api == "transform":
        memform.transform(capture, "csv", output, progress=progress)
    elif api == "events":
        memform.events(capture, output, progress=progress)
    elif api == "stats":
        memform.stats(capture, progress=progress)
    else:
        assert api == "diff", api
        memform.diff(capture, capture, progress=progress)
