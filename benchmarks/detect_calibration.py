"""Calibration of the burst scans: false alarms per year on null series vs bursts found.

A scan threshold is only meaningful next to the false alarms it lets through. For each
setting this prints the bursts found on the real data and the false alarms per year on
*null* versions of the same data, where the bursts cannot be real:

* **unsuspensions-2022** (status events: suspension and reversal observation times of
  89,539 accounts), suspension and reinstatement waves, whole population:
  - ``uniform``: every transition's time redrawn uniformly over the covered span (same
    count; a homogeneous stream);
  - ``jitter``: every transition moved by a uniform offset of up to +/- 7 days (keeps the
    slow changes of rate, smears every burst shorter than a week: what stays "significant"
    is the scan reacting to the rate's drift and to the tracker's batching).
* **IRA follower series** (2.46 M readings of 2,839 accounts), the purge scan over the
  per-account drop candidates:
  - ``shift``: each account's candidate times shifted by its own random offset, circularly
    within the account's observed span (each account keeps its own drops; their
    coincidence across accounts, which is what a purge is, is destroyed).
  The per-account detector is also run with and without the routine-gain rule, and the
  outlier filter's counts are printed.

    python benchmarks/detect_calibration.py [--datasets ../shared/datasets] [--seeds 20]

Rows: setting, bursts found on the real data, mean false alarms per year on the nulls
(and the largest count any one null draw gave). Datasets are read, never copied; a missing
one is skipped with a note.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from purgewatch.analysis.detect import DetectParams, detect_series, load_series
from purgewatch.analysis.detect._load import group_array, load_status
from purgewatch.analysis.detect._purge import PurgeParams, find_purges
from purgewatch.analysis.detect._run import purge_loss
from purgewatch.analysis.detect._series import SeriesParams, detect_arrays, prepare
from purgewatch.analysis.detect._waves import Transitions, WaveParams, find_waves, transitions
from purgewatch.store import Store
from purgewatch.watchlist import groups_by_account

HERE = Path(__file__).resolve()
DEFAULT = Path(os.environ.get("PURGEWATCH_DATASETS", HERE.parents[1].parent / "shared" / "datasets"))
if not DEFAULT.is_dir():  # a worktree one level deeper than the repository
    DEFAULT = HERE.parents[1].parent.parent / "shared" / "datasets"
YEAR = 365.25 * 86400.0
DAY = 86400.0


def _store(name: str, datasets: Path, tmp: Path) -> Store:
    from purgewatch.sources.datasets import import_dataset

    st = Store.init(tmp / name)
    import_dataset(st, name, datasets)
    return st


def _waves(tr: Transitions, n_acc: int, coverage: tuple[float, float], p: WaveParams) -> int:
    accounts = [("x", str(i)) for i in range(n_acc)]
    groups = np.full(n_acc, None, dtype=object)
    order = np.lexsort((tr.time, tr.key))
    tr = Transitions(tr.key[order], tr.time[order], tr.since[order], tr.kind[order], tr.status[order])
    return len(find_waves(tr, accounts, groups, coverage, {None: n_acc}, p))


def waves_table(datasets: Path, seeds: int, tmp: Path) -> None:
    if not (datasets / "unsuspensions-2022").is_dir():
        print("unsuspensions-2022: skipped (not in the datasets folder)")
        return
    st = _store("unsuspensions-2022", datasets, tmp)
    s = load_status(st)
    tr = transitions(s.key, s.time, s.status, s.is_event)
    cov = (float(s.time.min()), float(s.time.max()))
    years = (cov[1] - cov[0]) / YEAR
    n_acc = len(s.accounts)
    print(f"\n== waves: unsuspensions-2022, {len(tr.time):,} transitions of {n_acc:,} accounts over "
          f"{years * 365.25:.0f} days; nulls: {seeds} draws each ==")
    print(f"{'setting':44} {'real':>5} {'uniform FA/yr (max)':>20} {'jitter FA/yr (max)':>20}")
    base = WaveParams(by_group=False, max_listed=0)
    settings = [
        ("previous default: ratio 3, LLR 15, 1 h bins", dataclasses.replace(base, min_ratio=3.0)),
        ("ratio 1.5, LLR 15, 1 h bins", dataclasses.replace(base, min_ratio=1.5)),
        ("default: ratio 1.5, LLR 15, min 5, tail p", base),
        ("ratio 1.5, LLR 10, 1 h bins", dataclasses.replace(base, min_ratio=1.5, llr_threshold=10.0)),
        ("ratio 1.5, LLR 25, 1 h bins", dataclasses.replace(base, min_ratio=1.5, llr_threshold=25.0)),
        ("previous default at 24 h bins", dataclasses.replace(base, min_ratio=3.0, bin_hours=24.0)),
        ("default at 24 h bins", dataclasses.replace(base, bin_hours=24.0)),
    ]
    for label, p in settings:
        real = _waves(tr, n_acc, cov, p)
        fa: dict[str, list[int]] = {"uniform": [], "jitter": []}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            t_u = rng.uniform(cov[0], cov[1], len(tr.time))
            fa["uniform"].append(_waves(dataclasses.replace(tr, time=t_u, since=t_u), n_acc, cov, p))
            t_j = np.clip(tr.time + rng.uniform(-7 * DAY, 7 * DAY, len(tr.time)), cov[0], cov[1])
            fa["jitter"].append(_waves(dataclasses.replace(tr, time=t_j, since=t_j), n_acc, cov, p))
        cells = [f"{np.mean(v) / years:9.2f} ({max(v):3d})" for v in fa.values()]
        print(f"{label:44} {real:5d} {cells[0]:>20} {cells[1]:>20}", flush=True)


def purge_table(datasets: Path, seeds: int, tmp: Path) -> None:
    if not (datasets / "ira-follower-series").is_dir():
        print("ira-follower-series: skipped (not in the datasets folder)")
        return
    st = _store("ira-follower-series", datasets, tmp)
    data = load_series(st)
    groups = group_array(data.accounts, groups_by_account(st))
    sid, t, y = prepare(data.sid, data.t, data.y)
    sp = SeriesParams()
    t0 = time.perf_counter()
    found: list[np.ndarray] = []
    ev, pg = detect_arrays(sid, t, y, sp, outliers=found)
    print(f"\n== IRA follower series: {len(t):,} readings of {len(data.accounts):,} accounts "
          f"(kernel {time.perf_counter() - t0:.1f} s) ==")
    out_sid = sid[found[0]]
    per = np.bincount(out_sid, minlength=len(data.accounts))
    n_read = np.bincount(sid, minlength=len(data.accounts))
    mixed = (per >= sp.mixed_min_outliers) & (per >= sp.mixed_min_share * n_read)
    print(f"outlier readings set aside: {len(found[0]):,} in {(per > 0).sum():,} accounts; "
          f"mixed series: {mixed.sum()}")
    for label, params in (("routine-gain rule off (routine_min_steps=10^9)",
                           DetectParams(series=dataclasses.replace(sp, routine_min_steps=10**9))),
                          ("default", DetectParams())):
        evs = detect_series(sid, t, y, data.accounts, groups, params, purge=False)
        n_d = sum(e.kind == "follower_drop" for e in evs)
        n_s = sum(e.kind == "follower_surge" for e in evs)
        acc_s = len({e.account_id for e in evs if e.kind == "follower_surge"})
        print(f"  {label:48} drops {n_d:5,}  surges {n_s:5,} (in {acc_s} accounts)")
    heads = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]]))
    tails = np.concatenate([heads[1:] - 1, [len(sid) - 1]])
    first = np.full(len(data.accounts), np.inf)
    last = np.full(len(data.accounts), -np.inf)
    first[sid[heads]] = t[heads]
    last[sid[tails]] = t[tails]
    years = (np.nanmax(last) - np.nanmin(first)) / YEAR
    ts, te, lost = t[pg.first], t[pg.last], purge_loss(pg)
    print(f"purge scan over {len(pg):,} drop candidates, {years:.1f} years; null: per-account circular "
          f"shift, {seeds} draws")
    print(f"{'setting':44} {'real':>5} {'shift FA/yr (max)':>20}")
    base = PurgeParams(max_listed=0)
    for label, p in (("previous default: ratio 3, LLR 15", dataclasses.replace(base, min_ratio=3.0)),
                     ("default: ratio 1.5, LLR 15", base),
                     ("ratio 1.5, LLR 25", dataclasses.replace(base, llr_threshold=25.0))):
        real = len(find_purges(pg.sid, ts, te, lost, pg.level, first, last, data.accounts, groups, p))
        fas = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            span = np.maximum(last - first, 1.0)
            shift = rng.uniform(0, 1, len(data.accounts)) * span
            s0 = first[pg.sid]
            sh = shift[pg.sid]
            sp_ = span[pg.sid]
            ts_n = s0 + np.mod(ts - s0 + sh, sp_)
            te_n = ts_n + (te - ts)
            fas.append(len(find_purges(pg.sid, ts_n, te_n, lost, pg.level, first, last, data.accounts,
                                       groups, p)))
        print(f"{label:44} {real:5d} {np.mean(fas) / years:9.2f} ({max(fas):3d})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=DEFAULT)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    if not args.datasets.is_dir():
        print(f"skipped: no datasets folder at {args.datasets}")
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        waves_table(args.datasets, args.seeds, Path(tmp))
        purge_table(args.datasets, args.seeds, Path(tmp))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
