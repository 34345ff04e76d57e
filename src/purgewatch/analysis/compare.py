"""Compare camps: was one group hit harder, and how much of the gap do ordinary account
differences explain?

The core is :func:`compare_groups`, a pure function over a pandas frame with one row per
account (its group, a 0/1 outcome and optional covariates). :func:`account_frame` builds
that frame from the evidence store (watchlist groups or profile labels, outcomes from
statuses and follower counts, covariates from profiles). All statistics come from scipy
and statsmodels:

- per group: rate with a Wilson 95% interval (``proportion_confint(method="wilson")``);
- per pair: rate ratio (log-adjusted interval) and difference (Newcombe hybrid score
  interval) from ``confint_proportions_2indep``, Fisher's exact test, a permutation test
  (``scipy.stats.permutation_test`` on the difference in rates), Holm's correction over
  the pairs (``multipletests(method="holm")``) when more than two groups are compared;
- a logistic regression of the outcome on group alone and on group plus covariates
  (statsmodels ``Logit``), reporting how much of the raw gap the covariates account for,
  on the log-odds scale and as an average marginal difference in probability. This is
  the design of Mosleh et al., "Differences in misinformation sharing can lead to
  politically asymmetric sanctions" (Nature 634, 2024).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from purgewatch.errors import AnalysisError, InputError
from purgewatch.model import ENFORCEMENT_STATUSES, GONE_STATUSES
from purgewatch.store import Store

SMALL_GROUP = 30          # fewer accounts than this: say the interval is wide
SMALL_COUNT = 5           # fewer outcome events than this: likewise
DEFAULT_PERMUTATIONS = 9999
# Outcomes that compare_store can derive from the store.
OUTCOMES: dict[str, str] = {
    "suspended": "suspended or taken down (platform enforcement) at least once in the window",
    "gone": "suspended, taken down, deactivated, deleted or not found at least once in the window",
    "deleted": "deleted or not found at least once in the window",
    "deactivated": "deactivated at least once in the window",
    "drop": "a follower_drop event from `detect` in the window (fallback without it: a sustained drop, docs/compare.md)",
}
STANDARD_COVARIATES = ("age_days", "activity", "audience", "bot_likeness")
# Sustained drop rule (fallback when the detect module is not installed).
DROP_RELATIVE = 0.2
DROP_ABSOLUTE = 100
DROP_SPAN = 3


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    return round(x, digits)


def _exp(x: float) -> float | None:
    """exp for odds ratios; None where it overflows (separated data)."""
    try:
        return _num(math.exp(float(x)))
    except OverflowError:
        return None


def wilson(count: int, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    lo, hi = proportion_confint(count, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def _perm_p(a: np.ndarray, b: np.ndarray, n: int, seed: int) -> float:
    def diff(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    res = stats.permutation_test(
        (a, b), diff, permutation_type="independent", vectorized=True,
        n_resamples=n, alternative="two-sided", rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def compare_groups(
    frame: pd.DataFrame,
    *,
    group: str = "group",
    outcome: str = "outcome",
    covariates: Sequence[str] = (),
    reference: str | None = None,
    outcome_name: str | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    alpha: float = 0.05,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Rates, pairwise tests and the covariate-adjusted model for a 0/1 outcome by group.

    ``frame``: one row per account. Rows with a missing group or outcome are dropped (and
    counted). ``reference``: the comparison group for pairwise tests and the model
    (default: all pairs; the model uses the largest group). ``notes``: extra statements
    for ``cannot_say`` (e.g. how the outcome was observed).
    """
    for c in (group, outcome, *covariates):
        if c not in frame.columns:
            raise InputError(f"compare: column {c!r} not in the account table",
                             hint=f"available: {', '.join(map(str, frame.columns))}")
    name = outcome_name or outcome
    df = frame.copy()
    n_in = len(df)
    df = df[df[group].notna() & df[outcome].notna()]
    df[group] = df[group].astype(str)
    df[outcome] = df[outcome].astype(bool).astype(int)
    dropped = n_in - len(df)
    levels = sorted(df[group].unique())
    if len(levels) < 2:
        raise AnalysisError(
            f"compare needs at least two groups with accounts, found {len(levels)} ({', '.join(levels) or 'none'})",
            hint="check the watchlist groups (or use --by label for a labelled population)",
        )
    if reference is not None and reference not in levels:
        raise InputError(f"reference group {reference!r} has no accounts",
                         hint=f"groups: {', '.join(levels)}")

    groups_out: list[dict[str, Any]] = []
    data: dict[str, np.ndarray] = {}
    for g in levels:
        y = df.loc[df[group] == g, outcome].to_numpy()
        data[g] = y
        k, n = int(y.sum()), int(y.size)
        lo, hi = wilson(k, n, alpha)
        groups_out.append({
            "group": g, "accounts": n, "outcome_count": k, "rate": _num(k / n),
            "ci_low": _num(lo), "ci_high": _num(hi), "ci_method": "wilson",
        })

    if reference is not None:
        pairs = [(g, reference) for g in levels if g != reference]
    else:
        pairs = list(itertools.combinations(levels, 2))
    tests: list[dict[str, Any]] = []
    for a, b in pairs:
        ya, yb = data[a], data[b]
        ka, na, kb, nb = int(ya.sum()), ya.size, int(yb.sum()), yb.size
        table = [[ka, na - ka], [kb, nb - kb]]
        fisher = stats.fisher_exact(table)
        rr_lo, rr_hi = confint_proportions_2indep(ka, na, kb, nb, method="log-adjusted", compare="ratio", alpha=alpha)
        d_lo, d_hi = confint_proportions_2indep(ka, na, kb, nb, method="newcomb", compare="diff", alpha=alpha)
        ra, rb = ka / na, kb / nb
        tests.append({
            "metric": f"{name} rate",
            "groups": [a, b],
            "rates": [_num(ra), _num(rb)],
            "effect": {
                "rate_ratio": _num(ra / rb) if rb > 0 else None,
                "rate_ratio_ci": [_num(rr_lo), _num(rr_hi)],
                "rate_ratio_ci_method": "log-adjusted",
                "difference": _num(ra - rb),
                "difference_ci": [_num(d_lo), _num(d_hi)],
                "difference_ci_method": "newcombe",
            },
            "odds_ratio_fisher": _num(fisher.statistic),
            "p_value": _num(fisher.pvalue, 12),
            "p_value_test": "fisher_exact",
            "p_value_permutation": _num(_perm_p(ya, yb, permutations, seed), 12) if permutations else None,
            "permutations": permutations,
        })
    if len(levels) > 2 and tests:
        adj = multipletests([t["p_value"] for t in tests], method="holm")[1]
        for t, p in zip(tests, adj, strict=True):
            t["p_value_adjusted"] = _num(p, 12)
            t["adjustment"] = "holm"
        # One global test of independence across all groups.
        ct = pd.crosstab(df[group], df[outcome]).reindex(columns=[0, 1], fill_value=0)
        chi2, p_glob, dof, _ = stats.chi2_contingency(ct.to_numpy())
        global_test: dict[str, Any] | None = {
            "metric": f"{name} rate", "groups": levels, "test": "chi2_independence",
            "statistic": _num(chi2), "dof": int(dof), "p_value": _num(p_glob, 12),
        }
    else:
        for t in tests:
            t["p_value_adjusted"] = t["p_value"]
            t["adjustment"] = None
        global_test = None

    ref = reference or max(levels, key=lambda g: (data[g].size, g))
    model = _adjusted_model(df, group, outcome, list(covariates), ref, alpha)
    summary, cannot = _summary(name, groups_out, tests, model, list(covariates), dropped, notes)
    out: dict[str, Any] = {
        "outcome": name,
        "groups": groups_out,
        "tests": tests,
        "global_test": global_test,
        "model": model,
        "summary": summary,
        "cannot_say": cannot,
        "accounts_dropped": dropped,
    }
    return out


def _adjusted_model(
    df: pd.DataFrame, group: str, outcome: str, covariates: list[str], ref: str, alpha: float
) -> dict[str, Any]:
    """Logit of outcome on group (raw) and on group + covariates (adjusted), both fitted on
    the same complete-case rows so the two group effects are comparable."""
    import statsmodels.api as sm

    usable = [c for c in covariates if df[c].notna().any() and df[c].nunique(dropna=True) > 1]
    cc = df.dropna(subset=usable) if usable else df
    out: dict[str, Any] = {
        "method": "logistic regression (statsmodels Logit); covariates standardised",
        "reference_group": ref,
        "covariates": usable,
        "covariates_unusable": [c for c in covariates if c not in usable],
        "rows": int(len(cc)),
        "rows_dropped_missing_covariates": int(len(df) - len(cc)),
        "terms": [],
    }
    levels = sorted(cc[group].unique())
    rates = cc.groupby(group)[outcome].mean()
    degenerate = [str(g) for g, r in rates.items() if r in (0.0, 1.0)]
    if degenerate:
        out["warning"] = (
            f"groups with 0% or 100% outcome ({', '.join(degenerate)}): their odds ratios are not "
            "estimable (separation); rely on the exact tests"
        )
    if ref not in levels or len(levels) < 2:
        out["error"] = "fewer than two groups left after dropping rows with missing covariates"
        return out
    others = [g for g in levels if g != ref]
    dummies = pd.DataFrame({f"group[{g}]": (cc[group] == g).astype(float) for g in others}, index=cc.index)
    y = cc[outcome].astype(float)
    X_raw = sm.add_constant(dummies, has_constant="add")
    Z = cc[usable].astype(float)
    Z = (Z - Z.mean()) / Z.std(ddof=0).replace(0, 1)
    X_adj = pd.concat([X_raw, Z], axis=1)

    def fit(X: pd.DataFrame) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.Logit(y, X).fit(disp=0, maxiter=200)

    try:
        raw = fit(X_raw)
        adj = fit(X_adj) if usable else None
    except Exception as exc:  # statsmodels raises several types (separation, singular)
        out["error"] = f"model could not be fitted: {type(exc).__name__}: {exc}"
        return out

    def avg_diff(res: Any, X: pd.DataFrame, g: str) -> float:
        # Average predicted probability if everyone were in g, minus if everyone were ref.
        Xg = X.copy()
        Xr = X.copy()
        for o in others:
            Xg[f"group[{o}]"] = 1.0 if o == g else 0.0
            Xr[f"group[{o}]"] = 0.0
        return float(np.mean(res.predict(Xg)) - np.mean(res.predict(Xr)))

    for g in others:
        term = f"group[{g}]"
        b_raw = float(raw.params[term])
        ci_raw = raw.conf_int(alpha)
        entry: dict[str, Any] = {
            "group": g,
            "vs": ref,
            "raw_odds_ratio": _exp(b_raw),
            "raw_odds_ratio_ci": [_exp(ci_raw.loc[term, 0]), _exp(ci_raw.loc[term, 1])],
            "raw_p_value": _num(raw.pvalues[term], 12),
            "raw_difference": _num(avg_diff(raw, X_raw, g)),
        }
        if adj is not None:
            b_adj = float(adj.params[term])
            ci_adj = adj.conf_int(alpha)
            d_raw, d_adj = avg_diff(raw, X_raw, g), avg_diff(adj, X_adj, g)
            has_gap = abs(b_raw) > 1e-12 and float(raw.pvalues[term]) < alpha
            entry.update({
                "adjusted_odds_ratio": _exp(b_adj),
                "adjusted_odds_ratio_ci": [_exp(ci_adj.loc[term, 0]), _exp(ci_adj.loc[term, 1])],
                "adjusted_p_value": _num(adj.pvalues[term], 12),
                "adjusted_difference": _num(d_adj),
                # 1 - adjusted/raw: the share of the raw gap the covariates account for
                # (can exceed 1 when the gap reverses, or be negative when it widens).
                # Only where there is a raw gap (raw p < alpha): a ratio to a gap
                # indistinguishable from zero is noise.
                "gap_explained_log_odds": _num(1 - b_adj / b_raw) if has_gap else None,
                "gap_explained_probability": _num(1 - d_adj / d_raw) if has_gap and abs(d_raw) > 1e-12 else None,
            })
        out["terms"].append(entry)
    if adj is not None:
        ci = adj.conf_int(alpha)
        out["covariate_effects"] = [
            {"covariate": c, "odds_ratio_per_sd": _exp(adj.params[c]),
             "ci": [_exp(ci.loc[c, 0]), _exp(ci.loc[c, 1])],
             "p_value": _num(adj.pvalues[c], 12)}
            for c in usable
        ]
        out["pseudo_r2"] = {"raw": _num(raw.prsquared), "adjusted": _num(adj.prsquared)}
        out["converged"] = bool(raw.mle_retvals.get("converged", True) and adj.mle_retvals.get("converged", True))
    else:
        out["converged"] = bool(raw.mle_retvals.get("converged", True))
    return out


def _p(x: float | None) -> str:
    if x is None:
        return "n/a"
    return "< 1e-300" if x == 0 else f"{x:.3g}"


def _f2(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _summary(
    name: str,
    groups: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    model: dict[str, Any],
    covariates: list[str],
    dropped: int,
    notes: Sequence[str],
) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    for g in groups:
        lines.append(
            f"{g['group']}: {g['outcome_count']} of {g['accounts']} accounts {name} "
            f"({_pct(g['rate'])}, 95% CI {_pct(g['ci_low'])}–{_pct(g['ci_high'])})."
        )
    for t in tests:
        e = t["effect"]
        a, b = t["groups"]
        rr = e["rate_ratio"]
        lo, hi = e["rate_ratio_ci"]
        dl, dh = e["difference_ci"]
        padj = t.get("p_value_adjusted")
        lines.append(
            f"{a} vs {b}: rate ratio {_f2(rr)} (95% CI {_f2(lo)}–{_f2(hi)}), difference {_pct(e['difference'])} points "
            f"(95% CI {_pct(dl)} to {_pct(dh)}); Fisher exact p = {_p(t['p_value'])}"
            + (f", Holm-adjusted p = {_p(padj)}" if t.get("adjustment") == "holm" and padj is not None else "")
            + (f", permutation p = {_p(t['p_value_permutation'])} ({t['permutations']} resamples)" if t.get("p_value_permutation") is not None else "")
            + "."
        )
    if "error" in model:
        lines.append(f"Adjusted model: {model['error']}.")
    elif model.get("covariates"):
        for term in model["terms"]:
            ge = term.get("gap_explained_log_odds")
            lines.append(
                f"{term['group']} vs {term['vs']}: odds ratio {_f2(term['raw_odds_ratio'])} unadjusted "
                f"(95% CI {_f2(term['raw_odds_ratio_ci'][0])}–{_f2(term['raw_odds_ratio_ci'][1])}), "
                f"{_f2(term.get('adjusted_odds_ratio'))} adjusted for {', '.join(model['covariates'])} "
                f"(95% CI {_f2(term['adjusted_odds_ratio_ci'][0])}–{_f2(term['adjusted_odds_ratio_ci'][1])}); "
                + (f"the covariates account for {_pct(ge)} of the raw gap on the log-odds scale"
                   if ge is not None else f"no clear raw gap to explain (raw p = {_p(term['raw_p_value'])})")
                + f" (on {model['rows']} accounts with complete covariates)."
            )
    if model.get("warning"):
        lines.append(f"Model warning: {model['warning']}.")
    cannot: list[str] = []
    small = [g["group"] for g in groups if g["accounts"] < SMALL_GROUP or g["outcome_count"] < SMALL_COUNT]
    if small:
        cannot.append(
            f"Small groups ({', '.join(small)}: fewer than {SMALL_GROUP} accounts or {SMALL_COUNT} events): "
            "their intervals are wide and a real difference of moderate size could go undetected."
        )
    missing = [c for c in STANDARD_COVARIATES if c not in covariates or c in model.get("covariates_unusable", [])]
    if missing:
        cannot.append(
            f"Covariates not available: {', '.join(missing)}. A gap that remains after adjustment may "
            "still be explained by what was not measured (for example the content accounts posted)."
        )
    if model.get("rows_dropped_missing_covariates"):
        cannot.append(
            f"{model['rows_dropped_missing_covariates']} accounts lacked a covariate and are not in the "
            "adjusted model; the model's raw and adjusted effects are both computed without them."
        )
    if dropped:
        cannot.append(f"{dropped} accounts had no group or no observed outcome and are left out.")
    cannot.append(
        "The outcome is what was observed, when it was observed: statuses can be reversed later, "
        "observations lag events, and a platform's reasons for an action are not in the data."
    )
    cannot.append(
        "A difference in rates is an association: it does not show that the platform treated the "
        "groups differently for the same behaviour (groups can differ in behaviour that rules target)."
    )
    cannot.extend(notes)
    return lines, cannot


# ---------------------------------------------------------------- from the store


def sustained_drops(
    obs: pd.DataFrame,
    *,
    relative: float = DROP_RELATIVE,
    absolute: int = DROP_ABSOLUTE,
    span: int = DROP_SPAN,
) -> pd.Series:
    """Accounts (index: account_id) with a sustained follower drop: the median of the
    ``span`` counts after some observation is below the median of the ``span`` before
    by at least ``relative`` of the level and at least ``absolute`` followers.
    Medians over a few observations ignore one-off glitches in scraped counts.

    ``obs``: columns account_id, observed_at, followers_count.
    """
    o = obs.dropna(subset=["followers_count"]).sort_values(["account_id", "observed_at"])
    out: dict[str, bool] = {}
    for acc, part in o.groupby("account_id", sort=False):
        v = part["followers_count"].to_numpy(dtype=float)
        if v.size < 2 * span:
            out[str(acc)] = False
            continue
        s = pd.Series(v)
        before = s.rolling(span).median()
        after = s[::-1].rolling(span).median()[::-1].shift(-1)
        fall = before - after
        hit = (fall >= absolute) & (fall >= relative * before)
        out[str(acc)] = bool(hit.any())
    return pd.Series(out, dtype=bool)


def _detected_drops(
    store: Store, platform: str | None, t0: pd.Timestamp | None, t1: pd.Timestamp | None
) -> set[str] | None:
    """Accounts ("platform\x1faccount_id") with a follower_drop event from the detect
    module in the window, or None when the module is not installed."""
    try:
        from purgewatch.analysis.detect import detect
    except ImportError:
        return None
    events = detect(store, kinds=["follower_drop"], platform=platform,
                    start=None if t0 is None else t0.to_pydatetime(),
                    end=None if t1 is None else t1.to_pydatetime())
    return {f"{e.platform}\x1f{e.account_id}" for e in events if e.kind == "follower_drop"}


def _to_utc(t: datetime | str | None) -> pd.Timestamp | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        raise InputError(f"timestamp {t!r} has no time zone", hint="add Z or an offset, e.g. 2024-05-01T00:00:00Z")
    return ts.tz_convert("UTC")


def watchlist_frame(store: Store) -> pd.DataFrame:
    """Current watchlist: platform, account, account_id, group, label."""
    try:
        from purgewatch import watchlist as _wl_mod
    except ImportError:
        _wl_mod = None  # type: ignore[assignment]
    if _wl_mod is not None:
        wl = _wl_mod.current_watchlist(store)
        df = wl.to_pandas() if isinstance(wl, pa.Table) else pd.DataFrame(wl)
        return df[["platform", "account", "account_id", "group", "label"]]
    t = store.read("watchlist").to_pandas()
    if t.empty:
        return pd.DataFrame(columns=["platform", "account", "account_id", "group", "label"])
    # Append-only log: the latest action per (platform, account) decides.
    t = t.sort_values("at", kind="stable").groupby(["platform", "account"], as_index=False).tail(1)
    t = t[t["action"] == "add"]
    return t[["platform", "account", "account_id", "group", "label"]].reset_index(drop=True)


def _status_rows(store: Store) -> pd.DataFrame:
    cols = ["platform", "account_id", "at", "status"]
    parts = []
    for table in ("observations", "profiles"):
        t = store.read(table, columns=["platform", "account_id", "observed_at", "status"]).to_pandas()
        parts.append(t.rename(columns={"observed_at": "at"}))
    parts.append(store.read("status_events", columns=cols).to_pandas())
    return pd.concat(parts, ignore_index=True)


def _fact_rows(store: Store) -> pd.DataFrame:
    cols = ["platform", "account_id", "observed_at", "followers_count", "following_count",
            "posts_count", "created_at", "default_profile_image", "description", "handle", "label",
            # read by the bot-likeness model (analysis/bots)
            "display_name", "favourites_count", "listed_count", "default_profile"]
    parts = [store.read(t, columns=cols).to_pandas() for t in ("observations", "profiles")]
    return pd.concat(parts, ignore_index=True)


def account_frame(
    store: Store,
    *,
    by: str = "group",
    outcome: str = "suspended",
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    platform: str | None = None,
) -> pd.DataFrame:
    """One row per account with ``group``, ``outcome`` (0/1, NaN when never observed) and
    the covariates ``age_days``, ``activity`` (log1p posts per day), ``audience``
    (log1p followers) and ``bot_likeness`` (the trained model's probability, see
    analysis/bots and docs/bots.md), from the latest facts known
    at the end of the window."""
    from purgewatch.analysis.forensics import bot_likeness, creation_times

    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}", hint=f"choose one of: {', '.join(OUTCOMES)}")
    t0, t1 = _to_utc(start), _to_utc(end)
    facts = _fact_rows(store)
    if by == "group":
        wl = watchlist_frame(store)
        if wl.empty:
            raise AnalysisError("the watchlist is empty", hint="import a watchlist with groups first")
        wl = wl.copy()
        wl["account_id"] = wl["account_id"].fillna(wl["account"])
        pop = wl[["platform", "account_id", "group"]].drop_duplicates(["platform", "account_id"])
    elif by == "label":
        # The watchlist's label where it has one (e.g. voterfraud2020 camps), else the
        # latest label on the account's profiles/observations (e.g. cresci classes).
        lab = facts.dropna(subset=["label"]).sort_values("observed_at")
        pop = lab.groupby(["platform", "account_id"], as_index=False).tail(1)[["platform", "account_id", "label"]]
        wl = watchlist_frame(store)
        if not wl.empty:
            wl = wl.assign(account_id=wl["account_id"].fillna(wl["account"])).dropna(subset=["label"])
            wl = wl[["platform", "account_id", "label"]].drop_duplicates(["platform", "account_id"])
            pop = pd.concat([wl, pop], ignore_index=True).drop_duplicates(["platform", "account_id"])
        pop = pop.rename(columns={"label": "group"})
        if pop.empty:
            raise AnalysisError("no watchlist entry, profile or observation carries a label",
                                hint="use --by group with a watchlist")
    else:
        raise InputError(f"--by {by!r} is not supported", hint="use --by group or --by label")
    if platform:
        pop = pop[pop["platform"] == platform]
    keys = ["platform", "account_id"]

    st = _status_rows(store)
    if t0 is not None:
        st = st[st["at"] >= t0]
    if t1 is not None:
        st = st[st["at"] <= t1]
    st = st.merge(pop[keys], on=keys)
    target = {
        "suspended": ENFORCEMENT_STATUSES,
        "gone": GONE_STATUSES,
        "deleted": frozenset({"deleted", "not_found"}),
        "deactivated": frozenset({"deactivated"}),
    }
    if outcome == "drop":
        o = facts.merge(pop[keys], on=keys)
        if t0 is not None:
            o = o[o["observed_at"] >= t0]
        if t1 is not None:
            o = o[o["observed_at"] <= t1]
        o["account_id"] = o["platform"] + "\x1f" + o["account_id"]
        drops = sustained_drops(o)
        keyed = pop["platform"] + "\x1f" + pop["account_id"]
        detected = _detected_drops(store, platform, t0, t1)
        if detected is not None:
            # The detect module's follower_drop events decide; accounts with a count
            # series in the window and no event are 0, accounts without one unknown.
            observed = pd.Series(
                [k in detected for k in drops.index], index=drops.index, dtype="float"
            )
        else:
            observed = pd.Series(drops.values, index=drops.index, dtype="float")
        pop = pop.assign(outcome=keyed.map(observed).astype("float"))
    else:
        known = st[st["status"] != "unknown"]
        hit = known.assign(h=known["status"].isin(target[outcome])).groupby(keys)["h"].any()
        pop = pop.merge(hit.rename("outcome").reset_index(), on=keys, how="left")
        pop["outcome"] = pop["outcome"].astype("float")

    f = facts.merge(pop[keys], on=keys)
    if t1 is not None:
        f = f[f["observed_at"] <= t1]
    f = f.sort_values("observed_at")
    # Latest non-null value of each fact per account.
    latest = f.groupby(keys).last().reset_index()
    latest["created"] = creation_times(latest["created_at"], latest["account_id"], platform=None)
    latest.loc[latest["platform"] != "x", "created"] = pd.to_datetime(
        latest.loc[latest["platform"] != "x", "created_at"], utc=True
    )
    ref = pd.to_datetime(latest["observed_at"], utc=True)
    age = (ref - latest["created"]).dt.total_seconds() / 86_400
    latest["age_days"] = age.where(age >= 0)
    latest["activity"] = np.log1p(latest["posts_count"].astype(float) / latest["age_days"].clip(lower=1))
    latest["audience"] = np.log1p(latest["followers_count"].astype(float))
    latest["bot_likeness"] = bot_likeness(latest)
    cov = latest[keys + list(STANDARD_COVARIATES)]
    out = pop.merge(cov, on=keys, how="left")
    return out.reset_index(drop=True)


def compare_store(
    store: Store,
    *,
    by: str = "group",
    outcome: str = "suspended",
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    platform: str | None = None,
    reference: str | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`compare_groups` on the accounts of the store (see :func:`account_frame`)."""
    frame = account_frame(store, by=by, outcome=outcome, start=start, end=end, platform=platform)
    covs = [c for c in STANDARD_COVARIATES if frame[c].notna().any()]
    n_unobserved = int(frame["outcome"].isna().sum())
    notes = [f"Outcome: {OUTCOMES[outcome]}."]
    if n_unobserved:
        notes.append(f"{n_unobserved} accounts were never observed in the window; their outcome is unknown.")
    res = compare_groups(
        frame, group="group", outcome="outcome", covariates=covs, reference=reference,
        outcome_name=outcome, permutations=permutations, seed=seed, notes=notes,
    )
    res["by"] = by
    res["window"] = {"from": _to_utc(start), "to": _to_utc(end)}
    return res
