#!/usr/bin/env python3
"""The events dataset and the aggregated capture of every full capture of a differential corpus
(../shared/corpus/build_corpus.sh DIR: many workloads, memray 1.7-1.20, Python 3.9-3.13, every
capture mode), against the reports memray wrote of the original:

- events: the allocations alive at the dataset's peak index, summed per stack (allocations and
  bytes), equal memray's peak CSV summed per stack; those never freed, its leaks CSV;
- aggregate: memray 1.20's `transform csv` and `transform csv --leaks` of memform's aggregated
  capture (with --memray; memform's own reading of it otherwise), summed per stack, equal
  memray's peak and leaks CSV of the original, and its rows' allocators and threads those of
  the original's rows (as multisets of stack, allocator and thread: older memray versions
  order rows otherwise).

    VENV/bin/python scripts/whole_capture_corpus_check.py CORPUS --memform BIN [--memray BIN]

Run it with a Python that has pyarrow (scripts/parquet_check.sh's venv has it and memray).
The last line is `whole-capture corpus: P passed, F failed`; exit status 0 only when F is 0.
"""
import argparse
import csv
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq


def by_stack(rows):
    out = defaultdict(lambda: [0, 0])
    for stack, n, size in rows:
        out[stack][0] += n
        out[stack][1] += size
    return {k: tuple(v) for k, v in out.items()}


def csv_by_stack(path):
    with open(path, newline="") as f:
        return by_stack(
            (r["stack_trace"], int(r["num_allocations"]), int(r["size"])) for r in csv.DictReader(f)
        )


def csv_labels(path):
    with open(path, newline="") as f:
        return Counter((r["stack_trace"], r["allocator"], r["tid"]) for r in csv.DictReader(f))


def events_by_stack(folder):
    stacks = pq.read_table(folder / "stacks.parquet").to_pydict()
    trace = dict(zip(stacks["stack_id"], stacks["stack_trace"]))
    table = pq.read_table(folder / "allocations.parquet", columns=["seq", "size", "stack_id", "freed_at"])
    peak = int(pq.read_metadata(folder / "allocations.parquet").metadata[b"memform.peak_memory_index"])
    freed = table["freed_at"]
    alive = table.filter(
        pc.and_kleene(
            pc.less_equal(table["seq"], peak),
            pc.or_kleene(pc.is_null(freed), pc.greater(freed, peak)),
        )
    )
    leaked = table.filter(pc.is_null(freed))

    def summed(t):
        return by_stack(
            (trace[s], 1, size) for s, size in zip(t["stack_id"].to_pylist(), t["size"].to_pylist())
        )

    return summed(alive), summed(leaked)


def run(args):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {done.returncode}: {done.stderr.strip()[-300:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--memform", required=True, type=Path)
    ap.add_argument("--memray", type=Path, help="memray 1.20 to read the aggregated captures")
    args = ap.parse_args()
    captures = sorted(
        c for c in (args.corpus / "captures").glob("*.bin")
        if "-aggregate-" not in c.name and "-nativeagg-" not in c.name
    )
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for capture in captures:
            stem = capture.stem
            peak_csv = args.corpus / "expected" / f"{stem}-csv-peak.csv"
            leaks_csv = args.corpus / "expected" / f"{stem}-csv-leaks.csv"
            if not peak_csv.exists() or not leaks_csv.exists():
                continue
            want = (csv_by_stack(peak_csv), csv_by_stack(leaks_csv))
            problems = []
            try:
                folder = tmp / f"{stem}-events"
                run([args.memform, "transform", "events", "-q", "-f", "-o", folder, capture])
                got = events_by_stack(folder)
                for report, g, w in zip(("peak", "leaks"), got, want):
                    if g != w:
                        problems.append(f"events {report}: {len(set(g.items()) ^ set(w.items()))} stacks differ")
                aggregated = tmp / f"{stem}-aggregate.bin"
                run([args.memform, "transform", "aggregate", "-q", "-f", "-o", aggregated, capture])
                reader = [args.memray] if args.memray else [args.memform]
                for report, flags, w, original in (
                    ("peak", [], want[0], peak_csv),
                    ("leaks", ["--leaks"], want[1], leaks_csv),
                ):
                    out = tmp / f"{stem}-aggregate-{report}.csv"
                    if args.memray:
                        run([*reader, "transform", "csv", "-f", *flags, "-o", out, aggregated])
                    else:
                        run([*reader, "transform", "csv", "-q", "-f", *flags, "-o", out, aggregated])
                    g = csv_by_stack(out)
                    if g != w:
                        problems.append(f"aggregate {report}: {len(set(g.items()) ^ set(w.items()))} stacks differ")
                    elif csv_labels(out) != csv_labels(original):
                        theirs, ours = csv_labels(original), csv_labels(out)
                        problems.append(f"aggregate {report}: {sum((ours - theirs).values())} rows with other labels")
            except RuntimeError as e:
                problems.append(str(e))
            if problems:
                failed += 1
                print(f"FAIL {stem}: {'; '.join(problems)}")
            else:
                passed += 1
    print(f"whole-capture corpus: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
