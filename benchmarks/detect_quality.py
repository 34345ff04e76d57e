"""Detection quality on labelled generated data, against baselines run in the same script.

Series (``_detect_gen.make_series``): 2,000 accounts, a year each, irregular sampling with
bursts and long gaps, duplicates and shuffled rows, single glitches (zero, another
account's count, rounded "12.3K"), organic growth with daily and weekly rhythm and
random-walk churn, drops and surges of 0.5-30 %, and three purges hitting 30 % of the
accounts each. Status streams (``make_status_stream``): background suspensions and
reinstatements plus waves, some targeting one group.

Scores per kind: precision, recall (on "detectable" events: >= 1 % of followers, >= 5x
the noise, not inside a gap > 3 days, not within 3 readings of a series end), F1,
recall on all events, window error (median window width, median distance from the true
time to the window), and false alarms per 1,000 account-days on accounts with no event.

Baselines: "no change" (never fires), and ruptures Pelt (l2) and KernelCPD (rbf) on each
raw series with BIC-like penalties ``2 log(n) sigma^2`` (sigma from the MAD of first
differences), run on a sample of series (Pelt is slow). Every comparison is on the same
sample: PurgeWatch is scored (and timed, wall and CPU) on exactly the series the
baselines see, and only those rows are printed side by side. The scores on all accounts
are PurgeWatch's alone (no baseline ran on them) and are printed apart, labelled so.
``--sample 0`` runs the baselines on every account (slow: Pelt takes ~0.1-0.2 s each).

    python benchmarks/detect_quality.py [--accounts 2000] [--sample 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_gen import DAY, make_series, make_status_stream  # noqa: E402

from purgewatch.analysis.detect import detect, detect_series  # noqa: E402
from purgewatch.analysis.detect._series import prepare  # noqa: E402
from purgewatch.store import Store  # noqa: E402

TOL = 1.0 * DAY  # a detection may miss the true time by at most this much to count


def match(det: pd.DataFrame, truth: pd.DataFrame, tol: float = TOL) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching on (sid, kind), nearest true time first.
    Returns (detection is TP, truth is hit)."""
    tp = np.zeros(len(det), dtype=bool)
    hit = np.zeros(len(truth), dtype=bool)
    if len(det) == 0 or len(truth) == 0:
        return tp, hit
    by = {k: v.index.to_numpy() for k, v in truth.reset_index(drop=True).groupby(["sid", "kind"])}
    tt = truth.t.to_numpy()
    for i, (s, k, a, b) in enumerate(zip(det.sid, det.kind, det.start, det.end, strict=True)):
        cand = by.get((s, k))
        if cand is None:
            continue
        dist = np.maximum(np.maximum(a - tt[cand], tt[cand] - b), 0.0)
        ok = (dist <= tol) & ~hit[cand]
        if ok.any():
            j = cand[ok][np.argmin(dist[ok])]
            hit[j] = True
            tp[i] = True
    return tp, hit


def score(name: str, det: pd.DataFrame, truth: pd.DataFrame, organic: np.ndarray,
          organic_days: float) -> list[dict]:
    rows = []
    for kind in ("follower_drop", "follower_surge"):
        d = det[det.kind == kind].reset_index(drop=True)
        tr = truth[truth.kind == kind].reset_index(drop=True)
        tp, hit = match(d, tr)
        prec = tp.mean() if len(d) else float("nan")
        rec = hit[tr.detectable.to_numpy()].mean() if tr.detectable.any() else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if len(d) and prec + rec > 0 else 0.0
        # window error on matched pairs
        dm = d[tp]
        width = ((dm.end - dm.start) / 3600).median() if len(dm) else float("nan")
        dist = []
        for _, r in dm.iterrows():
            c = tr[(tr.sid == r.sid)]
            dd = np.maximum(np.maximum(r.start - c.t, c.t - r.end), 0).min()
            dist.append(dd / 3600)
        fa = d[d.sid.isin(organic)]
        rows.append(dict(method=name, kind=kind, detections=len(d), precision=prec, recall=rec,
                         f1=f1, recall_all=hit.mean() if len(tr) else float("nan"),
                         window_h=width, miss_h=float(np.median(dist)) if dist else float("nan"),
                         fa_per_1000_days=1000 * len(fa) / organic_days))
    return rows


def ruptures_events(sid: np.ndarray, t: np.ndarray, y: np.ndarray, which: str) -> pd.DataFrame:
    import ruptures as rpt

    out = []
    heads = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]]))
    stops = np.concatenate([heads[1:], [len(sid)]])
    for a, b in zip(heads, stops, strict=True):
        sig = y[a:b].reshape(-1, 1)
        n = len(sig)
        sd = float(np.median(np.abs(np.diff(sig[:, 0]))) / 0.6745 / np.sqrt(2)) or 1.0
        if which == "pelt":
            bk = rpt.Pelt(model="l2", min_size=2, jump=1).fit(sig).predict(pen=2 * np.log(n) * sd**2)
        else:
            bk = rpt.KernelCPD(kernel="rbf", min_size=2).fit(sig / sd).predict(pen=2 * np.log(n))
        edges = [0, *bk]
        for i in range(1, len(edges) - 1):
            prev = sig[edges[i - 1]:edges[i], 0].mean()
            nxt = sig[edges[i]:edges[i + 1], 0].mean()
            j = a + edges[i]
            out.append(dict(sid=int(sid[a]), kind="follower_drop" if nxt < prev else "follower_surge",
                            start=t[j - 1], end=t[j]))
    return pd.DataFrame(out, columns=["sid", "kind", "start", "end"])


def ours(sid: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[pd.DataFrame, list]:
    ev = detect_series(sid, t, y)
    rows = [dict(sid=int(e.account_id), kind=e.kind, start=e.start, end=e.end)
            for e in ev if e.kind in ("follower_drop", "follower_surge")]
    return pd.DataFrame(rows, columns=["sid", "kind", "start", "end"]), [e for e in ev if e.kind == "purge"]


def purge_scores(purges: list, truth_purges: pd.DataFrame) -> dict:
    found = 0
    acc_p, acc_r, errs = [], [], []
    used = set()
    for e in purges:
        ok = False
        for i, r in truth_purges.iterrows():
            if i in used:
                continue
            if e.start <= r.end + TOL and e.end >= r.start - TOL:
                used.add(i)
                ok = True
                named = {int(a["account_id"]) for a in e.evidence["accounts"]}
                members = set(r.accounts.tolist())
                acc_p.append(len(named & members) / max(len(named), 1))
                acc_r.append(len(named & members) / max(len(members), 1))
                errs.append(max(0.0, r.start - e.end, e.start - r.end) / 3600)
                break
        found += ok
    return dict(detected=len(purges), true=len(truth_purges), matched=found,
                precision=found / len(purges) if purges else float("nan"),
                recall=found / len(truth_purges), account_precision=float(np.mean(acc_p)) if acc_p else float("nan"),
                account_recall=float(np.mean(acc_r)) if acc_r else float("nan"),
                window_miss_h=float(np.median(errs)) if errs else float("nan"),
                window_width_h=float(np.median([(e.end - e.start) / 3600 for e in purges])) if purges else float("nan"))


def wave_scores(seed: int) -> tuple[dict, list]:
    ev, truth = make_status_stream(20_000, days=365, seed=seed, n_waves=8)
    groups = ev.drop_duplicates("account")[["account", "group"]]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "s")
        ts = pa.timestamp("us", tz="UTC")
        st = pa.table({"platform": ["x"] * len(ev), "account_id": [f"u{a}" for a in ev.account],
                       "at": pa.array((ev["at"] * 1e6).astype("int64"), ts), "status": ev.status.tolist()})
        wl = pa.table({"platform": ["x"] * len(groups), "account": [f"u{a}" for a in groups.account],
                       "account_id": [f"u{a}" for a in groups.account], "group": groups.group.tolist(),
                       "action": ["add"] * len(groups),
                       "at": pa.array([datetime(2022, 1, 1, tzinfo=UTC)] * len(groups), ts)})
        with store.writer(command="bench", source="gen") as w:
            w.add("status_events", st)
            w.add("watchlist", wl)
        t0 = time.perf_counter()
        found = detect(store, kinds=["suspension_wave", "reinstatement_wave"])
        took = time.perf_counter() - t0
    rows = []
    for scope in ("all", "group"):
        # "all": every wave must be found in the whole population. "group": a wave aimed
        # at one camp must be found in that camp; a group-scope detection is right when a
        # wave of its kind aimed at that camp, or at everyone, was under way.
        dets = [e for e in found if (e.group is None) == (scope == "all")]
        tr = truth if scope == "all" else truth[truth.group.notna()]
        used: set[int] = set()
        tp = 0
        miss, size_err = [], []
        for e in dets:
            for i, r in truth.iterrows():
                if r.kind != e.kind or (scope == "all" and i in used):
                    continue
                if scope == "group" and not (pd.isna(r.group) or r.group == e.group):
                    continue
                if e.start <= r.end + 3600 and e.end >= r.start - 3600:
                    if i in tr.index:
                        used.add(i)
                    tp += 1
                    miss.append(max(0.0, r.start - e.end, e.start - r.end) / 3600)
                    if scope == "all":
                        size_err.append(abs(e.magnitude - r["size"]) / r["size"])
                    break
        prec = tp / len(dets) if dets else float("nan")
        rec = len(used) / len(tr) if len(tr) else float("nan")
        rows.append(dict(scope=scope, detected=len(dets), true=len(tr), precision=prec, recall=rec,
                         f1=2 * prec * rec / (prec + rec) if dets and prec + rec > 0 else 0.0,
                         window_miss_h=float(np.median(miss)) if miss else float("nan"),
                         size_error=float(np.median(size_err)) if size_err else float("nan"),
                         seconds=took))
    return rows[0] | {"group_" + k: v for k, v in rows[1].items()}, found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--sample", type=int, default=200,
                    help="accounts every method is scored on (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    obs, truth = make_series(args.accounts, seed=args.seed)
    sid, t, y = prepare(obs.sid.to_numpy(), obs.t.to_numpy(), obs.y.to_numpy())
    org = truth.organic
    span = pd.Series(t).groupby(sid).agg(lambda s: s.max() - s.min()) / DAY
    org_days = float(span[span.index.isin(org)].sum())
    ev = truth.events
    print(f"series: {args.accounts} accounts, {len(obs):,} rows, {len(ev):,} true drops/surges "
          f"({int(ev.detectable.sum()):,} detectable), {len(truth.purges)} purges, "
          f"{len(org)} organic accounts ({org_days:,.0f} account-days)")
    t0 = time.perf_counter()
    det, purges = ours(sid, t, y)
    took = time.perf_counter() - t0
    rows = score("purgewatch", det, ev, org, org_days)
    print(f"\n== all {args.accounts} accounts: purgewatch alone, no baseline ran on these "
          f"({took:.1f} s) ==")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("\n== purges ==")
    print(pd.Series(purge_scores(purges, truth.purges)).round(3).to_string())
    # baselines on a sample
    rng = np.random.default_rng(args.seed)
    size = args.accounts if args.sample <= 0 else min(args.sample, args.accounts)
    pick = np.sort(rng.choice(args.accounts, size=size, replace=False))
    m = np.isin(sid, pick)
    s_sid, s_t, s_y = sid[m], t[m], y[m]
    s_ev = ev[ev.sid.isin(pick)]
    s_org = org[np.isin(org, pick)]
    s_days = float(span[span.index.isin(s_org)].sum())
    sample_rows = []
    sample_rows += score("no change", pd.DataFrame(columns=["sid", "kind", "start", "end"]), s_ev, s_org, s_days)
    timings: dict[str, tuple[float, float]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    d_ours, _ = ours(s_sid, s_t, s_y)
    timings["purgewatch"] = (time.perf_counter() - t0, time.process_time() - c0)
    sample_rows += score("purgewatch", d_ours, s_ev, s_org, s_days)
    for which in ("pelt", "kernelcpd"):
        t0, c0 = time.perf_counter(), time.process_time()
        d = ruptures_events(s_sid, s_t, s_y, which)
        timings[which] = (time.perf_counter() - t0, time.process_time() - c0)
        sample_rows += score(f"ruptures {which}", d, s_ev, s_org, s_days)
    print(f"\n== the same {len(pick)} accounts for every method (seed {args.seed}): "
          "baselines vs purgewatch ==")
    print(pd.DataFrame(sample_rows).round(3).to_string(index=False))
    ours_wall, ours_cpu = timings["purgewatch"]
    print("seconds on the sample (wall / CPU): "
          + ", ".join(f"{k} {w:.2f} / {c:.2f}" for k, (w, c) in timings.items())
          + "; ratios vs purgewatch (wall / CPU): "
          + ", ".join(f"{k} {w / ours_wall:.0f}x / {c / ours_cpu:.0f}x"
                      for k, (w, c) in timings.items() if k != "purgewatch"))
    print("\n== suspension / reinstatement waves (20,000 accounts, a year, 8 waves) ==")
    w, _ = wave_scores(args.seed)
    print(pd.Series({k: round(v, 3) if isinstance(v, float) else v for k, v in w.items()}).to_string())
    print("(baseline 'no change' finds no wave: recall 0, F1 0)")


if __name__ == "__main__":
    main()
