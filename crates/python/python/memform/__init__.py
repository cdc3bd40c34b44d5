"""memform: memray capture files into reports, fast and with exactly memray's numbers.

- :func:`report` gives one report's rows as a ``pyarrow.Table`` (the columns of memform's
  Parquet reports, the capture's metadata on the schema), handed over from Rust through the
  Arrow C data interface without a copy.
- :func:`transform` writes a report file in any format, like ``memray transform``.
- :func:`events` gives the events dataset (every allocation with its lifetime) as
  ``pyarrow.dataset.Dataset`` s over the Parquet files it writes, never loaded whole.
- :func:`stats` gives memray's statistics of a capture (``memray stats --json``) as a dict.
- :func:`diff` compares the reports of two captures stack by stack, as a ``pyarrow.Table``
  (``memform diff``).
- :func:`dataset_part` says where a capture's report goes in a Hive-partitioned dataset
  (the layout of ``memform transform parquet CAPTURE... --dataset DIR``).

Errors are exceptions: :class:`CaptureError` for a capture that cannot be read,
``FileNotFoundError``, ``FileExistsError`` and the other ``OSError`` subclasses for files,
``ValueError`` for arguments. A capture whose record stream ends without a trailer (the
process was killed) is reported on from the records before it, with a
:class:`CaptureWarning`. The GIL is released while a capture is read: other threads run,
and two threads convert two captures at once. Paths are ``str`` or ``os.PathLike``. The long
calls take ``progress=True`` for a tqdm bar (where tqdm is installed) or a callable of
``(phase, done, total)``; Ctrl-C stops them half-way (``KeyboardInterrupt``, nothing
written). docs/python.md has every function with an example.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from . import _memform, _progress
from ._memform import CaptureError, ReportStream, __version__
from ._progress import ProgressArg, ProgressCallback
from ._temporary import SharedTemporaryFolder
from ._warn import warn_at_caller

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

__all__ = [
    "CaptureError",
    "CaptureWarning",
    "EVENTS_TABLES",
    "EventsDataset",
    "FORMATS",
    "PathLike",
    "ProgressArg",
    "ProgressCallback",
    "REPORT_FORMATS",
    "ReportStream",
    "__version__",
    "dataset_part",
    "diff",
    "events",
    "report",
    "report_stream",
    "stats",
    "transform",
]

#: A path: a ``str`` or any ``os.PathLike`` of one, such as ``pathlib.Path``.
PathLike = Union[str, "os.PathLike[str]"]

#: The formats of :func:`transform` (and of ``memform transform``): the reports, then
#: ``events``, the events dataset (a folder of Parquet tables, docs/events-dataset.md),
#: ``aggregate``, the capture rewritten as memray's aggregated capture (``memray run
#: --aggregate``), ``stats``, the document ``memray stats --json`` writes
#: (:func:`stats` returns it parsed), and ``timeline``, the heap and resident sizes over
#: the capture's time as an SVG picture (docs/timeline.md).
FORMATS = (
    "gprof2dot", "csv", "speedscope", "parquet", "folded", "pprof", "flamegraph", "events",
    "aggregate", "stats", "timeline",
)

#: The report formats among :data:`FORMATS`: every one but ``events``, ``aggregate``,
#: ``stats`` and ``timeline``, which are made of the whole capture and take no report mode
#: (``leaks`` and ``temporary_threshold`` raise ``ValueError`` with them).
REPORT_FORMATS = FORMATS[:-4]


class CaptureWarning(UserWarning):
    """A capture that ends without a trailer: the report covers the records before it."""


def _warn(message: Optional[str]) -> None:
    if message is not None:
        warn_at_caller(message, CaptureWarning)


def report_stream(
    capture: PathLike,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    progress: ProgressArg = False,
) -> ReportStream:
    """The rows of one report of ``capture`` as an Arrow stream (PyCapsule protocol).

    ``pyarrow.table(s)``, ``pyarrow.RecordBatchReader.from_stream(s)``,
    ``polars.from_arrow(s)`` and DuckDB take it as it is; :func:`report` is
    ``pyarrow.table(report_stream(...))``. The arguments are those of :func:`report`.
    """
    with _progress.callback(progress) as callback:
        stream, warning = _memform.report_stream(
            os.fspath(capture),
            leaks=leaks,
            temporary_threshold=temporary_threshold,
            progress=callback,
        )
    _warn(warning)
    return stream


def report(
    capture: PathLike,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    progress: ProgressArg = False,
) -> "pyarrow.Table":
    """One report of ``capture`` as a ``pyarrow.Table``, one row per report row.

    The peak-memory report by default; ``leaks=True`` for memory leaks, or
    ``temporary_threshold=N`` for temporary allocations (those freed after at most N other
    allocations of their thread, like ``--temporary-allocation-threshold N``). The
    columns are those of memform's Parquet reports (docs/parquet-schema.md): ``allocator``,
    ``num_allocations``, ``size``, ``tid``, ``thread_name``, ``stack_trace`` (the strings of
    memray's CSV report), ``frames``, ``leaf_function``, ``leaf_file``, ``leaf_line`` and
    ``depth``; the schema's metadata holds the ``memform.*`` keys (capture, versions,
    report, peak memory).

    ``progress=True`` shows a tqdm bar while the capture is read (where tqdm is installed);
    a callable ``progress(phase, done, total)`` is called instead (bytes of the capture).
    Ctrl-C stops the call half-way: it raises ``KeyboardInterrupt`` and writes nothing.

    Raises ``FileNotFoundError``, ``PermissionError`` (the ``OSError`` family) for a
    capture that cannot be opened, :class:`CaptureError` for one that cannot be read.
    The GIL is released while the capture is read.

    >>> table = memform.report("run.bin", leaks=True)  # doctest: +SKIP
    >>> table.sort_by([("size", "descending")]).slice(0, 10).to_pylist()  # doctest: +SKIP
    """
    import pyarrow

    stream = report_stream(
        capture, leaks=leaks, temporary_threshold=temporary_threshold, progress=progress
    )
    return pyarrow.table(stream)


def transform(
    capture: PathLike,
    format: str,
    output: Optional[PathLike] = None,
    *,
    force: bool = False,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    progress: ProgressArg = False,
) -> pathlib.Path:
    """Writes one report of ``capture`` in ``format`` and returns the report's path.

    ``format`` is one of :data:`FORMATS`. Without ``output``, the report goes beside the
    capture under memray's default name (``memray-<format>-<name>``). ``aggregate``
    writes the capture as memray's aggregated capture (``memray-aggregate-<name>.bin``),
    ``stats`` memray's statistics (``memray-stats-<capture file name>.json``, the document
    of ``memray stats --json``), ``timeline`` the heap and resident sizes over time as an
    SVG picture (``memray-timeline-<name>.svg``). An existing report
    is not overwritten unless ``force=True`` (``FileExistsError``). The report is written to
    a temporary file and renamed into place, so a failed conversion leaves nothing behind.

    ``"events"`` writes the events dataset, a folder of four Parquet tables
    (``allocations``, ``stacks``, ``threads``, ``memory``: docs/events-dataset.md) of
    every allocation with its lifetime; ``leaks`` and ``temporary_threshold`` do not apply
    to it (``ValueError``), nor to an aggregated capture, which keeps no events.

    ``progress=True`` shows a tqdm bar while the capture is read (where tqdm is installed);
    a callable ``progress(phase, done, total)`` is called instead (bytes of the capture).
    Ctrl-C stops the call half-way: it raises ``KeyboardInterrupt`` and writes nothing.

    Raises ``FileNotFoundError``, ``PermissionError`` (the ``OSError`` family) for a
    capture that cannot be opened or an output that cannot be written,
    :class:`CaptureError` for a capture that cannot be read, ``ValueError`` for an unknown
    format. The GIL is released while the capture is read.

    >>> memform.transform("run.bin", "flamegraph", "run.svg", force=True)  # doctest: +SKIP
    PosixPath('run.svg')
    """
    if not isinstance(format, str):
        raise TypeError(f"format must be a str, not {type(format).__name__}")
    with _progress.callback(progress) as callback:
        path, warning = _memform.transform(
            os.fspath(capture),
            format,
            None if output is None else os.fspath(output),
            force=force,
            leaks=leaks,
            temporary_threshold=temporary_threshold,
            progress=callback,
        )
    _warn(warning)
    return pathlib.Path(path)


#: The tables of the events dataset (docs/events-dataset.md), each a Parquet file
#: ``<name>.parquet`` of the folder :func:`events` writes.
EVENTS_TABLES = ("allocations", "stacks", "threads", "memory")


class EventsDataset(Dict[str, "pyarrow.dataset.Dataset"]):
    """The tables of the events dataset by name (:data:`EVENTS_TABLES`), each a
    ``pyarrow.dataset.Dataset`` over its Parquet file; :attr:`folder` is where they are.
    Written into a temporary folder (no ``output`` given), the folder lives as long as this
    object or any of its four datasets."""

    folder: pathlib.Path


def events(
    capture: PathLike,
    output: Optional[PathLike] = None,
    *,
    force: bool = False,
    progress: ProgressArg = False,
) -> EventsDataset:
    """The events dataset of ``capture``: every allocation with its lifetime, and the
    stacks, threads and memory records they refer to (docs/events-dataset.md), written as
    Parquet files into ``output`` (a folder; without it, a temporary folder that lives as
    long as the result or one of its datasets) and returned as a dict from each table's
    name (``allocations``, ``stacks``, ``threads``, ``memory``) to a
    ``pyarrow.dataset.Dataset`` over its file, so that a capture of any size is scanned,
    filtered and joined without being loaded whole
    (polars: ``polars.scan_parquet(result.folder / "allocations.parquet")``; DuckDB:
    ``duckdb.sql(f"select ... from '{result.folder}/allocations.parquet'")``).

    An existing ``output`` is replaced only with ``force=True`` (``FileExistsError``), and
    only if it holds nothing but the dataset's files. Raises :class:`CaptureError` for a
    capture that cannot be read and ``ValueError`` for an aggregated capture, which keeps no
    events, ``FileNotFoundError`` and ``PermissionError`` for files. The GIL is released
    while the capture is read. ``progress`` as in :func:`report`.

    >>> tables = memform.events("run.bin")  # doctest: +SKIP
    >>> tables["allocations"].to_table(filter=pc.field("size") > 1 << 20).num_rows  # doctest: +SKIP
    """
    import pyarrow.dataset

    temporary = None
    if output is None:
        temporary = SharedTemporaryFolder(prefix="memform-events-")
        output = pathlib.Path(temporary.name) / "events"
    folder = transform(capture, "events", output, force=force, progress=progress)
    result = EventsDataset(
        (name, pyarrow.dataset.dataset(folder / f"{name}.parquet", format="parquet"))
        for name in EVENTS_TABLES
    )
    result.folder = folder
    if temporary is not None:
        for owner in (result, *result.values()):
            temporary.tie(owner)
    return result


def stats(
    capture: PathLike, *, num_largest: int = 5, progress: ProgressArg = False
) -> Dict[str, Any]:
    """memray's statistics of ``capture``: the document ``memray stats --json`` writes, as
    the memray that recorded the capture writes it (docs/stats.md), parsed.

    Its keys: ``total_num_allocations`` and ``total_bytes_allocated`` (deallocations not
    counted), ``allocation_size_histogram`` (ten bins of ``min_bytes``, ``max_bytes``,
    ``count``), ``allocator_type_distribution`` (name to allocations, most first),
    ``top_allocations_by_size`` and ``top_allocations_by_count`` (the ``num_largest``
    locations, ``"function:file:line"``), from memray 1.20's captures
    ``top_modules_by_allocation_size`` and ``top_modules_by_allocation_count``, and
    ``metadata`` (its ``peak_memory`` is the heap's largest size).

    Raises :class:`CaptureError` for a capture that cannot be read, ``FileNotFoundError``
    and ``PermissionError`` for one that cannot be opened, ``ValueError`` for an aggregated
    capture (it keeps no allocations to count) and for ``num_largest`` below 1. The GIL is
    released while the capture is read. ``progress`` as in :func:`report`.

    >>> s = memform.stats("run.bin")  # doctest: +SKIP
    >>> s["metadata"]["peak_memory"], s["top_allocations_by_size"][0]["location"]  # doctest: +SKIP
    """
    if num_largest < 1:
        raise ValueError("num_largest must be at least 1")
    with _progress.callback(progress) as callback:
        document = _memform.stats(os.fspath(capture), num_largest=num_largest, progress=callback)
    result: Dict[str, Any] = json.loads(document)
    return result


def diff(
    base: PathLike,
    new: PathLike,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    by: str = "stack",
    progress: ProgressArg = False,
) -> "pyarrow.Table":
    """The reports of ``base`` and ``new`` (the same report: peak by default, ``leaks=True``
    or ``temporary_threshold=N`` as in :func:`report`) joined by stack, as a
    ``pyarrow.Table`` sorted by the change in bytes, largest growth first: the rows of
    ``memform diff BASE NEW`` (docs/diff.md).

    Columns: ``stack_trace`` (memray's CSV string), ``base_size``, ``new_size``,
    ``delta_size``, ``base_num_allocations``, ``new_num_allocations``,
    ``delta_num_allocations`` (deltas are new minus base), and with ``by="row"`` also
    ``allocator`` and ``tid``: a row per stack, allocator and thread, as memray's CSV rows,
    where ``by="stack"`` (the default) sums a stack's threads and allocators. The schema's
    metadata holds the ``memform.diff.*`` keys: both captures, their peaks, the reports'
    totals.

    Raises ``ValueError`` when one capture was recorded with ``--native`` and the other
    without (no stack can match), :class:`CaptureError` for a capture that cannot be read,
    ``FileNotFoundError`` and ``PermissionError`` for one that cannot be opened. The GIL is
    released while the captures are read. ``progress`` as in :func:`report` (a phase for
    each capture).

    >>> t = memform.diff("before.bin", "after.bin")  # doctest: +SKIP
    >>> t.select(["stack_trace", "delta_size"]).slice(0, 5).to_pylist()  # doctest: +SKIP
    """
    import pyarrow

    if by not in ("stack", "row"):
        raise ValueError(f'by must be "stack" or "row", not {by!r}')
    with _progress.callback(progress) as callback:
        stream = _memform.diff_stream(
            os.fspath(base),
            os.fspath(new),
            leaks=leaks,
            temporary_threshold=temporary_threshold,
            by=by,
            progress=callback,
        )
    return pyarrow.table(stream)


def dataset_part(dataset: PathLike, capture: PathLike) -> pathlib.Path:
    """Where ``capture``'s Parquet report goes in the Hive-partitioned dataset ``dataset``:
    ``<dataset>/capture=<name>/part-0.parquet``, ``<name>`` being the capture's file name
    without its last suffix, every byte but letters, digits and ``-._~`` escaped as ``%XX``
    (as pyarrow escapes partition values). The same rule as
    ``memform transform parquet CAPTURE... --dataset DIR``.

    >>> memform.dataset_part("reports", "captures/run 1.bin")  # doctest: +SKIP
    PosixPath('reports/capture=run%201/part-0.parquet')
    """
    return pathlib.Path(_memform.dataset_part(os.fspath(dataset), os.fspath(capture)))
