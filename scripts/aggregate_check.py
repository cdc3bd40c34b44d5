#!/usr/bin/env python3
"""memray 1.20.0 reads memform's aggregated captures, and reports from them what it (or the
memray that wrote the original) reports from the original full capture.

    VENV/bin/python scripts/aggregate_check.py --memform BIN --memray VENV/bin/memray
                                               --check ../shared/corpus/check.py

Run it with the Python of a venv that has memray 1.20.0 (scripts/aggregate_check.sh makes
one). For every full capture among the fixtures (tests/fixtures/captures, memray 1.20.0 on
Python 3.9-3.13 in every capture mode, and tests/fixtures/versions/captures, memray 1.10.0,
1.18.0 and 1.19.3), `memform transform aggregate` writes the aggregated capture, and:

- `memray transform csv` (peak) and `memray transform csv --leaks` of memray 1.20.0 read it,
  and their rows equal the rows of the original capture's report, by check.py's rules
  (compare_csv for memray 1.20 captures, whose report memray 1.20 writes from the original
  here; compare_csv_unordered against the committed output of the memray that wrote an older
  capture, whose rows are in hash-map order, both without a replay): same stack, count,
  size, allocator and thread;
- `memray flamegraph` and `memray flamegraph --leaks` write their HTML from it;
- `memray stats` refuses it exactly as it refuses memray's own aggregated captures
  ("Can't compute statistics using a pre-aggregated capture file.": memray computes no
  statistics from any aggregated capture) and fails in no other way;
- memray's FileReader gives it the original's peak memory, and one memory snapshot per
  memory record of the original (memray 1.20 captures, which memray 1.20 can read).

The last line is `aggregate check: P passed, F failed`; exit status 0 only when F is 0.
"""
import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATS_REFUSAL = "Can't compute statistics using a pre-aggregated capture file."


def load_check(path):
    spec = importlib.util.spec_from_file_location("corpus_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def full_captures():
    for sub in ("captures", "versions/captures"):
        for path in sorted((ROOT / "tests" / "fixtures" / sub).glob("*.bin")):
            if "aggregate" in path.name or "nativeagg" in path.name:
                continue
            yield path


def expected_dir(capture):
    return capture.parent.parent / "expected"


def run(cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace")


def memray_csv(memray, capture, out, leaks):
    flags = ["--leaks"] if leaks else []
    done = run([memray, "transform", "csv", *flags, "-f", "-o", out, capture])
    if done.returncode != 0 or not out.exists():
        return f"memray transform csv {' '.join(flags)} failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memform", required=True, type=Path)
    ap.add_argument("--memray", required=True, type=Path)
    ap.add_argument("--check", required=True, type=Path, help="../shared/corpus/check.py")
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()
    check = load_check(opts.check)
    import memray  # the venv's memray 1.20.0

    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # memray's own refusal of its own aggregated capture, the reference for stats.
        own = run([opts.memray, "stats", ROOT / "tests/fixtures/captures/v1.20.0-py3.11-aggregate.bin"])
        if STATS_REFUSAL not in own.stderr:
            print(f"FAIL memray stats of memray's own aggregated capture: {own.stderr.strip()[-300:]}")
            failed += 1
        for capture in full_captures():
            stem = capture.stem
            ordered = stem.startswith("v1.20.")
            problems = []
            agg = tmp / f"{stem}.aggregated.bin"
            done = run([opts.memform, "transform", "aggregate", "-q", "-f", "-o", agg, capture])
            if done.returncode != 0 or not agg.exists():
                print(f"FAIL {stem}: memform transform aggregate exited {done.returncode}: {done.stderr.strip()}")
                failed += 1
                continue
            for report in ("peak", "leaks"):
                leaks = report == "leaks"
                ours = tmp / f"{stem}-{report}.ours.csv"
                why = memray_csv(opts.memray, agg, ours, leaks)
                if why:
                    problems.append(f"{report}: aggregated: {why}")
                    continue
                if ordered:
                    ref = tmp / f"{stem}-{report}.ref.csv"
                    why = memray_csv(opts.memray, capture, ref, leaks)
                    if why:
                        problems.append(f"{report}: original: {why}")
                        continue
                else:
                    ref = expected_dir(capture) / f"{stem}-csv-{report}.csv"
                compare = check.compare_csv if ordered else check.compare_csv_unordered
                # No replay: every allocator and thread must be memray's.
                ok, _, why = compare(ours, ref, None)
                if not ok:
                    problems.append(f"{report}: {why}")
                elif opts.verbose:
                    rows = len(check.read_csv(ours)) - 1
                    print(f"     {stem} {report}: {rows} rows equal")
            for flags in ([], ["--leaks"]):
                html = tmp / f"{stem}{''.join(flags)}.html"
                done = run([opts.memray, "flamegraph", *flags, "-f", "-o", html, agg])
                if done.returncode != 0 or not html.exists() or html.stat().st_size == 0:
                    problems.append(f"flamegraph {' '.join(flags)}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            stats = run([opts.memray, "stats", agg])
            last = stats.stderr.strip().splitlines()[-1:] or [""]
            if not last[0].endswith(STATS_REFUSAL) or "incompatible" in stats.stderr or "Failed" in stats.stderr:
                problems.append(f"memray stats: not memray's refusal of aggregated captures: {stats.stderr.strip()[-300:]}")
            if ordered:
                original = memray.FileReader(str(capture))
                reread = memray.FileReader(str(agg))
                if reread.metadata.peak_memory != original.metadata.peak_memory:
                    problems.append(
                        f"peak memory {reread.metadata.peak_memory} != original {original.metadata.peak_memory}"
                    )
                ours_snapshots = list(reread.get_memory_snapshots())
                theirs = list(original.get_memory_snapshots())
                if [(s.time, s.rss) for s in ours_snapshots] != [(s.time, s.rss) for s in theirs]:
                    problems.append(f"memory snapshots: {len(ours_snapshots)} != original {len(theirs)}")
                elif max((s.heap for s in ours_snapshots), default=0) > original.metadata.peak_memory:
                    problems.append("a memory snapshot's heap size is above the peak")
            if problems:
                failed += 1
                for p in problems:
                    print(f"FAIL {stem}: {p}")
            else:
                passed += 1
                size = capture.stat().st_size
                print(f"ok   {stem}: {size} -> {agg.stat().st_size} bytes; csv peak+leaks, flamegraph, stats refusal")
    print(f"aggregate check: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
