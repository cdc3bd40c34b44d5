"""Deterministic ETL workload on real library code: pandas and pyarrow.

Usage: memray run --trace-python-allocators -o OUT.bin pandas_etl.py EVENTS
EVENTS is the approximate number of allocations to make (e.g. 60_000_000); the number of
batches is EVENTS // EVENTS_PER_BATCH, a count measured under memray 1.20 with pandas 3.1.1
and pyarrow 26.0.1 (other versions allocate more or less per batch).

Needs pandas and pyarrow (which bring numpy) in the interpreter that runs memray, e.g.
  $HOME/.cache/memform-corpus/venvs/memray-1.20.0-py3.11/bin/pip install pandas pyarrow

Every batch makes a few thousand orders (numpy generator seeded per batch) and runs them
through a small ETL in pandas and pyarrow: merges with customer and product tables, string
cleaning and parsing (pandas' str accessor), date features, groupby aggregations and a pivot
table, a CSV round trip (to_csv, read_csv) and a Parquet round trip (pandas.to_parquet and
read_parquet, pyarrow.parquet.write_table and read_table with column and row filters), and
pyarrow compute and Table.group_by on the read-back table. Arrow allocates from the system
allocator (not its default mimalloc pool), so memray sees each Arrow buffer. Most of this is
freed when the batch ends; each batch's enriched frame and aggregates are kept for a while
(a rolling window that grows to its maximum at the midpoint of the run and shrinks again, so
the heap peaks there), and those of the last 5 batches leak, as does what the imports keep.
The data are deterministic; pyarrow's own thread pool (for Parquet and CSV) runs alongside,
as it would in a real ETL, so which thread frees what is up to the scheduler.
"""
import os
import sys
import tempfile

# Arrow's default pool (mimalloc) maps a 1 GiB arena at its first allocation and serves
# Arrow's buffers from it, out of memray's sight; with the system pool every buffer is a
# malloc and free of its own, as with numpy. Read when pyarrow's C++ side first allocates.
os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
EVENTS_PER_BATCH = 500_000  # allocations per batch, measured (see the docstring)
BATCHES = max(1, EVENTS // EVENTS_PER_BATCH)
ORDERS = (2_000, 6_000)  # rows per batch, drawn per batch
CUSTOMERS = 800
PRODUCTS = 300
KEEP_MAX = 60  # batches kept (enriched frame and aggregates), at the midpoint
LEAK = 5  # batches kept to the end (they leak)

REGIONS = np.array(["north", "south", "east", "west", "central"])
SEGMENTS = np.array(["consumer", "corporate", "home office", "small business"])
CATEGORIES = np.array(["furniture", "office supplies", "technology", "books", "garden"])
STATUSES = np.array([" shipped", "delivered ", "RETURNED", "pending", " Cancelled "])
WORDS = np.array(
    ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
     "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"]
)


def dimension_tables():
    """The customer and product tables, the same for every batch."""
    rng = np.random.default_rng(4242)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(CUSTOMERS, dtype=np.int64),
            "name": [
                f"{a.title()} {b.title()}-{i:04d}"
                for i, (a, b) in enumerate(
                    zip(rng.choice(WORDS, CUSTOMERS), rng.choice(WORDS, CUSTOMERS))
                )
            ],
            "region": rng.choice(REGIONS, CUSTOMERS),
            "segment": rng.choice(SEGMENTS, CUSTOMERS),
            "since": pd.Timestamp("2015-01-01")
            + pd.to_timedelta(rng.integers(0, 3000, CUSTOMERS), unit="D"),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": np.arange(PRODUCTS, dtype=np.int64),
            "sku": [f"SKU-{c[:3].upper()}-{i:05d}" for i, c in
                    enumerate(rng.choice(CATEGORIES, PRODUCTS))],
            "category": rng.choice(CATEGORIES, PRODUCTS),
            "list_price": np.round(rng.gamma(2.0, 40.0, PRODUCTS) + 1.0, 2),
            "weight_kg": np.round(rng.uniform(0.1, 30.0, PRODUCTS), 3),
        }
    )
    return customers, products


def extract(batch):
    """A batch of raw orders, as a source system would hand them over (strings to clean)."""
    rng = np.random.default_rng([2024, batch])
    n = int(rng.integers(ORDERS[0], ORDERS[1] + 1))
    ordered = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 24 * 60, n), unit="min"
    )
    return pd.DataFrame(
        {
            "order_id": np.arange(batch * 10_000, batch * 10_000 + n, dtype=np.int64),
            "customer_id": rng.integers(0, CUSTOMERS + 20, n),  # some unknown customers
            "product_id": rng.integers(0, PRODUCTS, n),
            "quantity": rng.integers(1, 12, n),
            "discount": np.round(rng.choice([0.0, 0.0, 0.05, 0.1, 0.2], n), 2),
            "status": rng.choice(STATUSES, n),
            "ordered_at": ordered.strftime("%Y-%m-%d %H:%M"),
            "note": [
                f"{w} #{k} via {v}" for w, k, v in
                zip(rng.choice(WORDS, n), rng.integers(0, 999, n), rng.choice(WORDS, n))
            ],
        }
    )


def transform(orders, customers, products):
    """Clean, join and enrich the orders."""
    orders = orders.copy()
    orders["status"] = orders["status"].str.strip().str.lower()
    orders = orders[orders["status"] != "cancelled"]
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], format="%Y-%m-%d %H:%M")
    parts = orders["note"].str.split(" ", expand=True)
    orders["note_word"] = parts[0].str.upper()
    orders["note_ref"] = parts[1].str.lstrip("#").astype("int64")
    orders["channel"] = parts[3].str.slice(0, 3)
    df = orders.merge(customers, on="customer_id", how="left", validate="many_to_one")
    df = df.merge(products, on="product_id", how="inner")
    df["region"] = df["region"].fillna("unknown")
    df["segment"] = df["segment"].fillna("unknown")
    df["revenue"] = np.round(df["quantity"] * df["list_price"] * (1.0 - df["discount"]), 2)
    df["month"] = df["ordered_at"].dt.to_period("M").astype(str)
    df["weekday"] = df["ordered_at"].dt.day_name()
    df["tenure_days"] = (df["ordered_at"] - df["since"]).dt.days
    df["label"] = df["region"].str.cat(df["category"], sep="/").str.replace(" ", "_")
    df["is_big"] = df["revenue"] > df.groupby("category")["revenue"].transform("median")
    return df


def aggregate(df):
    """The batch's aggregates: by region and category, by month, a pivot, top customers."""
    by_rc = (
        df.groupby(["region", "category"], sort=True)
        .agg(
            orders=("order_id", "count"),
            revenue=("revenue", "sum"),
            mean_qty=("quantity", "mean"),
            max_discount=("discount", "max"),
            big=("is_big", "sum"),
        )
        .reset_index()
    )
    by_month = df.groupby("month").agg(
        revenue=("revenue", "sum"), customers=("customer_id", "nunique")
    )
    pivot = df.pivot_table(
        index="segment", columns="weekday", values="revenue", aggfunc="sum", fill_value=0.0
    )
    top = (
        df.groupby(["customer_id", "name"], dropna=False)["revenue"]
        .sum()
        .nlargest(20)
        .reset_index()
    )
    ranked = df.assign(rank=df.groupby("region")["revenue"].rank(method="first"))
    return {"by_rc": by_rc, "by_month": by_month, "pivot": pivot, "top": top,
            "ranked_rows": len(ranked)}


def csv_round_trip(df, path):
    """Write the enriched batch as CSV and read it back with explicit types."""
    cols = ["order_id", "customer_id", "name", "region", "category", "sku", "quantity",
            "revenue", "ordered_at", "label", "status"]
    df[cols].to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    back = pd.read_csv(
        path,
        dtype={"order_id": "int64", "customer_id": "int64", "quantity": "int64",
               "revenue": "float64"},
        parse_dates=["ordered_at"],
    )
    back["region"] = back["region"].astype("category")
    summary = back.groupby("region", observed=True)["revenue"].agg(["sum", "count"])
    # The pyarrow CSV reader too.
    table = pacsv.read_csv(path)
    return summary, table.num_rows


def parquet_round_trip(df, directory, batch):
    """Parquet through pandas and through pyarrow directly, with projections and filters."""
    path = os.path.join(directory, f"batch_{batch % 4}.parquet")
    df.to_parquet(path, engine="pyarrow", index=False, compression="snappy")
    back = pd.read_parquet(path, columns=["region", "category", "revenue", "quantity"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    path2 = os.path.join(directory, f"batch_{batch % 4}_pa.parquet")
    pq.write_table(table, path2, row_group_size=1024, compression="zstd")
    read = pq.read_table(
        path2,
        columns=["category", "region", "revenue", "quantity", "discount"],
        filters=[("quantity", ">=", 3)],
    )
    grouped = read.group_by(["category", "region"]).aggregate(
        [("revenue", "sum"), ("quantity", "mean"), ("discount", "max")]
    )
    mask = pc.greater(read["revenue"], pa.scalar(100.0))
    big = read.filter(mask)
    stats = {
        "rows": back.shape[0],
        "big_revenue": pc.sum(big["revenue"]).as_py(),
        "upper": pc.utf8_upper(read["category"]).unique().to_pylist(),
    }
    return grouped.to_pandas(), stats


def run():
    customers, products = dimension_tables()
    kept = []  # each batch's aggregates, oldest first
    half = max(1, BATCHES // 2)
    top = None  # size of the kept window at the midpoint
    totals = pd.Series(dtype="float64")
    with tempfile.TemporaryDirectory(prefix="pandas_etl_") as directory:
        csv_path = os.path.join(directory, "batch.csv")
        for batch in range(BATCHES):
            raw = extract(batch)
            df = transform(raw, customers, products)
            aggs = aggregate(df)
            aggs["csv"], aggs["csv_rows"] = csv_round_trip(df, csv_path)
            aggs["parquet"], aggs["stats"] = parquet_round_trip(df, directory, batch)
            totals = totals.add(aggs["by_rc"].set_index("category")["revenue"]
                                .groupby(level=0).sum(), fill_value=0.0)
            aggs["enriched"] = df
            kept.append(aggs)
            del raw, df, aggs
            # The kept window follows a triangle: up to KEEP_MAX batches by the midpoint,
            # then down from what it was there to LEAK at the end, which leak.
            done = batch + 1
            if done <= half:
                limit = max(1, KEEP_MAX * done // half)
            else:
                if top is None:
                    top = len(kept)
                limit = max(LEAK, top * (BATCHES - done) // half)
            if len(kept) > limit:
                del kept[: len(kept) - limit]
    LEAKED.extend(kept[-LEAK:])
    LEAKED.append(totals)


LEAKED = []

if __name__ == "__main__":
    run()
