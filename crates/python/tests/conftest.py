"""Shared by the Python tests: the repository's fixture captures and memray's outputs for them,
and the installed wheel's `memform` command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
