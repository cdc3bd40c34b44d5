#!/usr/bin/env python3
"""How close each heap event's address lies to the addresses of the events just before it.

    python3 scripts/address_locality.py DATASET_DIR [DATASET_DIR ...]

DATASET_DIR is an events dataset (`memform transform events CAPTURE -o DATASET_DIR`). Its
`allocations.parquet` gives every allocation (at `seq`) and every free that ended one (at
`freed_at`); in event order these are the live table's inserts and removes. (Frees of
addresses that were not live are not in the dataset; they are lookups that find nothing.)

For each event, and each distance D in 64 B, 4 KiB, 64 KiB and 2 MiB, the script asks whether
its address lies within D of the address of one of the previous W events (W = 1, 4, 16), and
prints the share of events for which it does: the locality a table laid out by address could
use and a hashed table throws away (docs/performance.md). Needs pyarrow and numpy.
"""

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

DISTANCES = [("64 B", 64), ("4 KiB", 4096), ("64 KiB", 65536), ("2 MiB", 2 << 20)]
WINDOWS = [1, 4, 16]


def event_addresses(dataset: Path) -> np.ndarray:
    """The addresses of the allocations and of the frees that ended them, in event order."""
    table = pq.read_table(
        dataset / "allocations.parquet",
        columns=["seq", "address", "freed_at", "split_from"],
    )
    table = table.filter(table["split_from"].is_null())
    seq = table["seq"].to_numpy()
    address = table["address"].to_numpy()
    freed = table["freed_at"].is_valid().to_numpy(zero_copy_only=False)
    freed_at = table["freed_at"].fill_null(0).to_numpy()[freed]
    when = np.concatenate([seq, freed_at])
    where = np.concatenate([address, address[freed]])
    return where[np.argsort(when, kind="stable")]


def shares(addresses: np.ndarray) -> dict:
    """For each (window, distance): the share of events near one of the window before."""
    a = addresses.astype(np.int64)
    n = len(a)
    out = {}
    for _, d in DISTANCES:
        near = np.zeros(n, dtype=bool)
        for k in range(1, max(WINDOWS) + 1):
            if k < n:
                near[k:] |= np.abs(a[k:] - a[:-k]) < d
            if k in WINDOWS:
                out[(k, d)] = near[max(WINDOWS):].mean() if n > max(WINDOWS) else 0.0
    return out


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    header = " | ".join(f"within {name}, last {w}" for w in WINDOWS for name, _ in DISTANCES)
    print(f"| dataset | events | {header} |")
    print("|" + " --- |" * (2 + len(WINDOWS) * len(DISTANCES)))
    for arg in sys.argv[1:]:
        addresses = event_addresses(Path(arg))
        s = shares(addresses)
        cells = " | ".join(f"{100 * s[(w, d)]:.1f} %" for w in WINDOWS for _, d in DISTANCES)
        print(f"| {Path(arg).name} | {len(addresses):,} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
