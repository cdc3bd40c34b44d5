"""The events dataset from Python: `memform.transform(capture, "events")` writes the folder of
Parquet tables (docs/events-dataset.md) that pyarrow reads, and refuses what the command line
refuses."""

import pathlib

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import memform
from conftest import CAPTURES


def test_the_events_dataset_is_every_allocation_with_its_lifetime(tmp_path):
    """memform.transform(capture, "events"): the folder's allocations alive at the peak are
    the peak report's rows, per stack."""
    capture = CAPTURES / "v1.20.0-py3.12-default.bin"
    folder = memform.transform(capture, "events", tmp_path / "events")
    assert folder == tmp_path / "events"
    assert sorted(p.name for p in folder.iterdir()) == [
        "allocations.parquet",
        "memory.parquet",
        "stacks.parquet",
        "threads.parquet",
    ]
    allocations = pq.read_table(folder / "allocations.parquet")
    peak = int(pq.read_metadata(folder / "allocations.parquet").metadata[b"memform.peak_memory_index"])
    alive = allocations.filter(
        pc.and_(
            pc.less_equal(allocations["seq"], peak),
            pc.or_kleene(pc.is_null(allocations["freed_at"]), pc.greater(allocations["freed_at"], peak)),
        )
    )
    stacks = pq.read_table(folder / "stacks.parquet").to_pydict()
    trace = dict(zip(stacks["stack_id"], stacks["stack_trace"]))
    got = {}
    for stack_id, size in zip(alive["stack_id"].to_pylist(), alive["size"].to_pylist()):
        n, total = got.get(trace[stack_id], (0, 0))
        got[trace[stack_id]] = (n + 1, total + size)
    report = memform.report(capture).to_pydict()
    want = {}
    for stack, n, size in zip(report["stack_trace"], report["num_allocations"], report["size"]):
        m, total = want.get(stack, (0, 0))
        want[stack] = (m + n, total + size)
    assert got == want

    with pytest.raises(FileExistsError):
        memform.transform(capture, "events", folder)
    with pytest.raises(ValueError, match="--leaks and the temporary-allocation options do not apply to the events format"):
        memform.transform(capture, "events", tmp_path / "leaks", leaks=True)
    with pytest.raises(ValueError, match="an aggregated capture keeps no allocation events"):
        memform.transform(CAPTURES / "v1.20.0-py3.11-aggregate.bin", "events", tmp_path / "agg")
    assert not (tmp_path / "leaks").exists() and not (tmp_path / "agg").exists()


def test_events_gives_datasets_over_the_files(tmp_path):
    """memform.events: a pyarrow Dataset per table, over the files it wrote into `output`
    (or a temporary folder that lives as long as the result)."""
    import pyarrow.dataset

    capture = CAPTURES / "v1.20.0-py3.12-default.bin"
    tables = memform.events(capture, tmp_path / "ev")
    assert sorted(tables) == sorted(memform.EVENTS_TABLES)
    assert tables.folder == tmp_path / "ev"
    for name, dataset in tables.items():
        assert isinstance(dataset, pyarrow.dataset.Dataset)
        assert dataset.to_table() == pq.read_table(tmp_path / "ev" / f"{name}.parquet")
    # The same rows as the folder transform writes.
    again = memform.transform(capture, "events", tmp_path / "again")
    assert tables["allocations"].to_table() == pq.read_table(again / "allocations.parquet")
    with pytest.raises(FileExistsError):
        memform.events(capture, tmp_path / "ev")
    assert memform.events(capture, tmp_path / "ev", force=True).folder == tmp_path / "ev"
    # A temporary folder, removed with the result.
    temporary = memform.events(capture)
    folder = temporary.folder
    assert temporary["stacks"].count_rows() > 0
    del temporary
    import gc

    gc.collect()
    assert not folder.exists()
    # One dataset of the result keeps the folder: the result itself may be gone.
    allocations = memform.events(capture)["allocations"]
    gc.collect()
    expected = pq.read_table(tmp_path / "ev" / "allocations.parquet")
    assert allocations.to_table() == expected
    assert memform.events(capture)["allocations"].count_rows() == expected.num_rows
    folder = pathlib.Path(allocations.files[0]).parent
    del allocations
    gc.collect()
    assert not folder.exists()
    with pytest.raises(ValueError):
        memform.events(CAPTURES / "v1.20.0-py3.11-aggregate.bin")
