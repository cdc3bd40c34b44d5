"""memform.diff: the diff fixtures (tests/fixtures/diff: one workload run with N=1 and N=2,
whose changes are known by construction) against memray's own CSV reports of each capture,
a capture against itself, the two swapped, `by="row"`, the schema's metadata, and errors."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest

import memform

from conftest import CAPTURES, ROOT

DIFF = ROOT / "tests" / "fixtures" / "diff"
N1, N2 = DIFF / "diff-n1.bin", DIFF / "diff-n2.bin"
COLUMNS = [
    "stack_trace",
    "base_size",
    "new_size",
    "delta_size",
    "base_num_allocations",
    "new_num_allocations",
    "delta_num_allocations",
]


def memray_by_stack(name):
    """memray's CSV report summed by stack: stack -> (bytes, allocations)."""
    sums = defaultdict(lambda: [0, 0])
    with open(DIFF / name, newline="") as f:
        for row in csv.DictReader(f):
            sums[row["stack_trace"]][0] += int(row["size"])
            sums[row["stack_trace"]][1] += int(row["num_allocations"])
    return {k: tuple(v) for k, v in sums.items()}


@pytest.mark.parametrize("leaks", [False, True])
def test_the_workload_diff(leaks):
    table = memform.diff(N1, str(N2), leaks=leaks)
    assert table.column_names == COLUMNS
    rows = table.to_pylist()
    by_leaf = {r["stack_trace"].split("|")[0]: r for r in rows}
    grows = by_leaf["grows;workload.py;20"]
    assert (grows["base_size"], grows["new_size"], grows["delta_size"]) == (40004, 80008, 40004)
    assert (grows["base_num_allocations"], grows["new_num_allocations"]) == (4, 8)
    assert by_leaf["shrinks;workload.py;25"]["delta_size"] == -20001
    assert by_leaf["steady;workload.py;30"]["delta_size"] == 0
    assert by_leaf["only_in_one;workload.py;35"]["new_size"] == 0
    assert by_leaf["only_in_one;workload.py;37"]["base_size"] == 0
    deltas = [r["delta_size"] for r in rows]
    assert deltas == sorted(deltas, reverse=True)
    suffix = "-leaks" if leaks else ""
    base = {r["stack_trace"]: (r["base_size"], r["base_num_allocations"]) for r in rows if r["base_num_allocations"]}
    new = {r["stack_trace"]: (r["new_size"], r["new_num_allocations"]) for r in rows if r["new_num_allocations"]}
    assert base == memray_by_stack(f"diff-n1{suffix}.csv")
    assert new == memray_by_stack(f"diff-n2{suffix}.csv")
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["memform.diff.base.capture"] == str(N1)
    assert meta["memform.diff.new.capture"] == str(N2)
    assert meta["memform.diff.report"] == ("leaks" if leaks else "peak")
    assert int(meta["memform.diff.new.size"]) - int(meta["memform.diff.base.size"]) == 30003


def test_against_itself_and_swapped():
    capture = CAPTURES / "v1.20.0-py3.11-mixed.bin"
    same = memform.diff(capture, capture, by="row")
    assert same.column_names == COLUMNS + ["allocator", "tid"]
    assert set(same.column("delta_size").to_pylist()) == {0}
    assert set(same.column("delta_num_allocations").to_pylist()) == {0}
    forward = memform.diff(N1, N2).to_pylist()
    backward = {r["stack_trace"]: r for r in memform.diff(N2, N1).to_pylist()}
    assert len(forward) == len(backward)
    for r in forward:
        b = backward[r["stack_trace"]]
        assert (b["delta_size"], b["delta_num_allocations"]) == (
            -r["delta_size"],
            -r["delta_num_allocations"],
        )


def test_errors(tmp_path):
    native = CAPTURES / "v1.20.0-py3.11-native.bin"
    with pytest.raises(ValueError, match="recorded with --native"):
        memform.diff(N1, native)
    with pytest.raises(FileNotFoundError):
        memform.diff(tmp_path / "missing.bin", N1)
    with pytest.raises(ValueError, match='by must be "stack" or "row"'):
        memform.diff(N1, N2, by="thread")
    with pytest.raises(ValueError):
        memform.diff(N1, N2, leaks=True, temporary_threshold=1)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"memray\0" + b"\xff" * 64)
    with pytest.raises(memform.CaptureError):
        memform.diff(N1, bad)
