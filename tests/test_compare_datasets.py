"""compare on real outcomes (../shared/datasets), files read with pandas:
voterfraud2020 suspension by retweet community, IRA RightTroll vs LeftTroll follower drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from purgewatch.analysis import compare as cmp
from purgewatch.analysis import forensics as fx

pytestmark = pytest.mark.datasets


def _voterfraud(datasets_dir: Path) -> pd.DataFrame:
    base = datasets_dir / "voterfraud2020" / "data"
    u = pd.read_csv(base / "users" / "users-5.csv")
    made = pd.concat(
        [pd.read_csv(f, usecols=["user_id"]) for f in sorted((base / "retweets").glob("*/*.csv"))]
    )["user_id"].value_counts()
    u["community"] = u["user_community"].map(lambda c: "none" if pd.isna(c) else f"community_{int(c)}")
    u["camp"] = np.where(u["user_community"] == 0, "detractors",
                         np.where(u["user_community"].isin([1, 2, 3, 4]), "promoters", None))
    u["outcome"] = (u["user_active_status"] == "suspended").astype(int)
    created = fx.snowflake_time(u["user_id"].astype(str))
    u["age_days"] = (pd.Timestamp("2021-01-10", tz="UTC") - created).dt.total_seconds() / 86_400
    received = u[[c for c in u.columns if c.startswith("retweet_count_by_community_")]].sum(axis=1)
    u["audience"] = np.log1p(received)
    u["activity"] = np.log1p(u["user_id"].map(made).fillna(0))
    return u


def test_voterfraud_suspension_by_camp(datasets_dir: Path) -> None:
    u = _voterfraud(datasets_dir)
    res = cmp.compare_groups(u, group="camp", covariates=["age_days", "audience", "activity"],
                             reference="detractors", outcome_name="suspended", permutations=200)
    g = {x["group"]: x for x in res["groups"]}
    # users-5.csv holds only accounts gone by 2021-01-10: the outcome is "suspended"
    # rather than "not found" among them.
    assert (g["detractors"]["outcome_count"], g["detractors"]["accounts"]) == (3582, 7043)
    assert (g["promoters"]["outcome_count"], g["promoters"]["accounts"]) == (16356, 45431)
    lo, hi = proportion_confint(3582, 7043, method="wilson")
    assert g["detractors"]["ci_low"] == pytest.approx(lo, abs=1e-6) and g["detractors"]["ci_high"] == pytest.approx(hi, abs=1e-6)
    (t,) = res["tests"]
    assert t["effect"]["rate_ratio_ci"][1] < 1 and t["p_value"] < 1e-10
    (term,) = res["model"]["terms"]
    # Snowflake-id accounts only (age known): 32,269; the covariates barely move the gap.
    assert res["model"]["rows"] == 32269
    assert term["adjusted_odds_ratio_ci"][1] < 1 and abs(term["gap_explained_log_odds"]) < 0.2
    assert any("bot_likeness" in s for s in res["cannot_say"])


def test_voterfraud_by_community_holm(datasets_dir: Path) -> None:
    u = _voterfraud(datasets_dir)
    u = u[u["community"] != "none"]
    res = cmp.compare_groups(u, group="community", reference="community_0", outcome_name="suspended",
                             permutations=0)
    assert [t["adjustment"] for t in res["tests"]] == ["holm"] * 4
    rates = {x["group"]: x["rate"] for x in res["groups"]}
    assert rates["community_1"] == pytest.approx(8858 / 31382, abs=1e-6)
    assert res["global_test"]["p_value"] < 1e-10


def test_ira_right_vs_left_troll_drops(datasets_dir: Path) -> None:
    base = datasets_dir / "ira-follower-series"
    authors = pd.read_csv(base / "authors.csv")
    keep = authors[authors["account_category"].isin(["RightTroll", "LeftTroll"])]
    s = pd.read_csv(base / "follower_series.csv.gz", usecols=["author_id", "publish_date", "followers"])
    s = s[s["author_id"].isin(keep["author_id"])]
    s["observed_at"] = pd.to_datetime(s["publish_date"])
    s["author_id"] = s["author_id"].astype(str)
    drops = cmp.follower_drops(s.rename(columns={"author_id": "account_id", "followers": "followers_count"}))
    g = s.groupby("author_id").agg(first=("observed_at", "min"), last=("observed_at", "max"),
                                   n=("followers", "size"), peak=("followers", "max"))
    span = ((g["last"] - g["first"]).dt.total_seconds() / 86_400).clip(lower=1)
    g["activity"] = np.log1p(g["n"] / span)
    g["audience"] = np.log1p(g["peak"])
    g["age_days"] = (pd.Timestamp("2018-01-01") - g["first"]).dt.total_seconds() / 86_400
    g["outcome"] = drops.reindex(g.index).astype(float)
    g["group"] = g.index.map(keep.set_index("author_id")["account_category"])
    res = cmp.compare_groups(g.reset_index(), covariates=["age_days", "activity", "audience"],
                             reference="LeftTroll", outcome_name="follower drop", permutations=200)
    n = {x["group"]: (x["outcome_count"], x["accounts"]) for x in res["groups"]}
    assert n == {"LeftTroll": (23, 234), "RightTroll": (76, 630)}
    (t,) = res["tests"]
    assert t["p_value"] > 0.05  # no detectable difference
    assert res["model"]["terms"][0]["adjusted_odds_ratio_ci"][0] < 1 < res["model"]["terms"][0]["adjusted_odds_ratio_ci"][1]


def test_voterfraud_through_the_store_and_cli(datasets_dir: Path, tmp_path: Path) -> None:
    """End to end: the dataset loader fills a store, `compare --by label` answers with the
    same counts as the file (labels come from the watchlist entries the loader writes)."""
    import json

    from click.testing import CliRunner

    from purgewatch.cli import cli
    from purgewatch.sources.datasets import import_dataset
    from purgewatch.store import Store

    store = Store.init(tmp_path / "vf")
    import_dataset(store, "voterfraud2020", datasets_dir)
    r = CliRunner().invoke(cli, ["compare", "--by", "label", "--outcome", "suspended", "--permutations", "0",
                                 "--store", str(store.path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    g = {x["group"]: (x["outcome_count"], x["accounts"]) for x in out["groups"]}
    assert g == {"detractor": (3582, 7043), "promoter": (16356, 45431)}
    # only snowflake ages in this file (no profile counts: the bot model scores nothing)
    assert out["model"]["covariates"] == ["age_days"]
    # Only accounts already gone are in the file: the rate is a share among the disappeared.
    assert any("selected on the outcome" in w for w in out["warnings"])
    (t,) = out["tests"]
    assert out["most_informative"]["index"] == 0 and t["p_value"] > 0


# ------------------------------------------------------------ through the store, issue 11


def _imported(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    from conftest import DATASETS
    from purgewatch.sources.datasets import import_dataset
    from purgewatch.store import Store

    if not (DATASETS / name).is_dir():
        pytest.skip(f"dataset {name} not found under {DATASETS} (set PURGEWATCH_DATASETS)")
    store = Store.init(tmp_path_factory.mktemp(name) / "store")
    import_dataset(store, name, DATASETS)
    return store.path


@pytest.fixture(scope="module")
def vf_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _imported(tmp_path_factory, "voterfraud2020")


@pytest.fixture(scope="module")
def cresci_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _imported(tmp_path_factory, "cresci-2017")


@pytest.fixture(scope="module")
def ira_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _imported(tmp_path_factory, "ira-follower-series")


def _cli_compare(store: Path, *args: str) -> dict:
    import json

    from click.testing import CliRunner

    from purgewatch.cli import cli

    r = CliRunner().invoke(cli, ["compare", *args, "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output  # no traceback, whatever the table
    return json.loads(r.output)


def _check_honest(out: dict) -> None:
    """Every tested pair: p-value exactly scipy's Fisher p on the counts (floored only at
    underflow), never 0; every interval holds its estimate."""
    from scipy import stats

    for t in out["tests"]:
        (ka, kb), (na, nb) = t["outcome_counts"], t["accounts"]
        e = t["effect"]
        for est, ci in ((e["difference"], e["difference_ci"]), (e["rate_ratio"], e["rate_ratio_ci"]),
                        (e["odds_ratio"], e["odds_ratio_ci"])):
            if est is not None:
                assert ci[0] <= est <= ci[1], (t["groups"], est, ci)
        if t["p_value"] is None:
            assert t["cannot_test"]
            continue
        p = stats.fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue
        assert t["p_value"] == max(p, cmp.P_FLOOR) and t["p_value"] > 0
        assert t["p_value_text"] == ("< 1e-300" if p < cmp.P_FLOOR else f"{p:.2g}")
    assert not any(" p = 0" in s.replace("p = 0.", "") for s in out["summary"])


def test_voterfraud_compare_by_group_is_bounded_and_warns(vf_store: Path) -> None:
    """Default --permutations 9999 on 59,018 accounts: once 10.8 GB and 102 s (issue 11)."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = _cli_compare(vf_store, "--by", "group")
    elapsed = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 2048, grown_mb
    assert elapsed < 120, elapsed  # generous under load; ~5 s alone
    g = {x["group"]: (x["outcome_count"], x["accounts"]) for x in out["groups"]}
    assert g["community_0"] == (3582, 7043) and g["community_1"] == (8858, 31382)
    assert any("selected on the outcome" in w for w in out["warnings"])
    assert out["population_warnings"] and out["global_test"]["test"] == "chi2_independence"
    assert all(t["adjustment"] == "holm" for t in out["tests"]) and len(out["tests"]) == 15
    # The 2.2e-14 printed as "< 1e-300": p-values are scipy's, unrounded.
    assert sum(1 for t in out["tests"] if t["p_value_text"] == "< 1e-300") < 3
    best = out["tests"][out["most_informative"]["index"]]
    assert best["p_value_adjusted"] == min(t["p_value_adjusted"] for t in out["tests"])
    for t in out["tests"]:  # resampling only where it is cheap; the exact distribution elsewhere
        big = sum(t["accounts"]) * 9999 > cmp.PERMUTATION_BUDGET
        assert t["permutation_method"] == ("exact (hypergeometric: every relabelling)" if big else "monte carlo (9999 resamples)")
    for term in out["model"]["terms"]:
        share = term.get("gap_explained_log_odds")
        assert share is None or 0 <= share <= 1
    _check_honest(out)


def test_cresci_compare_by_label_cannot_test(cresci_store: Path) -> None:
    """No cresci profile is suspended: the comparison says so instead of crashing."""
    out = _cli_compare(cresci_store, "--by", "label")
    assert len(out["groups"]) == 9 and sum(g["outcome_count"] for g in out["groups"]) == 0
    assert any("No account in any group has the outcome" in w for w in out["warnings"])
    assert out["global_test"]["p_value"] is None and out["most_informative"] is None
    _check_honest(out)


def test_ira_compare_by_group_never_crashes(ira_store: Path) -> None:
    """IRA series: every account active while tweeting; 8 groups (Commercial has 8 accounts)."""
    out = _cli_compare(ira_store, "--by", "group")
    assert {g["group"] for g in out["groups"]} >= {"RightTroll", "LeftTroll", "Commercial"}
    assert any("No account in any group has the outcome" in w for w in out["warnings"])
    assert not out["population_warnings"]  # accounts were seen active
    assert len(out["tests"]) == 28 and all(t["cannot_test"] for t in out["tests"])
    _check_honest(out)
