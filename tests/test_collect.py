"""The collection engine offline: a fake Bluesky answering through httpx.MockTransport,
the fake clock, and a 'kill' simulated by an exception that nothing catches."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pyarrow.compute as pc
import pytest

from purgewatch.collect.config import config_from_dict, load_config, parse_duration
from purgewatch.collect.engine import Collector, read_watchlist_csv
from purgewatch.errors import ConfigError, InputError
from purgewatch.net.clock import FakeClock
from purgewatch.store import Store


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches a BaseException."""


class FakeBluesky:
    """getProfiles / getProfile / getRepoStatus / getFollowers for generated accounts."""

    def __init__(self, n: int = 10, gone: dict[str, str] | None = None, followers: int = 7) -> None:
        self.handles = {f"acct{i}.bsky.social": f"did:plc:acct{i:020d}" for i in range(n)}
        self.gone = gone or {}
        self.followers = [f"did:plc:fol{i:021d}" for i in range(followers)]
        self.kill_on: tuple[str, int] | None = None
        self.counts: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.fail_all = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        name = request.url.path.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.kill_on and self.kill_on == (name, self.counts[name]):
            raise Killed()
        if self.fail_all:
            return httpx.Response(503, json={"error": "UpstreamFailure", "message": "upstream down"})
        q = parse_qsl(request.url.query.decode())
        if name == "getProfiles":
            out = []
            for _, actor in q:
                did = self.handles.get(actor, actor)
                if did in self.gone or did not in self.handles.values():
                    continue
                handle = next(h for h, d in self.handles.items() if d == did)
                out.append({"did": did, "handle": handle, "followersCount": 100, "followsCount": 5, "postsCount": 9})
            return httpx.Response(200, json={"profiles": out})
        if name == "getProfile":
            return httpx.Response(400, json={"error": "AccountTakedown", "message": "Account has been suspended"})
        if name == "getRepoStatus":
            did = dict(q)["did"]
            return httpx.Response(200, json={"did": did, "active": False, "status": self.gone.get(did, "takendown")})
        if name == "getFollowers":
            params = dict(q)
            start = int(params.get("cursor", "0"))
            page = self.followers[start : start + 3]
            body: dict[str, Any] = {"subject": {"did": params["actor"]}, "followers": [{"did": d} for d in page]}
            if start + 3 < len(self.followers):
                body["cursor"] = str(start + 3)
            return httpx.Response(200, json=body)
        raise AssertionError(request.url)


def _config(tmp_path: Path, fake: FakeBluesky, *, batch: int = 3, followers: bool = False, handles: bool = False,
            status_every: str = "60s") -> Any:
    wl = tmp_path / "wl.csv"
    rows = ["platform,account,group,label"]
    for i, (h, d) in enumerate(fake.handles.items()):
        rows.append(f"bluesky,{h if handles else d},{'gov' if i % 2 else 'opp'},Account {i}")
    wl.write_text("\n".join(rows) + "\n")
    return config_from_dict({
        "collect": {"batch": batch, "detect": False, "status_every": status_every, "followers_every": "120s"},
        "watchlists": [{"name": "main", "file": "wl.csv", "followers": followers}],
        "platforms": {"bluesky": {"appview_url": "http://bsky.test", "relay_url": "http://relay.test"}},
    }, base_dir=tmp_path)


def _collector(store: Store, cfg: Any, fake: FakeBluesky, clock: FakeClock | None = None) -> Collector:
    return Collector(store, cfg, clock=clock or FakeClock(), transport=httpx.MockTransport(fake))


def test_collect_once_records_statuses_resolves_handles(store: Store, tmp_path: Path) -> None:
    fake = FakeBluesky(n=6, gone={"did:plc:acct00000000000000000003": "suspended"})
    cfg = _config(tmp_path, fake, handles=True)
    reports = asyncio.run(_collector(store, cfg, fake).collect_once())
    assert reports[0].observed == 6 and reports[0].statuses == {"active": 5, "takendown": 1}
    obs = store.read("observations").to_pylist()
    # Handles resolved to ids for the 5 visible accounts, and kept in the watchlist.
    wl = {(r["account"], r["account_id"]) for r in store.read("watchlist").to_pylist() if r["account_id"]}
    assert ("acct1.bsky.social", "did:plc:acct00000000000000000001") in wl
    assert all(o["source"] == "bluesky" and o["source_ref"].startswith("http://bsky.test/xrpc/") for o in obs)
    # The taken-down one was asked by handle and stays keyed by it (no DID to ask the relay).
    suspended = [o for o in obs if o["status"] == "takendown"]
    assert len(suspended) == 1 and suspended[0]["account_id"] == "acct3.bsky.social"
    # Second pass asks by DID for the resolved ones.
    fake.requests.clear()
    asyncio.run(_collector(store, cfg, fake).collect_once())
    asked = [v for r in fake.requests if r.url.path.endswith("getProfiles") for _, v in parse_qsl(r.url.query.decode())]
    assert "did:plc:acct00000000000000000001" in asked and "acct1.bsky.social" not in asked
    assert "acct3.bsky.social" in asked


def test_transport_failures_are_unknown_with_reason_never_a_status(store: Store, tmp_path: Path) -> None:
    fake = FakeBluesky(n=5)
    fake.fail_all = True
    cfg = _config(tmp_path, fake)
    asyncio.run(_collector(store, cfg, fake).collect_once())
    obs = store.read("observations").to_pylist()
    assert len(obs) == 5
    assert {o["status"] for o in obs} == {"unknown"}
    assert all("HTTP 503" in o["detail"] for o in obs)
    assert all(o["followers_count"] is None for o in obs)


def test_killed_collect_resumes_without_duplicate_or_gap(store: Store, tmp_path: Path) -> None:
    fake = FakeBluesky(n=10)
    cfg = _config(tmp_path, fake, batch=3)
    fake.kill_on = ("getProfiles", 3)  # dies during the third batch
    with pytest.raises(Killed):
        asyncio.run(_collector(store, cfg, fake).collect_once())
    first = store.read("observations")
    # Batch 2 may have been mid-write (writes overlap the next fetch): lost whole or kept.
    assert first.num_rows in (3, 6)
    fake.kill_on = None
    reports = asyncio.run(_collector(store, cfg, fake).collect_once())
    assert reports[0].skipped_done == first.num_rows and reports[0].observed == 10 - first.num_rows
    ids = store.read("observations")["account_id"].to_pylist()
    assert sorted(ids) == sorted(fake.handles.values()), "each account exactly once: no duplicate, no gap"
    # A finished cycle is not resumed: the next run is a new cycle over everyone.
    clock = FakeClock(start=1_780_000_600.0)
    asyncio.run(_collector(store, cfg, fake, clock).collect_once())
    assert store.read("observations").num_rows == 20


def test_follower_listing_resumes_from_its_saved_cursor(store: Store, tmp_path: Path) -> None:
    fake = FakeBluesky(n=1, followers=8)
    cfg = _config(tmp_path, fake, followers=True)
    fake.kill_on = ("getFollowers", 2)
    with pytest.raises(Killed):
        asyncio.run(_collector(store, cfg, fake).collect_once())
    from purgewatch.collect.state import PagingStore

    saved = PagingStore(store.path).load("bluesky", next(iter(fake.handles.values())))
    assert saved is not None and saved.cursor == "3" and saved.pages == 1
    fake.kill_on = None
    fake.requests.clear()
    asyncio.run(_collector(store, cfg, fake).collect_once())
    cursors = [dict(parse_qsl(r.url.query.decode())).get("cursor") for r in fake.requests
               if r.url.path.endswith("getFollowers")]
    assert cursors[0] == "3", "resumed mid-list, first page not read again"
    from purgewatch.store.snapshots import list_snapshots, load_followers, sids_to_ids

    snaps = list_snapshots(store)
    assert snaps.num_rows == 1 and not snaps["partial"][0].as_py()
    ids = sids_to_ids(store, "bluesky", load_followers(store, snaps["snapshot_id"][0].as_py())).to_pylist()
    assert sorted(ids) == sorted(fake.followers)
    assert not [p for p in (store.path / "state" / "followers").rglob("*") if p.is_file()], "state dropped"


def _resume_and_check(store: Store, cfg: Any, fake: FakeBluesky, first_cursor: str) -> None:
    """Resume the killed listing: it starts at ``first_cursor`` and ends with the whole list once."""
    from purgewatch.store.snapshots import list_snapshots, load_followers, sids_to_ids

    fake.kill_on = None
    fake.requests.clear()
    asyncio.run(_collector(store, cfg, fake).collect_once())
    cursors = [dict(parse_qsl(r.url.query.decode())).get("cursor") for r in fake.requests
               if r.url.path.endswith("getFollowers")]
    assert cursors[0] == first_cursor
    snaps = list_snapshots(store)
    assert snaps.num_rows == 1 and not snaps["partial"][0].as_py()
    ids = sids_to_ids(store, "bluesky", load_followers(store, snaps["snapshot_id"][0].as_py())).to_pylist()
    assert ids == fake.followers, "every follower once, in list order"
    assert not [p for p in (store.path / "state" / "followers").rglob("*") if p.is_file()]


def test_follower_listing_killed_mid_journal_line_resumes_at_the_last_whole_page(store: Store, tmp_path: Path) -> None:
    from purgewatch.collect.state import PagingStore

    fake = FakeBluesky(n=1, followers=20)
    cfg = _config(tmp_path, fake, followers=True)
    fake.kill_on = ("getFollowers", 5)  # 4 pages read and saved (cursors 3, 6, 9, 12)
    with pytest.raises(Killed):
        asyncio.run(_collector(store, cfg, fake).collect_once())
    (journal,) = [p for p in (store.path / "state" / "followers").rglob("*") if p.is_file()]
    # A kill in the middle of writing the 4th page's line: cut it short.
    raw = journal.read_bytes()
    journal.write_bytes(raw[: raw.rstrip(b"\n").rindex(b"\n") + 1 + 17])
    saved = PagingStore(store.path).load("bluesky", next(iter(fake.handles.values())))
    assert saved is not None and saved.cursor == "9" and saved.follower_ids == fake.followers[:9]
    _resume_and_check(store, cfg, fake, "9")


def test_follower_listing_resumes_from_a_state_file_of_the_earlier_whole_json_form(store: Store, tmp_path: Path) -> None:
    import hashlib

    from purgewatch.collect.state import write_json_atomic

    fake = FakeBluesky(n=1, followers=11)
    cfg = _config(tmp_path, fake, followers=True)
    did = next(iter(fake.handles.values()))
    # What the earlier version left after reading two pages: STORE/state/followers/
    # <platform>/<sha256(platform NUL id)[:32]>.json holding the whole state.
    digest = hashlib.sha256(f"bluesky\0{did}".encode()).hexdigest()[:32]
    write_json_atomic(store.path / "state" / "followers" / "bluesky" / f"{digest}.json", {
        "platform": "bluesky", "account_id": did, "started_at": "2026-06-01T00:00:00+00:00", "cursor": "6",
        "follower_ids": fake.followers[:6], "pages": 2, "source_ref": "http://bsky.test/xrpc/app.bsky.graph.getFollowers",
    })
    _resume_and_check(store, cfg, fake, "6")


def test_watch_runs_status_and_follower_cycles_on_their_cadence(store: Store, tmp_path: Path) -> None:
    fake = FakeBluesky(n=4, followers=5)
    cfg = _config(tmp_path, fake, followers=True, status_every="60s")
    clock = FakeClock()
    reports = asyncio.run(_collector(store, cfg, fake, clock).watch(cycles=3))
    status = [r for r in reports if r.kind == "status"]
    assert len(status) == 3 and all(r.observed == 4 for r in status)
    obs = store.read("observations")
    times = sorted(set(obs["observed_at"].to_pylist()))
    assert len(times) == 3 and all(b - a >= timedelta(seconds=60) for a, b in zip(times, times[1:], strict=False))
    from purgewatch.store.snapshots import list_snapshots

    snaps = list_snapshots(store)
    assert snaps.num_rows >= 4  # one follower cycle at least, every account
    assert not pc.any(snaps["partial"]).as_py()
    # Restarting a finished watch waits for the next due time instead of re-running now.
    before = clock.time()
    asyncio.run(_collector(store, cfg, fake, clock).watch(cycles=1))
    assert clock.time() - before >= 59


def test_a_long_watch_compacts_its_small_batches_as_it_goes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from purgewatch.collect.engine import Collector
    from purgewatch.store import _layout

    monkeypatch.setattr(Collector, "COMPACT_EVERY", 5)
    fake = FakeBluesky(n=4, followers=5)
    cfg = _config(tmp_path, fake, followers=True, status_every="60s")
    asyncio.run(_collector(store, cfg, fake, FakeClock()).watch(cycles=6))
    runs = store.read("runs")
    batches = _layout.committed_batches(_layout.current_generation(store.path))
    assert runs.num_rows >= 12  # every commit keeps its run record ...
    assert len(batches) < runs.num_rows / 3  # ... but not its own directory
    assert len(store.read("observations")) == 6 * 4
    assert len({k for k in store.read("observations")["record_key"].to_pylist()}) == 24


def test_config_errors_name_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[collect]\nstatus_evry = "5m"\n')
    with pytest.raises(ConfigError, match=r"c.toml \[collect\]: unknown key"):
        load_config(bad)
    bad.write_text('[collect]\nstatus_every = "soon"\n')
    with pytest.raises(ConfigError, match="not a duration"):
        load_config(bad)
    bad.write_text('[platforms.bluesky]\nappview_url = "file:///etc/passwd"\n')
    with pytest.raises(ConfigError, match="http"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    assert parse_duration("15m", "x") == 900 and parse_duration(2, "x") == 2.0 and parse_duration("1d", "x") == 86400


def test_watchlist_csv_errors_say_where(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text("platform,account,group\nbluesky,a.bsky.social,gov\nmyspace,tom,gov\n")
    with pytest.raises(InputError, match=r"w.csv:3 column 'platform'"):
        read_watchlist_csv(f)
    f.write_text("platform,handle\n")
    with pytest.raises(InputError, match="lacks"):
        read_watchlist_csv(f)


def test_x_without_token_fails_before_any_request(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PURGEWATCH_X_BEARER_TOKEN", raising=False)
    (tmp_path / "wl.csv").write_text("platform,account,group\nbluesky,did:plc:a,g\nx,12,g\n")
    cfg = config_from_dict({"watchlists": [{"name": "w", "file": "wl.csv"}], "collect": {"detect": False}},
                           base_dir=tmp_path)
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with pytest.raises(ConfigError, match="PURGEWATCH_X_BEARER_TOKEN"):
        asyncio.run(Collector(store, cfg, clock=FakeClock(), transport=httpx.MockTransport(handler)).collect_once())
    assert sent == []


def test_detection_runs_after_each_status_cycle_and_never_breaks_collection(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    fake = FakeBluesky(n=3)
    cfg = _config(tmp_path, fake)
    cfg.detect = True
    seen_rows: list[int] = []

    def detector(s: Store) -> list[str]:
        seen_rows.append(s.read("observations").num_rows)  # runs after the cycle's commits
        return ["wave!"]

    alerts: list[list[Any]] = []
    c = Collector(store, cfg, clock=FakeClock(), transport=httpx.MockTransport(fake), detect=detector,
                  on_detections=alerts.append)
    reports = asyncio.run(c.collect_once())
    assert seen_rows == [3] and alerts == [["wave!"]] and reports[0].detections == 1

    def broken(s: Store) -> list[str]:
        raise RuntimeError("detector bug")

    reports = asyncio.run(Collector(store, cfg, clock=FakeClock(start=1_780_001_000.0),
                                    transport=httpx.MockTransport(fake), detect=broken).collect_once())
    assert reports[0].observed == 3 and store.read("observations").num_rows == 6


def test_archive_backfill_is_stored_with_capture_urls_and_not_twice(store: Store, tmp_path: Path) -> None:
    from test_connectors import Recorded

    rec = Recorded("wayback")
    cfg = config_from_dict({"platforms": {"wayback": {"base_url": rec.base}}, "collect": {"detect": False}},
                           base_dir=tmp_path)
    # The archive's host gets the 2.5 s spacing from the config; the fake clock absorbs it.
    clock = FakeClock()
    for _ in range(2):
        asyncio.run(Collector(store, cfg, clock=clock, transport=httpx.MockTransport(rec))
                    .backfill_archive([("TEN_GOP", "4224729994")]))
    obs = store.read("observations").to_pylist()
    assert len(obs) == 6, "a second backfill of the same captures stores nothing new"
    assert {o["source"] for o in obs} == {"web-archive"} and all("/web/" in o["source_ref"] for o in obs)
    assert {o["account_id"] for o in obs} == {"4224729994"} and {o["platform"] for o in obs} == {"x"}
    # Exact figures only; "130K" and "1.2M" are kept in detail. Two "Account suspended" captures.
    assert sorted(o["followers_count"] for o in obs if o["followers_count"] is not None) == [12345, 98700]
    assert sorted(o["status"] for o in obs).count("suspended") == 2
    assert min(clock.sleeps) >= 2.5 - 1e-9
