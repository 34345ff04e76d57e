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
    drops = cmp.sustained_drops(s.rename(columns={"author_id": "account_id", "followers": "followers_count"}))
    g = s.groupby("author_id").agg(first=("observed_at", "min"), last=("observed_at", "max"),
                                   n=("followers", "size"), peak=("followers", "max"))
    span = ((g["last"] - g["first"]).dt.total_seconds() / 86_400).clip(lower=1)
    g["activity"] = np.log1p(g["n"] / span)
    g["audience"] = np.log1p(g["peak"])
    g["age_days"] = (pd.Timestamp("2018-01-01") - g["first"]).dt.total_seconds() / 86_400
    g["outcome"] = drops.reindex(g.index).astype(float)
    g["group"] = g.index.map(keep.set_index("author_id")["account_category"])
    res = cmp.compare_groups(g.reset_index(), covariates=["age_days", "activity", "audience"],
                             reference="LeftTroll", outcome_name="sustained follower drop", permutations=200)
    n = {x["group"]: (x["outcome_count"], x["accounts"]) for x in res["groups"]}
    assert n == {"LeftTroll": (5, 234), "RightTroll": (9, 630)}
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
    assert out["model"]["covariates"] == ["age_days"]  # only snowflake ages in this file
