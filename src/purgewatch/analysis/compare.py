"""Compare camps: was one group hit harder, and how much of the gap do ordinary account
differences explain?

The core is :func:`compare_groups`, a pure function over a pandas frame with one row per
account (its group, a 0/1 outcome and optional covariates). :func:`account_frame` builds
that frame from the evidence store (watchlist groups or profile labels, outcomes from
statuses and follower counts, covariates from profiles). All statistics come from scipy
and statsmodels:

- per group: rate with a Wilson 95% interval (``proportion_confint(method="wilson")``);
- per pair: Fisher's exact test (valid for any table, zero cells included), the
  difference in rates with a Newcombe hybrid score interval, rate ratio and odds ratio
  with log (Katz / Woolf) intervals, computed on the Haldane–Anscombe corrected table
  (0.5 added to every cell) when a cell is zero so that the estimate and its interval
  come from the same counts; a permutation test of the difference in rates; Holm's
  correction over the pairs (``multipletests(method="holm")``) when more than two groups
  are compared;
- across all groups: a chi-square test of independence, replaced by the exact
  Fisher–Freeman–Halton test (Monte Carlo over tables with the observed margins) when an
  expected count is below 5, and "cannot test" when no account (or every account) has
  the outcome;
- a logistic regression of the outcome on group alone and on group plus covariates
  (statsmodels ``Logit``), reporting how much of the raw gap the covariates account for,
  on the log-odds scale and as an average marginal difference in probability. This is
  the design of Mosleh et al., "Differences in misinformation sharing can lead to
  politically asymmetric sanctions" (Nature 634, 2024).

Nothing here raises on a degenerate table: what cannot be tested is said in ``warnings``
and in the test's ``cannot_test``.
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from purgewatch.errors import AnalysisError, InputError
from purgewatch.model import (
    AMBIGUOUS_GONE,
    ENFORCEMENT_STATUSES,
    GONE_STATUSES,
    TABLE_SCHEMAS,
    carry_enforcement,
)
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned
from purgewatch.watchlist import current_watchlist

SMALL_GROUP = 30          # fewer accounts than this: say the interval is wide
SMALL_COUNT = 5           # fewer outcome events than this: likewise
DEFAULT_PERMUTATIONS = 9999
# Resamples x accounts above which the permutation p-value comes from the exact
# permutation distribution (hypergeometric, see _perm_p) instead of resampling. Resampling
# costs O(resamples) whatever the group sizes since it draws the count directly; the bound
# is kept so large comparisons keep giving the exact answer they always gave.
PERMUTATION_BUDGET = 20_000_000
# Tables drawn for the Monte Carlo Fisher–Freeman–Halton test across groups.
OMNIBUS_TABLES = 9999
MIN_EXPECTED = 5          # Cochran: the chi-square approximation needs expected counts >= 5
# Where double precision ends: below the smallest normal double scipy's p-values lose
# their digits and eventually underflow to 0. Such values are stored as this floor and
# printed as "< 1e-300"; every other p-value is kept exactly as scipy computed it.
P_FLOOR = sys.float_info.min
P_FLOOR_TEXT = "< 1e-300"
# Outcomes that compare_store can derive from the store.
OUTCOMES: dict[str, str] = {
    "suspended": "suspended or taken down (platform enforcement) at least once in the window "
                 "(suspended_or_deleted, which cannot tell enforcement from deletion, does not count)",
    "gone": "suspended, taken down, deactivated, deleted, suspended_or_deleted or not found at least once "
            "in the window",
    "deleted": "deleted by its owner (the platform said so) at least once in the window",
    "deactivated": "deactivated at least once in the window",
    "suspended_or_deleted": "gone in a way the platform does not attribute (suspended_or_deleted: a "
                            "moderator's suspension or the owner's deletion) at least once in the window; "
                            "never counted as enforcement",
    "not_found": "answered 'no such account' by the platform at least once in the window",
    "drop": "a follower_drop event from `detect` in the window",
}
STANDARD_COVARIATES = ("age_days", "activity", "audience", "bot_likeness")
# Statuses that show an account was there (not gone): see population warnings.
PRESENT_STATUSES = frozenset({"active", "protected", "limited"})
HALDANE = "haldane-anscombe (0.5 added to every cell, for the estimate and its interval)"


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


def p_value(x: float | None) -> float | None:
    """A p-value as scipy computed it (no rounding), floored at :data:`P_FLOOR` only
    where double precision ends; None when there is none (NaN)."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    return min(1.0, max(x, P_FLOOR))


def p_text(x: float | None) -> str:
    """How a p-value is printed: two significant digits, "< 1e-300" at the floor, never 0."""
    if x is None:
        return "n/a"
    if x <= P_FLOOR:
        return P_FLOOR_TEXT
    return f"{x:.2g}"


def wilson(count: int, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    lo, hi = proportion_confint(count, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def _perm_p(ka: int, na: int, kb: int, nb: int, resamples: int, seed: int) -> tuple[float | None, str | None]:
    """Two-sided permutation p-value of the difference in rates, and how it was computed.

    For a 0/1 outcome the permutation distribution of the difference in rates given the
    margins is the hypergeometric distribution of the first group's count (the difference
    rises with it), so when resampling would be costly (accounts x resamples above
    :data:`PERMUTATION_BUDGET`) the p-value is the exact one that resampling approximates:
    2 * min(P(X <= ka), P(X >= ka)), capped at 1, as ``scipy.stats.permutation_test``
    defines it; likewise for a group of one account. Otherwise the permutation
    distribution is sampled (``resamples`` draws of that count, seeded by ``seed``):
    statistically the same test as ``permutation_test``, at O(resamples) time and memory.
    """
    if resamples <= 0:
        return None, None
    n, k = na + nb, ka + kb
    # scipy refuses a sample of one account; the exact distribution does not need samples.
    if n * resamples > PERMUTATION_BUDGET or min(na, nb) < 2:
        less = stats.hypergeom.cdf(ka, n, k, na)
        greater = stats.hypergeom.sf(ka - 1, n, k, na)
        return float(min(1.0, 2 * min(less, greater))), "exact (hypergeometric: every relabelling)"
    if math.comb(n, na) <= resamples:
        # scipy would enumerate every relabelling: the same answer as the hypergeometric
        # distribution (tests/test_compare.py checks it against scipy).
        less = stats.hypergeom.cdf(ka, n, k, na)
        greater = stats.hypergeom.sf(ka - 1, n, k, na)
        return float(min(1.0, 2 * min(less, greater))), "exact (every relabelling)"
    # A random relabelling of n accounts (k with the outcome) into groups of na and nb
    # puts a hypergeometric number of the k into the first group, and the difference in
    # rates depends on nothing else: drawing that number is drawing the relabelling's
    # statistic, without shuffling n values per resample (what permutation_test does, at
    # n x resamples cost). The p-value is permutation_test's Monte Carlo one: two-sided,
    # 2 * min(P(X <= ka), P(X >= ka)) estimated with the +1 correction, capped at 1.
    draws = np.random.default_rng(seed).hypergeometric(k, n - k, na, size=resamples)
    less_n = int(np.count_nonzero(draws <= ka)) + 1
    greater_n = int(np.count_nonzero(draws >= ka)) + 1
    return float(min(1.0, 2 * min(less_n, greater_n) / (resamples + 1))), f"monte carlo ({resamples} resamples)"


def _min_attainable_p(na: int, nb: int, k: int) -> float:
    """The smallest two-sided Fisher p-value any table with these margins could give: the
    pair cannot show a difference at level alpha when this exceeds alpha."""
    n = na + nb
    lo, hi = max(0, k - nb), min(na, k)
    if lo == hi:
        return 1.0
    ends = stats.hypergeom.pmf([lo, hi], n, k, na)
    small = float(ends.min())
    # Fisher's two-sided p of the least likely table: every table at most as likely (the
    # distribution is unimodal, so only the other end can tie).
    return float(min(1.0, sum(v for v in ends if v <= small * (1 + 1e-7))))


def _effects(ka: int, na: int, kb: int, nb: int, alpha: float) -> dict[str, Any]:
    """Difference, rate ratio and odds ratio of a vs b, each with an interval that holds
    its own estimate."""
    ra, rb = ka / na, kb / nb
    d_lo, d_hi = confint_proportions_2indep(ka, na, kb, nb, method="newcomb", compare="diff", alpha=alpha)
    out: dict[str, Any] = {
        "difference": _num(ra - rb),
        "difference_ci": [_num(d_lo), _num(d_hi)],
        "difference_ci_method": "newcombe",
    }
    if ka + kb == 0 or ka + kb == na + nb:
        why = "not estimable: " + ("neither group has the outcome" if ka + kb == 0 else "every account has the outcome")
        out.update({"rate_ratio": None, "rate_ratio_ci": [None, None], "rate_ratio_estimator": why,
                    "odds_ratio": None, "odds_ratio_ci": [None, None], "odds_ratio_estimator": why})
        return out
    cells = (ka, na - ka, kb, nb - kb)
    add = 0.5 if 0 in cells else 0.0
    a, b, c, d = (x + add for x in cells)
    # Katz (log) interval for the ratio, Woolf (logit) for the odds ratio, both centred on
    # the estimate computed from the same (corrected when a cell is zero) counts.
    rr_lo, rr_hi = confint_proportions_2indep(a, a + b, c, c + d, method="log", compare="ratio", alpha=alpha)
    or_lo, or_hi = confint_proportions_2indep(a, a + b, c, c + d, method="logit", compare="odds-ratio", alpha=alpha)
    estimator = HALDANE if add else "observed counts"
    out.update({
        "rate_ratio": _num((a / (a + b)) / (c / (c + d))),
        "rate_ratio_ci": [_num(rr_lo), _num(rr_hi)],
        "rate_ratio_ci_method": "log (katz)",
        "rate_ratio_estimator": estimator,
        "odds_ratio": _num((a * d) / (b * c)),
        "odds_ratio_ci": [_num(or_lo), _num(or_hi)],
        "odds_ratio_ci_method": "logit (woolf)",
        "odds_ratio_estimator": estimator,
    })
    return out


def _pair_test(
    name: str, a: str, b: str, ka: int, na: int, kb: int, nb: int,
    alpha: float, permutations: int, seed: int,
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "metric": f"{name} rate",
        "groups": [a, b],
        "accounts": [na, nb],
        "outcome_counts": [ka, kb],
        "rates": [_num(ka / na), _num(kb / nb)],
        "effect": _effects(ka, na, kb, nb, alpha),
    }
    if ka + kb == 0 or ka + kb == na + nb:
        t.update({
            "p_value": None, "p_value_text": "n/a", "p_value_test": None,
            "cannot_test": (f"neither {a} nor {b} has an account with the outcome" if ka + kb == 0
                            else f"every account of {a} and {b} has the outcome") + ": the rates cannot differ",
            "min_attainable_p": 1.0, "testable": False,
            "p_value_permutation": None, "permutation_method": None, "permutations": permutations,
        })
        return t
    fisher = stats.fisher_exact([[ka, na - ka], [kb, nb - kb]])
    p = p_value(fisher.pvalue)
    pmin = _min_attainable_p(na, nb, ka + kb)
    perm, perm_method = _perm_p(ka, na, kb, nb, permutations, seed)
    t.update({
        "p_value": p,
        "p_value_text": p_text(p),
        "p_value_test": "fisher_exact",
        "min_attainable_p": p_value(pmin),
        "testable": pmin <= alpha,
        "p_value_permutation": p_value(perm),
        "permutation_method": perm_method,
        "permutations": permutations,
    })
    if pmin > alpha:
        t["cannot_test"] = (
            f"too small to test: with {na} and {nb} accounts and {ka + kb} outcomes no result could reach "
            f"p < {alpha:g} (smallest attainable p = {p_text(pmin)})"
        )
    return t


def _omnibus(name: str, ct: np.ndarray, levels: list[str], seed: int) -> tuple[dict[str, Any], str | None]:
    """One test of independence across all groups; the warning to give, if any."""
    base: dict[str, Any] = {"metric": f"{name} rate", "groups": levels}
    col = ct.sum(axis=0)
    if (col == 0).any():
        return {**base, "test": None, "statistic": None, "dof": None, "p_value": None, "p_value_text": "n/a",
                "cannot_test": "no account has the outcome" if col[1] == 0 else "every account has the outcome"}, None
    expected = stats.contingency.expected_freq(ct)
    low = int((expected < MIN_EXPECTED).sum())
    if low == 0:
        chi2, p, dof, _ = stats.chi2_contingency(ct)
        pv = p_value(p)
        return {**base, "test": "chi2_independence", "statistic": _num(chi2), "dof": int(dof),
                "p_value": pv, "p_value_text": p_text(pv)}, None
    res = stats.fisher_exact(ct, method=stats.MonteCarloMethod(n_resamples=OMNIBUS_TABLES, rng=np.random.default_rng(seed)))
    pv = p_value(res.pvalue)
    floor = 1 / (OMNIBUS_TABLES + 1)
    # No table drawn was as extreme: the p-value is at most the Monte Carlo floor.
    ptxt = f"≤ {floor:.2g}" if pv is not None and pv <= floor * (1 + 1e-9) else p_text(pv)
    warn = (
        f"The chi-square test across groups was replaced by an exact one (Fisher–Freeman–Halton, Monte Carlo over "
        f"{OMNIBUS_TABLES:,} tables with the observed margins; smallest reportable p = {p_text(1 / (OMNIBUS_TABLES + 1))}) "
        f"because {low} of {expected.size} expected counts are below {MIN_EXPECTED}."
    )
    return {**base, "test": "fisher_freeman_halton_monte_carlo", "statistic": None, "dof": None,
            "tables": OMNIBUS_TABLES, "p_value": pv, "p_value_text": ptxt,
            "expected_below_5": low}, warn


def _most_informative(tests: list[dict[str, Any]], alpha: float) -> dict[str, Any] | None:
    """The comparison a summary should quote: the smallest adjusted p-value among the
    pairs that could be tested, ties (e.g. several at the floor) broken by the largest
    difference in rates, then by group names."""
    cands = [(i, t) for i, t in enumerate(tests) if t.get("p_value_adjusted") is not None]
    if not cands:
        return None
    i, t = min(cands, key=lambda it: (it[1]["p_value_adjusted"], -abs(it[1]["effect"]["difference"] or 0.0),
                                      it[1]["groups"]))
    return {
        "index": i,
        "groups": t["groups"],
        "difference": t["effect"]["difference"],
        "difference_ci": t["effect"]["difference_ci"],
        "p_value_adjusted": t["p_value_adjusted"],
        "p_value_text": t["p_value_adjusted_text"],
        "significant": bool(t["p_value_adjusted"] < alpha),
        "why": "smallest adjusted p-value among the pairs tested (ties: largest difference in rates)",
    }


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
    warnings_in: Sequence[str] = (),
) -> dict[str, Any]:
    """Rates, pairwise tests and the covariate-adjusted model for a 0/1 outcome by group.

    ``frame``: one row per account. Rows with a missing group or outcome are dropped (and
    counted). ``reference``: the comparison group for pairwise tests and the model
    (default: all pairs; the model uses the largest group). ``notes``: extra statements
    for ``cannot_say`` (e.g. how the outcome was observed); ``warnings_in``: warnings the
    caller knows about (e.g. a population selected on the outcome), listed first.
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
    warn: list[str] = list(warnings_in)

    groups_out: list[dict[str, Any]] = []
    counts: dict[str, tuple[int, int]] = {}
    agg = df.groupby(group)[outcome].agg(["sum", "size"])
    for g in levels:
        k, n = int(agg.loc[g, "sum"]), int(agg.loc[g, "size"])
        counts[g] = (k, n)
        lo, hi = wilson(k, n, alpha)
        groups_out.append({
            "group": g, "accounts": n, "outcome_count": k, "rate": _num(k / n),
            "ci_low": _num(lo), "ci_high": _num(hi), "ci_method": "wilson",
        })
    total_k, total_n = sum(k for k, _ in counts.values()), sum(n for _, n in counts.values())
    if total_k == 0:
        warn.append(f"No account in any group has the outcome ({name}: 0 of {total_n:,}): "
                    "there is nothing to compare, and the groups cannot be tested.")
    elif total_k == total_n:
        warn.append(f"Every account in every group has the outcome ({name}: {total_n:,} of {total_n:,}): "
                    "the groups cannot differ, and cannot be tested.")

    if reference is not None:
        pairs = [(g, reference) for g in levels if g != reference]
    else:
        pairs = list(itertools.combinations(levels, 2))
    tests = [_pair_test(name, a, b, *counts[a], *counts[b], alpha, permutations, seed) for a, b in pairs]
    tested = [t for t in tests if t["p_value"] is not None]
    holm = len(levels) > 2 and len(tested) > 1
    if holm:
        adj = multipletests([t["p_value"] for t in tested], method="holm")[1]
        for t, p in zip(tested, adj, strict=True):
            t["p_value_adjusted"] = p_value(p)
    for t in tests:
        if not holm or t["p_value"] is None:
            t["p_value_adjusted"] = t["p_value"]
        t["p_value_adjusted_text"] = p_text(t["p_value_adjusted"])
        # Holm multiplies p-values; one that scipy underflowed (stored at the floor) gives
        # an adjusted value that is only a bound, so it is printed as one.
        if (t["p_value"] is not None and t["p_value"] <= P_FLOOR
                and t["p_value_adjusted"] <= len(tested) * P_FLOOR * (1 + 1e-9)):
            t["p_value_adjusted_text"] = P_FLOOR_TEXT
        t["adjustment"] = "holm" if holm and t["p_value"] is not None else None
    # Pairs no outcome could make significant, attributed to their smaller group.
    # Pairs that cannot be tested, said once per cause: groups with no (or only) outcomes
    # between them; a group too small to test; too few outcomes whatever the split.
    if 0 < total_k < total_n:
        flat = sorted({g for t in tests if t["p_value"] is None for g in t["groups"]})
        if flat:
            warn.append(f"Pairs among {', '.join(flat)} cannot be tested: neither group of such a pair has an account "
                        "with the outcome, or every account of both has it (see each test's cannot_test).")
        untestable: dict[str, list[str]] = {}
        few: list[str] = []
        for t in tests:
            if t["p_value"] is None or t["testable"]:
                continue
            a, b = t["groups"]
            small, other = (a, b) if counts[a][1] <= counts[b][1] else (b, a)
            if counts[small][1] < SMALL_GROUP:
                untestable.setdefault(small, []).append(other)
            else:
                few.append(f"{a} vs {b} ({sum(t['outcome_counts'])} outcomes)")
        for g, others in untestable.items():
            k, n = counts[g]
            warn.append(
                f"Group {g} ({n:,} account{'s' if n != 1 else ''}, {k} with the outcome) is too small to test against "
                f"{', '.join(others)}: no outcome could give p < {alpha:g}; its rate is shown, not tested."
            )
        if few:
            warn.append(f"Too few outcomes to test {', '.join(few)}: however they were split between the two groups "
                        f"no result could give p < {alpha:g}.")

    global_test: dict[str, Any] | None = None
    if len(levels) > 2:
        ct = np.array([[counts[g][1] - counts[g][0], counts[g][0]] for g in levels])
        global_test, gwarn = _omnibus(name, ct, levels, seed)
        if gwarn:
            warn.append(gwarn)

    ref = reference or max(levels, key=lambda g: (counts[g][1], g))
    if 0 < total_k < total_n:
        model = _adjusted_model(df, group, outcome, list(covariates), ref, alpha)
    else:
        model = {"method": "logistic regression (statsmodels Logit); covariates standardised",
                 "reference_group": ref, "covariates": [], "covariates_unusable": list(covariates),
                 "rows": len(df), "rows_dropped_missing_covariates": 0, "terms": [],
                 "error": "the outcome does not vary: there is no model to fit"}
    if model.get("warning"):
        warn.append(f"Model: {model['warning']}.")
    best = _most_informative(tests, alpha)
    summary, cannot = _summary(name, groups_out, tests, global_test, best, model, list(covariates),
                               dropped, notes, alpha)
    out: dict[str, Any] = {
        "outcome": name,
        "groups": groups_out,
        "tests": tests,
        "global_test": global_test,
        "most_informative": best,
        "model": model,
        "summary": summary,
        "warnings": warn,
        "cannot_say": cannot,
        "accounts_dropped": dropped,
    }
    return out


def _adjusted_model(
    df: pd.DataFrame, group: str, outcome: str, covariates: list[str], ref: str, alpha: float
) -> dict[str, Any]:
    """Logit of outcome on group (raw) and on group + covariates (adjusted), both fitted on
    the same complete-case rows so the two group effects are comparable."""
    # the two names only: statsmodels.api imports all of statsmodels (time series,
    # graphics, scipy.signal), 0.7 s of a report
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.tools import add_constant

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
    if cc[outcome].nunique() < 2:
        out["error"] = "the outcome does not vary among the accounts with complete covariates"
        return out
    others = [g for g in levels if g != ref]
    dummies = pd.DataFrame({f"group[{g}]": (cc[group] == g).astype(float) for g in others}, index=cc.index)
    y = cc[outcome].astype(float)
    X_raw = add_constant(dummies, has_constant="add")
    Z = cc[usable].astype(float)
    Z = (Z - Z.mean()) / Z.std(ddof=0).replace(0, 1)
    X_adj = pd.concat([X_raw, Z], axis=1)

    def fit(X: pd.DataFrame) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Logit(y, X).fit(disp=0, maxiter=200)

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
        if g in degenerate or ref in degenerate:
            # Separation: the fitted odds ratio runs off to 0 or infinity; a number here
            # would be an artefact of when the optimiser stopped.
            out["terms"].append({"group": g, "vs": ref, "estimable": False,
                                 "reason": f"{g if g in degenerate else ref} has a 0% or 100% outcome (separation)"})
            continue
        b_raw = float(raw.params[term])
        ci_raw = raw.conf_int(alpha)
        entry: dict[str, Any] = {
            "group": g,
            "vs": ref,
            "raw_odds_ratio": _exp(b_raw),
            "raw_odds_ratio_ci": [_exp(ci_raw.loc[term, 0]), _exp(ci_raw.loc[term, 1])],
            "raw_p_value": p_value(raw.pvalues[term]),
            "raw_difference": _num(avg_diff(raw, X_raw, g)),
        }
        if adj is not None:
            b_adj = float(adj.params[term])
            ci_adj = adj.conf_int(alpha)
            d_raw, d_adj = avg_diff(raw, X_raw, g), avg_diff(adj, X_adj, g)
            has_gap = abs(b_raw) > 1e-12 and float(raw.pvalues[term]) < alpha
            share_lo = 1 - b_adj / b_raw if has_gap else None
            share_p = 1 - d_adj / d_raw if has_gap and abs(d_raw) > 1e-12 else None
            entry.update({
                "adjusted_odds_ratio": _exp(b_adj),
                "adjusted_odds_ratio_ci": [_exp(ci_adj.loc[term, 0]), _exp(ci_adj.loc[term, 1])],
                "adjusted_p_value": p_value(adj.pvalues[term]),
                "adjusted_difference": _num(d_adj),
                **_gap(b_raw, b_adj, share_lo, share_p, has_gap, float(adj.pvalues[term]) < alpha),
            })
        out["terms"].append(entry)
    if adj is not None:
        ci = adj.conf_int(alpha)
        out["covariate_effects"] = [
            {"covariate": c, "odds_ratio_per_sd": _exp(adj.params[c]),
             "ci": [_exp(ci.loc[c, 0]), _exp(ci.loc[c, 1])],
             "p_value": p_value(adj.pvalues[c])}
            for c in usable
        ]
        out["pseudo_r2"] = {"raw": _num(raw.prsquared), "adjusted": _num(adj.prsquared)}
        out["converged"] = bool(raw.mle_retvals.get("converged", True) and adj.mle_retvals.get("converged", True))
    else:
        out["converged"] = bool(raw.mle_retvals.get("converged", True))
    return out


def _gap(
    b_raw: float, b_adj: float, share_lo: float | None, share_p: float | None, has_gap: bool, adj_significant: bool,
) -> dict[str, Any]:
    """How adjustment changed the raw gap. "Share of the gap the covariates account for"
    is only a share between 0 and 1; outside it the decomposition is named for what it is
    (all of it explained, the gap widened, or reversed) and no share is given."""
    if not has_gap:
        return {"gap_decomposition": "no_raw_gap", "gap_explained_log_odds": None, "gap_explained_probability": None,
                "gap_meaning": "no clear raw gap (raw p >= alpha): a share of it would be noise"}
    if b_adj * b_raw < 0 and not adj_significant:
        kind, meaning = "all_explained", ("the covariates account for all of the raw gap: the adjusted group effect "
                                          "is indistinguishable from zero")
    elif b_adj * b_raw < 0:
        kind, meaning = "reversed", ("the gap reverses direction once the covariates are held equal: they more than "
                                     "account for it, and the adjusted effect points the other way")
    elif abs(b_adj) > abs(b_raw):
        kind, meaning = "widened", ("the gap widens once the covariates are held equal: the groups differ in the "
                                    "covariates in a way that masks part of the gap, so none of it is explained by them")
    else:
        kind, meaning = "share", "share of the raw gap the covariates account for"

    def share(x: float | None) -> float | None:
        return _num(x) if kind == "share" and x is not None and 0 <= x <= 1 else None

    return {"gap_decomposition": kind, "gap_explained_log_odds": share(share_lo),
            "gap_explained_probability": share(share_p), "gap_meaning": meaning}


def _f2(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def _pair_sentence(t: dict[str, Any], name: str) -> str:
    e = t["effect"]
    a, b = t["groups"]
    text = (f"{a} vs {b}: {_pct(t['rates'][0])} vs {_pct(t['rates'][1])} {name}, difference {_pts(e['difference'])} "
            f"points (95% CI {_pts(e['difference_ci'][0])} to {_pts(e['difference_ci'][1])})")
    if e.get("rate_ratio") is not None:
        lo, hi = e["rate_ratio_ci"]
        text += f", rate ratio {_f2(e['rate_ratio'])} (95% CI {_f2(lo)}–{_f2(hi)}"
        text += ", 0.5 added to every cell)" if e.get("rate_ratio_estimator") == HALDANE else ")"
    if t["p_value"] is None:
        return text + f"; {t.get('cannot_test')}."
    text += f"; Fisher exact p = {t['p_value_text']}" if t["p_value"] > P_FLOOR else f"; Fisher exact p {t['p_value_text']}"
    if t.get("adjustment") == "holm":
        adj = t["p_value_adjusted_text"]
        text += f", Holm-adjusted p {'' if adj.startswith('<') else '= '}{adj}"
    if t.get("cannot_test"):
        text += f" ({t['cannot_test']})"
    return text + "."


def _summary(
    name: str,
    groups: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    global_test: dict[str, Any] | None,
    best: dict[str, Any] | None,
    model: dict[str, Any],
    covariates: list[str],
    dropped: int,
    notes: Sequence[str],
    alpha: float,
) -> tuple[list[str], list[str]]:
    """Plain-language lines: the test across groups, the most informative pair (every
    pair is in ``tests``, shown as a table), the adjusted model; and what cannot be said."""
    lines: list[str] = []
    if global_test is not None:
        if global_test["p_value"] is None:
            lines.append(f"Across the {len(groups)} groups: cannot test ({global_test['cannot_test']}).")
        else:
            how = ("chi-square test of independence" if global_test["test"] == "chi2_independence"
                   else "exact Fisher–Freeman–Halton test (Monte Carlo)")
            ptxt = global_test["p_value_text"]
            lines.append(f"Across the {len(groups)} groups ({how}): p {'' if ptxt[0] in '<≤' else '= '}{ptxt}.")
        n_sig = sum(1 for t in tests if t["p_value_adjusted"] is not None and t["p_value_adjusted"] < alpha)
        n_tested = sum(1 for t in tests if t["p_value_adjusted"] is not None)
        if n_tested == 0:
            lines.append(f"None of the {len(tests)} pairs could be tested.")
        else:
            adj = "Holm-adjusted " if any(t.get("adjustment") == "holm" for t in tests) else ""
            lines.append(f"{n_sig} of {n_tested} pairs tested differ at {adj}p < {alpha:g}"
                         + (f" ({len(tests) - n_tested} could not be tested)" if n_tested < len(tests) else "") + ".")
    if best is not None:
        t = tests[best["index"]]
        lead = "Most informative comparison: " if len(tests) > 1 else ""
        lines.append(lead + _pair_sentence(t, name))
    elif len(tests) == 1:
        lines.append(_pair_sentence(tests[0], name))
    if "error" in model:
        lines.append(f"Adjusted model: {model['error']}.")
    elif model.get("covariates"):
        for term in model["terms"]:
            if term.get("estimable") is False:
                lines.append(f"{term['group']} vs {term['vs']}: odds ratio not estimable ({term['reason']}); "
                             "the exact test above is the answer.")
                continue
            lines.append(
                f"{term['group']} vs {term['vs']}: odds ratio {_f2(term['raw_odds_ratio'])} unadjusted "
                f"(95% CI {_f2(term['raw_odds_ratio_ci'][0])}–{_f2(term['raw_odds_ratio_ci'][1])}), "
                f"{_f2(term.get('adjusted_odds_ratio'))} adjusted for {', '.join(model['covariates'])} "
                f"(95% CI {_f2(term['adjusted_odds_ratio_ci'][0])}–{_f2(term['adjusted_odds_ratio_ci'][1])}); "
                + _gap_sentence(term)
                + f" (on {model['rows']:,} accounts with complete covariates)."
            )
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


def _gap_sentence(term: dict[str, Any]) -> str:
    kind = term.get("gap_decomposition")
    if kind == "share" and term.get("gap_explained_log_odds") is not None:
        return f"the covariates account for {_pct(term['gap_explained_log_odds'])} of the raw gap on the log-odds scale"
    if kind in ("widened", "reversed", "all_explained"):
        return str(term["gap_meaning"])
    return f"no clear raw gap to explain (raw p = {p_text(term['raw_p_value'])})"


# ---------------------------------------------------------------- from the store


def follower_drops(obs: pd.DataFrame) -> pd.Series:
    """Accounts (index: account_id) with a ``follower_drop`` event of the detector
    (:func:`purgewatch.analysis.detect.detect_series`, default thresholds), for count
    series that are not in a store (a published series such as the IRA trolls'). The same
    rule as ``--outcome drop`` through a store, so one data set gets one answer.
    Every account with at least one count is in the index.

    ``obs``: columns account_id, observed_at, followers_count.
    """
    from purgewatch.analysis.detect import detect_series

    o = obs.dropna(subset=["followers_count"])
    codes, accounts = pd.factorize(o["account_id"].astype(str), sort=True)
    when = pd.to_datetime(o["observed_at"], utc=True)
    t = ((when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=float)
    events = detect_series(codes.astype(np.int64), t, o["followers_count"].to_numpy(dtype=float),
                           [("", str(a)) for a in accounts], purge=False)
    dropped = {e.account_id for e in events if e.kind == "follower_drop"}
    return pd.Series([str(a) in dropped for a in accounts], index=[str(a) for a in accounts], dtype=bool)


def _detected_drops(
    store: Store, platform: str | None, t0: pd.Timestamp | None, t1: pd.Timestamp | None
) -> set[str]:
    """Accounts ("platform\x1faccount_id") with a follower_drop event in the window."""
    from purgewatch.analysis.detect import detect

    events = detect(store, kinds=["follower_drop"], platform=platform,
                    start=None if t0 is None else t0.to_pydatetime(),
                    end=None if t1 is None else t1.to_pydatetime())
    return {f"{e.platform}\x1f{e.account_id}" for e in events if e.kind == "follower_drop"}




FACT_TABLES = ("observations", "profiles")
FACT_COLUMNS = ["followers_count", "following_count", "posts_count", "created_at", "default_profile_image",
                "description", "handle", "label",
                # read by the bot-likeness model (analysis/bots)
                "display_name", "favourites_count", "listed_count", "default_profile"]
_KEYS = ["platform", "account_id"]


def _micros(col: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 microseconds (store times are never null)."""
    return np.asarray(pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def _pop_index(tbl: pa.Table, pop_keys: pa.Array) -> np.ndarray:
    """Row of ``pop`` (by "platform\\x1faccount_id") of each row of ``tbl``; -1 outside it.
    A hash lookup in Arrow: no per-row Python string is made. Dictionary-encoded key
    columns (``Store.read(dictionary=...)``) are matched a dictionary at a time."""
    if tbl.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    plat, acct = tbl["platform"], tbl["account_id"]
    if not (pa.types.is_dictionary(plat.type) and pa.types.is_dictionary(acct.type)):
        key = pc.binary_join_element_wise(plat, acct, "\x1f")
        idx = pc.index_in(key, value_set=pop_keys)
        return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    out = []
    for pch, ach in zip(plat.chunks, acct.chunks, strict=True):
        pi = np.asarray(pch.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        ai = np.asarray(ach.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        res = np.full(len(ai), -1, dtype=np.int64)
        for k, p in enumerate(pch.dictionary.to_pylist()):
            # every account id of the chunk under this platform, looked up once
            keys = pc.binary_join_element_wise(pa.scalar(p, pa.string()), ach.dictionary, "\x1f")
            look = np.asarray(pc.fill_null(pc.index_in(keys, value_set=pop_keys), -1)
                              .to_numpy(zero_copy_only=False), dtype=np.int64)
            here = pi == k
            res[here] = look[ai[here]]
        out.append(res)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _status_codes(col: pa.ChunkedArray, vocab: dict[Any, int]) -> np.ndarray:
    """A status column as codes into ``vocab`` (extended with new words; None for null):
    one Python string per distinct word of a chunk, none per reading."""
    out = []
    for ch in col.chunks:
        enc = ch if pa.types.is_dictionary(ch.type) else pc.dictionary_encode(ch)
        ids = np.array([vocab.setdefault(w, len(vocab)) for w in [*enc.dictionary.to_pylist(), None]], dtype=np.int64)
        out.append(ids[np.asarray(enc.indices.fill_null(len(ids) - 1).to_numpy(zero_copy_only=False), dtype=np.int64)])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _null_columns(store: Store, table: str, columns: Sequence[str]) -> set[str]:
    """Those of ``columns`` no stored file of ``table`` holds a value of (by the Parquet
    statistics; a file that predates a column holds none): read as nulls without
    decoding a row (a platform that never reports a fact leaves its column empty)."""
    import pyarrow.parquet as pq

    out = set(columns)
    for path in store.files(table):
        md = pq.read_metadata(path)
        at = {md.schema.column(i).name: i for i in range(md.num_columns)}
        for c in list(out):
            i = at.get(c)
            if i is None:
                continue
            for g in range(md.num_row_groups):
                rg = md.row_group(g)
                st = rg.column(i).statistics
                if st is None or not st.has_null_count or st.null_count != rg.num_rows:
                    out.discard(c)
                    break
        if not out:
            break
    return out


def _valid(tb: pa.Table, c: str) -> np.ndarray:
    return (np.asarray(pc.is_valid(tb[c]).to_numpy(zero_copy_only=False), dtype=bool) if tb.num_rows
            else np.zeros(0, dtype=bool))


def _bound(t: pd.Timestamp | None) -> int | None:
    return None if t is None else int(t.value // 1000)  # ns -> us


@dataclass
class _Population:
    """What every outcome of one (store state, by, window, platform) shares: the accounts,
    the statuses each was seen with, whether each has a follower count, the covariates."""

    pop: pd.DataFrame               # platform, account_id, group (population order)
    statuses: list[Any]             # distinct effective statuses (known ones) in the window
    seen: np.ndarray                # accounts x statuses: seen with that status in the window
    known: np.ndarray               # accounts: any known (not "unknown") status in the window
    counted: np.ndarray             # accounts: any follower count in the window
    cov: pd.DataFrame               # platform, account_id + STANDARD_COVARIATES (accounts with facts)


_POP_MEMO: dict[Any, _Population] = {}
_POP_MEMO_SIZE = 2
_POP_LOCK = threading.Lock()


def _population(store: Store, by: str, t0: pd.Timestamp | None, t1: pd.Timestamp | None,
                platform: str | None) -> _Population:
    """The shared part of :func:`account_frame`, computed once per state of the store: a
    report asks for two outcomes, the web UI for one per page view."""
    from purgewatch.analysis.detect import _store_state

    state = _store_state(store)
    key = (state, by, t0, t1, platform)
    if state is not None:
        with _POP_LOCK:
            hit = _POP_MEMO.get(key)
        if hit is not None:
            return hit
    for _attempt in range(3):
        # The facts are read a column at a time: a commit between two reads would
        # misalign them, so an answer is kept only if the store did not change under it.
        try:
            res = _build_population(store, by, t0, t1, platform)
        except (IndexError, ValueError):
            if (now := _store_state(store)) == state:
                raise
            state = now
            continue
        if (now := _store_state(store)) == state:
            break
        state = now
    else:
        raise AnalysisError("the store kept changing while its accounts were read",
                            hint="retry when the import writing to it has finished")
    key = (state, by, t0, t1, platform)
    if state is not None:
        with _POP_LOCK:
            _POP_MEMO[key] = res
            while len(_POP_MEMO) > _POP_MEMO_SIZE:
                del _POP_MEMO[next(iter(_POP_MEMO))]
    return res


def _build_population(store: Store, by: str, t0: pd.Timestamp | None, t1: pd.Timestamp | None,
                      platform: str | None) -> _Population:
    from purgewatch.analysis.forensics import bot_likeness, creation_times

    # The light columns of every reading, keys and statuses kept dictionary-encoded; each
    # fact column is read alone later (its validity, then its value at the few rows that
    # decide), so the table of every reading with every fact never exists (it was most of
    # a report's peak memory at 10^4 accounts x a year).
    light = [*_KEYS, "observed_at", "status", "followers_count"]
    facts = {t: store.read(t, columns=light, dictionary=[*_KEYS, "status"]) for t in FACT_TABLES}
    if by == "group":
        wl = current_watchlist(store, fill_ids=True).to_pandas()
        if wl.empty:
            raise AnalysisError("the watchlist is empty", hint="import a watchlist with groups first")
        pop = wl[["platform", "account_id", "group"]].drop_duplicates(["platform", "account_id"])
    elif by == "label":
        # The watchlist's label where it has one (e.g. voterfraud2020 camps), else the
        # latest label on the account's profiles/observations (e.g. cresci classes).
        labelled = []
        for table in FACT_TABLES:
            tb = store.read(table, columns=[*_KEYS, "observed_at", "label"])
            labelled.append(tb.filter(pc.is_valid(tb["label"])).to_pandas())
            del tb
        lab = pd.concat(labelled, ignore_index=True).sort_values("observed_at")
        pop = lab.groupby(["platform", "account_id"], as_index=False).tail(1)[["platform", "account_id", "label"]]
        wl = current_watchlist(store, fill_ids=True).to_pandas()
        if not wl.empty:
            wl = wl.dropna(subset=["label"])
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
    n_pop = len(pop)
    pop_keys = pa.array((pop["platform"].astype(str) + "\x1f" + pop["account_id"].astype(str)).tolist(), pa.string())
    lo, hi = _bound(t0), _bound(t1)

    # Statuses: every reading of a population account (observations, profiles, stream
    # events, in that order), sorted by account then time (stable: ties keep that order);
    # suspended_or_deleted after an enforcement reading is that suspension, purged
    # (model.carry_enforcement); on its own it is never the "suspended" outcome.
    vocab: dict[Any, int] = {}
    pop_idx = {name: _pop_index(tb, pop_keys) for name, tb in facts.items()}
    fact_t = {name: _micros(tb["observed_at"]) if tb.num_rows else np.zeros(0, dtype=np.int64)
              for name, tb in facts.items()}
    codes, times, stats_ = [], [], []
    for name in (*FACT_TABLES, "status_events"):
        tcol = "at" if name == "status_events" else "observed_at"
        tb = facts[name] if name in facts else store.read(name, columns=[*_KEYS, tcol, "status"],
                                                          dictionary=[*_KEYS, "status"])
        if not tb.num_rows:
            continue
        idx = pop_idx[name] if name in pop_idx else _pop_index(tb, pop_keys)
        # every row in the population (the usual case): views, not copies
        keep: Any = slice(None) if bool((idx >= 0).all()) else np.flatnonzero(idx >= 0)
        codes.append(idx[keep])
        times.append((fact_t[name] if name in fact_t else _micros(tb[tcol]))[keep])
        # Statuses as codes into the few words there are: no Python string per reading.
        stats_.append(_status_codes(tb["status"], vocab)[keep])
        del tb, idx, keep

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    code, at, scode = joined(codes), joined(times), joined(stats_)
    del codes, times, stats_
    if AMBIGUOUS_GONE in vocab and (scode == vocab[AMBIGUOUS_GONE]).any():  # else carrying changes nothing
        words = np.empty(len(vocab), dtype=object)
        words[list(vocab.values())] = list(vocab)
        order = np.lexsort((at, code))
        code, at = code[order], at[order]
        carried = carry_enforcement(code, words[scode[order]])
        scode = np.array([vocab.setdefault(w, len(vocab)) for w in carried.tolist()], dtype=np.int64)
    statuses = [None] * len(vocab)
    for w, i in vocab.items():
        statuses[i] = w
    inside = np.ones(len(code), dtype=bool)
    if lo is not None:
        inside &= at >= lo
    if hi is not None:
        inside &= at <= hi
    known_rows = inside & (scode != vocab.get("unknown", -1))
    kc = code[known_rows]
    seen = np.zeros((n_pop, len(statuses)), dtype=bool)
    seen[kc, scode[known_rows]] = True
    known = np.zeros(n_pop, dtype=bool)
    known[kc] = True
    del code, at, scode, inside, known_rows, kc

    # Facts: the latest non-null value of each fact per account at the end of the window.
    # Only the rows that hold such a value become pandas rows (a store of millions of
    # readings used to become one frame of them, sorted whole, for 10^4 accounts).
    counted = np.zeros(n_pop, dtype=bool)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pop row, time, wanted) per table row
    for name, tb in facts.items():
        idx, t = pop_idx[name], fact_t[name]
        ok = idx >= 0
        win = ok.copy()
        if lo is not None:
            win &= t >= lo
        if hi is not None:
            win &= t <= hi
        if tb.num_rows:
            counted[idx[win & _valid(tb, "followers_count")]] = True
        upto = ok if hi is None else ok & (t <= hi)
        parts.append((idx, t, upto))
    offsets = np.cumsum([0] + [len(p[0]) for p in parts])
    rows = np.concatenate([np.flatnonzero(p[2]) + off for p, off in zip(parts, offsets[:-1], strict=True)])
    r_code = np.concatenate([p[0][p[2]] for p in parts])
    r_time = np.concatenate([p[1][p[2]] for p in parts])
    del parts, pop_idx, fact_t, ok, win, upto
    # By account, then time: one sort of a combined key when it fits in 63 bits.
    by_key: np.ndarray | None = None
    rank: np.ndarray | None = None
    if len(r_time):
        t_lo = int(r_time.min())
        span = int(r_time.max()) - t_lo + 1
        if (n_pop + 1) * span < 2**62:
            comp = r_code * span + (r_time - t_lo)
            by_key = np.argsort(comp, kind="quicksort")
            comp = comp[by_key]
            if (comp[1:] == comp[:-1]).any():
                by_key = None
            del comp
    if by_key is None:
        # Two readings of one account at the same instant with different values: the one
        # that wins is the one pandas' quicksort of the time column always made win.
        rank = np.empty(len(r_time), dtype=np.int64)
        rank[np.argsort(r_time.astype("M8[us]"), kind="quicksort")] = np.arange(len(r_time))
        by_key = np.lexsort((rank, r_code))
        rank = rank[by_key]
    rows, r_code = rows[by_key], r_code[by_key]
    del by_key, r_time
    winners: list[np.ndarray] = []  # positions in rows
    first_null: dict[tuple[str, str], int] = {}  # (table, column): first null row, for the dtypes
    empty = {name: _null_columns(store, name, FACT_COLUMNS) for name in facts}
    for c in ["observed_at", *FACT_COLUMNS]:
        vs = []
        for name, tb in facts.items():
            v = (np.zeros(tb.num_rows, dtype=bool) if c in empty[name] else
                 _valid(tb if c in tb.column_names else store.read(name, columns=[c], dictionary=[c]), c))
            first_null[name, c] = int(np.argmin(v)) if len(v) and not v.all() else -1
            vs.append(v)
        valid = np.concatenate(vs)[rows]
        del vs
        pa.default_memory_pool().release_unused()  # the column read: its pages back before the next
        vp = np.flatnonzero(valid)
        vc = r_code[vp]
        last = np.flatnonzero(np.r_[vc[1:] != vc[:-1], True]) if len(vc) else np.zeros(0, dtype=np.int64)
        winners.append(vp[last])
    pos = np.unique(np.concatenate(winners))
    chosen = np.sort(rows[pos])
    frames, probes = [], []
    for (name, tb), off, end in zip(facts.items(), offsets[:-1], offsets[1:], strict=True):
        sel = pa.array(chosen[(chosen >= off) & (chosen < end)] - off, pa.int64())
        # The dtypes the whole table would have in pandas (ints with a null are floats,
        # bools with a null objects), so the values below are what they always were.
        probe = ([0] + [first_null[name, c] for c in FACT_COLUMNS]) if tb.num_rows else []
        at = pa.array(sorted({i for i in probe if i >= 0}), pa.int64())
        schema = TABLE_SCHEMAS[name]
        got: dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]] = {}
        for c in [*_KEYS, "observed_at", *FACT_COLUMNS]:
            col = (tb[c] if c in tb.column_names else pa.chunked_array([pa.nulls(tb.num_rows, schema.field(c).type)])
                   if c in empty[name] else store.read(name, columns=[c], dictionary=[c])[c])
            got[c] = (col.take(sel).cast(schema.field(c).type), col.take(at).cast(schema.field(c).type))
            del col
        frames.append(pa.table({c: v[0] for c, v in got.items()}).to_pandas())
        probes.append(pa.table({c: v[1] for c, v in got.items()}).to_pandas())
    dtypes = pd.concat(probes, ignore_index=True).dtypes
    f = pd.concat(frames, ignore_index=True)
    f = f.astype({c: dtypes[c] for c in f.columns if f[c].dtype != dtypes[c]})
    if rank is None:  # no account has two readings at one instant: any order of time will do
        f = f.sort_values("observed_at", kind="stable")
    else:
        f = f.iloc[np.argsort(rank[pos][np.argsort(rows[pos])])]  # by time, ranked as above
    # Latest non-null value of each fact per account.
    latest = f.groupby(_KEYS).last().reset_index()
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
    cov = latest[_KEYS + list(STANDARD_COVARIATES)]
    return _Population(pop.reset_index(drop=True), statuses, seen, known, counted, cov)


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
    at the end of the window. Everything but the outcome is computed once per state of
    the store (and by, window, platform) and shared by the outcomes asked next."""
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}", hint=f"choose one of: {', '.join(OUTCOMES)}")
    t0, t1 = parse_zoned(start), parse_zoned(end)
    base = _population(store, by, t0, t1, platform)
    pop = base.pop
    if outcome == "drop":
        detected = _detected_drops(store, platform, t0, t1)
        # The detector's follower_drop events decide; accounts with a count series in
        # the window and no event are 0, accounts without one unknown.
        keyed = (pop["platform"] + "\x1f" + pop["account_id"]).tolist()
        hit = np.fromiter((k in detected for k in keyed), dtype=float, count=len(keyed))
        value = np.where(base.counted, hit, np.nan)
    else:
        target = {
            "suspended": ENFORCEMENT_STATUSES,
            "gone": GONE_STATUSES,
            "deleted": frozenset({"deleted"}),
            "deactivated": frozenset({"deactivated"}),
            "suspended_or_deleted": frozenset({"suspended_or_deleted"}),
            "not_found": frozenset({"not_found"}),
        }[outcome]
        hit_any = np.asarray(base.seen[:, [i for i, s in enumerate(base.statuses) if s in target]].any(axis=1))
        value = np.where(base.known, hit_any.astype(float), np.nan)
    out = pop.assign(outcome=value.astype("float")).merge(base.cov, on=_KEYS, how="left")
    # Whether the account was ever seen there (active, protected, limited) in the window:
    # a population where none was is selected on the outcome (compare_store warns).
    present = np.asarray(base.seen[:, [i for i, s in enumerate(base.statuses) if s in PRESENT_STATUSES]].any(axis=1))
    out["seen_present"] = present
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
        warnings_in=(population := _population_warnings(frame, outcome)),
    )
    # The warnings that change what every rate means (quoted by the report's summary).
    res["population_warnings"] = population
    res["by"] = by
    res["window"] = {"from": parse_zoned(start), "to": parse_zoned(end)}
    return res


def _population_warnings(frame: pd.DataFrame, outcome: str) -> list[str]:
    """Warnings about who is in the compared population, from the store's statuses."""
    if outcome == "drop" or "seen_present" not in frame.columns:
        return []
    known = frame[frame["outcome"].notna() & frame["group"].notna()]
    if known.empty or bool(known["seen_present"].any()):
        return []
    return [
        f"No compared account was ever observed active: all {len(known):,} are known only as gone "
        "(suspended, taken down, deleted, deactivated or not found). The population was selected on the "
        f"outcome (for example a file of accounts already gone), so each group's \"{outcome}\" rate is a share "
        "among accounts that disappeared, not a rate among the group's accounts."
    ]
