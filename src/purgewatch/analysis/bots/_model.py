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
_CHUNK = 4_096    # rows per scoring pass: keeps the working arrays in cache


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
        """QuickScorer (Lucchese et al., SIGIR 2015), vectorised: a row's exit leaf in a
        tree is the leftmost leaf not ruled out by a node whose test sends the row right.
        Per tree a bit per leaf (left to right); a node sends x right when x > threshold,
        which rules out the leaves of its left subtree (its mask clears their bits). Per
        feature, nodes sorted by threshold, so the nodes a value sends right are a prefix,
        and the prefix's AND of masks per tree is precomputed: scoring is, per feature,
        one binary search and one row lookup ANDed in, then the lowest set bit per tree."""
        n_trees = len(self.trees)
        leaves = max((int((t.feature < 0).sum()) for t in self.trees), default=1)
        if leaves > 64:
            raise ConfigError(f"{self.path}: trees with {leaves} leaves; this format scores at most 64",
                              hint="retrain with max_leaf_nodes <= 64")
        self._dtype = np.uint16 if leaves <= 16 else np.uint64
        ones = np.iinfo(self._dtype).max
        values = np.zeros((n_trees, 64))
        nodes: dict[int, list[tuple[float, int, int, bool]]] = {}
        for k, t in enumerate(self.trees):
            order: list[int] = []
            left_range: dict[int, tuple[int, int]] = {}
            stack: list[tuple[int, bool]] = [(0, False)]
            start: dict[int, int] = {}
            # Iterative in-order walk: leaves get 0, 1, ... left to right, and each inner
            # node learns the leaf range of its left subtree.
            while stack:
                node, expanded = stack.pop()
                if t.feature[node] < 0:
                    order.append(node)
                    continue
                if expanded:
                    left_range[node] = (start[node], len(order))
                    stack.append((int(t.right[node]), False))
                else:
                    start[node] = len(order)
                    stack.append((node, True))
                    stack.append((int(t.left[node]), False))
            for i, leaf in enumerate(order):
                values[k, i] = t.value[leaf]
            for node, (a, b) in left_range.items():
                mask = ones & ~(((1 << (b - a)) - 1) << a)
                nodes.setdefault(int(t.feature[node]), []).append(
                    (float(t.threshold[node]), k, mask, bool(t.missing_left[node])))
        self._tables: list[tuple[int, np.ndarray, np.ndarray]] = []
        for f, items in sorted(nodes.items()):
            items.sort(key=lambda it: it[0])
            table = np.full((len(items) + 2, n_trees), ones, dtype=self._dtype)
            for j, (_, k, mask, _) in enumerate(items):
                table[j + 1] = table[j]
                table[j + 1, k] &= mask
            for _, k, mask, missing_left in items:   # the last row: where NaN goes
                if not missing_left:
                    table[-1, k] &= mask
            self._tables.append((f, np.array([it[0] for it in items]), table))
        self._values = values.ravel()
        self._tree_offset = (np.arange(n_trees) * 64)[None, :]
        if self._dtype == np.uint16:
            v = np.arange(1, 65536)
            self._lowest = np.zeros(65536, dtype=np.intp)
            self._lowest[1:] = np.frexp((v & -v).astype(float))[1] - 1

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Summed tree output (the uncalibrated log-odds) per row of ``X``."""
        X = np.asarray(X, dtype=float)
        out = np.full(len(X), self.baseline)
        ones = np.iinfo(self._dtype).max
        for lo in range(0, len(X), _CHUNK):
            xs = X[lo:lo + _CHUNK]
            acc = np.full((len(xs), len(self.trees)), ones, dtype=self._dtype)
            for f, thresholds, table in self._tables:
                x = xs[:, f]
                k = np.searchsorted(thresholds, x, side="left")   # nodes with threshold < x
                k[np.isnan(x)] = len(thresholds) + 1
                acc &= table.take(k, axis=0)
            if self._dtype == np.uint16:
                leaf = self._lowest.take(acc)
            else:
                low = acc & (~acc + np.uint64(1))
                leaf = np.frexp(low.astype(float))[1] - 1
            out[lo:lo + len(xs)] += self._values.take(self._tree_offset + leaf).sum(axis=1)
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
