"""Collecting posts (issue 14) through the real connectors against the emulator: a
posts pass writes posts and post_reads; re-reads store only what changed; a suspended
account's empty feed is never a deletion; a post removed between two complete reads is
found by ``posts deleted``; a protected or taken-down account is unavailable, not empty."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from purgewatch.analysis.posts import deleted_posts, search_posts
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector
from purgewatch.errors import ConfigError
from purgewatch.sim import load_scenario, truth, watchlist_rows
from purgewatch.sim.testing import emulator_factory  # noqa: F401  (fixture)
from purgewatch.store import Store

TOKEN = "posts-token"
BEFORE_DELETION = datetime(2026, 3, 8, 12, tzinfo=UTC)
AFTER_DELETION = datetime(2026, 3, 9, 18, tzinfo=UTC)


def _config(tmp_path: Path, emu: Any, **watchlist: Any) -> Any:
    with open(tmp_path / "wl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(watchlist_rows(load_scenario("small")))
    return config_from_dict({
        "collect": {"detect": False, "sim_clock_url": f"{emu.base_url}/_sim/clock", "posts_window": "5d"},
        "http": {"timeout": 2, "retries": 3, "backoff_base": 0.05},
        "watchlists": [{"name": "posts", "file": "wl.csv", **watchlist}],
        "platforms": {
            "bluesky": {"appview_url": emu.url("bluesky"), "relay_url": emu.url("bluesky")},
            "x": {"base_url": emu.url("x"), "bearer_token": TOKEN},
            "mastodon": {"instances": emu.urls()["mastodon"]},
        },
    }, base_dir=tmp_path)


def _set_clock(emu: Any, at: datetime) -> None:
    httpx.post(f"{emu.base_url}/_sim/clock", params={"set": at.isoformat()}).raise_for_status()


def _pass(store: Store, cfg: Any, *, posts: bool = True) -> list[Any]:
    return asyncio.run(Collector(store, cfg).collect_once(posts=posts))


@pytest.fixture
def collected(tmp_path: Path, emulator_factory: Any) -> tuple[Store, Any, Any]:  # noqa: F811
    emu = emulator_factory("small", faults=False, start=BEFORE_DELETION)
    cfg = _config(tmp_path, emu)
    store = Store.init(tmp_path / "store")
    _pass(store, cfg)
    return store, cfg, emu


def test_a_posts_pass_writes_posts_and_a_read_per_account(collected: tuple[Store, Any, Any]) -> None:
    store, _, _ = collected
    posts = store.read("posts").to_pandas()
    reads = store.read("post_reads").to_pandas()
    assert len(reads) == 11  # every watched account read once, whatever it found
    by = {(r.platform, r.answer, r.complete) for r in reads.itertuples()}
    # taken down (bluesky), suspended (mastodon, x) and protected (x): unavailable, not empty listings
    unavailable = reads[reads["answer"] == "account_unavailable"]
    assert len(unavailable) == 4 and not unavailable["complete"].any()
    assert unavailable["post_ids"].isna().all()
    assert ("bluesky", "ok", True) in by and ("mastodon", "ok", True) in by and ("x", "ok", True) in by
    # reposts vs quotes vs own posts, as each platform tells them apart
    for platform in ("bluesky", "x"):
        mine = posts[posts["platform"] == platform]
        assert mine["repost_of"].notna().sum() >= 1 and mine["quote_of"].notna().sum() >= 1
    assert posts[posts["platform"] == "mastodon"]["repost_of"].notna().sum() == 1
    call = posts[posts["text"].str.contains("Double the followers", na=False) & posts["repost_of"].isna()]
    assert set(call["platform"]) == {"bluesky", "x"}
    assert all(len(h) == 64 for h in posts["text_sha256"].dropna())
    assert '"followback"' in posts[posts["platform"] == "x"]["hashtags"].dropna().iloc[0]
    # the read windows cover the configured window up to the read
    ok = reads[reads["complete"]]
    assert ((ok["window_end"] - ok["window_start"]) == pd_timedelta(days=5)).all()
    # Mastodon text is the status's HTML as text, paragraphs kept
    masto = posts[(posts["platform"] == "mastodon") & posts["text"].str.contains("targeted attack", na=False)]
    assert not masto.empty and "\n" in masto["text"].iloc[0] and "<p>" not in masto["text"].iloc[0]


def pd_timedelta(**kw: float) -> Any:
    import pandas as pd

    return pd.Timedelta(**kw)


def test_reread_adds_only_changes_and_a_removed_post_is_found_deleted(collected: tuple[Store, Any, Any]) -> None:
    store, cfg, emu = collected
    first = store.read("posts").to_pandas()
    assert deleted_posts(store)["deleted"] == []
    _pass(store, cfg)  # the same moment again: the same reads, nothing new
    assert store.read("post_reads").num_rows == 11
    _set_clock(emu, BEFORE_DELETION + timedelta(hours=1))
    _pass(store, cfg)  # an hour later: nothing new but the reads and that hour's posts
    again = store.read("posts").to_pandas()
    new = again[~again["post_id"].isin(set(first["post_id"]))]
    assert len(again) == len(first) + len(new)  # no second version of an unchanged post
    assert (new["created_at"] >= BEFORE_DELETION).all()
    assert store.read("post_reads").num_rows == 22
    _set_clock(emu, AFTER_DELETION)
    _pass(store, cfg)
    gone = deleted_posts(store)["deleted"]
    # Exactly the scripted deletions of the ground truth, and the reposts that went with them.
    doc = truth(load_scenario("small"))
    when = AFTER_DELETION.isoformat().replace("+00:00", "Z")
    deleted = {p["post_id"] for p in doc["posts"] if p["deleted_at"] and p["deleted_at"] <= when}
    deleted |= {p["post_id"] for p in doc["posts"] if p["repost_of"] in deleted}
    assert len(deleted) == 4 and {d["post_id"] for d in gone} == deleted
    texts = {(d["platform"], d["text"]) for d in gone}
    # The two "double the followers" calls, and the X retweet of it (X drops retweets of a
    # deleted tweet); the Bluesky repost goes with its original too.
    assert ("x", "Double the followers we lost. Follow back everyone! #FollowBack") in texts
    assert ("bluesky", "Double the followers we lost! Follow everyone who follows us. #FollowBack") in texts
    for d in gone:
        assert d["last_seen"] < d["first_missing"]
        assert d["first_missing"].startswith("2026-03-09T18")
    # Nothing of the suspended or protected accounts is ever called deleted.
    reads = store.read("post_reads").to_pandas()
    unavailable = set(reads[reads["answer"] == "account_unavailable"]["account_id"])
    assert not {d["account_id"] for d in gone} & unavailable


def test_a_suspended_accounts_empty_feed_is_not_a_deletion(tmp_path: Path, emulator_factory: Any) -> None:  # noqa: F811
    # Read X's interior account before the wave (its post is listed), then after it.
    emu = emulator_factory("small", faults=False, start=datetime(2026, 3, 5, 12, tzinfo=UTC))
    cfg = _config(tmp_path, emu)
    store = Store.init(tmp_path / "store")
    _pass(store, cfg)
    posts = store.read("posts").to_pandas()
    assert "Road works on the northern bypass start Monday." in set(posts["text"])
    _set_clock(emu, datetime(2026, 3, 6, 12, tzinfo=UTC))
    _pass(store, cfg)
    reads = store.read("post_reads").to_pandas()
    interior = reads[reads["account_id"] == posts[posts["text"].str.startswith("Road works")]["account_id"].iloc[0]]
    assert list(interior.sort_values("read_at")["answer"]) == ["ok", "account_unavailable"]
    assert not any(d["text"].startswith("Road works") for d in deleted_posts(store)["deleted"])


def test_who_spoke_after_the_wave(collected: tuple[Store, Any, Any]) -> None:
    store, _, _ = collected
    got = search_posts(store, '"targeted attack"', start=datetime(2026, 3, 5, 14, tzinfo=UTC),
                       end=datetime(2026, 3, 7, tzinfo=UTC))
    spoke = {g["group"]: g["spoke"] for g in got["groups"]}
    # the leader on Bluesky and X; the journalist, and the account that boosted her post
    assert spoke == {"government": 2, "opposition": 2}
    silent = {g["group"]: g["silent"] for g in got["groups"]}
    assert silent == {"government": 0, "opposition": 3}
    # suspended, taken down and protected accounts could not be read: unread, never silent
    unread = {g["group"]: g["unread"] for g in got["groups"]}
    assert unread == {"government": 3, "opposition": 1}


def test_posts_config_keys_are_checked(tmp_path: Path) -> None:
    base = {"watchlists": [{"name": "a", "file": "wl.csv", "posts": True, "posts_every": "2h",
                            "posts_pages": 3}], "collect": {"posts_window": "3d"}}
    cfg = config_from_dict(base, base_dir=tmp_path)
    wl = cfg.watchlists[0]
    assert wl.posts and wl.posts_every == 7200 and wl.posts_pages == 3 and wl.posts_window == 3 * 86400
    with pytest.raises(ConfigError, match="posts_pages"):
        config_from_dict({"watchlists": [{"name": "a", "posts_pages": 0}]}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="posts"):
        config_from_dict({"watchlists": [{"name": "a", "posts": "yes"}]}, base_dir=tmp_path)


def test_watch_runs_posts_on_their_own_cadence(tmp_path: Path, emulator_factory: Any) -> None:  # noqa: F811
    emu = emulator_factory("small", faults=False, start=BEFORE_DELETION - timedelta(hours=1))
    cfg = _config(tmp_path, emu, posts=True, posts_every="1h")
    store = Store.init(tmp_path / "store")

    async def run() -> list[Any]:
        stop = asyncio.Event()

        def seen(report: Any) -> None:
            if report.kind == "posts":
                stop.set()

        collector = Collector(store, cfg, on_cycle=seen)
        return await asyncio.wait_for(collector.watch(stop=stop), timeout=60)

    reports = asyncio.run(run())
    kinds = [r.kind for r in reports]
    assert "status" in kinds and "posts" in kinds
    assert store.read("post_reads").num_rows == next(r for r in reports if r.kind == "posts").observed


def test_collect_posts_from_the_command_line(tmp_path: Path, emulator_factory: Any, capsys: Any) -> None:  # noqa: F811
    import json

    from _cli import run

    emu = emulator_factory("small", faults=False, start=BEFORE_DELETION)
    with open(tmp_path / "wl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(r for r in watchlist_rows(load_scenario("small")) if r["platform"] == "bluesky")
    # The emulator's scenario clock (March 2026) decides the window, as in the demo.
    (tmp_path / "c.toml").write_text(f"""
[collect]
detect = false
sim_clock_url = "{emu.base_url}/_sim/clock"
[[watchlists]]
name = "wl"
file = "wl.csv"
[platforms.bluesky]
appview_url = "{emu.url('bluesky')}"
relay_url = "{emu.url('bluesky')}"
""")
    code = run(["collect", "--config", str(tmp_path / "c.toml"), "--store", str(tmp_path / "store"), "--posts",
                "--json"])
    assert code == 0
    cycles = json.loads(capsys.readouterr().out)["cycles"]
    posts = next(c for c in cycles if c["kind"] == "posts")
    assert posts["reads"] == {"ok": 3, "account_unavailable": 1} and posts["incomplete_reads"] == 1
    stored = Store.open(tmp_path / "store")
    assert posts["posts"] == stored.read("posts").num_rows > 0
    assert stored.read("post_reads").num_rows == 4


def test_a_missing_post_is_asked_for_directly_and_not_found_is_recorded(tmp_path: Path,
                                                                        emulator_factory: Any) -> None:  # noqa: F811
    emu = emulator_factory("small", faults=False, start=BEFORE_DELETION)
    cfg = _config(tmp_path, emu)
    store = Store.init(tmp_path / "store")
    collector = Collector(store, cfg)  # one collector: it remembers the last listing

    async def two_passes() -> None:
        await collector.collect_once(posts=True)
        _set_clock(emu, AFTER_DELETION)
        await collector.collect_once(posts=True)

    asyncio.run(two_passes())
    reads = store.read("post_reads").to_pandas()
    nf = reads[reads["answer"] == "not_found"]
    posts = store.read("posts").to_pandas().set_index("post_id")
    gone = {(posts.loc[p, "platform"], posts.loc[p, "text"]) for p in nf["post_id"]}
    assert ("x", "Double the followers we lost. Follow back everyone! #FollowBack") in gone
    assert ("bluesky", "Double the followers we lost! Follow everyone who follows us. #FollowBack") in gone
    assert all(u.startswith(emu.url("x")) or "getPosts" in u for u in nf["source_ref"])
    # look-ups add reads, never post versions; and posts deleted cites the first read
    # that showed the post gone, the listing and the look-up being of the same moment
    assert posts.index.is_unique
    assert {d["post_id"] for d in deleted_posts(store)["deleted"]} >= set(nf["post_id"])
