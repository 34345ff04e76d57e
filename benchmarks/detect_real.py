"""Detection on the real datasets in ../shared/datasets (figures for docs/detect.md).

1. IRA follower series (Linvill & Warren / FiveThirtyEight): read from the CSV directly,
   drops, surges and purges per account category; PNG plots of a sample of events.
2. unsuspensions-2022 (travisbrown/unsuspensions): imported into a temporary store with
   the dataset importer, then ``detect``: the reinstatement waves after 2022-10-27.
3. wayback-follower-history (oduwsdl/FollowerCountHistory): sparse archived counts of 15
   accounts; what fires, and what it finds on TEN_GOP.

    python benchmarks/detect_real.py [--datasets ../shared/datasets] [--plots DIR]

Plots need matplotlib (not a dependency of the package; skipped when missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from purgewatch.analysis.detect import Event, detect, detect_series
from purgewatch.store import Store

HERE = Path(__file__).resolve()
DEFAULT_DATASETS = Path(os.environ.get("PURGEWATCH_DATASETS", HERE.parents[2] / "shared" / "datasets"))


def _plt():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt
    except ImportError:
        return None


def plot_events(events: list[Event], series: dict[str, tuple[np.ndarray, np.ndarray]], out: Path,
                name: str, pad_days: float = 45.0) -> Path | None:
    plt = _plt()
    if plt is None or not events:
        return None
    n = len(events)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3 * rows), squeeze=False)
    for ax, e in zip(axes.ravel(), events, strict=False):
        t, y = series[e.account_id or ""]
        m = (t >= e.start - pad_days * 86400) & (t <= e.end + pad_days * 86400)
        ax.plot(pd.to_datetime(t[m], unit="s"), y[m], ".-", ms=3, lw=0.6)
        ax.axvspan(pd.to_datetime(e.start, unit="s"), pd.to_datetime(e.end, unit="s"),
                   color="red" if e.kind == "follower_drop" else "green", alpha=0.3)
        ax.set_title(f"{e.account_id} ({e.group}) {e.kind.split('_')[1]} "
                     f"{e.magnitude:,.0f} ({(e.relative or 0):.1%}) z={e.score:.0f}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def ira(base: Path, out: Path) -> None:
    folder = base / "ira-follower-series"
    t0 = time.perf_counter()
    df = pd.read_csv(folder / "follower_series.csv.gz",
                     usecols=["author_id", "publish_date", "harvested_date", "followers"],
                     dtype={"author_id": str})
    when = df.harvested_date.fillna(df.publish_date)
    # naive times are UTC (as the dataset importer reads them)
    t = pd.to_datetime(when, utc=True).to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1e3
    codes, names = pd.factorize(df.author_id)
    authors = pd.read_csv(folder / "authors.csv", dtype=str).set_index("author_id")["account_category"]
    groups = np.array([authors.get(a) for a in names], dtype=object)
    accounts = [("x", a) for a in names]
    y = df.followers.to_numpy(dtype=np.float64)
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    events = detect_series(codes, t, y, accounts, groups)
    took = time.perf_counter() - t0
    kinds = Counter(e.kind for e in events)
    print(f"== IRA follower series: {len(df):,} rows, {len(names):,} accounts "
          f"(read {read:.1f} s, detect {took:.1f} s) ==")
    print(f"events: {dict(kinds)}")
    ev = pd.DataFrame([dict(kind=e.kind, account=e.account_id, group=e.group, start=e.start,
                            magnitude=e.magnitude, relative=e.relative, score=e.score)
                       for e in events if e.kind != "purge"])
    acc_by_group = pd.Series(groups).value_counts()
    with_drop = ev[ev.kind == "follower_drop"].groupby("group").account.nunique()
    with_surge = ev[ev.kind == "follower_surge"].groupby("group").account.nunique()
    table = pd.DataFrame({"accounts": acc_by_group, "with_drop": with_drop, "with_surge": with_surge}).fillna(0)
    table["drop_share"] = (table.with_drop / table.accounts).round(3)
    table["surge_share"] = (table.with_surge / table.accounts).round(3)
    print(table.astype({"with_drop": int, "with_surge": int}).sort_values("accounts", ascending=False).to_string())
    ev["year"] = pd.to_datetime(ev.start, unit="s").dt.year
    print(ev.groupby(["year", "kind"]).size().unstack(fill_value=0).to_string())
    print("relative size (drops):", ev[ev.kind == "follower_drop"].relative.describe().round(3).to_dict())
    purges = [e for e in events if e.kind == "purge"]
    print(f"purges: {len(purges)}")
    for e in purges:
        j = e.to_json()
        print(f"  {j['start']} .. {j['end']}: {j['magnitude']} accounts ({j['relative']:.1%} of those "
              f"observed), lost {j['evidence']['followers_lost']:,.0f}, by group {j['evidence']['by_group']}")
    # a sample to look at by eye
    rng = np.random.default_rng(1)
    drops = [e for e in events if e.kind == "follower_drop"]
    surges = [e for e in events if e.kind == "follower_surge"]
    sample = [drops[i] for i in rng.choice(len(drops), min(9, len(drops)), replace=False)]
    sample += [surges[i] for i in rng.choice(len(surges), min(6, len(surges)), replace=False)]
    order = np.argsort(codes, kind="stable")
    cs, ts, ys = codes[order], t[order], y[order]
    starts = np.searchsorted(cs, np.arange(len(names)))
    stops = np.searchsorted(cs, np.arange(len(names)), side="right")
    idx = {a: i for i, a in enumerate(names)}
    series = {}
    for e in sample:
        i = idx[e.account_id]
        o = np.argsort(ts[starts[i]:stops[i]], kind="stable")
        series[e.account_id] = (ts[starts[i]:stops[i]][o], ys[starts[i]:stops[i]][o])
    p = plot_events(sample, series, out, "ira_sample")
    if p:
        print(f"plots: {p}")
    for e in sample:
        j = e.to_json()
        vals = list(zip(j["evidence"]["observed_at"], j["evidence"]["followers"], strict=True))
        print(f"  {j['kind']:15} {j['account_id']:18} {j['group']:13} {j['start']} {j['magnitude']:>8} "
              f"{j['relative']:.3f} z={j['score']:.0f} readings {vals[:2]}...{vals[-2:]}")


def unsuspensions(base: Path) -> None:
    from purgewatch.sources.datasets import import_dataset

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "s")
        t0 = time.perf_counter()
        import_dataset(store, "unsuspensions-2022", base)
        imp = time.perf_counter() - t0
        t0 = time.perf_counter()
        events = detect(store)
        took = time.perf_counter() - t0
    print(f"\n== unsuspensions-2022 (import {imp:.1f} s, detect {took:.1f} s) ==")
    print(f"events: {dict(Counter(e.kind for e in events))}")
    re = [e for e in events if e.kind == "reinstatement_wave"]
    for e in re[:6]:
        j = e.to_json()
        print(f"  reinstatement {j['start']} .. {j['end']}: {j['magnitude']:,} accounts, expected "
              f"{j['evidence']['expected']:.1f} (baseline {j['evidence']['baseline_per_day']:.2f}/day, "
              f"dispersion {j['evidence']['dispersion']:.1f}), score {j['score']:.0f}")
    top = sorted(events, key=lambda e: -e.score)[:5]
    print("strongest: " + "; ".join(f"{e.kind} {e.to_json()['start'][:10]} n={e.magnitude:,.0f} "
                                     f"score={e.score:.0f}" for e in top))


def wayback(base: Path, out: Path) -> None:
    from purgewatch.sources.datasets import import_dataset

    raw = pd.read_csv(base / "wayback-follower-history" / "follower_history_long.csv")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "s")
        import_dataset(store, "wayback-follower-history", base)
        events = detect(store)
    print(f"\n== wayback-follower-history: {raw.account.nunique()} accounts, {len(raw):,} captures ==")
    for e in events:
        j = e.to_json()
        print(f"  {j['kind']:15} {j['account_id']:15} {j['start'][:10]} .. {j['end'][:10]} "
              f"{j['magnitude']:>12,.0f} ({j['relative']:.1%}) z={j['score']:.1f}")
    fired = {e.account_id for e in events}
    quiet = sorted(set(raw.account) - fired)
    print(f"accounts with no event: {len(quiet)} of {raw.account.nunique()}: {', '.join(quiet)}")
    raw["followers"] = pd.to_numeric(raw.followers, errors="coerce")
    ten = raw[raw.account == "TEN_GOP"].dropna(subset=["followers"])
    print(f"TEN_GOP: {len(ten)} captures {ten.date.min()} .. {ten.date.max()}, "
          f"{ten.followers.iloc[0]:,.0f} -> {ten.followers.iloc[-1]:,.0f} followers; events: "
          f"{[e.to_json()['kind'] for e in events if e.account_id == 'TEN_GOP'] or 'none'}")
    plt = _plt()
    if plt is not None:
        accs = sorted(raw.account.unique())
        fig, axes = plt.subplots(4, 4, figsize=(16, 11), squeeze=False)
        for ax, a in zip(axes.ravel(), accs, strict=False):
            s = raw[raw.account == a].dropna(subset=["followers"]).assign(
                date=lambda d: pd.to_datetime(d.date)).sort_values("date")
            ax.plot(pd.to_datetime(s.date), s.followers, ".-", ms=3, lw=0.6)
            for e in events:
                if e.account_id == a:
                    ax.axvspan(pd.to_datetime(e.start, unit="s"), pd.to_datetime(e.end, unit="s"),
                               color="red" if e.kind == "follower_drop" else "green", alpha=0.3)
            ax.set_title(a, fontsize=8)
            ax.tick_params(labelsize=6)
        for ax in axes.ravel()[len(accs):]:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(out / "wayback.png", dpi=70)
        plt.close(fig)
        print(f"plots: {out / 'wayback.png'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    ap.add_argument("--plots", type=Path, default=Path(tempfile.gettempdir()) / "purgewatch-detect-plots")
    ap.add_argument("--only", choices=["ira", "unsuspensions", "wayback"], default=None)
    args = ap.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"datasets folder not found: {args.datasets} (set PURGEWATCH_DATASETS)")
    args.plots.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    if args.only in (None, "ira"):
        ira(args.datasets, args.plots)
    if args.only in (None, "unsuspensions"):
        unsuspensions(args.datasets)
    if args.only in (None, "wayback"):
        wayback(args.datasets, args.plots)


if __name__ == "__main__":
    main()
