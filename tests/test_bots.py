"""The bot-likeness model: features per platform shape (missing stays NaN), the model
file (exact port of the trained learner, refusal of foreign files), the CLI answer, the
store's new optional columns, and the shipped model on real labelled rows."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _cli import run
from purgewatch.analysis import bots
from purgewatch.analysis.bots._model import FORMAT, _load
from purgewatch.errors import ConfigError
from purgewatch.model import LATE_FACT_COLUMNS, TABLE_SCHEMAS
from purgewatch.sources.files import import_files
from purgewatch.store import Store

OBSERVED = "2019-06-05T20:09:15+00:00"

V1_USER = {  # an X API v1.1 user object (fields as the API gives them)
    "id": 1143210987654321000, "id_str": "1143210987654321000", "name": "Maria 83920174",
    "screen_name": "maria83920174", "description": "", "followers_count": 3, "friends_count": 2001,
    "listed_count": 0, "favourites_count": 0, "statuses_count": 0,
    "created_at": "Mon Jun 03 10:11:12 +0000 2019", "verified": False, "protected": False,
    "default_profile": True, "default_profile_image": True, "geo_enabled": False, "lang": None,
}
V2_USER = {  # twarc2: one X API v2 users lookup response
    "data": [{"id": "2244994945", "username": "XDevelopers", "name": "Developers",
              "created_at": "2013-12-14T04:35:55.000Z", "description": "The voice of the X Dev team",
              "verified": True, "protected": False,
              "profile_image_url": "https://pbs.twimg.com/profile_images/1/abc_normal.jpg",
              "public_metrics": {"followers_count": 570000, "following_count": 2000, "tweet_count": 3800,
                                 "listed_count": 1800}}],
    "__twarc": {"url": "https://api.twitter.com/2/users?ids=2244994945", "version": "2.14.0",
                "retrieved_at": "2024-05-01T12:00:00+00:00"},
}


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _features(df: pd.DataFrame) -> pd.Series:
    return bots.feature_frame(df).iloc[0]


def test_v1_user_features(tmp_path: Path) -> None:
    f = tmp_path / "users.jsonl"
    f.write_text(json.dumps(V1_USER) + "\n")
    prof = bots.read_profiles(f, observed_at=OBSERVED)
    x = _features(prof)
    assert x["favourites_count"] == 0 and x["listed_count"] == 0       # given as 0: zero, not missing
    assert x["default_profile"] == 1 and x["default_profile_image"] == 1
    assert x["handle_length"] == 13 and x["handle_digits"] == 8
    assert x["name_digits"] == 8
    assert np.isnan(x["description_length"])   # an empty bio is stored as null: unknown
    assert 2 < x["age_days"] < 3 and x["followers_following_ratio"] == pytest.approx(3 / 2001)
    assert x["handle_entropy"] == pytest.approx(3.5466, abs=1e-3)


def test_v2_user_features_leave_v11_only_fields_missing(tmp_path: Path) -> None:
    f = tmp_path / "twarc.jsonl"
    f.write_text(json.dumps(V2_USER) + "\n")
    prof = bots.read_profiles(f)
    x = _features(prof)
    assert x["listed_count"] == 1800 and x["default_profile_image"] == 0
    for missing in ("favourites_count", "favourites_per_day", "default_profile"):
        assert np.isnan(x[missing]), missing
    assert x["age_days"] == pytest.approx((datetime(2024, 5, 1, 12, tzinfo=UTC)
                                           - datetime(2013, 12, 14, 4, 35, 55, tzinfo=UTC)).total_seconds() / 86400)


def test_bluesky_and_mastodon_shapes() -> None:
    # As the connectors store them (sources/bluesky.py, sources/mastodon.py): no likes,
    # lists or theme flag on these platforms.
    df = pd.DataFrame({
        "platform": ["bluesky", "mastodon"],
        "account_id": ["did:plc:z72i7hdynmk6r22z27h6tvur", "109302@mastodon.social"],
        "observed_at": pd.to_datetime(["2024-05-01T00:00:00Z"] * 2, utc=True),
        "followers_count": [12, 40], "following_count": [900, 35], "posts_count": [0, 1200],
        "handle": ["newsbot2024.bsky.social", "Gargron@mastodon.social"],
        "display_name": [None, "Eugen"],
        "created_at": pd.to_datetime(["2024-04-20T00:00:00Z", "2016-03-16T00:00:00Z"], utc=True),
        "default_profile_image": [True, False],
        "description": [None, "Founder of Mastodon"],
    })
    f = bots.feature_frame(df)
    assert list(f["handle_length"]) == [11, 7]          # "newsbot2024", "Gargron"
    assert list(f["handle_digits"]) == [4, 0]
    assert np.isnan(f.loc[0, "name_length"]) and f.loc[1, "name_length"] == 5
    for col in ("favourites_count", "listed_count", "default_profile", "listed_per_day"):
        assert f[col].isna().all(), col
    assert f.loc[0, "age_days"] == pytest.approx(11)
    scores = bots.load_model().score(df)
    assert np.all((scores >= 0) & (scores <= 1))


def test_formats_profile_csv_and_snowflake_age(tmp_path: Path) -> None:
    f = tmp_path / "profiles.csv"
    f.write_text(
        "platform,account_id,observed_at,status,followers_count,following_count,posts_count,handle,favourites_count\n"
        "x,1143210987654321000,2019-07-01T00:00:00Z,active,5,,17,abc,\n"
    )
    prof = bots.read_profiles(f)
    x = _features(prof)
    assert np.isnan(x["following_count"]) and np.isnan(x["favourites_count"])   # empty cells: unknown
    assert np.isnan(x["followers_following_ratio"])
    # no created_at: the X snowflake id gives it (2019-06-24T17:35:14Z)
    assert x["age_days"] == pytest.approx(6.2672, abs=1e-3)


def test_missing_column_is_nan_not_zero() -> None:
    f = bots.feature_frame(pd.DataFrame({"followers_count": [10]}))
    assert f.loc[0, "followers_count"] == 10
    assert f.drop(columns=["followers_count"]).isna().all(axis=None)


def _tiny_model(tmp_path: Path, params: dict[str, object] | None = None) -> tuple[Path, np.ndarray, np.ndarray]:
    pytest.importorskip("sklearn")
    from purgewatch.analysis.bots import train as tr

    rng = np.random.default_rng(3)
    n = 600
    prof = pd.DataFrame({
        "platform": "x", "account_id": [str(i) for i in range(n)],
        "observed_at": pd.Timestamp("2020-01-01", tz="UTC"),
        "created_at": pd.Timestamp("2015-01-01", tz="UTC") - pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
        "followers_count": rng.integers(0, 5000, n), "following_count": rng.integers(0, 5000, n),
        "posts_count": rng.integers(0, 9000, n), "handle": [f"user{i}" for i in range(n)],
    })
    y = (prof["followers_count"] < prof["following_count"] * 0.3).astype(int).to_numpy()
    flip = rng.random(n) < 0.1
    prof["y"] = np.where(flip, 1 - y, y)
    prof["dataset"] = np.where(np.arange(n) % 2, "a", "b")
    prof["subset"] = prof["dataset"]
    if params:
        monkey = pytest.MonkeyPatch()
        monkey.setattr(tr, "PARAMS", {**tr.PARAMS, **params})
    fit, doc = tr.train(prof)
    if params:
        monkey.undo()
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    X = bots.feature_matrix(prof)
    X[::7, 1] = np.nan   # some unknown follower counts: the NaN branches must match too
    return path, X, fit.predict(X)


def test_json_model_equals_the_trained_learner(tmp_path: Path) -> None:
    path, X, expected = _tiny_model(tmp_path)
    m = bots.load_model(path)
    assert np.allclose(m.score_matrix(X), expected, atol=1e-12)
    d = json.loads(path.read_text())
    assert d["libraries"]["scikit-learn"] and d["training"]["datasets"] == {"a": {"bot": int(d["training"]["datasets"]["a"]["bot"]), "human": int(d["training"]["datasets"]["a"]["human"])}, "b": d["training"]["datasets"]["b"]}
    assert d["features"] == list(bots.FEATURE_NAMES)


def test_json_model_with_big_trees_equals_the_learner(tmp_path: Path) -> None:
    # More than 16 leaves per tree: the 64-bit path of the scorer.
    path, X, expected = _tiny_model(tmp_path, {"max_depth": None, "max_leaf_nodes": 40, "min_samples_leaf": 5})
    m = bots.load_model(path)
    assert max(int((t.feature < 0).sum()) for t in m.trees) > 16
    assert np.allclose(m.score_matrix(X), expected, atol=1e-12)


def test_model_file_refused_when_foreign(tmp_path: Path) -> None:
    d = json.loads(bots.SHIPPED_MODEL.read_text())
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({**d, "format_version": 99}))
    with pytest.raises(ConfigError, match="format version 99"):
        bots.load_model(bad)
    other = tmp_path / "feat.json"
    other.write_text(json.dumps({**d, "features": d["features"][:-1]}))
    with pytest.raises(ConfigError, match="retrain"):
        bots.load_model(other)
    notjson = tmp_path / "x.json"
    notjson.write_bytes(gzip.compress(b"{}"))
    with pytest.raises(ConfigError, match="not a bot model"):
        bots.load_model(notjson)


def test_shipped_model_records_its_origin() -> None:
    m = bots.load_model()
    d = m.describe()
    assert d["features"] == list(bots.FEATURE_NAMES)
    assert set(d["training"]["datasets"]) == set(bots.LABELLED_SETS)
    assert "CC BY-NC-ND" in d["training"]["terms"]["verified-2019"]
    assert d["libraries"]["scikit-learn"] and d["libraries"]["numpy"]
    assert 0 < m.threshold < 1 and _load.cache_info().currsize >= 1
    assert bots.SHIPPED_MODEL.stat().st_size < 1_000_000
    assert json.loads(bots.SHIPPED_MODEL.read_text())["format"] == FORMAT


def test_cli_score_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "users.json"
    human = {**V1_USER, "id": 6892002, "id_str": "6892002", "screen_name": "wbir", "name": "WBIR Channel 10",
             "description": "News, Sports, Weather", "followers_count": 180759, "friends_count": 905,
             "listed_count": 1119, "favourites_count": 11608, "statuses_count": 176250,
             "created_at": "Mon Jun 18 13:56:24 +0000 2007", "default_profile": False, "default_profile_image": False}
    f.write_text(json.dumps([V1_USER, human]))
    code, text, err = _cli(["bots", "score", str(f), "--observed-at", OBSERVED, "--json"], capsys)
    assert code == 0, err
    out = json.loads(text)
    assert set(out) == {"model", "threshold", "scores"}
    assert out["model"]["version"] and out["threshold"] == bots.load_model().threshold
    rows = {r["account_id"]: r for r in out["scores"]}
    assert set(rows) == {"1143210987654321000", "6892002"}
    for r in rows.values():
        assert {"platform", "account_id", "score", "top_features"} <= set(r) and 0 <= r["score"] <= 1
        assert 1 <= len(r["top_features"]) <= 3 and all({"feature", "value", "effect"} <= set(t) for t in r["top_features"])
    assert rows["1143210987654321000"]["score"] > rows["6892002"]["score"]
    assert rows["1143210987654321000"]["bot"] and not rows["6892002"]["bot"]


def test_cli_score_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["bots", "score", "--json"], capsys)
    assert code == 2 and "FILES" in err


def test_cli_score_from_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.init(tmp_path / "s")
    f = tmp_path / "users.jsonl"
    f.write_text(json.dumps({**V1_USER, "retrieved_at": OBSERVED}) + "\n"
                 + json.dumps({**V1_USER, "id_str": "77", "screen_name": "other", "retrieved_at": OBSERVED}) + "\n")
    import_files(store, "v1-users", [f])
    code, text, err = _cli(["bots", "score", "--all", "--store", str(store.path), "--json", "--top", "0"], capsys)
    assert code == 0, err
    out = json.loads(text)
    assert sorted(r["account_id"] for r in out["scores"]) == ["1143210987654321000", "77"]
    assert all(r["top_features"] == [] for r in out["scores"])
    one = json.loads(_cli(["bots", "score", "--account", "@maria83920174", "--store", str(store.path), "--json"], capsys)[1])
    assert [r["account_id"] for r in one["scores"]] == ["1143210987654321000"]
    prof = store.read("profiles").to_pandas()
    assert prof["favourites_count"].tolist() == [0, 0] and prof["default_profile"].tolist() == [True, True]


def test_old_store_reads_new_columns_as_null_and_keeps_keys(tmp_path: Path) -> None:
    """A store written before the late columns existed: reads fill them with nulls, and
    re-importing the same file adds nothing (content keys ignore null late columns)."""
    store = Store.init(tmp_path / "s")
    f = tmp_path / "obs.csv"
    f.write_text("platform,account_id,observed_at,status,followers_count\nx,1,2024-01-01T00:00:00Z,active,5\n")
    import_files(store, "profiles", [f])
    # Rewrite the committed file without the late columns, as an older version wrote it.
    for path in store.files("profiles"):
        t = pq.read_table(path)
        pq.write_table(t.drop_columns([c for c in t.column_names if c in LATE_FACT_COLUMNS]), path)
    t = store.read("profiles")
    assert t.schema == TABLE_SCHEMAS["profiles"]
    assert t.column("favourites_count").null_count == 1
    assert store.read("profiles", columns=["account_id", "listed_count"]).num_rows == 1
    assert store.ibis().table("profiles").count().to_pyarrow().as_py() == 1
    rep = import_files(store, "profiles", [f])
    assert rep.imported == 0 and rep.duplicates == 1
    g = tmp_path / "obs2.csv"
    g.write_text("platform,account_id,observed_at,status,followers_count,listed_count\n"
                 "x,1,2024-01-01T00:00:00Z,active,5,3\n")
    assert import_files(store, "profiles", [g]).imported == 1   # a new fact is a new row
    store.compact()
    assert sorted(store.read("profiles").column("listed_count").to_pylist(), key=str) == [3, None]


@pytest.mark.datasets
def test_shipped_model_on_real_rows(datasets_dir: Path) -> None:
    from scipy import stats

    data = bots.load_labelled(datasets_dir, ["cresci-rtbust-2019", "verified-2019", "botwiki-2019"])
    data = data.groupby("dataset", group_keys=False).apply(lambda g: g.sample(min(len(g), 300), random_state=1))
    s = bots.load_model().score(data)
    y = data["y"].to_numpy()
    auc = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic / ((y == 1).sum() * (y == 0).sum())
    # These rows were in the training data: a floor that catches a broken model or
    # feature pipeline, not an estimate of accuracy (benchmarks/bots.py has that).
    assert auc > 0.9, auc
    assert pa.array(s).null_count == 0 and np.all((s >= 0) & (s <= 1))


def _profile(acc: str, at: datetime, *, fake: bool) -> dict[str, object]:
    if fake:
        return {"platform": "x", "account_id": acc, "observed_at": at, "status": "active",
                "followers_count": 3, "following_count": 1500, "posts_count": 0, "favourites_count": 0,
                "listed_count": 0, "handle": f"user{int(acc[1:]) + 48213977}", "default_profile": True,
                "default_profile_image": True, "created_at": at - pd.Timedelta(days=20), "source": "test"}
    return {"platform": "x", "account_id": acc, "observed_at": at, "status": "active",
            "followers_count": 800, "following_count": 300, "posts_count": 5000, "favourites_count": 3000,
            "listed_count": 20, "handle": "janedoe", "display_name": "Jane Doe", "description": "Reporter in Rome",
            "default_profile": False, "default_profile_image": False,
            "created_at": at - pd.Timedelta(days=3000), "source": "test"}


def test_explain_and_regain_report_bot_likeness(tmp_path: Path) -> None:
    from purgewatch.analysis import explain as ex
    from purgewatch.analysis import forensics as fx
    from purgewatch.store.snapshots import add_snapshot

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    day = pd.Timedelta(days=1)
    store = Store.init(tmp_path / "s")
    lost = [f"l{i}" for i in range(60)]
    kept = [f"k{i}" for i in range(200)]
    new = [f"n{i}" for i in range(80)]
    rows = [_profile(a, t0 - day, fake=True) for a in lost + new]
    rows += [_profile(a, t0 - day, fake=False) for a in kept]
    rows += [{"platform": "x", "account_id": a, "observed_at": t0 + 2 * day, "status": "suspended", "source": "test"}
             for a in lost]
    keys = sorted({k for r in rows for k in r})
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="x", account_id="A", observed_at=t0 - 2 * day, follower_ids=kept[:100])
        add_snapshot(w, platform="x", account_id="A", observed_at=t0, follower_ids=lost + kept + ["u1", "u2", "u3"])
        add_snapshot(w, platform="x", account_id="A", observed_at=t0 + day, follower_ids=kept)
        add_snapshot(w, platform="x", account_id="A", observed_at=t0 + 3 * day, follower_ids=new + kept)
        w.add("profiles", pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]))
    res = ex.explain(store, "A", start=t0, end=t0 + day)
    b = res["bot_likeness"]
    assert res["lost"] == 63 and res["verdict"] == "platform_enforcement"
    # u1..u3 have no stored profile: counted as lost accounts, not scored (never as zero).
    assert b["lost"]["accounts"] == 63 and b["lost"]["scored"] == 60 and b["remaining"]["scored"] == 200
    assert b["lost"]["share_bot"] == 1.0 and b["remaining"]["share_bot"] == 0.0
    assert b["finding"] == "fake_followers_removed" and b["lost_vs_remaining"]["p_value"] < 1e-10
    assert b["genuine_reference"]["scored"] > 1000
    assert b["reason"] in res["evidence"]["reasons"]
    assert any("purge of fake or spam accounts" in r for r in res["evidence"]["reasons"])
    assert sum(b["lost"]["histogram"]) == 60
    rg = fx.regain_for_account(store, "x", "A", start=t0, end=t0 + day)
    assert rg["bot_likeness"]["gained"]["share_bot"] == 1.0 and rg["bot_share"] == 1.0
    assert rg["bot_share_baseline"] == 0.0 and rg["bot_p_value"] < 1e-10
    assert any("score as bots" in r for r in rg["reasons"])


def test_explain_bot_likeness_against_reference_when_remaining_unread(tmp_path: Path) -> None:
    from purgewatch.analysis import explain as ex
    from purgewatch.store.snapshots import add_snapshot

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    store = Store.init(tmp_path / "s")
    lost = [f"l{i}" for i in range(30)]
    rows = [_profile(a, t0, fake=True) for a in lost]
    keys = sorted({k for r in rows for k in r})
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="x", account_id="A", observed_at=t0, follower_ids=lost + ["k1", "k2"])
        add_snapshot(w, platform="x", account_id="A", observed_at=t0 + pd.Timedelta(days=1), follower_ids=["k1", "k2"])
        w.add("profiles", pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]))
    b = ex.explain(store, "A")["bot_likeness"]
    assert b["remaining"]["scored"] == 0 and b["lost_vs_remaining"]["against"] == "genuine_reference"
    assert b["lost_vs_remaining"]["p_value"] < 1e-10 and b["finding"] == "fake_followers_removed"
    assert "binomial test against the reference" in b["reason"]


def test_report_draws_bot_likeness() -> None:
    from purgewatch.report._render import bot_charts

    assert bot_charts(None) == [] and bot_charts({"lost": {"scored": 0}}) == []
    section = {
        "threshold": 0.5,
        "lost": {"scored": 60, "share_bot": 0.9, "share_bot_ci": [0.8, 0.95], "histogram": [1, 0, 0, 0, 0, 0, 0, 2, 7, 50]},
        "remaining": {"scored": 200, "share_bot": 0.05, "share_bot_ci": [0.03, 0.09]},
        "genuine_reference": {"scored": 5801, "share_bot": 0.08, "share_bot_ci": [0.076, 0.09]},
    }
    charts = bot_charts(section)
    assert [t for t, _ in charts] == ["Share scoring as bots (score ≥ 0.5)", "Scores of the lost followers"]
    svg = str(charts[0][1]) + str(charts[1][1])
    assert "lost (n=60)" in svg and "genuine ref. (n=5801)" in svg and svg.count("<rect") >= 10


def test_only_profile_reads_are_scored(tmp_path: Path) -> None:
    from purgewatch.analysis import forensics as fx

    f = tmp_path / "twarc.jsonl"
    f.write_text(json.dumps({**V2_USER, "errors": [{"resource_type": "user", "parameter": "ids", "value": "1143210987654321000",
                                                    "resource_id": "1143210987654321000", "title": "Forbidden",
                                                    "detail": "User has been suspended: [1143210987654321000]."}]}) + "\n")
    prof = bots.read_profiles(f)
    ans = {r["account_id"]: r for r in bots.score_answer(prof)["scores"]}
    # The suspended id has a creation date (snowflake) but no profile read: no score.
    assert ans["1143210987654321000"]["score"] is None and ans["1143210987654321000"]["bot"] is None
    assert 0 <= ans["2244994945"]["score"] <= 1
    s = fx.bot_likeness(prof)
    assert s.isna().tolist() == [False, True]
