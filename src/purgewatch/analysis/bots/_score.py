"""Scoring profiles from files or the store, and summarising score distributions.

An account's score comes from its latest *profile read*: the latest stored row (in
``profiles`` or ``observations``) that carries a follower count, so a later "suspended"
observation, which has no counts, does not hide the profile the account had.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from purgewatch.analysis._interval import wilson_interval
from purgewatch.analysis.bots._features import feature_matrix, scorable
from purgewatch.analysis.bots._model import BotModel, load_model
from purgewatch.model import ACCOUNT_FACT_FIELDS
from purgewatch.store import Store

PROFILE_COLUMNS = [f.name for f in ACCOUNT_FACT_FIELDS]
HIST_BINS = 10   # score histogram: tenths of 0..1


def latest_profiles(store: Store, *, platform: str | None = None,
                    account_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The latest profile read (a row with a follower count) of each account, from the
    ``profiles`` and ``observations`` tables; restricted to ``platform`` and
    ``account_ids`` when given."""
    import ibis

    con = store.ibis()
    parts = []
    for table in ("profiles", "observations"):
        t = con.table(table)
        t = t.filter(t.followers_count.notnull())
        if platform is not None:
            t = t.filter(t.platform == platform)
        parts.append(t.select(*PROFILE_COLUMNS))
    u = ibis.union(*parts)
    if account_ids is not None:
        wanted = ibis.memtable(pd.DataFrame({"account_id": pd.Series(list(dict.fromkeys(account_ids)), dtype=object)}))
        u = u.join(wanted, "account_id")
    w = ibis.window(group_by=[u.platform, u.account_id], order_by=ibis.desc(u.observed_at))
    latest = u.mutate(_r=ibis.row_number().over(w))
    out = latest.filter(latest._r == 0).drop("_r").to_pandas()
    return out.sort_values(["platform", "account_id"], kind="stable").reset_index(drop=True)


def score_answer(profiles: pd.DataFrame, *, model: BotModel | None = None, top: int = 3) -> dict[str, Any]:
    """The ``purgewatch bots score --json`` answer for ``profiles`` (docs/bots.md)."""
    m = model or load_model()
    X = feature_matrix(profiles)
    scores = m.score_matrix(X)
    tops = m.top_features(X, k=top) if top else [[] for _ in range(len(X))]
    rows: list[dict[str, Any]] = []
    known = np.isfinite(X).sum(axis=1)
    ok = scorable(X)
    for i in range(len(profiles)):
        r = profiles.iloc[i]
        if not ok[i]:   # not a profile read (e.g. a lookup-error row): no number at all
            rows.append({"platform": r.get("platform"), "account_id": r.get("account_id"), "handle": None,
                         "observed_at": None, "score": None, "bot": None, "features_known": int(known[i]),
                         "top_features": []})
            continue
        rows.append({
            "platform": r.get("platform"), "account_id": r.get("account_id"),
            "handle": None if pd.isna(r.get("handle")) else r.get("handle"),
            "observed_at": None if pd.isna(r.get("observed_at")) else pd.Timestamp(r["observed_at"]).isoformat(),
            "score": round(float(scores[i]), 6),
            "bot": bool(scores[i] >= m.threshold),
            "features_known": int(known[i]),
            "top_features": tops[i],
        })
    return {"model": m.describe(), "threshold": m.threshold, "scores": rows}


def summarize(scores: np.ndarray | pd.Series, *, threshold: float) -> dict[str, Any]:
    """A score distribution: how many were scored, mean and quartiles, the share at or
    above ``threshold`` with its Wilson 95% interval, and a 10-bin histogram."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    n = int(len(s))
    if n == 0:
        return {"scored": 0, "mean": None, "quartiles": None, "share_bot": None, "share_bot_ci": [None, None],
                "histogram": [0] * HIST_BINS}
    k = int((s >= threshold).sum())
    lo, hi = wilson_interval(k, n)
    hist, _ = np.histogram(s, bins=HIST_BINS, range=(0.0, 1.0))
    return {
        "scored": n,
        "mean": round(float(s.mean()), 6),
        "quartiles": [round(float(q), 6) for q in np.quantile(s, [0.25, 0.5, 0.75])],
        "share_bot": round(k / n, 6),
        "share_bot_ci": [round(float(lo), 6), round(float(hi), 6)],
        "histogram": [int(h) for h in hist],
    }


def has_profile_reads(store: Store, platform: str, account_ids: Sequence[str] | None = None) -> bool:
    """Whether the store holds any profile read (a ``profiles`` or ``observations`` row
    with a follower count, not retracted) of ``platform``, of one of ``account_ids`` when
    given. An Arrow scan that stops at the first match: the cheap way to learn that a
    score would be NaN for everyone, without the DuckDB query of :func:`latest_profiles`."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from purgewatch.model import TABLE_SCHEMAS

    flt = (pc.field("platform") == platform) & pc.field("followers_count").is_valid() & store.visible_filter()
    if account_ids is not None:
        flt = flt & pc.field("account_id").isin(pa.array(list(account_ids), pa.string()))
    for table in ("profiles", "observations"):
        files = store.files(table)
        if files:
            scan = ds.dataset(files, schema=TABLE_SCHEMAS[table], format="parquet").scanner(
                columns=["account_id"], filter=flt)
            if scan.head(1).num_rows:
                return True
    return False


def stored_scores(store: Store, platform: str, account_ids: Sequence[str], *,
                  model: BotModel | None = None) -> pd.Series:
    """Score per account id (index, in the order given) from its latest stored profile
    read; NaN for an account with no stored profile."""
    ids = [str(a) for a in account_ids]
    if not ids:
        return pd.Series([], dtype=float)
    if not has_profile_reads(store, platform, ids):
        return pd.Series(np.nan, index=pd.Index(ids, dtype=object), dtype=float)
    prof = latest_profiles(store, platform=platform, account_ids=ids)
    m = model or load_model()
    s = pd.Series(m.score_matrix(feature_matrix(prof)), index=prof["account_id"].to_numpy())
    return s.reindex(ids)


def compare_shares(a: np.ndarray | pd.Series, b: np.ndarray | pd.Series, *, threshold: float) -> dict[str, Any]:
    """Is the share of scores >= ``threshold`` larger in ``a`` than in ``b``? Fisher's
    exact test, one-sided; NaN scores (no profile) are left out of both."""
    from scipy import stats

    sa = np.asarray(a, dtype=float)
    sb = np.asarray(b, dtype=float)
    sa, sb = sa[np.isfinite(sa)], sb[np.isfinite(sb)]
    if not len(sa) or not len(sb):
        return {"p_value": None, "difference": None}
    ka, kb = int((sa >= threshold).sum()), int((sb >= threshold).sum())
    p = float(stats.fisher_exact([[ka, len(sa) - ka], [kb, len(sb) - kb]], alternative="greater").pvalue)
    return {"p_value": p, "difference": round(ka / len(sa) - kb / len(sb), 6)}
