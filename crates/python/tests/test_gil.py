"""The GIL is released while a capture is read: another Python thread keeps running through
the whole of a long conversion."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import memform

WORKLOAD = Path(__file__).with_name("workload_alloc_loop.py")


@pytest.fixture(scope="module")
def large_capture(tmp_path_factory):
    """A real capture of about eight million allocation records, recorded by memray."""
    path = tmp_path_factory.mktemp("large") / "loop.bin"
    subprocess.run(
        [sys.executable, "-m", "memray", "run", "-q", "-o", str(path), str(WORKLOAD), "4000000"],
        check=True,
    )
    return path


def spin_during(call):
    """Runs `call` while a second thread records the time of every loop it makes; returns
    the call's start and end and the times recorded."""
    times = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            times.append(time.perf_counter())

    thread = threading.Thread(target=spin)
    thread.start()
    while not times:
        time.sleep(0.001)
    start = time.perf_counter()
    call()
    end = time.perf_counter()
    stop.set()
    thread.join()
    return start, end, times


@pytest.mark.parametrize("api", ["report", "transform"])
def test_another_thread_runs_while_a_capture_decodes(large_capture, tmp_path, api):
    if api == "report":
        call = lambda: memform.report(large_capture)  # noqa: E731
    else:
        call = lambda: memform.transform(large_capture, "csv", tmp_path / "r.csv")  # noqa: E731
    start, end, times = spin_during(call)
    elapsed = end - start
    assert elapsed > 0.03, f"the call took {elapsed:.3f} s: too short to tell"
    # The middle 80 % of the call, where only Rust code runs: with the GIL held the other
    # thread could not loop once there; released, it loops the whole time, with no gap
    # longer than a tenth of the call.
    lo, hi = start + 0.1 * elapsed, end - 0.1 * elapsed
    inside = [t for t in times if lo <= t <= hi]
    assert len(inside) > 1000, f"{len(inside)} loops of the other thread in {elapsed:.3f} s"
    gaps = [b - a for a, b in zip([lo] + inside, inside + [hi])]
    assert max(gaps) < 0.1 * elapsed, f"longest pause {max(gaps):.4f} s of {elapsed:.3f} s"
