"""Train the bot-likeness model (needs scikit-learn: ``pip install 'purgewatch[train]'``).

    python -m purgewatch.analysis.bots.train --datasets ../shared/datasets --out model.json
    python -m purgewatch.analysis.bots.train --own my_labelled_profiles.csv --out mine.json

The first form rebuilds the shipped model from the public labelled sets (a local copy;
nothing is downloaded); ``--sets`` picks some of them. ``--own`` adds (or, without
``--datasets``, uses only) profile files of your own whose ``label`` column says ``bot``
or ``human``. Score with a retrained model through ``--model`` or ``$PURGEWATCH_BOT_MODEL``.

What it does (docs/bots.md): features from the profiles (``_features``), each account
also copied with the fields X v2, Bluesky and Mastodon profiles lack set to unknown (so
the model learns what a missing field says instead of guessing), weights so that every
data set counts equally and bots and humans weigh the same, a HistGradientBoostingClassifier,
and an isotonic calibration fitted on out-of-fold scores (folds by account, copies kept
together), as scikit-learn's CalibratedClassifierCV(method="isotonic", ensemble=False). The result is written as plain JSON (see ``_model``).
"""

from __future__ import annotations

import argparse
import json
import platform as _platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purgewatch._version import __version__
from purgewatch.analysis.bots._data import LABELLED_SETS, load_labelled, read_labelled_file
from purgewatch.analysis.bots._features import FEATURE_NAMES, feature_matrix
from purgewatch.analysis.bots._model import FORMAT, FORMAT_VERSION
from purgewatch.analysis.bots._score import summarize
from purgewatch.errors import ConfigError

# Learner settings: shallow trees (scoring speed, less memorising of one data set).
PARAMS: dict[str, Any] = {
    "max_iter": 60, "learning_rate": 0.15, "max_depth": 4, "max_leaf_nodes": 16,
    "min_samples_leaf": 40, "l2_regularization": 1.0, "early_stopping": False,
}
CV_FOLDS = 4
# OpenMP threads per fit. One: on a shared machine the learner's busy-waiting threads
# slowed a fit tenfold (7 s alone vs minutes); results do not depend on it.
TRAIN_THREADS = 1
THRESHOLD = 0.5
SEED = 15
# Field groups other platform shapes lack (see FEATURES' platform lists).
MASKS: dict[str, tuple[str, ...]] = {
    "x2": ("default_profile",),
    "bluesky_mastodon": ("default_profile", "favourites_count", "listed_count",
                         "favourites_per_day", "listed_per_day"),
}
TERMS = {
    "cresci-2017": "no licence stated; Cresci et al. 2017, 'The paradigm-shift of social spambots' (cite)",
    "verified-2019": "Botometer bot repository: CC BY-NC-ND 4.0 (Yang et al., AAAI 2020)",
    "botwiki-2019": "Botometer bot repository: CC BY-NC-ND 4.0 (Yang et al., AAAI 2020)",
    "cresci-rtbust-2019": "Botometer bot repository: CC BY-NC-ND 4.0 (Mazza et al., WebSci 2019)",
    "vendor-purchased-2019": "Botometer bot repository: CC BY-NC-ND 4.0 (Yang et al., HBET 2019)",
}


def _sklearn() -> Any:
    try:
        import sklearn
    except ImportError:
        raise ConfigError("training needs scikit-learn",
                          hint="pip install 'purgewatch[train]' (scikit-learn >= 1.5)") from None
    return sklearn


def augmented(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` followed by one copy per platform mask (fields set to NaN); returns the
    stacked rows and, per row, the index of the original account."""
    parts, origin = [X], [np.arange(len(X))]
    for cols in MASKS.values():
        Xm = X.copy()
        Xm[:, [FEATURE_NAMES.index(c) for c in cols]] = np.nan
        parts.append(Xm)
        origin.append(np.arange(len(X)))
    return np.vstack(parts), np.concatenate(origin)


def weights(y: np.ndarray, dataset: np.ndarray) -> np.ndarray:
    """Every data set counts equally; then bots and humans weigh the same in total."""
    w = np.zeros(len(y))
    for d in np.unique(dataset):
        m = dataset == d
        w[m] = 1.0 / m.sum()
    for cls in (0, 1):
        m = y == cls
        if m.any():
            w[m] *= 0.5 / w[m].sum()
    return w * len(y)


@dataclass
class Fitted:
    """A trained model: the boosted trees, the isotonic map, and the out-of-fold
    calibrated scores of the (unmasked) training rows."""

    trees: Any
    isotonic: Any
    oof: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.isotonic.predict(self.trees.decision_function(X)), dtype=float)


def fit_model(X: np.ndarray, y: np.ndarray, dataset: np.ndarray, *, seed: int = SEED,
              params: dict[str, Any] | None = None, folds: int = CV_FOLDS) -> Fitted:
    """Trees on all rows (augmented inside) and an isotonic map fitted on out-of-fold
    raw scores, folds by account: what CalibratedClassifierCV(method="isotonic",
    ensemble=False) does, kept by hand so the out-of-fold scores stay available."""
    _sklearn()
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from threadpoolctl import threadpool_limits

    if len(np.unique(y)) < 2:
        raise ConfigError("the training data hold one class only",
                          hint="mix bots and humans (e.g. verified-2019 with botwiki-2019)")
    # A feature the training data never give (e.g. a user's Bluesky-only set lacks likes)
    # cannot be binned as all-NaN; as a constant it is never split on, so its value at
    # scoring time (NaN or not) changes nothing.
    X = np.where(np.isnan(X).all(axis=0), 0.0, X)
    Xa, origin = augmented(X)
    ya = y[origin]
    wa = weights(y, dataset)[origin] / (1 + len(MASKS))

    def learner() -> Any:
        return HistGradientBoostingClassifier(random_state=seed, **(params or PARAMS))

    raw = np.empty(len(Xa))
    with threadpool_limits(limits=TRAIN_THREADS, user_api="openmp"):
        for tr, te in StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(Xa, ya, origin):
            raw[te] = learner().fit(Xa[tr], ya[tr], sample_weight=wa[tr]).decision_function(Xa[te])
        trees = learner().fit(Xa, ya, sample_weight=wa)
    iso = IsotonicRegression(out_of_bounds="clip").fit(raw, ya, sample_weight=wa)
    return Fitted(trees, iso, np.asarray(iso.predict(raw[: len(X)]), dtype=float))


def _trees(hgb: Any) -> tuple[float, list[dict[str, Any]]]:
    baseline = float(np.asarray(hgb._baseline_prediction).ravel()[0])
    trees = []
    for (pred,) in hgb._predictors:
        nodes = pred.nodes
        leaf = nodes["is_leaf"].astype(bool)
        if nodes["is_categorical"].any():
            raise ConfigError("categorical splits are not supported by the bot-model format")
        trees.append({
            "feature": np.where(leaf, -1, nodes["feature_idx"]).astype(int).tolist(),
            "threshold": [float(v) for v in np.where(leaf, 0.0, nodes["num_threshold"])],
            "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
            "left": nodes["left"].astype(int).tolist(),
            "right": nodes["right"].astype(int).tolist(),
            "value": [float(v) if lf else 0.0 for v, lf in zip(nodes["value"], leaf, strict=True)],
            "depth": int(nodes["depth"].max()),
        })
    return baseline, trees


def to_json(fit: Fitted, *, training: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    sklearn = _sklearn()
    hgb, iso = fit.trees, fit.isotonic
    baseline, trees = _trees(hgb)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "name": "purgewatch-bot-likeness",
        "version": f"{__version__}+{datetime.now(UTC):%Y%m%d}",
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "features": list(FEATURE_NAMES),
        "threshold": THRESHOLD,
        "training": training,
        "learner": {"kind": "sklearn.ensemble.HistGradientBoostingClassifier",
                    "params": {k: v for k, v in hgb.get_params().items() if isinstance(v, int | float | str | bool | type(None))},
                    "calibration": "sklearn.isotonic.IsotonicRegression on out-of-fold raw scores (folds by account)",
                    "cv_folds": CV_FOLDS, "augmentation_masks": {k: list(v) for k, v in MASKS.items()}},
        "libraries": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                      "pandas": pd.__version__, "python": _platform.python_version(),
                      "purgewatch": __version__},
        "reference": reference,
        "baseline": baseline,
        "trees": trees,
        "calibration": {"method": "isotonic",
                        "x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]},
    }


def train(profiles: pd.DataFrame, *, seed: int = SEED) -> tuple[Fitted, dict[str, Any]]:
    """Fit on labelled profiles (columns ``y``, ``dataset``, ``subset`` beside the
    profile facts); returns the fitted model and the JSON document."""
    X = feature_matrix(profiles)
    y = profiles["y"].to_numpy(dtype=int)
    ds = profiles["dataset"].astype(str).to_numpy()
    fit = fit_model(X, y, ds, seed=seed)
    # Reference distributions: out-of-fold scores of the training accounts, so explain can
    # set a population's scores beside accounts known to be genuine (or bots).
    reference = {
        "genuine": summarize(fit.oof[y == 0], threshold=THRESHOLD),
        "bots": summarize(fit.oof[y == 1], threshold=THRESHOLD),
        "note": "out-of-fold scores of the training accounts (X v1.1 profiles of 2009-2019)",
    }
    counts: dict[str, dict[str, int]] = {}
    for d, cls in zip(profiles["dataset"].astype(str), profiles["y"].astype(int), strict=True):
        per = counts.setdefault(d, {})
        name = "bot" if cls == 1 else "human"
        per[name] = per.get(name, 0) + 1
    training = {"datasets": counts, "terms": {d: TERMS.get(d, "the user's own data") for d in counts},
                "rows": int(len(profiles)), "seed": seed,
                "weighting": "each data set counts equally; bots and humans weigh the same in total",
                "prior": "the probability assumes bots and humans are equally common (threshold 0.5)"}
    return fit, to_json(fit, training=training, reference=reference)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m purgewatch.analysis.bots.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", help="folder holding the labelled set folders (default: $PURGEWATCH_DATASETS)")
    ap.add_argument("--sets", default=",".join(LABELLED_SETS), help="comma-separated labelled sets to learn from")
    ap.add_argument("--own", action="append", default=[], help="your own labelled profile file (label = bot|human); repeatable")
    ap.add_argument("--out", required=True, help="where to write the model JSON")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args(argv)
    import os

    folder = a.datasets or (None if a.own else os.environ.get("PURGEWATCH_DATASETS"))
    parts = []
    if folder:
        parts.append(load_labelled(folder, [s.strip() for s in a.sets.split(",") if s.strip()]))
    parts += [read_labelled_file(f) for f in a.own]
    if not parts:
        ap.error("give --datasets DIR (or set PURGEWATCH_DATASETS) and/or --own FILE")
    profiles = pd.concat(parts, ignore_index=True)
    _, doc = train(profiles, seed=a.seed)
    Path(a.out).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {a.out}: {len(doc['trees'])} trees, trained on {doc['training']['datasets']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
