"""`progress=`: a callable sees every phase of a long call from its start to its end, in
bytes of the capture; `progress=True` draws a tqdm bar, and without tqdm warns and goes on."""

import os
import sys
import threading

import pytest

import memform
from conftest import EXAMPLE_CAPTURE


def calls_of(api, capture, tmp_path, **kwargs):
    """Runs one of the long calls; returns its result."""
    if api == "report":
        return memform.report(capture, **kwargs)
    if api == "report_stream":
        return memform.report_stream(capture, **kwargs).num_rows
    if api == "transform":
        return memform.transform(capture, "csv", tmp_path / "r.csv", force=True, **kwargs)
    if api == "events":
        return memform.events(capture, **kwargs)["allocations"].count_rows()
    if api == "stats":
        return memform.stats(capture, **kwargs)
    return memform.diff(capture, capture, **kwargs)


LONG_CALLS = ["report", "report_stream", "transform", "events", "stats", "diff"]


def phases(reports):
    """The reports split at each phase's start (done == 0)."""
    split = []
    for report in reports:
        if report[1] == 0:
            split.append([])
        split[-1].append(report)
    return split


@pytest.mark.parametrize("api", LONG_CALLS)
def test_a_callable_sees_each_phase_from_start_to_end(large_capture, tmp_path, api):
    reports = []
    threads = set()

    def progress(phase, done, total):
        reports.append((phase, done, total))
        threads.add(threading.get_ident())

    calls_of(api, large_capture, tmp_path, progress=progress)
    assert threads == {threading.get_ident()}, "called on the thread that made the call"
    size = os.path.getsize(large_capture)
    # diff reads its two captures, each a phase; the others read one.
    expected_phases = 2 if api == "diff" else 1
    assert len(phases(reports)) == expected_phases, reports
    for phase in phases(reports):
        name, _, total = phase[0]
        assert isinstance(name, str) and name
        assert total == size
        assert all(r[0] == name and r[2] == total for r in phase)
        done = [r[1] for r in phase]
        assert done[0] == 0 and done[-1] == size
        assert done == sorted(set(done)), "done goes up, each value once"
        # A capture of a second or so is seen on its way, not only at its ends.
        assert any(0 < d < size for d in done), done


@pytest.mark.parametrize("api", LONG_CALLS)
def test_progress_changes_no_result(tmp_path, api):
    plain = calls_of(api, EXAMPLE_CAPTURE, tmp_path)
    watched = calls_of(api, EXAMPLE_CAPTURE, tmp_path, progress=lambda *r: None)
    if api == "transform":
        assert plain == watched
    elif api in ("report", "diff"):
        assert plain.equals(watched, check_metadata=True)
    else:
        assert plain == watched


def test_progress_true_draws_a_tqdm_bar(tmp_path, capsys):
    pytest.importorskip("tqdm")
    memform.transform(EXAMPLE_CAPTURE, "csv", tmp_path / "r.csv", progress=True)
    err = capsys.readouterr().err
    size = os.path.getsize(EXAMPLE_CAPTURE)
    assert "Processing allocation records: 100%" in err, err
    # tqdm's byte units: the capture's size in KiB, as "19.7k/19.7k".
    assert f"{size / 1024:.1f}k/{size / 1024:.1f}k" in err, err


def test_progress_true_without_tqdm_warns_and_converts(tmp_path, monkeypatch, capsys):
    # An import of tqdm.auto that fails, as where tqdm is not installed.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.warns(UserWarning, match=r"tqdm, which is not installed \(pip install tqdm\)") as w:
        table = memform.report(EXAMPLE_CAPTURE, progress=True)
    assert table.equals(memform.report(EXAMPLE_CAPTURE))
    # The warning points at the caller's line, not into memform, from every long call.
    assert [caught.filename for caught in w] == [__file__]
    for api in LONG_CALLS:
        with pytest.warns(UserWarning, match="tqdm") as w:
            calls_of(api, EXAMPLE_CAPTURE, tmp_path, progress=True)
        assert {caught.filename for caught in w} == {__file__}, api
    assert capsys.readouterr().err == ""


def test_an_exception_in_the_callable_stops_the_call(large_capture, tmp_path):
    size = os.path.getsize(large_capture)
    seen = []

    def fails(phase, done, total):
        seen.append(done)
        if 0 < done < total:
            raise LookupError("enough")

    out = tmp_path / "report.csv"
    with pytest.raises(LookupError, match="enough"):
        memform.transform(large_capture, "csv", out, progress=fails)
    assert 0 < seen[-1] < size, "raised half-way"
    assert [d for d in seen if d > 0] == [seen[-1]], "no call after the callable raised"
    assert not list(tmp_path.iterdir()), "the call stopped: nothing written"


def test_progress_must_be_a_bool_or_a_callable():
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        memform.report(EXAMPLE_CAPTURE, progress="yes")  # type: ignore[arg-type]
