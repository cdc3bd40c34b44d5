"""The events dataset read by DuckDB, polars and pyarrow, with the queries of
docs/events-dataset.md, against memray's own reports.

For every full fixture capture (tests/fixtures/captures and tests/fixtures/versions/captures):
memform writes the dataset; each table is read by DuckDB, polars (eager and lazy) and pyarrow
(file and dataset), which must agree on rows, sums and metadata; every SQL block and the polars
example of the docs runs on it; the docs' query of what was alive at the peak must give
memray's peak CSV report (rows summed per stack: allocations and bytes), and its leaks query
memray's leaks report. Prints one summary line; exits 1 on the first difference.

Usage: python check_events.py --memform BIN
"""

import argparse
import csv
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events-dataset.md"
TABLES = ("allocations", "stacks", "threads", "memory")


def fail(message):
    print(f"events check: {message}", file=sys.stderr)
    sys.exit(1)


def full_captures():
    for fixtures in (ROOT / "tests/fixtures", ROOT / "tests/fixtures/versions"):
        for capture in sorted((fixtures / "captures").glob("*.bin")):
            if "aggregate" not in capture.name and "nativeagg" not in capture.name:
                yield capture, fixtures / "expected"


def csv_by_stack(path):
    out = defaultdict(lambda: [0, 0])
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            entry = out[row["stack_trace"]]
            entry[0] += int(row["num_allocations"])
            entry[1] += int(row["size"])
    return {k: tuple(v) for k, v in out.items()}


def docs_blocks():
    text = DOCS.read_text()
    sql = re.findall(r"```sql\n(.*?)```", text, re.S)
    python = re.findall(r"```python\n(.*?)```", text, re.S)
    if len(sql) < 7 or len(python) < 1:
        fail(f"{DOCS}: expected the SQL and Python examples, found {len(sql)} and {len(python)}")
    return sql, python


def check_readers(folder, case):
    con = duckdb.connect()
    for table in TABLES:
        path = str(folder / f"{table}.parquet")
        rows = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
        eager = pl.read_parquet(path)
        lazy = pl.scan_parquet(path).select(pl.len()).collect().item()
        arrow = pq.read_table(path)
        dataset = ds.dataset(path, format="parquet").count_rows()
        if not rows == eager.height == lazy == arrow.num_rows == dataset:
            fail(f"{case}: {table}: rows differ between readers")
        metadata = pq.read_metadata(path).metadata
        if metadata[b"memform.table"] != table.encode() or metadata[b"memform.dataset"] != b"events":
            fail(f"{case}: {table}: metadata {metadata}")
    path = str(folder / "allocations.parquet")
    duck = con.execute(f"SELECT sum(size), count(freed_at), count(split_from) FROM '{path}'").fetchone()
    polars = pl.read_parquet(path).select(
        pl.col("size").sum(), pl.col("freed_at").count(), pl.col("split_from").count()
    ).row(0)
    table = pq.read_table(path)
    arrow = (
        sum(table.column("size").to_pylist()),
        table.column("freed_at").length() - table.column("freed_at").null_count,
        table.column("split_from").length() - table.column("split_from").null_count,
    )
    if tuple(int(v) for v in duck) != tuple(polars) or tuple(polars) != arrow:
        fail(f"{case}: allocations: sums differ: DuckDB {duck}, polars {polars}, pyarrow {arrow}")
    if str(table.schema.field("allocator").type) != "dictionary<values=string, indices=int32, ordered=0>":
        fail(f"{case}: allocator type {table.schema.field('allocator').type}")


def run_queries(folder, sql, python, expected, stem, case):
    con = duckdb.connect()
    results = []
    for block in sql:
        query = block.replace("memray-events-run", str(folder))
        results.append((block, con.execute(query).fetchall()))
    peak = [r for b, r in results if "peak_memory_index" in b]
    leaks = [r for b, r in results if "freed_at IS NULL\n" in b and "peak" not in b]
    if len(peak) != 1 or len(leaks) != 1:
        fail("the docs' peak and leaks queries not found")
    for rows, report in ((peak[0], "peak"), (leaks[0], "leaks")):
        got = {trace: (int(n), int(size)) for trace, n, size in rows}
        want = csv_by_stack(expected / f"{stem}-csv-{report}.csv")
        if got != want:
            missing = set(want) ^ set(got)
            fail(f"{case}: the docs' {report} query differs from memray's {report} report "
                 f"({len(got)} stacks against {len(want)}; {len(missing)} differ)")
    for block in python:
        exec(compile(block.replace("memray-events-run", str(folder)), str(DOCS), "exec"), {"print": lambda *a: None})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--memform", required=True)
    args = parser.parse_args()
    sql, python = docs_blocks()
    captures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for capture, expected in full_captures():
            stem = capture.stem
            folder = Path(tmp) / stem
            done = subprocess.run(
                [args.memform, "transform", "events", "-q", "-o", str(folder), str(capture)],
                capture_output=True, text=True,
            )
            if done.returncode != 0:
                fail(f"{stem}: memform exited {done.returncode}: {done.stderr.strip()}")
            check_readers(folder, stem)
            run_queries(folder, sql, python, expected, stem, stem)
            captures += 1
    if captures < 15:
        fail(f"only {captures} fixture captures")
    print(
        f"events check: {captures} captures read alike by DuckDB, polars and pyarrow; "
        f"{len(sql)} SQL and {len(python)} Python examples of docs/events-dataset.md run on each; "
        f"alive at the peak = memray's peak report, never freed = its leaks report"
    )


if __name__ == "__main__":
    main()
