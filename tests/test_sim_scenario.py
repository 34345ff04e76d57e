"""Emulator scenarios, the generated world and its ground truth (no server)."""

from __future__ import annotations

import csv
import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.errors import InputError
from purgewatch.sim import (
    load_scenario,
    packaged_scenarios,
    parse_scenario,
    truth,
    truth_followers_at,
    truth_status_at,
    write_watchlist,
)
from purgewatch.sim._clock import SimClock, to_us
from purgewatch.sim._ids import X_EPOCH_MS
from purgewatch.sim._world import FARM, INF, REGAIN, World

SMALL = Path(__file__).resolve().parents[1] / "src/purgewatch/sim/scenarios/small.toml"


def test_packaged_scenarios_load():
    assert {"small", "demo"} <= set(packaged_scenarios())
    small = load_scenario("small")
    assert small.platforms == ("bluesky", "mastodon", "x")
    assert len(small.accounts) >= 10 and {a.group for a in small.accounts} == {"government", "opposition"}
    assert load_scenario(SMALL).digest == small.digest


def test_world_is_deterministic_given_the_seed():
    sc = load_scenario("small")
    a, b = World(sc), World(sc)  # bypass the cache: built twice from scratch
    for p in sc.platforms:
        for name in ("created_us", "down_us", "up_us", "down_code"):
            assert np.array_equal(getattr(a[p], name), getattr(b[p], name)), (p, name)
        for i in a[p].edges:
            assert np.array_equal(a[p].edges[i].edge_id, b[p].edges[i].edge_id)
            assert np.array_equal(a[p].edges[i].follower, b[p].edges[i].follower)
    other = World(dataclasses.replace(sc, seed=sc.seed + 1, digest="other-seed"))
    assert not np.array_equal(a["x"].down_us, other["x"].down_us)


def test_identifiers_have_platform_shapes_and_round_trip():
    w = World(load_scenario("small"))
    bs, x, m = w["bluesky"], w["x"], w["mastodon"]
    for k in range(len(bs.watched), bs.n, 97):
        did = bs.id_of(k)
        assert re.fullmatch(r"did:plc:[a-z2-7]{24}", did)
        assert bs.index_of_id(did) == k
        assert bs.index_of_name(bs.name_of(k)) == k
    for k in range(len(x.watched), x.n, 61):
        ident = x.id_of(k)
        assert ident.isdigit()
        # snowflake: the id encodes the creation time
        assert (int(ident) >> 22) + X_EPOCH_MS == x.created_us[k] // 1000
        assert x.index_of_id(ident) == k and x.index_of_name(x.name_of(k)) == k
        assert len(x.name_of(k)) <= 15
    for k in range(0, m.n, 41):
        assert m.index_of_id(m.id_of(k)) == k
        assert m.account_id(k).endswith("@" + m.instance_of(k))
    assert bs.index_of_id("did:plc:" + "a" * 24) is None
    assert x.index_of_id("12") is None


def test_truth_of_small_scenario_tells_what_happened():
    sc = load_scenario("small")
    doc = truth(sc)
    assert doc["scenario"] == "small" and len(doc["accounts"]) == len(sc.accounts)
    ids = {a["key"]: a["account_id"] for a in doc["accounts"]}
    # the wave took down the watched ministries on Thursday afternoon, not before
    assert truth_status_at(doc, "x", ids["x:interior_x"], "2026-03-05T13:59:00.000Z") == "active"
    assert truth_status_at(doc, "x", ids["x:interior_x"], "2026-03-05T15:00:00.000Z") == "suspended"
    assert truth_status_at(doc, "bluesky", ids["bluesky:ministry-interior.bsky.social"],
                           "2026-03-05T15:00:00.000Z") == "takendown"
    causes = {c["cause"] for c in doc["status_changes"]}
    assert {"wave:thursday-x", "wave:thursday-bsky", "purge:spam-x", "background"} <= causes
    # 20% of the x wave's victims come back about 48 h later
    back = [c for c in doc["status_changes"] if c["status"] == "active"]
    assert back and all(c["cause"] == "wave:thursday-x" for c in back)
    wave_x = [c for c in doc["status_changes"] if c["cause"] == "wave:thursday-x" and c["status"] != "active"]
    assert len(wave_x) == 100 + 1  # 100 followers + the ministry
    # drops: each equals the followers of that account the event really removed
    drop = next(d for d in doc["drops"] if d["key"] == "x:leader_x" and d["event"] == "wave:thursday-x")
    before = truth_followers_at(doc, "x", ids["x:leader_x"], "2026-03-05T13:59:59.000Z")
    after = truth_followers_at(doc, "x", ids["x:leader_x"], "2026-03-05T14:31:00.000Z")
    assert drop["before"] == len(before)
    lost = before - after
    victims = {c["account_id"] for c in wave_x}
    assert len(lost & victims) == drop["lost"]
    # the bluesky unfollow purge removes follows without suspending anyone
    assert any(d["event"] == "purge:spam-bsky" for d in doc["drops"])
    assert not any(c["cause"] == "purge:spam-bsky" for c in doc["status_changes"])
    cohorts = {e["cohort"] for e in doc["follows"][f"x:{ids['x:leader_x']}"]}
    assert {"baseline", "organic", "farm:farm-x", "regain:comeback-x"} <= cohorts


def test_demo_scenario_matches_the_story():
    sc = load_scenario("demo")
    assert sc.platforms == ("bluesky", "x")
    w = World(sc)
    x = w["x"]
    leader = x.watched_index["x:PresidentLeader"]
    thursday = to_us(datetime(2026, 5, 21, 14, tzinfo=UTC))
    before = x.followers_count(leader, thursday - 1)
    after = x.followers_count(leader, thursday + 2 * 3600 * 10**6)
    assert 5500 <= before - after <= 6500  # "loses about 6,000 followers in one sweep"
    # the opposition is untouched: no event takes down any of its followers or accounts
    for pw in w.platforms.values():
        for key, i in pw.watched_index.items():
            if pw.watched[i].group == "opposition":
                e = pw.edges[i]
                assert pw.down_us[i] == INF
                causes = {pw.causes[c] for c in pw.down_cause[e.follower] if c >= 0}
                assert causes <= {"background"}, (key, causes)
    # officials suspended in the wave
    for key in ("x:MinInterior", "x:GovernorNorth", "x:journo_ana"):
        assert x.status(x.watched_index[key], thursday + 3 * 3600 * 10**6) != 0
    # regain: brand-new accounts (created hours before following) in bursts after the wave
    e = x.edges[leader]
    regain = e.cohort == x.cohorts.index("regain:comeback")
    assert regain.sum() == 6 * 800
    assert np.all(e.follow_us[regain] > thursday)
    age = e.follow_us[regain] - x.created_us[e.follower[regain]]
    assert np.all(age < 13 * 3600 * 10**6)
    assert set(np.unique(x.kind[e.follower[regain]])) == {REGAIN}
    assert (x.kind == FARM).sum() == 4000
    # realistic size, still quick to page: the leader has ~50k followers
    assert 45_000 < x.followers_count(leader, sc.start_us) < 60_000


def test_watchlist_csv(tmp_path):
    out = tmp_path / "wl.csv"
    n = write_watchlist(load_scenario("small"), out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert n == len(rows) == 11
    assert list(rows[0]) == ["platform", "account", "group", "label"]
    assert {r["platform"] for r in rows} == {"bluesky", "mastodon", "x"}
    assert all("@" in r["account"] for r in rows if r["platform"] == "mastodon")


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda s: s.replace('seed = 20260302', 'seed = 20260302\nsede = 1'), "<top>"),
        (lambda s: s.replace('start = "2026-03-02T00:00:00Z"', 'start = "2026-03-02T00:00:00"'), "scenario.start"),
        (lambda s: s.replace('followers_of = ["government"]\nfollower_count = 100',
                             'followers_of = ["governmnet"]\nfollower_count = 100'), "waves[0].followers_of"),
        (lambda s: s.replace('handle = "minister@gov.social"', 'handle = "minister"'), "accounts[4].handle"),
        (lambda s: s.replace('kind = "http_5xx"', 'kind = "gremlins"'), "faults.schedule[0].kind"),
    ],
)
def test_bad_scenarios_are_refused_with_location(edit, where):
    text = edit(SMALL.read_text())
    with pytest.raises(InputError) as exc:
        parse_scenario(text.encode(), source="bad.toml")
    msg = str(exc.value)
    assert "bad.toml" in msg
    if where != "<top>":
        assert where in msg
    else:
        assert "sede" in msg


def test_sim_clock_manual_and_accelerated():
    wall = [1000.0]
    c = SimClock(0, speed=3600, wall=lambda: wall[0])
    wall[0] += 2
    assert c.now_us() == 2 * 3600 * 10**6  # 2 wall seconds = 2 scenario hours
    assert c.wall_seconds_until(3 * 3600 * 10**6) == pytest.approx(1.0)
    m = SimClock.manual(5)
    assert m.now_us() == 5
    m.advance(hours=1)
    assert m.now_us() == 5 + 3600 * 10**6
    with pytest.raises(ValueError):
        m.advance(-1)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), k=st.integers(0, (1 << 22) - 1),
       created_ms=st.integers(X_EPOCH_MS, X_EPOCH_MS + 20 * 365 * 86_400_000))
def test_id_codecs_round_trip(seed, k, created_ms):
    from purgewatch.sim._ids import IdCodec

    c = IdCodec(seed, "x")
    assert c.snowflake_index(c.snowflake(k, created_ms)) == (k, created_ms)
    assert c.did_index(c.did(k)) == k
    assert c.handle_index(c.handle(k)) == k and c.handle_index(c.username(k)) == k
