"""The GIL is released while a capture is read: another Python thread keeps running through
the whole of a long conversion."""

import shutil
import threading
import time

import pytest

import memform
from conftest import LONG_CALLS, long_call

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
    # longer than a fifth of the call (the engine takes the GIL back for a moment every
    # 50 ms to look for Ctrl-C, and three threads share two cores here).
    lo, hi = start + 0.1 * elapsed, end - 0.1 * elapsed
    inside = [t for t in times if lo <= t <= hi]
    assert len(inside) > 1000, f"{len(inside)} loops of the other thread in {elapsed:.3f} s"
    gaps = [b - a for a, b in zip([lo] + inside, inside + [hi])]
    assert max(gaps) < 0.2 * elapsed, f"longest pause {max(gaps):.4f} s of {elapsed:.3f} s"


@pytest.mark.parametrize("api", LONG_CALLS)
def test_two_threads_convert_two_captures_at_once(large_capture, tmp_path, api):
    second = tmp_path / "second.bin"
    shutil.copyfile(large_capture, second)
    captures = [large_capture, second]
    # The time, bytes done and bytes in all of every progress report of each conversion.
    seen = [[], []]
    failures = []

    def convert(i):
        def progress(phase, done, total):
            seen[i].append((time.perf_counter(), done, total))

        try:
            long_call(api, captures[i], tmp_path / f"out{i}", progress)
        except BaseException as failure:  # re-raised below, on the test's thread
            failures.append(failure)

    threads = [threading.Thread(target=convert, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert all(len(reports) > 3 for reports in seen), [len(reports) for reports in seen]

    def working_inside(reports, other):
        """The reports of one conversion, half-way through its capture, made while the
        other conversion was between its first and last report."""
        first, last = other[0][0], other[-1][0]
        return [t for t, done, total in reports if first < t < last and 0 < done < total]

    # With the GIL held through a call, the second thread could not even start its call
    # until the first one returned: neither would report while the other is under way.
    assert working_inside(seen[0], seen[1]), "the first conversion waited for the second"
    assert working_inside(seen[1], seen[0]), "the second conversion waited for the first"
