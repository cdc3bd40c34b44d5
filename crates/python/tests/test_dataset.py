"""Many captures into one Hive-partitioned Parquet dataset: with the command line
(`--dataset`), and on a dask.distributed cluster (examples/dask_dataset.py) — the same files
either way, read as one table with `capture` as a column by DuckDB, polars and pyarrow."""

import importlib.util
import shutil

import duckdb
import polars
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest

import memform
from conftest import CAPTURE_FILES, ROOT, run_memform


def load_example():
    path = ROOT / "examples" / "dask_dataset.py"
    spec = importlib.util.spec_from_file_location("dask_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def captures(tmp_path):
    """The fixture captures in one folder, and one damaged capture beside them."""
    folder = tmp_path / "captures"
    folder.mkdir()
    for capture in CAPTURE_FILES:
        shutil.copyfile(capture, folder / capture.name)
    (folder / "damaged.bin").write_bytes(CAPTURE_FILES[0].read_bytes()[:30])
    return folder


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def cli_dataset(captures, dataset):
    good = sorted(c for c in captures.glob("*.bin") if c.name != "damaged.bin")
    done = run_memform("transform", "parquet", *good, "--dataset", dataset, "-q")
    assert done.returncode == 0, done.stderr
    return good


def test_dataset_part_follows_the_command_line(tmp_path, captures):
    dataset = tmp_path / "cli"
    good = cli_dataset(captures, dataset)
    assert files_under(dataset) == sorted(
        str(memform.dataset_part(dataset, c).relative_to(dataset)) for c in good
    )
    assert memform.dataset_part("d", "x/memray-app.1.bin") == (
        memform.dataset_part("d", "y/memray-app.1.bin")
    )
    assert str(memform.dataset_part("d", "a/b=c.bin")) == "d/capture=b%3Dc/part-0.parquet"


def test_readers_see_one_table_with_the_capture_column(tmp_path, captures):
    dataset = tmp_path / "cli"
    good = cli_dataset(captures, dataset)
    expected = {c.stem: memform.report(c).num_rows for c in good}

    table = pyarrow.dataset.dataset(dataset, format="parquet", partitioning="hive").to_table()
    counts = table.group_by("capture").aggregate([("size", "count")]).to_pylist()
    assert {r["capture"]: r["size_count"] for r in counts} == expected

    frame = polars.scan_parquet(dataset / "*" / "*.parquet", hive_partitioning=True).collect()
    by_capture = frame.group_by("capture").len().rows()
    assert dict(by_capture) == expected

    pattern = str(dataset / "*" / "*.parquet")
    rows = duckdb.sql(
        f"select capture, count(*) from read_parquet('{pattern}', hive_partitioning = true,"
        " hive_types_autocast = false) group by capture"
    ).fetchall()
    assert dict(rows) == expected


def test_dask_cluster_writes_the_same_dataset(tmp_path, captures):
    from dask.distributed import Client, LocalCluster

    example = load_example()
    dask_dataset = tmp_path / "dask"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        outcome = example.convert_folder(client, captures, dask_dataset)
    failed = {c for c, r in outcome.items() if r.startswith("error: ")}
    assert failed == {str(captures / "damaged.bin")}
    assert "CaptureError" in outcome[str(captures / "damaged.bin")]

    cli = tmp_path / "cli"
    cli_dataset(captures, cli)
    # Nothing of the damaged capture: no file, no partition folder.
    assert not (dask_dataset / "capture=damaged").exists()
    assert files_under(dask_dataset) == files_under(cli)
    for relative in files_under(cli):
        ours, theirs = pq.read_table(dask_dataset / relative), pq.read_table(cli / relative)
        assert ours.equals(theirs), relative
        assert ours.schema.metadata == theirs.schema.metadata, relative
    assert example.top_stacks(dask_dataset) == example.top_stacks(cli)
    assert len(example.top_stacks(cli)) == 10

