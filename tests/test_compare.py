"""compare: every statistic checked against a reference computed here with scipy or
statsmodels (independently of the module's code path), plus a store-derived frame with
known outcomes."""

from __future__ import annotations

import json
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
        rr = confint_proportions_2indep(ka, na, kb, nb, method="log-adjusted", compare="ratio")
        dd = confint_proportions_2indep(ka, na, kb, nb, method="newcomb", compare="diff")
        assert t["effect"]["rate_ratio"] == pytest.approx((ka / na) / (kb / nb), abs=1e-6)
        assert t["effect"]["rate_ratio_ci"] == pytest.approx(list(rr), abs=1e-6)
        assert t["effect"]["difference"] == pytest.approx(ka / na - kb / nb, abs=1e-6)
        assert t["effect"]["difference_ci"] == pytest.approx(list(dd), abs=1e-6)
        xa = np.r_[np.ones(ka), np.zeros(na - ka)]
        xb = np.r_[np.ones(kb), np.zeros(nb - kb)]
        perm = stats.permutation_test(
            (xa, xb), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
            vectorized=True, n_resamples=999, rng=np.random.default_rng(3),
        )
        assert t["p_value_permutation"] == pytest.approx(perm.pvalue, abs=1e-9)
    holm = multipletests(raw_p, method="holm")[1]
    assert [t["p_value_adjusted"] for t in res["tests"]] == pytest.approx(list(holm), rel=1e-6)
    chi2 = stats.chi2_contingency(np.array([[n - k, k] for k, n in COUNTS.values()]))
    assert res["global_test"]["p_value"] == pytest.approx(chi2.pvalue, rel=1e-6)
    # The raw model's odds ratios are the sample odds ratios against the largest group (b).
    terms = {t["group"]: t for t in res["model"]["terms"]}
    assert res["model"]["reference_group"] == "b"
    ref = smf.logit("outcome ~ C(group, Treatment('b'))", data=_frame(COUNTS)).fit(disp=0)
    assert terms["a"]["raw_odds_ratio"] == pytest.approx(np.exp(ref.params["C(group, Treatment('b'))[T.a]"]), rel=1e-5)
    assert terms["a"]["raw_odds_ratio"] == pytest.approx((30 / 70) / (12 / 108), rel=1e-5)
    assert any("a: 30 of 100" in s for s in res["summary"])
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
    # Activity explains nearly all of a large raw gap.
    assert term["raw_odds_ratio"] > 3
    assert term["gap_explained_log_odds"] > 0.85
    assert term["gap_explained_probability"] > 0.85
    # With a real direct effect and an irrelevant covariate, the gap is not explained away.
    df2 = _confounded(4000, 1.0, seed=2)
    res2 = cmp.compare_groups(df2, group="group", outcome="outcome", covariates=["noise"], reference="l", permutations=0)
    (t2,) = res2["model"]["terms"]
    assert abs(t2["gap_explained_log_odds"]) < 0.1
    assert any("Covariates not available" in s for s in res2["cannot_say"])


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


def test_sustained_drops_ignore_glitches() -> None:
    t = pd.date_range("2017-01-01", periods=12, freq="D", tz="UTC")
    glitch = [1000, 1010, 1020, 0, 1030, 1040, 1050, 1060, 1070, 1080, 1090, 1100]
    drop = [1000, 1010, 1020, 1030, 700, 690, 680, 690, 700, 700, 710, 720]
    small = [100, 101, 102, 103, 60, 61, 62, 63, 64, 65, 66, 67]  # 40% but < 100 followers
    obs = pd.DataFrame({
        "account_id": ["g"] * 12 + ["d"] * 12 + ["s"] * 12,
        "observed_at": list(t) * 3,
        "followers_count": glitch + drop + small,
    })
    out = cmp.sustained_drops(obs)
    assert out.to_dict() == {"g": False, "d": True, "s": False}


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
