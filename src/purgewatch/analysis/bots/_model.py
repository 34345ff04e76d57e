"""The bot-likeness model: a documented JSON file, scored with numpy alone.

The shipped model (``model.json`` beside this module) is a scikit-learn
HistGradientBoostingClassifier with an isotonic calibration map, written out as plain
arrays by ``train.py``: no pickle, so loading it runs no code, and scoring does not need
scikit-learn (training does). Format (``"format": "purgewatch-bot-model"``, version 1):

- ``features``: the feature names, in column order (must equal ``FEATURE_NAMES``);
- ``baseline``: the raw score before the trees; ``trees``: per tree the node arrays
  ``feature`` (-1 at a leaf), ``threshold`` (go left when value <= threshold),
  ``missing_left`` (where NaN goes), ``left``, ``right``, ``value`` (the leaf's raw score);
- ``calibration``: ``{"method": "isotonic", "x": [...], "y": [...]}``: the probability is
  the piecewise-linear map of the summed raw score through these points (clipped at the
  ends), exactly as sklearn's IsotonicRegression predicts;
- ``threshold``: the documented decision threshold; ``training``, ``libraries``,
  ``learner``, ``created_at``, ``version``: where the model came from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purgewatch.analysis.bots._features import FEATURE_NAMES, feature_matrix
from purgewatch.errors import ConfigError

FORMAT = "purgewatch-bot-model"
FORMAT_VERSION = 1
SHIPPED_MODEL = Path(__file__).with_name("model.json")
ENV_MODEL = "PURGEWATCH_BOT_MODEL"
_CHUNK = 2_048    # rows per scoring pass: keeps the working arrays in cache


@dataclass
class _Tree:
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int


@dataclass
class BotModel:
    """A loaded bot-likeness model. :meth:`score` gives calibrated probabilities."""

    meta: dict[str, Any]
    baseline: float
    trees: list[_Tree]
    cal_x: np.ndarray
    cal_y: np.ndarray
    threshold: float
    path: str
    features: tuple[str, ...] = field(default=FEATURE_NAMES)

    # -- scoring -------------------------------------------------------------
    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        """Every tree as a complete binary tree of the deepest tree's depth, all in flat
        arrays, so one pass of whole-array operations per level scores every tree: a
        node's children sit at 2p+1 and 2p+2; a leaf above the bottom level becomes
        "always left" nodes down to the bottom. NaN is handled without a branch: the
        feature matrix is given twice, with NaN as +inf (goes right of every threshold)
        and as -inf (goes left), and each node reads the copy that sends NaN its way."""
        n_feat = len(self.features)
        depth = max((t.depth for t in self.trees), default=0)
        inner, leaves = 2**depth - 1, 2**depth
        fidx = np.zeros((len(self.trees), max(inner, 1)), dtype=np.int64)
        thr = np.full((len(self.trees), max(inner, 1)), np.inf)
        val = np.zeros((len(self.trees), leaves))
        for k, t in enumerate(self.trees):
            stack = [(0, 0, 0)]  # (node in the tree's arrays, position, level)
            while stack:
                node, pos, level = stack.pop()
                if t.feature[node] < 0:
                    # Fill the leaf's whole bottom range (only its leftmost slot is reached).
                    lo = (pos + 1) * 2 ** (depth - level) - 1 - inner
                    val[k, lo:lo + 2 ** (depth - level)] = t.value[node]
                    continue
                fidx[k, pos] = t.feature[node] + (n_feat if t.missing_left[node] else 0)
                thr[k, pos] = t.threshold[node]
                stack.append((int(t.left[node]), 2 * pos + 1, level + 1))
                stack.append((int(t.right[node]), 2 * pos + 2, level + 1))
        self._depth, self._inner = depth, inner
        self._fidx, self._thr, self._val = fidx.ravel(), thr.ravel(), val.ravel()
        self._tree_inner = (np.arange(len(self.trees)) * max(inner, 1))[:, None]
        self._tree_leaf = (np.arange(len(self.trees)) * leaves)[:, None]

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Summed tree output (the uncalibrated log-odds) per row of ``X``."""
        X = np.asarray(X, dtype=float)
        out = np.full(len(X), self.baseline)
        for lo in range(0, len(X), _CHUNK):
            xs = X[lo:lo + _CHUNK]
            m = len(xs)
            both = np.concatenate([np.where(np.isnan(xs), np.inf, xs), np.where(np.isnan(xs), -np.inf, xs)], axis=1)
            flat = np.ascontiguousarray(both.T).ravel()  # feature-major: value of (f, row) at f*m + row
            rows = np.arange(m)[None, :]
            pos = np.zeros((len(self.trees), m), dtype=np.intp)
            for _ in range(self._depth):
                at = self._tree_inner + pos
                v = flat.take(self._fidx.take(at) * m + rows)
                pos = 2 * pos + 1 + (v > self._thr.take(at))
            out[lo:lo + m] += self._val.take(self._tree_leaf + pos - self._inner).sum(axis=0)
        return out

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.cal_x, self.cal_y)

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Probability that each row (features in ``FEATURE_NAMES`` order) is a bot."""
        return self.calibrate(self.raw(X))

    def score(self, profiles: pd.DataFrame, *, as_of: Any = None) -> np.ndarray:
        """Probability (0..1) that each profile is a bot (see docs/bots.md)."""
        return self.score_matrix(feature_matrix(profiles, as_of=as_of))

    def top_features(self, X: np.ndarray, k: int = 3) -> list[list[dict[str, Any]]]:
        """Per row, the ``k`` features that moved its score most: ``effect`` = score with
        the feature minus score without it (the feature set to unknown, which the model
        was trained to handle). Features unknown for the row have no effect."""
        X = np.asarray(X, dtype=float)
        base = self.score_matrix(X)
        effects = np.zeros_like(X)
        for j in range(X.shape[1]):
            known = ~np.isnan(X[:, j])
            if not known.any():
                continue
            Xj = X[known].copy()
            Xj[:, j] = np.nan
            effects[known, j] = base[known] - self.score_matrix(Xj)
        out: list[list[dict[str, Any]]] = []
        order = np.argsort(-np.abs(effects), axis=1)[:, :k]
        for i in range(len(X)):
            out.append([
                {"feature": self.features[j], "value": None if np.isnan(X[i, j]) else round(float(X[i, j]), 6),
                 "effect": round(float(effects[i, j]), 6)}
                for j in order[i] if effects[i, j] != 0
            ])
        return out

    def describe(self) -> dict[str, Any]:
        """The model's identity for answers: version, file, data, features, libraries."""
        m = self.meta
        return {
            "name": m.get("name"), "version": m.get("version"), "path": self.path,
            "created_at": m.get("created_at"), "features": list(self.features),
            "training": m.get("training"), "libraries": m.get("libraries"),
            "learner": m.get("learner"), "calibration": "isotonic",
        }


def _tree(d: dict[str, Any], where: str) -> _Tree:
    arrays = {k: np.asarray(d[k]) for k in ("feature", "threshold", "missing_left", "left", "right", "value")}
    n = len(arrays["feature"])
    if any(len(a) != n for a in arrays.values()) or n == 0:
        raise ConfigError(f"{where}: tree node arrays differ in length", hint="retrain the model")
    return _Tree(
        feature=arrays["feature"].astype(np.intp), threshold=arrays["threshold"].astype(float),
        missing_left=arrays["missing_left"].astype(bool), left=arrays["left"].astype(np.intp),
        right=arrays["right"].astype(np.intp), value=arrays["value"].astype(float),
        depth=int(d["depth"]),
    )


def load_model(path: str | Path | None = None) -> BotModel:
    """The model at ``path``, else ``$PURGEWATCH_BOT_MODEL``, else the shipped one."""
    chosen = Path(path) if path is not None else Path(os.environ[ENV_MODEL]) if os.environ.get(ENV_MODEL) else SHIPPED_MODEL
    return _load(str(chosen.resolve()) if chosen.exists() else str(chosen))


@lru_cache(maxsize=4)
def _load(where: str) -> BotModel:
    try:
        with open(where, encoding="utf-8") as fh:
            d = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"no bot model at {where}",
                          hint=f"train one with python -m purgewatch.analysis.bots.train, or unset {ENV_MODEL}") from None
    except ValueError as exc:
        raise ConfigError(f"{where} is not a bot model (not JSON: {exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ConfigError(f"{where} is not a bot model (format is not {FORMAT!r})")
    if d.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{where} has bot-model format version {d.get('format_version')!r}; this PurgeWatch reads {FORMAT_VERSION}",
            hint="retrain the model with this version's train.py",
        )
    if tuple(d.get("features", ())) != FEATURE_NAMES:
        raise ConfigError(
            f"{where} was trained on features {d.get('features')} but this PurgeWatch computes {list(FEATURE_NAMES)}",
            hint="retrain the model with this version's train.py",
        )
    cal = d["calibration"]
    if cal.get("method") != "isotonic":
        raise ConfigError(f"{where}: unknown calibration {cal.get('method')!r}")
    meta = {k: v for k, v in d.items() if k not in ("trees", "calibration")}
    return BotModel(
        meta=meta, baseline=float(d["baseline"]),
        trees=[_tree(t, where) for t in d["trees"]],
        cal_x=np.asarray(cal["x"], dtype=float), cal_y=np.asarray(cal["y"], dtype=float),
        threshold=float(d["threshold"]), path=where,
    )
