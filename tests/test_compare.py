"""compare: every statistic checked against a reference computed here with scipy or
statsmodels (independently of the module's code path), plus a store-derived frame with
known outcomes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import statsmodels.formula.api as smf
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from purgewatch.analysis import compare as cmp
from purgewatch.errors import AnalysisError, InputError
from purgewatch.store import Store

COUNTS = {"a": (30, 100), "b": (12, 120), "c": (4, 25)}


def _frame(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    rows = []
    for g, (k, n) in counts.items():
        rows += [{"group": g, "outcome": 1}] * k + [{"group": g, "outcome": 0}] * (n - k)
    return pd.DataFrame(rows)


def test_rates_intervals_tests_against_references() -> None:
    res = cmp.compare_groups(_frame(COUNTS), permutations=999, seed=3)
    groups = {g["group"]: g for g in res["groups"]}
    for g, (k, n) in COUNTS.items():
        lo, hi = proportion_confint(k, n, method="wilson")
        assert groups[g]["accounts"] == n and groups[g]["outcome_count"] == k
        assert groups[g]["rate"] == pytest.approx(k / n, abs=1e-6)
        assert groups[g]["ci_low"] == pytest.approx(lo, abs=1e-6)
        assert groups[g]["ci_high"] == pytest.approx(hi, abs=1e-6)
    assert [t["groups"] for t in res["tests"]] == [["a", "b"], ["a", "c"], ["b", "c"]]
    raw_p = []
    for t in res["tests"]:
        (a, b) = t["groups"]
        (ka, na), (kb, nb) = COUNTS[a], COUNTS[b]
        fisher = stats.fisher_exact([[ka, na - ka], [kb, nb - kb]])
        raw_p.append(fisher.pvalue)
        assert t["p_value"] == pytest.approx(fisher.pvalue, rel=1e-6)
        dd = confint_proportions_2indep(ka, na, kb, nb, method="newcomb", compare="diff")
        # No zero cell: Katz's log interval around the observed ratio, written out here.
        rr = (ka / na) / (kb / nb)
        half = 1.959963984540054 * np.sqrt(1 / ka - 1 / na + 1 / kb - 1 / nb)
        assert t["effect"]["rate_ratio"] == pytest.approx(rr, abs=1e-6)
        assert t["effect"]["rate_ratio_ci"] == pytest.approx([rr * np.exp(-half), rr * np.exp(half)], abs=1e-6)
        assert t["effect"]["rate_ratio_estimator"] == "observed counts"
        sample_or = (ka / (na - ka)) / (kb / (nb - kb))
        assert t["effect"]["odds_ratio"] == pytest.approx(sample_or, rel=1e-5)
        assert t["effect"]["odds_ratio_ci"][0] < sample_or < t["effect"]["odds_ratio_ci"][1]
        assert t["effect"]["difference"] == pytest.approx(ka / na - kb / nb, abs=1e-6)
        assert t["effect"]["difference_ci"] == pytest.approx(list(dd), abs=1e-6)
        xa = np.r_[np.ones(ka), np.zeros(na - ka)]
        xb = np.r_[np.ones(kb), np.zeros(nb - kb)]
        perm = stats.permutation_test(
            (xa, xb), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
            vectorized=True, n_resamples=999, rng=np.random.default_rng(3),
        )
        # The same test with other draws (the relabelling's count, not a shuffle): both
        # estimate the exact permutation p-value; they differ by Monte Carlo noise only.
        exact = 2 * min(stats.hypergeom.cdf(ka, na + nb, ka + kb, na), stats.hypergeom.sf(ka - 1, na + nb, ka + kb, na))
        se = np.sqrt(exact * (1 - exact) / 999)
        assert t["p_value_permutation"] == pytest.approx(min(1.0, exact), abs=4 * se + 2 / 1000)
        assert t["p_value_permutation"] == pytest.approx(perm.pvalue, abs=6 * se + 2 / 1000)
        assert t["permutation_method"] == "monte carlo (999 resamples)"
    holm = multipletests(raw_p, method="holm")[1]
    assert [t["p_value_adjusted"] for t in res["tests"]] == pytest.approx(list(holm), rel=1e-6)
    # Group c expects 25 * 46 / 245 = 4.7 < 5 outcomes: the chi-square approximation is
    # replaced by the exact Fisher–Freeman–Halton test (Monte Carlo over tables), and said.
    table = np.array([[n - k, k] for k, n in COUNTS.values()])
    ffh = stats.fisher_exact(table, method=stats.MonteCarloMethod(n_resamples=9999, rng=np.random.default_rng(3)))
    assert res["global_test"]["test"] == "fisher_freeman_halton_monte_carlo"
    assert res["global_test"]["p_value"] == ffh.pvalue
    assert any("replaced by an exact one" in w for w in res["warnings"])
    # The raw model's odds ratios are the sample odds ratios against the largest group (b).
    terms = {t["group"]: t for t in res["model"]["terms"]}
    assert res["model"]["reference_group"] == "b"
    ref = smf.logit("outcome ~ C(group, Treatment('b'))", data=_frame(COUNTS)).fit(disp=0)
    assert terms["a"]["raw_odds_ratio"] == pytest.approx(np.exp(ref.params["C(group, Treatment('b'))[T.a]"]), rel=1e-5)
    assert terms["a"]["raw_odds_ratio"] == pytest.approx((30 / 70) / (12 / 108), rel=1e-5)
    # The summary quotes the pair with the smallest adjusted p, not the first pair.
    best = min(range(3), key=lambda i: holm[i])
    assert res["most_informative"]["index"] == best and res["most_informative"]["groups"] == res["tests"][best]["groups"]
    assert any(s.startswith("Most informative comparison: " + " vs ".join(res["tests"][best]["groups"]))
               for s in res["summary"])
    # Large enough groups keep the chi-square test, with no warning.
    big = {g: (10 * k, 10 * n) for g, (k, n) in COUNTS.items()}
    res_big = cmp.compare_groups(_frame(big), permutations=0)
    chi2 = stats.chi2_contingency(np.array([[n - k, k] for k, n in big.values()]))
    assert res_big["global_test"]["test"] == "chi2_independence"
    assert res_big["global_test"]["p_value"] == chi2.pvalue
    assert res_big["warnings"] == []
    assert any("Small groups (c" in s for s in res["cannot_say"])


def test_two_groups_no_holm_and_reference() -> None:
    res = cmp.compare_groups(_frame(COUNTS), reference="b", permutations=0)
    assert [t["groups"] for t in res["tests"]] == [["a", "b"], ["c", "b"]]
    res2 = cmp.compare_groups(_frame({"x": (3, 50), "y": (9, 50)}), permutations=0)
    (t,) = res2["tests"]
    assert t["adjustment"] is None and t["p_value_adjusted"] == t["p_value"]
    assert res2["global_test"] is None


def _confounded(n: int, direct: float, seed: int) -> pd.DataFrame:
    """Group 'r' accounts post more; posting drives the outcome; ``direct`` is the extra
    log-odds of group membership itself."""
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.5
    activity = rng.normal(loc=np.where(g, 1.0, -1.0), scale=1.0)
    logit = -1.0 + 1.5 * activity + direct * g
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"group": np.where(g, "r", "l"), "outcome": y.astype(int), "activity": activity,
                         "noise": rng.normal(size=n)})


def test_adjusted_model_matches_statsmodels_and_explains_gap() -> None:
    df = _confounded(4000, 0.0, seed=1)
    res = cmp.compare_groups(df, covariates=["activity"], reference="l", permutations=0)
    (term,) = res["model"]["terms"]
    ref = smf.logit("outcome ~ C(group, Treatment('l')) + activity", data=df).fit(disp=0)
    b = ref.params["C(group, Treatment('l'))[T.r]"]
    assert term["adjusted_odds_ratio"] == pytest.approx(np.exp(b), rel=1e-4)
    lo, hi = ref.conf_int().loc["C(group, Treatment('l'))[T.r]"]
    assert term["adjusted_odds_ratio_ci"] == pytest.approx([np.exp(lo), np.exp(hi)], rel=1e-4)
    # Activity explains all of a large raw gap: the adjusted effect (0.88, CI across 1) is
    # noise around zero with the other sign, so 1 - b_adj/b_raw = 106% is not a share;
    # it is named for what it is.
    assert term["raw_odds_ratio"] > 3 and term["adjusted_odds_ratio_ci"][0] < 1 < term["adjusted_odds_ratio_ci"][1]
    assert term["gap_decomposition"] == "all_explained"
    assert term["gap_explained_log_odds"] is None and term["gap_explained_probability"] is None
    assert any("account for all of the raw gap" in s for s in res["summary"])
    assert not any("% of the raw gap" in s for s in res["summary"])
    # With a real direct effect and an irrelevant covariate, the gap is not explained away.
    df2 = _confounded(4000, 1.0, seed=2)
    res2 = cmp.compare_groups(df2, group="group", outcome="outcome", covariates=["noise"], reference="l", permutations=0)
    (t2,) = res2["model"]["terms"]
    assert t2["gap_decomposition"] == "share" and 0 <= t2["gap_explained_log_odds"] < 0.1
    assert any("Covariates not available" in s for s in res2["cannot_say"])


def _suppressed(slope: float, direct: float) -> pd.DataFrame:
    """Group r posts less, posting drives the outcome, and r has a direct effect."""
    rng = np.random.default_rng(5)
    n = 4000
    g = rng.random(n) < 0.5
    activity = rng.normal(loc=np.where(g, -1.0, 1.0))
    y = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + slope * activity + direct * g)))
    return pd.DataFrame({"group": np.where(g, "r", "l"), "outcome": y.astype(int), "activity": activity})


def test_gap_that_widens_or_reverses_is_not_a_share() -> None:
    """Holding activity equal widens the gap (1 - b_adj/b_raw < 0) or reverses it: named
    for what it is, never "covariates account for -134.7% of the gap"."""
    res = cmp.compare_groups(_suppressed(0.5, 2.0), covariates=["activity"], reference="l", permutations=0)
    (term,) = res["model"]["terms"]
    assert term["raw_p_value"] < 0.05 and term["adjusted_odds_ratio"] > term["raw_odds_ratio"] > 1
    assert term["gap_decomposition"] == "widened" and term["gap_explained_log_odds"] is None
    assert any("the gap widens" in s for s in res["summary"])
    rev = cmp.compare_groups(_suppressed(1.0, 1.5), covariates=["activity"], reference="l", permutations=0)
    (term,) = rev["model"]["terms"]
    assert term["raw_odds_ratio_ci"][1] < 1 < term["adjusted_odds_ratio_ci"][0]
    assert term["gap_decomposition"] == "reversed" and term["gap_explained_probability"] is None
    for r in (res, rev):
        assert not any("% of the raw gap" in s for s in r["summary"])


def test_zero_outcome_single_account_groups_never_crash() -> None:
    """The degenerate tables of the real data (cresci --by label: no account suspended;
    IRA --by group: a group of one account) answer, with the reason in warnings."""
    none = cmp.compare_groups(_frame({"a": (0, 40), "b": (0, 12), "c": (0, 1)}), permutations=99)
    assert any("No account in any group has the outcome" in w for w in none["warnings"])
    assert none["global_test"]["p_value"] is None and none["global_test"]["cannot_test"]
    assert all(t["p_value"] is None and "cannot differ" in t["cannot_test"] for t in none["tests"])
    assert all(t["effect"]["rate_ratio"] is None and t["effect"]["difference"] == 0 for t in none["tests"])
    assert none["most_informative"] is None and "error" in none["model"]
    assert any("None of the 3 pairs could be tested" in s for s in none["summary"])

    solo = cmp.compare_groups(_frame({"a": (5, 50), "b": (20, 40), "solo": (1, 1)}), permutations=99)
    by = {tuple(t["groups"]): t for t in solo["tests"]}
    for (a, b), t in by.items():
        (ka, na), (kb, nb) = {"a": (5, 50), "b": (20, 40), "solo": (1, 1)}[a], {"a": (5, 50), "b": (20, 40), "solo": (1, 1)}[b]
        assert t["p_value"] == stats.fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue
    # One account: the most extreme table against a (6 outcomes in 51) has p = 6/51.
    assert by[("a", "solo")]["min_attainable_p"] == pytest.approx(6 / 51)
    assert by[("a", "solo")]["testable"] is False and "too small to test" in by[("a", "solo")]["cannot_test"]
    assert by[("a", "b")]["testable"] is True and "cannot_test" not in by[("a", "b")]
    assert any(w.startswith("Group solo (1 account, 1 with the outcome) is too small to test against a, b")
               for w in solo["warnings"])
    assert solo["global_test"]["test"] == "fisher_freeman_halton_monte_carlo"
    assert solo["most_informative"]["groups"] == ["a", "b"]


def test_each_cause_of_an_untestable_pair_is_said_once() -> None:
    counts = {"z1": (0, 40), "z2": (0, 40), "big": (1, 300), "other": (60, 300)}
    res = cmp.compare_groups(_frame(counts), permutations=0)
    by = {tuple(t["groups"]): t for t in res["tests"]}
    assert by[("z1", "z2")]["p_value"] is None
    assert any(w.startswith("Pairs among z1, z2 cannot be tested") for w in res["warnings"])
    # 40 and 300 accounts are not small, but one outcome between them cannot be significant.
    assert by[("big", "z1")]["min_attainable_p"] == pytest.approx(40 / 340)
    assert any(w.startswith("Too few outcomes to test big vs z1 (1 outcomes), big vs z2 (1 outcomes)")
               for w in res["warnings"])
    assert not any("too small to test" in w for w in res["warnings"])
    # Monte Carlo omnibus with no drawn table as extreme: a bound, not a value.
    assert res["global_test"]["p_value_text"] == "≤ 0.0001"
    assert any(s.startswith("Across the 4 groups (exact Fisher–Freeman–Halton test (Monte Carlo)): p ≤ 0.0001")
               for s in res["summary"])
    frame = _frame(counts).assign(x=lambda d: np.arange(len(d)) % 7)
    model = cmp.compare_groups(frame, covariates=["x"], reference="other", permutations=0)["model"]
    terms = {t["group"]: t for t in model["terms"]}
    assert terms["z1"]["estimable"] is False and "raw_odds_ratio" not in terms["z1"]
    assert terms["big"]["raw_odds_ratio"] is not None


def test_zero_cell_effects_contain_their_estimates() -> None:
    """0 of 30 vs 10 of 30: the ratio and its interval both come from the table with 0.5
    added to every cell (Haldane–Anscombe), so the interval holds the estimate (the
    issue's "rate ratio 0.00 (95% CI 0.03–6.06)" cannot recur)."""
    res = cmp.compare_groups(_frame({"a": (0, 30), "b": (10, 30)}), permutations=0)
    (t,) = res["tests"]
    e = t["effect"]
    assert e["rate_ratio"] == pytest.approx((0.5 / 31) / (10.5 / 31), abs=1e-6)
    assert e["rate_ratio_estimator"].startswith("haldane-anscombe")
    assert e["odds_ratio"] == pytest.approx((0.5 * 20.5) / (30.5 * 10.5), abs=1e-6)
    for est, (lo, hi) in ((e["rate_ratio"], e["rate_ratio_ci"]), (e["odds_ratio"], e["odds_ratio_ci"]),
                          (e["difference"], e["difference_ci"])):
        assert lo <= est <= hi
    assert t["p_value"] == stats.fisher_exact([[0, 30], [10, 20]]).pvalue
    assert any("0.5 added to every cell" in s for s in res["summary"])


def test_p_values_are_scipys_and_never_zero() -> None:
    # 2.2e-14-sized p-values are kept as scipy computes them (no rounding to 0).
    res = cmp.compare_groups(_frame({"a": (60, 200), "b": (10, 200)}), permutations=0)
    (t,) = res["tests"]
    fisher = stats.fisher_exact([[60, 140], [10, 190]]).pvalue
    assert 0 < fisher < 1e-9 and t["p_value"] == fisher and t["p_value_text"] == f"{fisher:.2g}"
    assert f"Fisher exact p = {fisher:.2g}" in " ".join(res["summary"])
    # Where scipy underflows to 0, the floor is the smallest normal double, printed "< 1e-300".
    big = cmp.compare_groups(_frame({"a": (0, 3000), "b": (3000, 3000)}), permutations=0)
    (u,) = big["tests"]
    assert stats.fisher_exact([[0, 3000], [3000, 0]]).pvalue == 0.0
    assert u["p_value"] == cmp.P_FLOOR > 0 and u["p_value_text"] == "< 1e-300"
    text = " ".join(big["summary"])
    assert "p < 1e-300" in text and "p = 0" not in text and "= < " not in text


def test_exact_permutation_p_is_scipys_exact_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the resampling budget the permutation p-value comes from the hypergeometric
    distribution; it equals scipy's own answer where scipy enumerates every relabelling."""
    ka, na, kb, nb = 5, 7, 1, 6  # C(13, 7) = 1716 relabellings
    xa, xb = np.r_[np.ones(ka), np.zeros(na - ka)], np.r_[np.ones(kb), np.zeros(nb - kb)]
    ref = stats.permutation_test((xa, xb), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                 vectorized=True, n_resamples=5000, rng=np.random.default_rng(0)).pvalue
    monkeypatch.setattr(cmp, "PERMUTATION_BUDGET", 0)
    p, how = cmp._perm_p(ka, na, kb, nb, 5000, seed=0)
    assert how is not None and how.startswith("exact (hypergeometric") and p == pytest.approx(ref, rel=1e-12)
    monkeypatch.undo()
    p2, how2 = cmp._perm_p(ka, na, kb, nb, 5000, seed=0)
    assert how2 == "exact (every relabelling)" and p2 == pytest.approx(ref, rel=1e-12)


def test_resampled_permutation_p_estimates_the_exact_one() -> None:
    """Resampling draws the relabelled group's count: same seed, same p; with many draws
    the estimate converges on the exact permutation p-value (and on scipy's)."""
    ka, na, kb, nb = 30, 120, 45, 130
    exact = 2 * min(stats.hypergeom.cdf(ka, na + nb, ka + kb, na), stats.hypergeom.sf(ka - 1, na + nb, ka + kb, na))
    p, how = cmp._perm_p(ka, na, kb, nb, 50_000, seed=5)
    assert how == "monte carlo (50000 resamples)"
    assert p == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 50_000))
    assert cmp._perm_p(ka, na, kb, nb, 50_000, seed=5)[0] == p
    assert cmp._perm_p(ka, na, kb, nb, 999, seed=5)[0] != cmp._perm_p(ka, na, kb, nb, 999, seed=6)[0]
    xa, xb = np.r_[np.ones(ka), np.zeros(na - ka)], np.r_[np.ones(kb), np.zeros(nb - kb)]
    ref = stats.permutation_test((xa, xb), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                 vectorized=True, n_resamples=20_000, rng=np.random.default_rng(0)).pvalue
    assert p == pytest.approx(ref, abs=4 * np.sqrt(exact * (1 - exact) / 20_000))


def test_permutation_on_large_groups_is_fast_and_bounded() -> None:
    """52,000 accounts x 9,999 resamples once needed ~10 GB; the exact distribution needs none."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = cmp.compare_groups(_frame({"a": (3582, 7043), "b": (16356, 45431)}), permutations=9999)
    assert time.perf_counter() - t0 < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB
    (t,) = res["tests"]
    assert t["permutation_method"].startswith("exact (hypergeometric") and t["p_value_permutation"] >= cmp.P_FLOOR


def test_errors_and_degenerate_models() -> None:
    with pytest.raises(AnalysisError):
        cmp.compare_groups(_frame({"a": (1, 10)}))
    with pytest.raises(InputError):
        cmp.compare_groups(_frame(COUNTS), reference="zzz")
    with pytest.raises(InputError):
        cmp.compare_groups(_frame(COUNTS), covariates=["missing"])
    # Perfect separation: reported, not raised.
    res = cmp.compare_groups(_frame({"a": (0, 20), "b": (20, 20)}), permutations=0)
    assert res["tests"][0]["p_value"] < 1e-6
    assert "model" in res and ("error" in res["model"] or res["model"]["terms"])


def test_follower_drops_of_a_frame_are_the_detectors_and_ignore_glitches() -> None:
    n = 60
    t = pd.date_range("2017-01-01", periods=n, freq="D", tz="UTC")
    base = 5000 + 10 * np.arange(n) + np.random.default_rng(1).integers(-5, 6, n)
    glitch = base.copy()
    glitch[30] = 0                      # a one-off zero in a scraped count
    drop = base.copy()
    drop[40:] -= 1500
    obs = pd.DataFrame({
        "account_id": ["g"] * n + ["d"] * n + ["f"] * n,
        "observed_at": list(t) * 3,
        "followers_count": np.concatenate([glitch, drop, base]),
    })
    out = cmp.follower_drops(obs)
    assert out.to_dict() == {"d": True, "f": False, "g": False}
    # The same answer as the detector's own events over those series.
    from purgewatch.analysis.detect import detect_series

    sid = np.repeat([0, 1, 2], n)
    secs = np.tile((t - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy(), 3)
    events = detect_series(sid, secs, obs["followers_count"].to_numpy(float),
                           [("", "g"), ("", "d"), ("", "f")], purge=False)
    assert {e.account_id for e in events if e.kind == "follower_drop"} == {"d"}


def _tbl(rows: list[dict[str, Any]]) -> pa.Table:
    keys = sorted({k for r in rows for k in r})
    return pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])


@pytest.fixture
def camps(store: Store) -> Store:
    """40 government and 60 opposition accounts; known suspensions: 4 gov, 18 opp (one
    of them only as a status event); one opposition account never observed; a
    suspension before the window does not count."""
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    wl, obs, ev = [], [], []
    for i in range(100):
        g = "government" if i < 40 else "opposition"
        acc = str(1_000_000 + i)
        wl.append({"platform": "x", "account": acc, "account_id": acc, "group": g, "action": "add", "at": t0})
        if i == 99:
            continue  # never observed
        susp = i < 4 or 40 <= i < 57
        obs.append({"platform": "x", "account_id": acc, "observed_at": t0 + timedelta(days=1),
                    "status": "active", "followers_count": 100 + (53 * i) % 400, "following_count": 50,
                    "posts_count": 1000 + i, "created_at": t0 - timedelta(days=300 + (37 * i) % 200),
                    "description": "x" if i % 3 else "", "handle": f"user{i}"})
        if susp:
            obs.append({"platform": "x", "account_id": acc, "observed_at": t0 + timedelta(days=5),
                        "status": "suspended"})
    ev.append({"platform": "x", "account_id": "1000057", "at": t0 + timedelta(days=6), "status": "takendown"})
    ev.append({"platform": "x", "account_id": "1000058", "at": t0 - timedelta(days=30), "status": "suspended"})
    with store.writer(command="test", source="test") as w:
        w.add("watchlist", _tbl(wl))
        w.add("observations", _tbl(obs))
        w.add("status_events", _tbl(ev))
    return store


def test_account_frame_and_compare_store(camps: Store) -> None:
    fr = cmp.account_frame(camps, outcome="suspended", start="2024-03-01T00:00:00Z")
    by = fr.groupby("group")["outcome"].agg(["sum", "count"])
    assert by.loc["government"].tolist() == [4, 40]
    assert by.loc["opposition"].tolist() == [18, 59]  # one never observed: NaN, not 0
    assert fr["age_days"].notna().sum() == 99 and fr["bot_likeness"].between(0, 1).sum() == 99
    res = cmp.compare_store(camps, outcome="suspended", start="2024-03-01T00:00:00Z", permutations=199)
    g = {x["group"]: x for x in res["groups"]}
    assert g["opposition"]["outcome_count"] == 18 and g["opposition"]["accounts"] == 59
    assert any("never observed" in s for s in res["cannot_say"])
    assert not any("selected on the outcome" in w for w in res["warnings"])  # accounts seen active
    assert set(res["model"]["covariates"]) <= set(cmp.STANDARD_COVARIATES)
    with pytest.raises(InputError):
        cmp.account_frame(camps, outcome="vanished")


def test_cli_compare_json(camps: Store) -> None:
    from purgewatch.cli import cli

    r = CliRunner().invoke(cli, ["compare", "--by", "group", "--outcome", "suspended", "--permutations", "99",
                                 "--store", str(camps.path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) >= {"groups", "tests"}
    (t,) = out["tests"]
    assert t["groups"] == ["government", "opposition"] and 0 <= t["p_value"] <= 1
    assert {"rate_ratio", "rate_ratio_ci", "difference", "difference_ci"} <= set(t["effect"])
    r2 = CliRunner().invoke(cli, ["compare", "--store", str(camps.path), "--format", "table"])
    assert r2.exit_code == 0 and "cannot say" in r2.output


def test_drop_outcome_from_detect(store: Store) -> None:
    """--outcome drop: follower_drop events of the detect module (planted: 6 of 10
    government accounts and 1 of 10 opposition accounts lose 40% on day 20)."""
    rng = np.random.default_rng(4)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    wl, obs = [], []
    for i in range(20):
        g = "government" if i < 10 else "opposition"
        acc = f"acc{i}"
        wl.append({"platform": "bluesky", "account": acc, "account_id": acc, "group": g, "action": "add", "at": t0})
        dropper = i < 6 or i == 10
        level = 5000 + 100 * i
        for d in range(40):
            y = level + 5 * d + int(rng.integers(-3, 4))
            if dropper and d >= 20:
                y = int(0.6 * y)
            obs.append({"platform": "bluesky", "account_id": acc, "observed_at": t0 + timedelta(days=d, hours=int(rng.integers(0, 3))),
                        "status": "active", "followers_count": y})
    with store.writer(command="test", source="test") as w:
        w.add("watchlist", _tbl(wl))
        w.add("observations", _tbl(obs))
    fr = cmp.account_frame(store, outcome="drop")
    got = fr.set_index("account_id")["outcome"]
    assert got[[f"acc{i}" for i in range(6)]].eq(1).all() and got["acc10"] == 1
    assert int(got.sum()) == 7
    res = cmp.compare_store(store, outcome="drop", permutations=0)
    assert {g["group"]: g["outcome_count"] for g in res["groups"]} == {"government": 6, "opposition": 1}


@pytest.fixture
def gone_only(store: Store) -> Store:
    """Like voterfraud2020: profiles of accounts that are all gone (suspended or not
    found), never seen active; group "solo" has a single account."""
    t0 = datetime(2021, 1, 10, tzinfo=UTC)
    wl, prof = [], []
    suspended = {"alpha": 15, "beta": 14, "gamma": 2, "solo": 0}
    for i in range(91):
        g = "solo" if i == 90 else ["alpha", "beta", "gamma"][i // 30]
        acc = str(2_000_000 + i)
        wl.append({"platform": "x", "account": acc, "account_id": acc, "group": g, "action": "add", "at": t0})
        prof.append({"platform": "x", "account_id": acc, "observed_at": t0,
                     "status": "suspended" if i % 30 < suspended[g] else "not_found"})
    with store.writer(command="test", source="test") as w:
        w.add("watchlist", _tbl(wl))
        w.add("profiles", _tbl(prof))
    return store


def test_population_selected_on_the_outcome_is_said(gone_only: Store) -> None:
    res = cmp.compare_store(gone_only, outcome="suspended", permutations=99)
    g = {x["group"]: (x["outcome_count"], x["accounts"]) for x in res["groups"]}
    assert g == {"alpha": (15, 30), "beta": (14, 30), "gamma": (2, 30), "solo": (0, 1)}
    assert any("selected on the outcome" in w and "share among accounts that disappeared" in w for w in res["warnings"])
    assert any(w.startswith("Group solo (1 account") for w in res["warnings"])
    # Not the alphabetically first pair (alpha vs beta, no difference): the smallest adjusted p.
    assert res["most_informative"]["groups"] == ["alpha", "gamma"]


def test_report_quotes_the_most_informative_comparison(gone_only: Store) -> None:
    from purgewatch.findings import gather_findings

    f = gather_findings(gone_only)
    suspended = next(c for c in f.compare if c["outcome"] == "suspended")
    sentence = next(" ".join(p if isinstance(p, str) else p["text"] for p in s)
                    for s in f.summary.sentences if "Camps compared on “suspended”" in str(s))
    assert "Most informative comparison, alpha vs gamma" in sentence and "alpha vs beta" not in sentence
    best = suspended["tests"][suspended["most_informative"]["index"]]
    assert f"p = {best['p_value_adjusted_text']}" in sentence and not re.search(r"p = 0(?![.\d])", sentence)
    assert "selected on the outcome" in sentence


def test_cli_and_web_answer_degenerate_comparisons(gone_only: Store) -> None:
    from starlette.testclient import TestClient

    from purgewatch.cli import cli
    from purgewatch.web import create_app

    r = CliRunner().invoke(cli, ["compare", "--outcome", "deactivated", "--store", str(gone_only.path), "--format", "table"])
    assert r.exit_code == 0, r.output
    assert "cannot test" in r.output and "No account in any group has the outcome" in r.output
    r2 = CliRunner().invoke(cli, ["compare", "--store", str(gone_only.path), "--json"])
    out = json.loads(r2.output)
    assert r2.exit_code == 0 and out["warnings"] and out["most_informative"]["index"] is not None
    with TestClient(create_app(gone_only), base_url="http://127.0.0.1") as c:
        page = c.get("/compare", params={"outcome": "deactivated"})
        assert page.status_code == 200 and "No account in any group has the outcome" in page.text
        assert c.get("/api/compare", params={"outcome": "suspended"}).json()["warnings"] == out["warnings"]


def test_population_rows_are_found_alike_in_plain_and_dictionary_encoded_keys() -> None:
    """_pop_index over keys read dictionary-encoded (a dictionary per file, several
    platforms in one file, accounts outside the population) answers as over plain strings."""
    pop_keys = pa.array(["x\x1f1", "bluesky\x1f1", "x\x1f3"], pa.string())
    files = [(["x", "bluesky", "x", "x"], ["1", "1", "2", "3"]), (["bluesky", "x"], ["9", "3"])]
    plain = pa.table({"platform": pa.chunked_array([p for p, _ in files]),
                      "account_id": pa.chunked_array([a for _, a in files])})
    enc = pa.table({c: pa.chunked_array([ch.dictionary_encode() for ch in plain[c].chunks]) for c in plain.column_names})
    want = [0, 1, -1, 2, -1, 2]
    assert cmp._pop_index(plain, pop_keys).tolist() == want
    assert cmp._pop_index(enc, pop_keys).tolist() == want


def test_fact_columns_without_a_stored_value_are_found_from_the_file_statistics(camps: Store) -> None:
    """_null_columns: a column no file holds a value of (all null, or a file predating
    it) is read as nulls; one value in any file keeps it read."""
    cols = ["description", "label", "favourites_count", "listed_count", "handle"]
    assert cmp._null_columns(camps, "observations", cols) == {"label", "favourites_count", "listed_count"}
    later = {"platform": "x", "account_id": "1000001", "observed_at": datetime(2024, 3, 20, tzinfo=UTC),
             "status": "active", "listed_count": 3}
    camps.append("observations", _tbl([later]), command="test", source="test")
    assert cmp._null_columns(camps, "observations", cols) == {"label", "favourites_count"}
    assert cmp._null_columns(camps, "profiles", cols) == set(cols)  # no file at all


def test_population_read_while_the_store_changes_is_read_again(camps: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The population's columns are read one at a time: a commit landing during a build
    makes it start over, and the answer is that of the store as it is afterwards."""
    build = cmp._build_population
    calls = []

    def racing(store: Store, *args: Any) -> Any:
        calls.append(1)
        got = build(store, *args)
        if len(calls) == 1:  # an import commits while the first build reads
            row = {"platform": "x", "account_id": "1000098", "observed_at": datetime(2024, 3, 9, tzinfo=UTC),
                   "status": "suspended"}
            store.append("observations", _tbl([row]), command="test", source="test")
        return got

    cmp._POP_MEMO.clear()
    monkeypatch.setattr(cmp, "_build_population", racing)
    fr = cmp.account_frame(camps, outcome="suspended", start="2024-03-01T00:00:00Z")
    assert len(calls) == 2
    assert fr.groupby("group")["outcome"].sum().loc["opposition"] == 19  # the new suspension counted
