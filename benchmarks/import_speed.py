"""Import speed: rows/s for a generated 2M-row observations CSV and for the IRA follower
series, store size against the gzip'd CSV, and baselines measured in the same run
(plain DuckDB ``read_csv`` into memory, ``pandas.read_csv``) with ratios.

    python benchmarks/import_speed.py [--rows 2000000] [--repeat 2] [--datasets DIR]

Timings on a shared machine vary; compare the ratios, which the same run measures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from purgewatch.sources.datasets import ENV_DATASETS, import_dataset
from purgewatch.sources.files import import_files
from purgewatch.store import Store


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Observations of 50k accounts over ~4 months, 1% suspended, realistic counts."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-01-01T00:00:00", "s")
    when = base + rng.integers(0, 10_000_000, rows).astype("timedelta64[s]")
    table = pa.table({
        "platform": pa.array(np.full(rows, "x")),
        "account_id": pa.array(rng.integers(10**8, 10**8 + 50_000, rows).astype(str)),
        "observed_at": pa.array(np.char.add(np.datetime_as_string(when, unit="s"), "Z")),
        "status": pa.array(np.where(rng.random(rows) < 0.01, "suspended", "active")),
        "followers_count": pa.array(rng.integers(0, 10**6, rows)),
        "following_count": pa.array(rng.integers(0, 5_000, rows)),
        "posts_count": pa.array(rng.integers(0, 10**5, rows)),
    })
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.parquet"))


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    """Best of ``repeat`` runs: on a shared machine the minimum is the least disturbed."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs per measurement")
    ap.add_argument("--datasets", default=os.environ.get(ENV_DATASETS) or
                    str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pw-bench-"))
    try:
        csv_path = work / "observations.csv"
        make_csv(csv_path, args.rows)
        gz_path = work / "observations.csv.gz"
        with open(csv_path, "rb") as src, gzip.open(gz_path, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        print(f"generated {args.rows:,} rows: csv {csv_path.stat().st_size / 1e6:.1f} MB, "
              f"gzip {gz_path.stat().st_size / 1e6:.1f} MB")

        import duckdb
        import pandas as pd

        t_duck, _ = timed(lambda: duckdb.read_csv(str(csv_path)).to_arrow_table(), args.repeat)
        t_pd, _ = timed(lambda: pd.read_csv(csv_path), args.repeat)
        stores = iter(range(args.repeat))

        def fresh_import() -> object:
            s = Store.init(work / f"store{next(stores)}")
            return s, import_files(s, "observations", [csv_path])

        t_imp, (store, rep) = timed(fresh_import, args.repeat)
        t_re, rep2 = timed(lambda: import_files(store, "observations", [csv_path]))
        size = dir_size(store.path)
        rate = args.rows / t_imp
        print(f"baseline duckdb.read_csv -> Arrow : {t_duck:6.2f} s  {args.rows / t_duck:>12,.0f} rows/s")
        print(f"baseline pandas.read_csv          : {t_pd:6.2f} s  {args.rows / t_pd:>12,.0f} rows/s")
        print(f"purgewatch import observations    : {t_imp:6.2f} s  {rate:>12,.0f} rows/s "
              f"(validated, hashed, stored; {rep.imported:,} rows, {rep.batches} batches)")
        print(f"  ratio import / duckdb read       : {t_imp / t_duck:6.2f}x the time")
        print(f"  ratio import / pandas read       : {t_imp / t_pd:6.2f}x the time")
        print(f"re-import (all duplicates)        : {t_re:6.2f} s  ({rep2.imported} new rows)")
        print(f"store size {size / 1e6:.1f} MB vs gzip CSV {gz_path.stat().st_size / 1e6:.1f} MB "
              f"(ratio {size / gz_path.stat().st_size:.2f}; provenance (file hash, file:line, "
              f"content key) on every row)")

        # What a user meets: the CLI in a new process (interpreter start, module imports,
        # and memory the process has never touched: on a VM, first-touch page faults can
        # cost ~10x a reused page, so this is slower than the in-process best).
        cli_times, cli_import = [], []
        for i in range(args.repeat):
            target = work / f"store-cli{i}"
            subprocess.run([sys.executable, "-m", "purgewatch", "init", "--store", str(target)],
                           check=True, capture_output=True)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "purgewatch", "import", "observations",
                                  str(csv_path), "--store", str(target), "--json"],
                                 check=True, capture_output=True, text=True).stdout
            cli_times.append(time.perf_counter() - t0)
            cli_import.append(json.loads(out)["seconds"])
        print(f"CLI, new process each run         : {min(cli_times):6.2f}-{max(cli_times):.2f} s wall; "
              f"import itself {min(cli_import):.2f}-{max(cli_import):.2f} s = "
              f"{args.rows / max(cli_import):,.0f}-{args.rows / min(cli_import):,.0f} rows/s ({args.repeat} runs)")

        ira = Path(args.datasets) / "ira-follower-series" / "follower_series.csv.gz"
        if not ira.exists():
            print(f"IRA follower series: skipped (not found at {ira})")
            return 0
        store2 = Store.init(work / "store-ira")
        t_ira, rep3 = timed(lambda: import_dataset(store2, "ira-follower-series", args.datasets))
        t_ira_duck, _ = timed(lambda: duckdb.read_csv(str(ira)).to_arrow_table(), args.repeat)
        print(f"IRA follower series import        : {t_ira:6.2f} s  {rep3.rows_read / t_ira:>12,.0f} rows/s "
              f"({rep3.rows_read:,} rows read, {rep3.imported:,} stored, "
              f"{rep3.duplicates:,} duplicate rows)")
        print(f"  baseline duckdb.read_csv         : {t_ira_duck:6.2f} s  (ratio {t_ira / t_ira_duck:.2f}x)")
        print(f"  store size {dir_size(work / 'store-ira') / 1e6:.1f} MB vs gzip CSV "
              f"{ira.stat().st_size / 1e6:.1f} MB")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
