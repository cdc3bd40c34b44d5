"""memform.report: the table of every report mode equals the CSV report of the fixture
captures row for row (memform's CSV report, which the Rust tests hold byte-identical to
memray's, the allocator and thread of merged rows included), through pyarrow, polars and
DuckDB alike."""

import csv
import warnings

import duckdb
import polars
import pyarrow
import pytest

import memform
from conftest import CAPTURE_FILES, EXPECTED, MODES, run_memform

CSV_COLUMNS = ["allocator", "num_allocations", "size", "tid", "thread_name", "stack_trace"]

CASES = [
    (capture, mode, kwargs, flags)
    for capture in CAPTURE_FILES
    for mode, kwargs, flags in MODES
    if (EXPECTED / f"{capture.stem}-csv-{mode}.csv").exists()
]
ERROR_CASES = [
    (capture, mode, kwargs)
    for capture in CAPTURE_FILES
    for mode, kwargs, _ in MODES
    if (EXPECTED / f"{capture.stem}-csv-{mode}.error").exists()
]


def csv_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_COLUMNS
    return [tuple(r) for r in rows[1:]]


def table_rows(table):
    columns = [table.column(name).to_pylist() for name in CSV_COLUMNS]
    return [tuple(str(v) for v in row) for row in zip(*columns)]


def test_every_fixture_case_is_covered():
    assert len(CAPTURE_FILES) == 21
    assert len(CASES) == 93 and len(ERROR_CASES) == 12


@pytest.mark.parametrize(
    "capture,mode,kwargs,flags", CASES, ids=[f"{c.stem}-{m}" for c, m, _, _ in CASES]
)
def test_table_equals_the_csv_report(capture, mode, kwargs, flags, tmp_path):
    out = tmp_path / "report.csv"
    done = run_memform("transform", "csv", *flags, "-q", "-o", out, capture)
    assert done.returncode == 0, done.stderr
    expected = csv_rows(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", memform.CaptureWarning)
        table = memform.report(capture, **kwargs)
    assert isinstance(table, pyarrow.Table)
    assert table.num_rows == len(expected)
    assert table_rows(table) == expected
    metadata = table.schema.metadata
    report = {"peak": "peak", "leaks": "leaks"}.get(
        mode, f"temporary {kwargs.get('temporary_threshold')}"
    )
    assert metadata[b"memform.report"].decode() == report
    assert metadata[b"memform.capture.path"].decode() == str(capture.resolve())
    assert int(metadata[b"memform.capture.size"]) == capture.stat().st_size


@pytest.mark.parametrize(
    "capture,mode,kwargs", ERROR_CASES, ids=[f"{c.stem}-{m}" for c, m, _ in ERROR_CASES]
)
def test_temporary_report_of_an_aggregated_capture_is_refused(capture, mode, kwargs):
    expected = (EXPECTED / f"{capture.stem}-csv-{mode}.error").read_text().strip()
    with pytest.raises(ValueError) as raised:
        memform.report(capture, **kwargs)
    # memray's words, after its exception's name.
    assert expected == f"NotImplementedError: {raised.value}"


def test_polars_duckdb_and_pyarrow_read_the_stream_alike():
    capture = EXPECTED.parent / "captures" / "v1.20.0-py3.11-default.bin"
    table = memform.report(capture, leaks=True)
    stream = memform.report_stream(capture, leaks=True)
    assert stream.num_rows == table.num_rows
    from_reader = pyarrow.RecordBatchReader.from_stream(stream).read_all()
    assert from_reader.equals(table)
    for frame in (polars.from_arrow(table), polars.DataFrame(stream)):
        assert frame.height == table.num_rows
        assert frame["size"].to_list() == table.column("size").to_pylist()
        assert frame["stack_trace"].to_list() == table.column("stack_trace").to_pylist()
    report_table = table  # noqa: F841 (DuckDB finds Python variables by name)
    total = duckdb.sql("select sum(size), count(*) from report_table").fetchall()[0]
    assert total == (sum(table.column("size").to_pylist()), table.num_rows)


def test_the_stream_is_handed_over_without_a_copy():
    capture = EXPECTED.parent / "captures" / "v1.20.0-py3.11-default.bin"
    stream = memform.report_stream(capture)
    first, second = pyarrow.table(stream), pyarrow.table(stream)

    def addresses(table):
        return [
            buffer.address
            for column in ("size", "stack_trace")
            for chunk in table.column(column).chunks
            for buffer in chunk.buffers()
            if buffer is not None
        ]

    # Two imports of one stream see the same memory: Rust's buffers, not copies.
    assert addresses(first) == addresses(second)
    assert first.equals(second)


def test_frames_leaf_and_depth_describe_the_stack_trace():
    capture = EXPECTED.parent / "captures" / "v1.20.0-py3.11-default.bin"
    table = memform.report(capture)
    for row in table.to_pylist():
        frames = row["frames"]
        assert row["depth"] == len(frames)
        text = "|".join(f"{f['function']};{f['file']};{f['line']}" for f in frames)
        assert text == row["stack_trace"]
        if frames:
            leaf = frames[0]
            assert (row["leaf_function"], row["leaf_file"], row["leaf_line"]) == (
                leaf["function"], leaf["file"], leaf["line"])
        else:
            assert row["leaf_function"] is None


def test_a_killed_capture_warns_and_reports_the_records_before_the_end():
    capture = EXPECTED.parent / "captures" / "v1.20.0-py3.11-killed.bin"
    with pytest.warns(memform.CaptureWarning, match="without a trailer") as caught:
        table = memform.report(capture)
    # The warning points at the caller's line, not into memform.
    assert caught[0].filename == __file__
    with pytest.warns(memform.CaptureWarning) as caught:
        memform.report_stream(capture)
    assert caught[0].filename == __file__
    expected = csv_rows(EXPECTED / "v1.20.0-py3.11-killed-csv-peak.csv")
    assert [r[1:] for r in table_rows(table)] == [r[1:] for r in expected]
