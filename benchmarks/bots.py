"""The bot-likeness model on the labelled sets in ../shared/datasets (figures for docs/bots.md).

1. Within-dataset cross-validation (stratified folds, the training recipe of
   ``purgewatch.analysis.bots.train`` refitted inside every fold): cresci-2017 (genuine vs
   all bot classes), cresci-rtbust-2019, and the single-class Botometer sets mixed as
   published (verified-2019 + botwiki-2019, verified-2019 + vendor-purchased-2019).
2. Leave one data set out: train on the others, test on the one left out (a single-class
   set with the other class from a set it was published with: verified-2019 with
   botwiki-2019, vendor-purchased-2019 with verified-2019; both left out of training).
   Also the same test sets with the fields Bluesky and Mastodon profiles lack removed.
3. Baselines measured on the same rows: the hand-weighted score of earlier versions
   (``forensics.heuristic_bot_likeness``) and the majority class.
4. Calibration: observed bot share per score decile of the out-of-fold (within) and
   held-out (across) scores, drawn to ``--plot`` (PNG; needs matplotlib).
5. Speed: features + scores of 100,000 profiles in one batch (the shipped model).

    python benchmarks/bots.py [--datasets ../shared/datasets] [--folds 5] [--plot docs/bots-calibration.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purgewatch.analysis import forensics as fx
from purgewatch.analysis.bots import feature_matrix, load_labelled, load_model
from purgewatch.analysis.bots.train import MASKS, THRESHOLD, fit_model

HERE = Path(__file__).resolve()
DEFAULT_DATASETS = Path(os.environ.get("PURGEWATCH_DATASETS", HERE.parents[2] / "shared" / "datasets"))


def _metrics(y: np.ndarray, s: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    from sklearn.metrics import f1_score, roc_auc_score

    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    auc = float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")
    return {"auc": auc, "f1": float(f1_score(y, s >= threshold, zero_division=0)), "n": int(len(y))}


def _majority(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Always answer the training majority: AUC 0.5 by definition, F1 of that answer."""
    from sklearn.metrics import f1_score

    guess = int(np.mean(y_train) >= 0.5)
    return {"auc": 0.5, "f1": float(f1_score(y_test, np.full(len(y_test), guess), zero_division=0))}


def _mask(X: np.ndarray, cols: tuple[str, ...]) -> np.ndarray:
    from purgewatch.analysis.bots import FEATURE_NAMES

    Xm = X.copy()
    Xm[:, [FEATURE_NAMES.index(c) for c in cols]] = np.nan
    return Xm


def within(data: pd.DataFrame, X: np.ndarray, heur: np.ndarray, folds: int) -> tuple[list[dict[str, Any]], list[tuple[np.ndarray, np.ndarray]]]:
    from sklearn.model_selection import StratifiedKFold

    sets = {
        "cresci-2017": data["dataset"] == "cresci-2017",
        "cresci-rtbust-2019": data["dataset"] == "cresci-rtbust-2019",
        "verified-2019 + botwiki-2019": data["dataset"].isin(["verified-2019", "botwiki-2019"]),
        "verified-2019 + vendor-purchased-2019": data["dataset"].isin(["verified-2019", "vendor-purchased-2019"]),
    }
    rows, pooled = [], []
    for name, m in sets.items():
        idx = np.flatnonzero(m.to_numpy())
        y = data["y"].to_numpy()[idx]
        ds = data["dataset"].to_numpy()[idx]
        oof = np.empty(len(idx))
        maj = []
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(idx, y):
            fit = fit_model(X[idx[tr]], y[tr], ds[tr])
            oof[te] = fit.predict(X[idx[te]])
            maj.append(_majority(y[tr], y[te])["f1"])
        pooled.append((y, oof))
        rows.append({"set": name, "bots": int(y.sum()), "humans": int((1 - y).sum()),
                     "model": _metrics(y, oof), "heuristic": _metrics(y, heur[idx]),
                     "majority_f1": float(np.mean(maj))})
    return rows, pooled


def across(data: pd.DataFrame, X: np.ndarray, heur: np.ndarray) -> tuple[list[dict[str, Any]], list[tuple[np.ndarray, np.ndarray]]]:
    d = data["dataset"].to_numpy()
    held = {
        "cresci-2017": ["cresci-2017"],
        "cresci-rtbust-2019": ["cresci-rtbust-2019"],
        "verified-2019 + botwiki-2019": ["verified-2019", "botwiki-2019"],
        "vendor-purchased-2019 + verified-2019": ["vendor-purchased-2019", "verified-2019"],
    }
    y_all = data["y"].to_numpy()
    rows, pooled = [], []
    for name, out in held.items():
        te = np.isin(d, out)
        tr = ~te
        fit = fit_model(X[tr], y_all[tr], d[tr])
        s = fit.predict(X[te])
        s_bsky = fit.predict(_mask(X[te], MASKS["bluesky_mastodon"]))
        y = y_all[te]
        pooled.append((y, s))
        row = {"set": name, "trained_on": sorted(set(d[tr])), "bots": int(y.sum()), "humans": int((1 - y).sum()),
               "model": _metrics(y, s), "model_bluesky_shape": _metrics(y, s_bsky),
               "heuristic": _metrics(y, heur[te]), "majority_f1": _majority(y_all[tr], y)["f1"]}
        if name == "cresci-2017":
            sub = data["subset"].to_numpy()[te]
            gen = sub == "genuine"
            row["per_class_auc"] = {
                c: round(_metrics(np.r_[np.zeros(gen.sum()), np.ones((sub == c).sum())],
                                  np.r_[s[gen], s[sub == c]])["auc"], 3)
                for c in sorted(set(sub) - {"genuine"})
            }
        rows.append(row)
    return rows, pooled


def calibration_table(y: np.ndarray, s: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for i in range(bins):
        m = (s >= edges[i]) & ((s < edges[i + 1]) if i < bins - 1 else (s <= 1))
        if m.sum():
            out.append((float(s[m].mean()), float(y[m].mean()), int(m.sum())))
    return out


def plot(within_pool: list[tuple[np.ndarray, np.ndarray]], across_pool: list[tuple[np.ndarray, np.ndarray]],
         out: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no calibration plot)")
        return None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect calibration")
    for pool, label, color in ((within_pool, "within data set (out-of-fold)", "#1f77b4"),
                               (across_pool, "held-out data set", "#d62728")):
        y = np.concatenate([p[0] for p in pool])
        s = np.concatenate([p[1] for p in pool])
        tab = calibration_table(y, s)
        ax.plot([t[0] for t in tab], [t[1] for t in tab], marker="o", color=color, label=label)
    ax.set_xlabel("predicted probability of bot (score decile mean)")
    ax.set_ylabel("observed share of bots")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Bot-likeness calibration (labelled sets, pooled)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def speed(data: pd.DataFrame, n: int = 100_000) -> dict[str, float]:
    model = load_model()
    big = pd.concat([data] * (n // len(data) + 1), ignore_index=True).iloc[:n]
    # Wall time and this process's CPU time: on a machine shared with other jobs the wall
    # time mostly measures the queue for a core; scoring is single-threaded numpy.
    t0, c0 = time.perf_counter(), time.process_time()
    X = feature_matrix(big)
    t1 = time.perf_counter()
    model.score_matrix(X)
    t2, c2 = time.perf_counter(), time.process_time()
    fx.heuristic_bot_likeness(big)
    t3, c3 = time.perf_counter(), time.process_time()
    return {"profiles": n, "features_s": t1 - t0, "scores_s": t2 - t1,
            "per_s": n / (t2 - t0), "per_cpu_s": n / (c2 - c0),
            "heuristic_per_s": n / (t3 - t2), "heuristic_per_cpu_s": n / (c3 - c2)}


def _fmt(m: dict[str, float]) -> str:
    return f"AUC {m['auc']:.3f}  F1 {m['f1']:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--plot", type=Path, default=HERE.parents[1] / "docs" / "bots-calibration.png")
    ap.add_argument("--skip-training", action="store_true", help="speed only")
    a = ap.parse_args(argv)
    if not a.datasets.is_dir():
        print(f"datasets folder not found: {a.datasets}", file=sys.stderr)
        return 2
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    data = load_labelled(a.datasets)
    X = feature_matrix(data)
    heur = fx.heuristic_bot_likeness(data).to_numpy(dtype=float)
    print(f"labelled profiles: {len(data)} ({int(data['y'].sum())} bots)")

    sp = speed(data)
    print(f"\nspeed (shipped model, {sp['profiles']:,} profiles in one batch): features {sp['features_s']:.2f} s, "
          f"scores {sp['scores_s']:.2f} s -> {sp['per_s']:,.0f} profiles/s wall, {sp['per_cpu_s']:,.0f} per CPU second "
          f"(old heuristic {sp['heuristic_per_s']:,.0f}/s wall, {sp['heuristic_per_cpu_s']:,.0f} per CPU s); "
          f"load {os.getloadavg()[0]:.1f}")
    if a.skip_training:
        return 0

    t0 = time.perf_counter()
    w_rows, w_pool = within(data, X, heur, a.folds)
    print(f"\nwithin data set ({a.folds}-fold CV, threshold {THRESHOLD}):")
    print(f"{'set':40s} {'bots':>6s} {'humans':>6s}   {'model':24s} {'old heuristic':24s} majority F1")
    for r in w_rows:
        print(f"{r['set']:40s} {r['bots']:6d} {r['humans']:6d}   {_fmt(r['model']):24s} {_fmt(r['heuristic']):24s} {r['majority_f1']:.3f}")
    a_rows, a_pool = across(data, X, heur)
    print("\nleave one data set out (trained on the others):")
    print(f"{'held-out test set':40s} {'bots':>6s} {'humans':>6s}   {'model':24s} {'model, Bluesky fields':24s} {'old heuristic':24s} majority F1")
    for r in a_rows:
        print(f"{r['set']:40s} {r['bots']:6d} {r['humans']:6d}   {_fmt(r['model']):24s} {_fmt(r['model_bluesky_shape']):24s} "
              f"{_fmt(r['heuristic']):24s} {r['majority_f1']:.3f}")
        if "per_class_auc" in r:
            print("    per cresci class vs genuine (AUC): " + ", ".join(f"{k} {v:.3f}" for k, v in r["per_class_auc"].items()))
    print("\ncalibration (mean score -> observed bot share, n):")
    for label, pool in (("within", w_pool), ("held-out", a_pool)):
        y = np.concatenate([p[0] for p in pool])
        s = np.concatenate([p[1] for p in pool])
        print(f"  {label:9s} " + "  ".join(f"{m:.2f}->{o:.2f} ({n})" for m, o, n in calibration_table(y, s)))
    out = plot(w_pool, a_pool, a.plot)
    if out is not None:
        print(f"\ncalibration plot: {out}")
    print(f"training time for the evaluation: {time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
