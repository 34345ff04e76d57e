"""Forensics on synthetic populations with planted structure (known answers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from purgewatch.analysis import forensics as fx
from purgewatch.store import Store
from purgewatch.store.snapshots import add_snapshot


def _snowflake(ts: pd.Timestamp, seq: int = 0) -> int:
    ms = int(ts.timestamp() * 1000)
    return ((ms - fx.SNOWFLAKE_EPOCH_MS) << 22) | (seq & 0x3FFFFF)


def test_snowflake_round_trip_and_legacy_ids() -> None:
    when = pd.Timestamp("2020-12-16T12:35:43.898Z")
    ids = [str(_snowflake(when, 12345)), "12345", "not-an-id", _snowflake(when, 7)]
    got = fx.snowflake_time(ids)
    assert got[0] == when and got[3] == when
    assert pd.isna(got[1]) and pd.isna(got[2])
    # Profile dates win; the id fills gaps on X only.
    c = fx.creation_times(["2010-01-01T00:00:00Z", None], [ids[0], ids[0]], platform="x")
    assert c[0] == pd.Timestamp("2010-01-01", tz="UTC") and c[1] == when
    assert pd.isna(fx.creation_times([None], [ids[0]], platform="bluesky")[0])


def _background(rng: np.random.Generator, per_month: float, start: str, end: str) -> list[pd.Timestamp]:
    months = pd.date_range(start, end, freq="MS", tz="UTC")
    out = []
    for m in months:
        for _ in range(rng.poisson(per_month)):
            out.append(m + pd.Timedelta(days=float(rng.uniform(0, 28))))
    return out


def test_creation_batches_find_planted_batch_only() -> None:
    rng = np.random.default_rng(0)
    bg = _background(rng, 5, "2010-01-01", "2016-12-01")
    assert fx.creation_batches(bg) == []
    planted = [pd.Timestamp("2013-08-03", tz="UTC") + pd.Timedelta(hours=float(h)) for h in rng.uniform(0, 600, 80)]
    (b,) = fx.creation_batches(bg + planted)
    assert b.start == pd.Timestamp("2013-08-01", tz="UTC") and b.end == pd.Timestamp("2013-09-01", tz="UTC")
    assert b.count >= 80 and b.ratio > 10 and b.peak_count == b.count
    prof = fx.creation_profile(bg + planted)
    assert int(prof.sum()) == len(bg) + len(planted)
    assert prof.index[0] == pd.Timestamp("2010-01-01", tz="UTC")
    # Against a reference population with the same background shape: still found.
    (b2,) = fx.creation_batches(bg + planted, reference=_background(rng, 50, "2010-01-01", "2016-12-01"))
    assert b2.peak == pd.Timestamp("2013-08-01", tz="UTC")
    # Daily resolution: a one-day burst of 30 accounts.
    burst = [pd.Timestamp("2012-03-05T01:00:00Z") + pd.Timedelta(minutes=float(m)) for m in rng.uniform(0, 1000, 30)]
    (d,) = fx.creation_batches(burst + bg, freq="D")
    assert d.start == pd.Timestamp("2012-03-05", tz="UTC") and d.count == 30


def _organic(rng: np.random.Generator, n: int) -> list[pd.Timestamp]:
    """Followers arriving over 2016-2020, each created some time before it followed."""
    follow = pd.Timestamp("2016-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 1800, n)), unit="D")
    age = pd.to_timedelta(rng.uniform(10, 2500, n), unit="D")
    return list(follow - age)


def test_follower_order_bands_find_bought_block() -> None:
    rng = np.random.default_rng(1)
    organic = _organic(rng, 3000)
    assert fx.follower_order_bands(organic) == []
    bought = list(pd.Timestamp("2015-03-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 10, 600), unit="D"))
    seq = organic[:1500] + bought + organic[1500:]
    bands = fx.follower_order_bands(seq)
    assert len(bands) == 1
    b = bands[0]
    assert 1400 <= b.first_position <= 1500 and 2099 <= b.last_position <= 2200
    assert b.in_span >= 600 and b.span_start <= pd.Timestamp("2015-03-01", tz="UTC") + pd.Timedelta(days=1)
    assert fx.follower_order_bands(seq[:100]) == []  # shorter than one window


def test_heuristic_bot_likeness_transparent_points() -> None:
    df = pd.DataFrame({
        "default_profile_image": [True, False, None],
        "description": ["", "journalist", "hi"],
        "followers_count": [3, 5000, 10],
        "following_count": [2000, 300, 50],
        "posts_count": [0, 20000, 10],
        "created_at": ["2024-01-01T00:00:00Z", "2012-01-01T00:00:00Z", "2023-01-01T00:00:00Z"],
        "observed_at": ["2024-02-01T00:00:00Z"] * 3,
        "handle": ["maria83920174", "reporter", "x"],
    })
    feats = fx.bot_likeness_features(df)
    assert feats.loc[0].to_dict() == {
        "default_profile_image": 1.0, "empty_description": 1.0, "low_follower_ratio": 1.0,
        "young_account": 1.0, "extreme_posting": 1.0, "digit_handle": 1.0,
    }
    score = fx.heuristic_bot_likeness(df)
    assert score[0] == 1.0 and score[1] == 0.0 and score[2] == 0.0
    # Only the fields present count: one known feature out of one.
    assert fx.heuristic_bot_likeness(pd.DataFrame({"handle": ["abc1234"]}))[0] == 1.0


def test_regain_campaign_vs_organic() -> None:
    rng = np.random.default_rng(2)
    seen = pd.Timestamp("2024-06-10", tz="UTC")
    old = pd.Series(seen - pd.to_timedelta(rng.uniform(100, 3000, 300), unit="D"))
    young = pd.Series(seen - pd.to_timedelta(rng.uniform(1, 10, 400), unit="D"))
    earlier_seen = pd.Series([seen - pd.Timedelta(days=20)] * 300)
    rep = fx.regain_campaign(gained_created=young, gained_seen=seen, earlier_gains=[40, 50, 45, 60],
                             earlier_gained_created=old, earlier_gained_seen=earlier_seen)
    assert rep.verdict == "regain_campaign" and rep.abnormal_gain
    assert rep.gain_ratio == pytest.approx(400 / 47.5, rel=1e-3)
    assert rep.young_share == 1.0 and rep.young_share_baseline == 0.0 and rep.young_p_value < 1e-10
    organic = fx.regain_campaign(gained_created=old.iloc[:50], gained_seen=seen, earlier_gains=[40, 50, 45, 60],
                                 earlier_gained_created=old, earlier_gained_seen=earlier_seen)
    assert organic.verdict == "organic" and not organic.abnormal_gain
    assert fx.regain_campaign(gained_created=old, gained_seen=seen, earlier_gains=[]).verdict == "insufficient_data"


def _tbl(rows: list[dict[str, Any]]) -> pa.Table:
    keys = sorted({k for r in rows for k in r})
    return pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])


@pytest.fixture
def account_store(store: Store) -> Store:
    """Account 'acc' on bluesky: 900 organic followers over 5 daily snapshots (10 new a
    day), then a drop of 300, then a regain of 400 accounts created 2-9 days before."""
    rng = np.random.default_rng(5)
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    created: dict[str, datetime] = {}
    followers = [f"did:plc:o{i}" for i in range(900)]  # oldest first
    for f in followers:
        created[f] = t0 - timedelta(days=float(rng.uniform(100, 3000)))
    snaps: list[tuple[datetime, list[str]]] = []
    cur = followers[:860]
    for d in range(4):
        cur = cur + followers[860 + 10 * d: 870 + 10 * d]
        snaps.append((t0 + timedelta(days=d), list(cur)))
    cur = cur[300:]  # drop
    snaps.append((t0 + timedelta(days=4), list(cur)))
    regain = [f"did:plc:n{i}" for i in range(400)]
    for f in regain:
        created[f] = t0 + timedelta(days=5) - timedelta(days=float(rng.uniform(2, 9)))
    cur = cur + regain
    snaps.append((t0 + timedelta(days=5), list(cur)))
    with store.writer(command="test", source="test") as w:
        for t, ids in snaps:
            add_snapshot(w, platform="bluesky", account_id="acc", observed_at=t, follower_ids=ids[::-1])
        w.add("profiles", _tbl([{"platform": "bluesky", "account_id": a, "observed_at": t0 + timedelta(days=6),
                                  "status": "active", "created_at": c} for a, c in created.items()]))
    return store


def test_store_level_forensics(account_store: Store) -> None:
    reg = fx.regain_for_account(account_store, "bluesky", "acc")
    assert reg["drop"]["lost"] == 300 and reg["gained"] == 400
    assert reg["verdict"] == "regain_campaign" and reg["young_share"] == 1.0
    assert reg["baseline_gain_median"] == 10.0
    prof = fx.follower_creation_profiles(account_store, "bluesky", "acc")
    assert prof["sets"]["lost"]["accounts"] == 300 and prof["sets"]["gained"]["accounts"] == 0
    assert prof["sets"]["remaining"]["with_creation_date"] == prof["sets"]["remaining"]["accounts"]
    order = fx.follower_order(account_store, "bluesky", "acc", window=100)
    assert order["followers"] == 1000
    # The regained block (400 accounts, created within a week) is the band, at the newest end.
    assert len(order["bands"]) == 1 and order["bands"][0]["last_position"] == 999
    assert order["bands"][0]["first_position"] >= 550


def test_cli_forensics(account_store: Store, tmp_path: Any) -> None:
    from purgewatch.cli import cli

    r = CliRunner().invoke(cli, ["forensics", "regain", "acc", "--store", str(account_store.path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["verdict"] == "regain_campaign"
    r = CliRunner().invoke(cli, ["forensics", "follower-order", "acc", "--window", "100", "--store",
                                 str(account_store.path), "--json", "--points"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert len(out["points"]["position"]) == 1000 and out["followers_in_bands"] > 0
    r = CliRunner().invoke(cli, ["forensics", "creation-batches", "--account", "acc", "--store",
                                 str(account_store.path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["sets"]["lost"]["accounts"] == 300
    csv = tmp_path / "pop.csv"
    rng = np.random.default_rng(3)
    rows = [t.isoformat() for t in _background(rng, 4, "2011-01-01", "2015-12-01")]
    rows += ["2014-05-10T00:00:00+00:00"] * 60
    pd.DataFrame({"created_at": rows}).to_csv(csv, index=False)
    r = CliRunner().invoke(cli, ["forensics", "creation-batches", "--file", str(csv), "--json"])
    assert r.exit_code == 0, r.output
    (b,) = json.loads(r.output)["batches"]
    assert b["start"].startswith("2014-05") and b["count"] >= 60
    r = CliRunner().invoke(cli, ["forensics", "creation-batches", "--status", "active", "--store",
                                 str(account_store.path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["accounts"] == 1300
