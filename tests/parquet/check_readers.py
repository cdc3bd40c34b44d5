#!/usr/bin/env python3
"""memform's Parquet reports, read by pandas, polars and DuckDB, against its CSV reports.

    python check_readers.py --memform target/release/memform [--captures tests/fixtures/captures]
                            [--docs docs/parquet-schema.md] [--replay ../shared/corpus/replay.py]

Needs pyarrow, pandas, polars, duckdb, lz4 and memray (1.20) in the running Python;
scripts/parquet_check.sh makes such a venv. For every fixture capture and report mode:

- memform writes the CSV report and the Parquet report; a case memform refuses in CSV (temporary
  allocations of an aggregated capture) must be refused in Parquet too, leaving no file;
- each of pandas, polars and DuckDB reads every row and column of the Parquet file, and they
  must equal the CSV parsed with Python's csv module: allocator, num_allocations, size, tid,
  thread_name and stack_trace as strings and numbers, `frames` joined back into exactly the
  stack_trace, `leaf_*` the first frame (null for an empty stack) and `depth` the frame count;
  the column types are checked too (dictionary columns as category / Categorical);
- the key-value metadata, as each reader gives it, has every documented key with the value
  found independently: the header parsed here, memray's own FileReader metadata (pid, command
  line, peak memory, total allocations, allocators), replay.py's high-water-mark index;
- the three example queries of docs/parquet-schema.md, run as written there, return the top
  rows computed from the CSV reports (ties may come in any order).

Then every codec with a small row-group size (several row groups), and a `--dataset` of every
fixture capture under names that need percent-encoding, read by DuckDB, polars and pyarrow as one
Hive-partitioned table: its `capture` column the file names' stems, decoded, each capture's rows
those of its CSV report. Prints one line per failure and `parquet: P passed, F failed`; exits 1
on any failure.
"""
import argparse
import csv
import importlib.util
import io
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict
from contextlib import redirect_stdout
from pathlib import Path

import duckdb
import lz4.frame
import pandas as pd
import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from memray import FileReader

ROOT = Path(__file__).resolve().parents[2]
REPORTS = {
    "peak": [],
    "leaks": ["--leaks"],
    "temp": ["--temporary-allocations"],
    "temp0": ["--temporary-allocation-threshold", "0"],
    "temp5": ["--temporary-allocation-threshold", "5"],
}
REPORT_MODE = {"peak": "peak", "leaks": "leaks", "temp": "temporary 1", "temp0": "temporary 0", "temp5": "temporary 5"}
COLUMNS = [
    "allocator", "num_allocations", "size", "tid", "thread_name", "stack_trace",
    "frames", "leaf_function", "leaf_file", "leaf_line", "depth",
]
DICTIONARY_COLUMNS = ["allocator", "thread_name", "leaf_function", "leaf_file"]
METADATA_KEYS = [
    "schema_version", "version", "capture.path", "capture.size", "capture.file_format",
    "header_version", "memray_versions", "python_version", "pid", "command_line",
    "start_time_ms", "end_time_ms", "native_traces", "python_allocator",
    "trace_python_allocators", "report", "peak_memory", "peak_memory_index", "total_allocations",
]
PYTHON_ALLOCATORS = {1: "pymalloc", 2: "pymalloc debug", 3: "malloc", 4: "unknown", 5: "mimalloc", 6: "mimalloc debug"}
TOP = 10


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


def run_memform(opts, fmt, out, capture, *flags):
    cmd = [opts.memform, "transform", fmt, "-q", "-f", "-o", str(out), *flags, str(capture)]
    return subprocess.run(cmd, capture_output=True, text=True)


def check_dataset(opts, captures, work):
    """`--dataset` of every capture, renamed to need escaping, read back by three readers."""
    oddities = [" 1", "=x", "%", "#?", "+é", "\\", "\t", "日"]
    caps = work / "dataset-captures"
    caps.mkdir()
    copies = {}
    for i, capture in enumerate(captures):
        copy = caps / f"{capture.stem}{oddities[i % len(oddities)]}.bin"
        shutil.copy(capture, copy)
        copies[copy.stem] = copy
    folder = work / "dataset"
    cmd = [opts.memform, "transform", "parquet", "-q", "--dataset", str(folder), *map(str, copies.values())]
    p = subprocess.run(cmd, capture_output=True, text=True)
    expect(p.returncode == 0, f"--dataset exit {p.returncode}: {p.stderr.strip()}")
    expected = {}
    for name, copy in copies.items():
        out = work / "dataset.csv"
        c = run_memform(opts, "csv", out, copy)
        expect(c.returncode == 0, f"{name}: csv exit {c.returncode}: {c.stderr.strip()}")
        expected[name] = sorted((r[0], int(r[1]), int(r[2]), int(r[3]) % (1 << 64), r[4], r[5]) for r in read_csv(out))
    columns = ["capture", "allocator", "num_allocations", "size", "tid", "thread_name", "stack_trace"]
    read = {
        "duckdb": lambda: duckdb.sql(
            f"SELECT {', '.join(columns)} FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true)"
        ).fetchall(),
        "polars": lambda: pl.scan_parquet(folder, hive_partitioning=True).select(columns).collect().rows(),
        "pyarrow": lambda: [
            tuple(r[c] for c in columns)
            for r in pads.dataset(folder, format="parquet", partitioning="hive").to_table(columns=columns).to_pylist()
        ],
    }
    for reader, rows in read.items():
        got = defaultdict(list)
        for row in rows():
            got[row[0]].append(tuple(row[1:]))
        expect(set(got) == set(expected), f"{reader}: captures {sorted(set(got) ^ set(expected))} differ")
        for name, want in expected.items():
            expect(sorted(got[name]) == want, f"{reader}: capture {name!r}: rows differ from its CSV report")


# ---------------------------------------------------------------- independent expectations

def read_header(capture):
    """The capture header, parsed here (LZ4-framed or not)."""
    data = capture.read_bytes()
    if data[:4] == b"\x04\x22\x4d\x18":
        d = lz4.frame.LZ4FrameDecompressor()
        data = d.decompress(data, max_length=1 << 20)
    expect(data[:7] == b"memray\0", f"{capture}: not a memray capture")
    expect(struct.unpack_from("<i", data, 7)[0] >= 12, f"{capture}: header before version 12 (no Python version field)")
    pos = 7
    version, python_hex, native, file_format = struct.unpack_from("<iIBB", data, pos)
    pos += 10
    n_allocations, n_frames, start_ms, end_ms = struct.unpack_from("<QQqq", data, pos)
    pos += 32
    end = data.index(b"\0", pos)
    command_line = data[pos:end].decode("utf-8", "replace")
    pos = end + 1
    pid, main_tid, skipped, python_allocator, trace_python_allocators = struct.unpack_from("<iQQBB", data, pos)
    return {
        "version": version,
        "python_version": f"{python_hex >> 24}.{(python_hex >> 16) & 0xff}.{(python_hex >> 8) & 0xff}",
        "native_traces": bool(native),
        "file_format": file_format,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "command_line": command_line,
        "pid": pid,
        "python_allocator": PYTHON_ALLOCATORS.get(python_allocator, "unknown"),
        "trace_python_allocators": bool(trace_python_allocators),
    }


def load_replay(path):
    if not path or not Path(path).exists():
        return None
    spec = importlib.util.spec_from_file_location("replay", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CaptureFacts:
    """What memray itself and the header say about a capture, computed once."""

    def __init__(self, capture, replay):
        self.header = read_header(capture)
        reader = FileReader(str(capture))
        self.metadata = reader.metadata
        self.aggregated = self.header["file_format"] == 1
        self.peak_index = None
        if replay is not None and not self.aggregated:
            records = list(reader.get_allocation_records())
            self.peak_index = replay.peak_index(records) if records else None
        reader.close()


def expected_metadata(opts, capture, report, facts):
    h, m = facts.header, facts.metadata
    version_match = re.match(r"v(\d+\.\d+)", capture.name)
    expected = {
        "schema_version": "1",
        "version": opts.version,
        "capture.path": os.path.realpath(capture),
        "capture.size": str(capture.stat().st_size),
        "capture.file_format": "aggregated_allocations" if facts.aggregated else "all_allocations",
        "header_version": str(h["version"]),
        # The fixtures' names give the memray that wrote them (1.20 writes header version 13).
        "memray_versions": version_match.group(1),
        "python_version": h["python_version"],
        "pid": str(m.pid),
        "command_line": m.command_line,
        "start_time_ms": str(h["start_ms"]),
        "end_time_ms": str(h["end_ms"]),
        "native_traces": str(m.has_native_traces).lower(),
        "python_allocator": m.python_allocator,
        "trace_python_allocators": str(m.trace_python_allocators).lower(),
        "report": REPORT_MODE[report],
        "peak_memory": "" if facts.aggregated else str(m.peak_memory),
        "total_allocations": str(m.total_allocations),
    }
    expect(h["python_version"].startswith(re.search(r"py(\d+\.\d+)", capture.name).group(1) + "."),
           f"header Python {h['python_version']} does not match the capture name")
    expect(h["command_line"] == m.command_line and h["pid"] == m.pid
           and h["python_allocator"] == m.python_allocator, "header parsed here disagrees with memray")
    expect(round(m.start_time.timestamp() * 1000) == h["start_ms"], "start time disagrees with memray")
    if facts.peak_index is not None:
        expected["peak_memory_index"] = str(facts.peak_index)
    elif facts.aggregated:
        expected["peak_memory_index"] = ""
    return expected


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    expect(rows and rows[0] == COLUMNS[:6], f"CSV header {rows[:1]}")
    return rows[1:]


def segments(stack):
    """(function, file, line) of each frame of a CSV stack_trace, leaf first."""
    out = []
    for seg in stack.split("|") if stack else []:
        function, rest = seg.split(";", 1)
        file, line = rest.rsplit(";", 1)
        out.append((function, file, int(line)))
    return out


# ---------------------------------------------------------------- the three readers

def norm_int(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return int(v)


def norm_str(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return str(v)


def norm_frames(frames):
    if frames is None:
        return None
    return tuple((str(f["function"]), str(f["file"]), int(f["line"])) for f in frames)


def norm_row(values):
    a, n, s, t, tn, st, fr, lf, lfile, ll, d = values
    return (str(a), int(n), int(s), int(t), str(tn), str(st), norm_frames(fr),
            norm_str(lf), norm_str(lfile), norm_int(ll), int(d))


def rows_pandas(path):
    df = pd.read_parquet(path)
    expect(list(df.columns) == COLUMNS, f"pandas columns {list(df.columns)}")
    for c in DICTIONARY_COLUMNS:
        expect(isinstance(df[c].dtype, pd.CategoricalDtype), f"pandas: {c} is {df[c].dtype}, not category")
    for c in ("num_allocations", "size", "tid"):
        expect(str(df[c].dtype) == "uint64", f"pandas: {c} is {df[c].dtype}")
    return [norm_row(r) for r in df.itertuples(index=False, name=None)]


def rows_polars(path):
    df = pl.read_parquet(path)
    expect(df.columns == COLUMNS, f"polars columns {df.columns}")
    schema = df.schema
    for c in DICTIONARY_COLUMNS:
        expect(schema[c] == pl.Categorical, f"polars: {c} is {schema[c]}, not Categorical")
    for c in ("num_allocations", "size", "tid"):
        expect(schema[c] == pl.UInt64, f"polars: {c} is {schema[c]}")
    expect(isinstance(schema["frames"], pl.List), f"polars: frames is {schema['frames']}")
    return [norm_row(r) for r in df.rows()]


def rows_duckdb(path):
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    expect(rel.columns == COLUMNS, f"duckdb columns {rel.columns}")
    types = dict(zip(rel.columns, map(str, rel.types)))
    for c in ("num_allocations", "size", "tid"):
        expect(types[c] == "UBIGINT", f"duckdb: {c} is {types[c]}")
    expect(types["frames"].endswith("[]") and "STRUCT" in types["frames"], f"duckdb: frames is {types['frames']}")
    return [norm_row(r) for r in rel.fetchall()]


READERS = {"pandas": rows_pandas, "polars": rows_polars, "duckdb": rows_duckdb}


def metadata_pyarrow(path):
    md = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if k.decode().startswith("memform.")}


def metadata_polars(path):
    return {k: v for k, v in pl.read_parquet_metadata(path).items() if k.startswith("memform.")}


def metadata_duckdb(path):
    rows = duckdb.sql(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{path}')").fetchall()
    return {k: v for k, v in rows if k.startswith("memform.")}


METADATA_READERS = {"pyarrow": metadata_pyarrow, "polars": metadata_polars, "duckdb": metadata_duckdb}


def check_rows(path, csv_rows):
    """Every reader's rows against the CSV's."""
    for name, read in READERS.items():
        rows = read(path)
        expect(len(rows) == len(csv_rows), f"{name}: {len(rows)} rows, CSV has {len(csv_rows)}")
        for i, (row, c) in enumerate(zip(rows, csv_rows), 1):
            a, n, s, t, tn, st, frames, lf, lfile, ll, d = row
            want = (c[0], int(c[1]), int(c[2]), int(c[3]) % (1 << 64), c[4], c[5])
            expect((a, n, s, t, tn, st) == want, f"{name}: row {i}: {row[:6]} != CSV {want}")
            joined = "|".join(f"{f};{file};{line}" for f, file, line in frames)
            expect(joined == st, f"{name}: row {i}: frames {frames} do not make the stack_trace {st!r}")
            leaf = frames[0] if frames else (None, None, None)
            expect((lf, lfile, ll) == leaf, f"{name}: row {i}: leaf {(lf, lfile, ll)} != {leaf}")
            expect(d == len(frames), f"{name}: row {i}: depth {d} != {len(frames)}")


def check_metadata(path, expected):
    for name, read in METADATA_READERS.items():
        got = read(path)
        missing = [k for k in METADATA_KEYS if f"memform.{k}" not in got]
        expect(not missing, f"{name}: metadata lacks {missing}")
        extra = sorted(set(got) - {f"memform.{k}" for k in METADATA_KEYS})
        expect(not extra, f"{name}: undocumented metadata keys {extra}")
        for k, v in expected.items():
            expect(got[f"memform.{k}"] == v, f"{name}: memform.{k} = {got[f'memform.{k}']!r}, expected {v!r}")
        index = got["memform.peak_memory_index"]
        if "peak_memory_index" not in expected and index:
            total = int(got["memform.total_allocations"])
            expect(0 <= int(index) < total, f"{name}: peak_memory_index {index} outside 0..{total}")


# ---------------------------------------------------------------- the documented queries

def doc_queries(docs):
    """The fenced code block after each `<!-- query: NAME -->` marker of the docs."""
    text = Path(docs).read_text(encoding="utf-8")
    found = {}
    for m in re.finditer(r"<!-- query: (\w+) -->\s*```\w*\n(.*?)```", text, re.S):
        found[m.group(1)] = m.group(2)
    expect(set(found) == {"pandas", "polars", "duckdb"}, f"docs have queries {sorted(found)}")
    return found


def check_top(name, got, expected, size_of):
    """`got` (key, values) rows are a valid top-TOP of `expected` {key: values} by size."""
    expect(len(got) == min(TOP, len(expected)), f"{name}: {len(got)} rows, expected {min(TOP, len(expected))}")
    keys = [k for k, _ in got]
    expect(len(set(keys)) == len(keys), f"{name}: repeated keys {keys}")
    for k, v in got:
        expect(k in expected, f"{name}: unexpected key {k}")
        expect(expected[k] == v, f"{name}: {k}: {v} != {expected[k]}")
    sizes = [size_of(v) for _, v in got]
    best = sorted((size_of(v) for v in expected.values()), reverse=True)[:TOP]
    expect(sizes == best, f"{name}: sizes {sizes} != the largest {best}")


def run_python_query(code, path):
    namespace = {}
    with redirect_stdout(io.StringIO()):
        exec(code.replace('"report.parquet"', repr(str(path))), namespace)
    return namespace["top"]


def check_pandas_query(code, path, csv_rows):
    expected = defaultdict(lambda: [0, 0])
    for c in csv_rows:
        frames = segments(c[5])
        if frames:
            e = expected[frames[0][:2]]
            e[0] += int(c[2])
            e[1] += int(c[1])
    top = run_python_query(code, path)
    expect(list(top.columns) == ["leaf_function", "leaf_file", "size", "num_allocations"],
           f"pandas query columns {list(top.columns)}")
    got = [((str(f), str(file)), [int(s), int(n)]) for f, file, s, n in top.itertuples(index=False, name=None)]
    check_top("pandas query", got, dict(expected), lambda v: v[0])


def check_polars_query(code, path, csv_rows):
    expected = defaultdict(int)
    for c in csv_rows:
        for key in {(f, file) for f, file, _ in segments(c[5])}:
            expected[key] += int(c[2])
    top = run_python_query(code, path)
    expect(top.columns == ["function", "file", "bytes"], f"polars query columns {top.columns}")
    got = [((str(f), str(file)), int(b)) for f, file, b in top.rows()]
    check_top("polars query", got, dict(expected), lambda v: v)


def check_duckdb_query(code, folder, reports):
    """`reports`: (csv rows, command line) of every Parquet file in `folder`."""
    expected = defaultdict(lambda: [0, 0])
    for csv_rows, command_line in reports:
        for c in csv_rows:
            frames = segments(c[5])
            if frames:
                e = expected[(command_line, *frames[0])]
                e[0] += int(c[2])
                e[1] += int(c[1])
    expect("'reports/*.parquet'" in code, "the DuckDB query reads 'reports/*.parquet'")
    sql = code.replace("'reports/*.parquet'", f"'{folder}/*.parquet'")
    rows = duckdb.sql(sql).fetchall()
    got = [((cmd, f, file, int(line)), [int(b), int(n)]) for cmd, f, file, line, b, n in rows]
    check_top("duckdb query", got, dict(expected), lambda v: v[0])


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memform", required=True)
    ap.add_argument("--captures", default=str(ROOT / "tests" / "fixtures" / "captures"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "parquet-schema.md"))
    ap.add_argument("--replay", default=str(ROOT.parent / "shared" / "corpus" / "replay.py"))
    opts = ap.parse_args()
    opts.memform = str(Path(opts.memform).resolve())
    version = subprocess.run([opts.memform, "--version"], capture_output=True, text=True, check=True).stdout
    opts.version = version.split()[-1]
    replay = load_replay(opts.replay)
    if replay is None:
        print(f"parquet: {opts.replay} not found; peak_memory_index is checked for range only", file=sys.stderr)
    queries = doc_queries(opts.docs)
    captures = sorted(Path(opts.captures).glob("*.bin"))
    expect(captures, f"no captures in {opts.captures}")

    passed = failed = 0

    def case(name, fn, *args):
        nonlocal passed, failed
        try:
            fn(*args)
            passed += 1
        except Failure as e:
            failed += 1
            print(f"FAIL {name}: {e}")
        except Exception as e:  # a reader's or a query's own error
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")

    work = Path(tempfile.mkdtemp(prefix="memform-parquet-"))
    try:
        peak_reports = work / "reports"
        peak_reports.mkdir()
        duckdb_inputs = []
        facts = {}
        for capture in captures:
            try:
                facts[capture] = CaptureFacts(capture, replay)
            except Exception as e:
                failed += 1
                print(f"FAIL {capture.name}: reading it with memray: {type(e).__name__}: {e}")
                continue
            for report, flags in REPORTS.items():
                name = f"{capture.stem}-{report}"
                out_csv = work / f"{name}.csv"
                out_pq = work / f"{name}.parquet"

                def one_case(capture=capture, report=report, flags=flags, name=name, out_csv=out_csv, out_pq=out_pq):
                    c = run_memform(opts, "csv", out_csv, capture, *flags)
                    p = run_memform(opts, "parquet", out_pq, capture, *flags)
                    if c.returncode != 0:
                        expect(p.returncode != 0, f"CSV refused ({c.stderr.strip()}) but Parquet did not")
                        expect(not out_pq.exists(), "a refused report left a Parquet file")
                        expect(p.stderr.strip(), "refused without a message")
                        return
                    expect(p.returncode == 0, f"parquet exit {p.returncode}: {p.stderr.strip()}")
                    csv_rows = read_csv(out_csv)
                    check_rows(out_pq, csv_rows)
                    check_metadata(out_pq, expected_metadata(opts, capture, report, facts[capture]))
                    rg = pq.ParquetFile(out_pq).metadata
                    if rg.num_row_groups:
                        codec = rg.row_group(0).column(0).compression
                        expect(codec == "ZSTD", f"default codec {codec}, not ZSTD")
                    if report == "peak":
                        check_pandas_query(queries["pandas"], out_pq, csv_rows)
                        check_polars_query(queries["polars"], out_pq, csv_rows)
                        shutil.copy(out_pq, peak_reports / out_pq.name)
                        duckdb_inputs.append((csv_rows, facts[capture].metadata.command_line))

                case(name, one_case)

        if duckdb_inputs:
            case("duckdb query over every peak report", check_duckdb_query, queries["duckdb"], peak_reports, duckdb_inputs)

        # Every codec, and row groups of 7 rows.
        # pyarrow names Parquet's LZ4_RAW codec "LZ4" (and the deprecated Hadoop one "LZ4_HADOOP").
        codecs = {"zstd": "ZSTD", "snappy": "SNAPPY", "gzip": "GZIP", "lz4": "LZ4", "none": "UNCOMPRESSED"}
        for capture in [c for c in captures if c.stem.endswith(("-pyalloc", "-aggregate"))][:2]:
            if capture not in facts:
                continue
            for codec, parquet_name in codecs.items():
                name = f"{capture.stem}-leaks-{codec}-rg7"

                def codec_case(capture=capture, codec=codec, parquet_name=parquet_name, name=name):
                    out_csv, out_pq = work / f"{name}.csv", work / f"{name}.parquet"
                    c = run_memform(opts, "csv", out_csv, capture, "--leaks")
                    expect(c.returncode == 0, c.stderr)
                    p = run_memform(opts, "parquet", out_pq, capture, "--leaks", "--compression", codec,
                                    "--row-group-size", "7")
                    expect(p.returncode == 0, f"parquet exit {p.returncode}: {p.stderr.strip()}")
                    csv_rows = read_csv(out_csv)
                    md = pq.ParquetFile(out_pq).metadata
                    expect(md.num_row_groups == math.ceil(len(csv_rows) / 7),
                           f"{md.num_row_groups} row groups for {len(csv_rows)} rows of 7")
                    for g in range(md.num_row_groups):
                        group = md.row_group(g)
                        expect(group.num_rows == min(7, len(csv_rows) - 7 * g), f"row group {g}: {group.num_rows} rows")
                        for col in range(group.num_columns):
                            got = group.column(col).compression
                            expect(got == parquet_name, f"row group {g} column {col}: {got}, not {parquet_name}")
                    check_rows(out_pq, csv_rows)
                    check_metadata(out_pq, expected_metadata(opts, capture, "leaks", facts[capture]))

                case(name, codec_case)

        case("--dataset of every capture, read as one table", check_dataset, opts, captures, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"parquet: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
