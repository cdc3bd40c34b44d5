"""Ctrl-C stops a long call half-way: the engine looks for Python's signals while it reads,
the call raises KeyboardInterrupt and writes nothing; the wheel's `memform` command ends at
once, as the Rust binary does."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LONG_CALLS, memform_command


def interrupt_once_working(process):
    """Sends SIGINT to `process` once it is converting: when the engine's decoding thread
    has started beside its main thread."""
    tasks = f"/proc/{process.pid}/task"
    deadline = time.monotonic() + 60
    while len(os.listdir(tasks)) < 2:
        assert process.poll() is None, "the process ended before it started converting"
        assert time.monotonic() < deadline, "the conversion never started"
        time.sleep(0.001)
    process.send_signal(signal.SIGINT)


# The child converts; it prints what the call did. `progress` as the test says.
CHILD = r"""
import pathlib, sys
sys.path.insert(0, sys.argv[5])
from conftest import long_call
capture, output, api, progress = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
progress = {"none": False, "callable": lambda phase, done, total: None}[progress]
try:
    long_call(api, capture, output, progress)
    print("finished")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
print("output" if output.exists() else "no output")
print(sorted(p.name for p in output.parent.iterdir()))
"""


@pytest.mark.parametrize("progress", ["none", "callable"])
@pytest.mark.parametrize("api", LONG_CALLS)
def test_ctrl_c_stops_a_long_call_and_writes_nothing(large_capture, tmp_path, api, progress):
    out = tmp_path / "out" / "report"
    out.parent.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, large_capture, out, api, progress, Path(__file__).parent],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    interrupt_once_working(child)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    # Without the engine stopping, the call would finish, write its output, and the
    # KeyboardInterrupt would come after it.
    assert stdout.splitlines() == ["KeyboardInterrupt", "no output", "[]"], stdout + stderr


def test_ctrl_c_ends_the_memform_command(large_capture, tmp_path):
    out = tmp_path / "report.csv"
    command = subprocess.Popen(
        [memform_command(), "transform", "csv", "-o", out, large_capture],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    interrupt_once_working(command)
    _, stderr = command.communicate(timeout=120)
    # Killed by the signal while it reads, or (had it come to writing) by the command's
    # handler, which removes the unfinished report and says so.
    assert command.returncode in (-signal.SIGINT, 128 + signal.SIGINT), (command.returncode, stderr)
    assert "Traceback" not in stderr
    assert not list(tmp_path.iterdir()), "nothing written"
