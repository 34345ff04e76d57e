"""Cost that should grow with the findings, not the rows: synthetic stores of 100, 1,000
and 10,000 watched accounts x 365 daily readings.

Each store is built once (generated follower series with drops, surges, glitches and
purges from ``_detect_gen.make_series``, daily looks; a watchlist of four groups;
imported through ``purgewatch import``), then ``report`` and the web UI's first page are
measured in fresh processes by ``real_data.py``'s harness (wall, CPU, peak RSS of the
child; the size of the HTML and JSON the report writes).

    python benchmarks/scale.py [--accounts 100,1000,10000] [--repeat 2] [--src DIR] [--keep DIR]

``--src DIR`` measures another checkout of the code (the baseline, printed with the same
harness); ``--keep DIR`` keeps the stores for a later run. Goals (issue 11): at 10,000
accounts, report <= 15 s and <= 1 GB, first page <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_gen import make_series  # noqa: E402
from real_data import REPO, Cost, best, run, serve  # noqa: E402

GROUPS = ("government", "opposition", "media", "ngo")


def build(store: Path, n_accounts: int, src: Path) -> None:
    """A store of ``n_accounts`` watched accounts with a year of daily readings each."""
    obs, _ = make_series(n_accounts, 365.0, seed=1, obs_per_day=1.0, irregular=False, fixed_obs=365,
                         gap_rate=0.0)
    ts = pd.to_datetime(obs["t"].to_numpy(), unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = obs["sid"].to_numpy()
    csv = store.parent / f"obs-{n_accounts}.csv"
    pd.DataFrame({
        "platform": "x", "account_id": [f"acc{i}" for i in ids], "observed_at": ts, "status": "active",
        "followers_count": np.maximum(np.round(obs["y"].to_numpy()), 0).astype(np.int64),
    }).to_csv(csv, index=False)
    wl = store.parent / f"watch-{n_accounts}.csv"
    pd.DataFrame({"platform": "x", "account": [f"acc{i}" for i in range(n_accounts)],
                  "group": [GROUPS[i % len(GROUPS)] for i in range(n_accounts)]}).to_csv(wl, index=False)
    for args in (["init", "--store", str(store)],
                 ["import", "observations", str(csv), "--store", str(store)],
                 ["watchlist", "import", str(wl), "--store", str(store)]):
        c, _ = run(args, src)
        if c.rc != 0:
            raise SystemExit(f"building the store failed at {args[0]} {args[1]}: {c.extra}")
    csv.unlink()
    wl.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", default="100,1000,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--src", type=Path, default=REPO / "src")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="purgewatch-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"code: {args.src}; {os.cpu_count()} cores")
    print(f"{'accounts':>8} {'verb':10} {'wall':>10} {'CPU':>10} {'peak RSS':>9}  load")
    try:
        for n in [int(x) for x in args.accounts.split(",")]:
            store = root / f"scale-{n}"
            if not (store / "STORE.json").exists():
                build(store, n, args.src)
            runs: list[Cost] = []
            for _ in range(max(args.repeat, 1)):
                out = Path(tempfile.mkdtemp(prefix="pw-out-", dir=root))
                c, _ = run(["report", "--store", str(store), "--out", str(out / "r"),
                            "--generated-at", "2024-01-01T00:00:00Z"], args.src)
                sizes = [f"{p.name} {p.stat().st_size / 1e6:.1f} MB"
                         for p in (out / "r" / "report.html", out / "r" / "findings.json") if p.exists()]
                c.extra = (c.extra + " " + ", ".join(sizes)).strip()
                runs.append(c)
                shutil.rmtree(out, ignore_errors=True)
            print(f"{n:8,} {'report':10} {best(runs).row()}  {os.getloadavg()[0]:.1f}", flush=True)
            served = [serve(store, args.src) for _ in range(max(args.repeat, 1))]
            print(f"{n:8,} {'serve /':10} {best(served).row()}  {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
