"""A folder of memray captures into one Parquet dataset on a dask.distributed cluster, then a
DuckDB query over the whole of it.

    python examples/dask_dataset.py CAPTURES_DIR DATASET_DIR [--scheduler ADDRESS] [--workers N]

Without ``--scheduler`` it starts a ``LocalCluster`` of N worker processes (default 2); with
one, the same code runs on that cluster. Every worker calls ``memform.transform`` for its
captures and writes ``DATASET_DIR/capture=<name>/part-0.parquet`` — the layout of
``memform transform parquet CAPTURE... --dataset DATASET_DIR`` — so on a real cluster the
captures and DATASET_DIR must be on a file system every worker sees (NFS, a shared volume).
One capture that cannot be read is reported and does not stop the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from dask.distributed import Client

import memform


def convert_folder(
    client: "Client", captures_dir: memform.PathLike, dataset_dir: memform.PathLike, *, leaks: bool = False
) -> Dict[str, str]:
    """Converts every ``*.bin`` capture of ``captures_dir`` on the cluster of ``client`` into
    the dataset ``dataset_dir``; returns, per capture, the part written or the error."""
    captures = sorted(str(p) for p in Path(captures_dir).glob("*.bin"))
    parts = [memform.dataset_part(dataset_dir, c) for c in captures]
    for part in parts:
        part.parent.mkdir(parents=True, exist_ok=True)
    futures = client.map(
        memform.transform,
        captures,
        ["parquet"] * len(captures),
        [str(p) for p in parts],
        force=True,
        leaks=leaks,
        pure=False,
    )
    outcome = {}
    for capture, part, future in zip(captures, parts, futures):
        try:
            outcome[capture] = str(future.result())
        except Exception as error:  # one bad capture does not stop the others
            outcome[capture] = f"error: {type(error).__name__}: {error}"
            try:
                part.parent.rmdir()  # its partition stays out of the dataset
            except OSError:
                pass
    return outcome


def top_stacks(dataset_dir: memform.PathLike, limit: int = 10) -> List[Tuple[Any, ...]]:
    """The largest allocation sites across all captures of the dataset (DuckDB)."""
    import duckdb

    pattern = str(Path(dataset_dir) / "*" / "*.parquet")
    return duckdb.execute(
        f"""
        select capture, leaf_function, leaf_file, leaf_line, sum(size) as bytes
        from read_parquet('{pattern}', hive_partitioning = true, hive_types_autocast = false)
        group by all
        order by bytes desc, capture, leaf_function
        limit {int(limit)}
        """
    ).fetchall()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("captures_dir")
    parser.add_argument("dataset_dir")
    parser.add_argument("--scheduler", help="address of a running dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--leaks", action="store_true", help="leak reports instead of peak")
    args = parser.parse_args(argv)

    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        client, cluster = Client(args.scheduler), None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    try:
        outcome = convert_folder(client, args.captures_dir, args.dataset_dir, leaks=args.leaks)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    failed = {c: r for c, r in outcome.items() if r.startswith("error: ")}
    for capture, error in failed.items():
        print(f"{capture}: {error}", file=sys.stderr)
    print(f"{len(outcome) - len(failed)} converted, {len(failed)} failed", file=sys.stderr)
    for row in top_stacks(args.dataset_dir):
        print(*row, sep="\t")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
