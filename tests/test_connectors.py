"""One contract suite run over every platform connector, on recorded payloads
(tests/fixtures/recorded/*.json, written by hand from the shapes in PLATFORMS.md),
clean and with transport faults injected.

The contract (sources/protocol.py): never crash on a transport failure; a status other
than ``unknown`` only ever comes from an answer the platform gave (so under faults every
observation is either exactly what the clean run says, or ``unknown`` with its reason);
one observation per account asked; provenance filled; follower lists are complete and
right, or partial, or skipped with a reason -- never complete and wrong.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from purgewatch.model import FollowerSnapshot, Observation
from purgewatch.net.clock import FakeClock
from purgewatch.net.http import HttpClient
from purgewatch.sources.bluesky import BlueskyConnector
from purgewatch.sources.mastodon import MastodonConnector
from purgewatch.sources.protocol import Connector, FollowerListing
from purgewatch.sources.telegram import TelegramConnector
from purgewatch.sources.wayback import WaybackConnector
from purgewatch.sources.x import Secret, XConnector

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtesttokenDoNotLeak0123456789"


def _key(path: str, query: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return path, tuple(sorted(parse_qsl(query, keep_blank_values=True)))


class Recorded:
    """A MockTransport handler answering from a recorded fixture file."""

    def __init__(self, name: str) -> None:
        self.data = json.loads((RECORDED / f"{name}.json").read_text())
        self.base: str = self.data["base"]
        self.index: dict[Any, dict[str, Any]] = {}
        for ex in self.data["exchanges"]:
            path, _, query = ex["url"].partition("?")
            self.index[_key(path, query)] = ex
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        ex = self.index.get(_key(request.url.path, request.url.query.decode()))
        assert ex is not None, f"no recording for {request.url}"
        body = ex["body"]
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers = {"Content-Type": ex.get("content_type", "application/json; charset=utf-8"), **ex.get("headers", {})}
        return httpx.Response(ex["status"], headers=headers, content=content, request=request)


FAULT_KINDS = ["timeout", "connect", "reset", "http_500", "http_503", "http_429", "truncated", "malformed"]


def fault_response(kind: str, request: httpx.Request, real: httpx.Response, now: float) -> httpx.Response:
    if kind == "timeout":
        raise httpx.ReadTimeout("timed out", request=request)
    if kind == "connect":
        raise httpx.ConnectError("connection refused", request=request)
    if kind == "reset":
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=request)
    if kind == "http_500":
        return httpx.Response(500, json={"error": "InternalServerError", "message": "Internal Server Error"}, request=request)
    if kind == "http_503":
        return httpx.Response(503, text="<html><body>Service Unavailable</body></html>", request=request)
    if kind == "http_429":
        return httpx.Response(429, headers={"RateLimit-Limit": "3000", "RateLimit-Remaining": "0",
                                            "RateLimit-Reset": str(int(now) + 30),
                                            "x-rate-limit-reset": str(int(now) + 30)},
                              json={"title": "Too Many Requests", "detail": "Too Many Requests",
                                    "type": "about:blank", "status": 429}, request=request)
    if kind == "truncated":
        if "json" not in real.headers.get("content-type", ""):
            return fault_response("malformed", request, real, now)
        body = real.content
        return httpx.Response(real.status_code, headers=real.headers, content=body[: max(1, len(body) // 2)], request=request)
    if kind == "malformed":
        return httpx.Response(200, headers={"Content-Type": real.headers.get("content-type", "application/json")},
                              text="<html><body>502 Bad Gateway (proxy)</body></html>", request=request)
    raise AssertionError(kind)


class Faulty:
    """Wraps a recording: ``mode`` always (every request faulted), first (the first
    attempt of each distinct request), or a probability."""

    def __init__(self, rec: Recorded, clock: FakeClock, kind: str | None, mode: str | float, seed: int = 0) -> None:
        self.rec, self.clock, self.kind, self.mode = rec, clock, kind, mode
        self.rng = random.Random(seed)
        self.seen: set[str] = set()
        self.faulted = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        real = self.rec(request)
        kind = self.kind or self.rng.choice(FAULT_KINDS)
        hit = False
        if self.mode == "always":
            hit = True
        elif self.mode == "first":
            hit = str(request.url) not in self.seen
            self.seen.add(str(request.url))
        elif isinstance(self.mode, float):
            hit = self.rng.random() < self.mode
        if not hit:
            return real
        self.faulted += 1
        return fault_response(kind, request, real, self.clock.time())


@dataclass
class Case:
    name: str
    make: Callable[[HttpClient, str], Any]
    run: Callable[[Any, dict[str, Any]], Awaitable[list[Observation]]]
    key: Callable[[Observation], str]
    lookup: bool = True            # one observation per account asked


async def _lookup(conn: Connector, data: dict[str, Any]) -> list[Observation]:
    return await conn.lookup(data["ask"])


async def _backfill(conn: WaybackConnector, data: dict[str, Any]) -> list[Observation]:
    return (await conn.backfill(data["handle"])).observations


CASES = [
    Case("bluesky", lambda h, b: BlueskyConnector(h, appview_url=b, relay_url=b), _lookup, lambda o: o.account_id),
    Case("mastodon", lambda h, b: MastodonConnector(h, instances={"mastodon.example": b}), _lookup, lambda o: o.account_id),
    Case("x", lambda h, b: XConnector(h, token=Secret(TOKEN), base_url=b), _lookup, lambda o: o.account_id),
    Case("telegram", lambda h, b: TelegramConnector(h, base_url=b), _lookup, lambda o: o.account_id),
    Case("wayback", lambda h, b: WaybackConnector(h, base_url=b), _backfill,
         lambda o: o.observed_at.isoformat(), lookup=False),
]
IDS = [c.name for c in CASES]


def run_case(case: Case, handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock,
             base: str, data: dict[str, Any], *, followers: bool = False) -> tuple[list[Observation], dict[str, FollowerListing]]:
    async def go() -> tuple[list[Observation], dict[str, FollowerListing]]:
        async with HttpClient(clock=clock, transport=httpx.MockTransport(handler), retries=3, seed=1) as http:
            conn = case.make(http, base)
            obs = await case.run(conn, data)
            lists = {}
            if followers:
                for acct in list(data.get("followers", {})) + data.get("followers_skipped", []):
                    lists[acct] = await conn.followers(acct)
            return obs, lists

    return asyncio.run(go())


def check_contract(case: Case, data: dict[str, Any], obs: list[Observation], *, exact: bool) -> None:
    expected_status = data.get("expected", {})
    expected_counts = data.get("expected_counts", {})
    if case.lookup:
        assert len(obs) == len(data["ask"]), "one observation per account asked"
    for o in obs:
        assert o.platform and o.account_id and o.observed_at.tzinfo is not None
        assert o.source, "provenance: source"
        k = case.key(o)
        if o.status == "unknown" and k not in expected_status or (o.status == "unknown" and expected_status.get(k) != "unknown"):
            assert not exact, f"{k}: unknown ({o.detail}) in a fault-free run"
            assert o.detail, f"{k}: unknown without a reason"
            assert o.followers_count is None, "a failed request carries no counts"
            continue
        if expected_status:
            want = expected_status[k]
            if not exact and want == "suspended" and "not distinguished" in (o.detail or ""):
                # The AppView names every enforcement AccountTakedown; when the relay
                # (which tells takedown from suspension) failed, that is all it said.
                want = "takendown"
            assert o.status == want, f"{k}: {o.status} != {want} ({o.detail})"
        if k in expected_counts and (exact or o.followers_count is not None):
            # Under faults a count may be missing (Telegram's exact figure is on a second
            # page), never different.
            assert o.followers_count == expected_counts[k], f"{k}: count {o.followers_count}"
        assert o.source_ref and o.source_ref.startswith("http"), "provenance: the request URL"
        assert o.payload_hash and len(o.payload_hash) == 64
        if exact and k in data.get("expected_raw", {}):
            assert o.status_raw == data["expected_raw"][k]


def check_followers(data: dict[str, Any], lists: dict[str, FollowerListing], *, exact: bool) -> None:
    for acct, listing in lists.items():
        snap = listing.snapshot
        expected = data.get("followers", {}).get(acct)
        if expected is None:  # must be skipped: an empty/refused list is not zero followers
            assert snap is None or snap.partial, f"{acct}: recorded a complete list"
            if exact:
                assert snap is None and listing.skipped, f"{acct}: not skipped with a reason"
            continue
        if snap is None:
            assert not exact and listing.skipped
            continue
        assert isinstance(snap, FollowerSnapshot)
        if snap.partial:
            assert not exact, f"{acct}: partial in a fault-free run: {listing.error}"
            assert listing.error
            assert set(snap.follower_ids) <= set(expected)
        else:
            assert snap.follower_ids == expected, f"{acct}: wrong complete list"
            assert snap.observed_at.tzinfo is not None and snap.source


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clean_run_reads_every_status(case: Case) -> None:
    rec = Recorded(case.name)
    clock = FakeClock()
    obs, lists = run_case(case, rec, clock, rec.base, rec.data, followers=True)
    check_contract(case, rec.data, obs, exact=True)
    check_followers(rec.data, lists, exact=True)
    keys = {case.key(o) for o in obs}
    if case.lookup:
        assert keys == set(rec.data["expected"])
    else:
        assert keys == set(rec.data["expected_counts"])


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_persistent_fault_gives_unknown_with_reason(case: Case, kind: str) -> None:
    rec = Recorded(case.name)
    clock = FakeClock()
    faulty = Faulty(rec, clock, kind, "always")
    obs, lists = run_case(case, faulty, clock, rec.base, rec.data, followers=True)
    assert obs, "a failure still yields observations (unknown)"
    for o in obs:
        assert o.status == "unknown", f"{case.key(o)}: {o.status} from a failed request"
        assert o.detail
        assert o.followers_count is None
    for listing in lists.values():
        assert listing.snapshot is None or listing.snapshot.partial
        assert listing.skipped or listing.error
    words = REASON_WORDS[kind]
    if case.name in ("telegram", "wayback") and kind in ("truncated", "malformed"):
        words = "no subscriber counter" if case.name == "telegram" else "json"
    assert all(words.lower() in (o.detail or "").lower() for o in obs), [o.detail for o in obs]


REASON_WORDS = {"timeout": "timeout", "connect": "ConnectError", "reset": "RemoteProtocolError",
                "http_500": "HTTP 500", "http_503": "HTTP 503", "http_429": "429",
                "truncated": "unparseable JSON", "malformed": "unparseable JSON"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_transient_fault_is_retried_to_the_clean_answer(case: Case, kind: str) -> None:
    rec = Recorded(case.name)
    clock = FakeClock()
    obs, lists = run_case(case, Faulty(rec, clock, kind, "first"), clock, rec.base, rec.data, followers=True)
    check_contract(case, rec.data, obs, exact=True)
    check_followers(rec.data, lists, exact=True)
    assert clock.sleeps, "retries back off"
    if kind == "http_429":
        assert max(clock.sleeps) >= 29, "a 429 waits for the reset the server named"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_random_faults_never_invent_a_status(case: Case, seed: int) -> None:
    rec = Recorded(case.name)
    clock = FakeClock()
    faulty = Faulty(rec, clock, None, 0.45, seed=seed)
    obs, lists = run_case(case, faulty, clock, rec.base, rec.data, followers=True)
    assert faulty.faulted > 0
    check_contract(case, rec.data, obs, exact=False)
    check_followers(rec.data, lists, exact=False)


def test_bluesky_missing_actor_details_keep_platform_words() -> None:
    rec = Recorded("bluesky")
    obs, _ = run_case(CASES[0], rec, FakeClock(), rec.base, rec.data)
    by = {o.account_id: o for o in obs}
    # One request settles a DID the relay names a state for; the AppView decides otherwise.
    assert "getRepoStatus: takendown" in (by["did:plc:takedownzzzzzzzzzzzzzzzz"].detail or "")
    assert "AccountTakedown" in (by["did:plc:gonezzzzzzzzzzzzzzzzzzzz"].detail or "")
    assert "takedown vs suspension not distinguished" in (by["did:plc:gonezzzzzzzzzzzzzzzzzzzz"].detail or "")
    assert by["did:plc:weirdzzzzzzzzzzzzzzzzzzz"].status_raw == "quarantined"
    assert by["did:plc:alicezzzzzzzzzzzzzzzzzzz"].handle == "alice.bsky.social"
    assert by["did:plc:activezzzzzzzzzzzzzzzzzz"].followers_count == 12034


def test_mastodon_blanked_counts_are_not_measurements() -> None:
    rec = Recorded("mastodon")
    obs, lists = run_case(CASES[1], rec, FakeClock(), rec.base, rec.data, followers=True)
    by = {o.account_id: o for o in obs}
    assert by["3@mastodon.example"].followers_count is None       # self-deleted: zeroed
    assert by["2@mastodon.example"].followers_count == 5400        # moderator: kept
    assert "other.example" in (by["5@mastodon.example"].detail or "")
    assert "not zero followers" in (lists["4@mastodon.example"].skipped or "")
    # Paging followed the Link header's max_id only, and went to the same instance.
    paths = [str(r.url) for r in rec.calls if r.url.path.endswith("/followers")]
    assert any("max_id=7486869" in p for p in paths)


def test_x_token_is_sent_only_in_the_header_and_never_shown() -> None:
    rec = Recorded("x")
    clock = FakeClock()
    faulty = Faulty(rec, clock, "http_500", "always")

    async def go() -> tuple[list[Observation], str]:
        async with HttpClient(clock=clock, transport=httpx.MockTransport(faulty), retries=1) as http:
            conn = XConnector(http, token=Secret(TOKEN), base_url=rec.base)
            return await conn.lookup(rec.data["ask"]), repr(conn) + str(conn)

    obs, shown = asyncio.run(go())
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in rec.calls)
    assert all(TOKEN not in str(r.url) for r in rec.calls)
    assert TOKEN not in shown
    assert all(TOKEN not in (o.detail or "") and TOKEN not in (o.source_ref or "") for o in obs)
    assert TOKEN not in repr(Secret(TOKEN)) and TOKEN not in f"{Secret(TOKEN)}"


def test_x_usage_cap_is_a_failure_not_a_wait() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"title": "UsageCapExceeded", "period": "Monthly", "scope": "Product",
                                         "detail": "Usage cap exceeded: Monthly product cap", "type": "https://api.x.com/2/problems/usage-capped"})

    async def go() -> list[Observation]:
        async with HttpClient(clock=clock, transport=httpx.MockTransport(handler)) as http:
            return await XConnector(http, token=Secret(TOKEN), base_url="http://x.test").lookup(["1", "2"])

    obs = asyncio.run(go())
    assert [o.status for o in obs] == ["unknown", "unknown"]
    assert "usage cap" in (obs[0].detail or "")
    assert sum(clock.sleeps) < 1, "no point waiting out a monthly cap"


def test_wayback_backfill_is_paced_and_keeps_capture_urls() -> None:
    rec = Recorded("wayback")
    clock = FakeClock()
    from purgewatch.net.http import HostPolicy
    from purgewatch.sources.wayback import MIN_INTERVAL

    async def go() -> Any:
        policy = {"archive.test": HostPolicy(concurrency=1, min_interval=MIN_INTERVAL)}
        async with HttpClient(clock=clock, transport=httpx.MockTransport(rec), hosts=policy) as http:
            return await WaybackConnector(http, base_url=rec.base).backfill("TEN_GOP")

    start = clock.time()
    result = asyncio.run(go())
    assert result.without_count == rec.data["without_count"]
    assert all(o.source == "web-archive" and "/web/" in (o.source_ref or "") for o in result.observations)
    n = len(rec.calls)
    assert n == 13  # CDX + 9 captures + 3 redirect hops
    # The archive's replay of a 429 is the archived page's status: no wait, no retry.
    assert not [r for r in rec.calls if "20170901000000" in str(r.url)][1:]
    assert len(result.not_profile) == rec.data["not_profile"]
    assert any("i/flow/login" in why for why in result.not_profile)
    assert not any(o.followers_count == 5_000_000 for o in result.observations), "another page's count"
    by = {o.observed_at.isoformat(): o for o in result.observations}
    assert by["2017-11-01T00:00:01+00:00"].status == "suspended"
    assert "rounded: 1.2M" in (by["2012-01-05T10:00:00+00:00"].detail or "")
    assert any("20170302000512id_" in (o.source_ref or "") for o in result.observations)
    # ≤ 24 requests per minute: n requests span at least (n - 1) * 2.5 s.
    assert clock.time() - start >= (n - 1) * 60 / 24 - 1e-9


V1 = ('{"did":"did:plc:g4utmyfy2ysomrhfmfkwqgcw","time_us":1779719010272410,"kind":"account","account":{"active":false,'
      '"did":"did:plc:g4utmyfy2ysomrhfmfkwqgcw","seq":30340180351,"status":"takendown","time":"2026-05-25T14:23:29.950Z"}}')
V2 = ('{"$type":"message","payload":{"$type":"network.bsky.jetstream.subscribeEvents#account","seq":7,'
      '"did":"did:plc:g4utmyfy2ysomrhfmfkwqgcw","time":"2026-05-25T14:23:29.950123Z",'
      '"account":{"active":false,"did":"did:plc:g4utmyfy2ysomrhfmfkwqgcw","seq":30340180352,'
      '"status":"suspended","time":"2026-05-25T14:23:29.900Z"}}}')


def test_jetstream_frames_v1_v2_and_noise() -> None:
    from purgewatch.sources.bluesky import parse_jetstream_frame

    acct, cursor = parse_jetstream_frame(V1)
    assert acct is not None and acct["status"] == "takendown" and acct["did"] == "did:plc:g4utmyfy2ysomrhfmfkwqgcw"
    assert cursor == 1779719010272410
    # v2: no time_us; Jetstream's RFC 3339 ``time`` (µs) is the cursor, which v2 accepts.
    acct, cursor = parse_jetstream_frame(V2)
    assert acct is not None and acct["status"] == "suspended" and acct["time"].startswith("2026-05-25")
    assert cursor == 1779719009950123
    assert acct["jetstream_seq"] == 7 and acct["seq"] == 30340180352  # the relay's own seq kept
    commit = '{"did":"did:plc:xxxxxxxxxxxxxxxxxxxxxxxx","time_us":5,"kind":"commit","commit":{}}'
    assert parse_jetstream_frame(commit) == (None, 5)
    assert parse_jetstream_frame('{"$type":"error","error":"ConsumerTooSlow"}') == (None, None)
    assert parse_jetstream_frame('{"did": "did:plc:g4utmyfy2ysomrhfmfkwqgcw", "kind": "acc') == (None, None)


@pytest.mark.parametrize("repo_answer", ["takendown", "fail", "quarantined"])
def test_jetstream_event_counts_only_when_the_relay_confirms(repo_answer: str) -> None:
    from purgewatch.sources.bluesky import Jetstream, parse_jetstream_frame

    def handler(request: httpx.Request) -> httpx.Response:
        if repo_answer == "fail":
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json={"did": "did:plc:g4utmyfy2ysomrhfmfkwqgcw", "active": False, "status": repo_answer})

    async def go() -> Any:
        async with HttpClient(clock=FakeClock(), transport=httpx.MockTransport(handler), retries=1) as http:
            conn = BlueskyConnector(http, appview_url="http://bsky.test", relay_url="http://relay.test")
            js = Jetstream(conn, url="ws://jet.test/subscribe", watched={"did:plc:g4utmyfy2ysomrhfmfkwqgcw"})
            acct, _ = parse_jetstream_frame(V1)
            assert acct is not None
            other = dict(acct, did="did:plc:notwatchedzzzzzzzzzzzzzz")
            assert await js._confirm(other, V1) is None
            return await js._confirm(acct, V1)

    ev = asyncio.run(go())
    assert ev is not None and ev.source == "bluesky-jetstream"
    if repo_answer == "takendown":
        assert ev.status == "takendown" and "confirmed by getRepoStatus" in ev.source_ref
    else:
        assert ev.status == "unknown" and ev.status_raw == "takendown"
        assert "unconfirmed" in ev.source_ref
    assert ev.at.isoformat().startswith("2026-05-25T14:23:29.950")


def test_jetstream_subscribe_url_resumes_a_few_seconds_back(tmp_path: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from purgewatch.sources.bluesky import CursorFile, Jetstream

    cf = CursorFile(tmp_path / "state" / "jetstream.cursor")
    cf.save(1_779_719_010_272_410)
    js = Jetstream(BlueskyConnector(HttpClient()), url="wss://jet.test/subscribe", watched={"did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"},
                   cursor_file=cf, rewind_s=5)
    q = parse_qs(urlsplit(js.subscribe_url()).query)
    assert q["wantedDids"] == ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]
    assert int(q["cursor"][0]) == 1_779_719_010_272_410 - 5_000_000
    v2 = Jetstream(BlueskyConnector(HttpClient()), url="wss://jet.test/xrpc/network.bsky.jetstream.subscribeEvents",
                   watched={"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"})
    q = parse_qs(urlsplit(v2.subscribe_url()).query)
    assert q["dids"] == ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"] and q["kinds"] == ["account"] and "cursor" not in q


def test_mastodon_never_follows_a_link_to_another_host() -> None:
    rec = Recorded("mastodon")
    evil: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != "mastodon.test":
            evil.append(str(request.url))
            return httpx.Response(200, json=[])
        resp = rec(request)
        if request.url.path.endswith("/followers"):
            resp.headers["Link"] = '<https://evil.example/api/v1/accounts/1/followers?max_id=5>; rel="next"'
        return resp

    async def go() -> FollowerListing:
        async with HttpClient(clock=FakeClock(), transport=httpx.MockTransport(handler)) as http:
            conn = MastodonConnector(http, instances={"mastodon.example": rec.base})
            return await conn.followers("1@mastodon.example")

    listing = asyncio.run(go())
    assert evil == []
    assert listing.snapshot is not None and listing.snapshot.partial
    assert "another host" in (listing.error or "")


def test_mastodon_batches_ids_and_falls_back_on_older_servers() -> None:
    rec = Recorded("mastodon")
    obs, _ = run_case(CASES[1], rec, FakeClock(), rec.base, rec.data)
    paths = [r.url.path for r in rec.calls]
    assert paths.count("/api/v1/accounts") == 1, "ids 2-9 in one request"
    assert "/api/v1/accounts/7" in paths and "/api/v1/accounts/2" not in paths  # only the dropped id alone

    old = Recorded("mastodon")

    def no_batch(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts":
            old.calls.append(request)
            return httpx.Response(404, json={"error": "Record not found"})
        return old(request)

    obs2, _ = run_case(CASES[1], no_batch, FakeClock(), old.base, old.data)
    assert [(o.account_id, o.status) for o in obs2] == [(o.account_id, o.status) for o in obs]
    assert "/api/v1/accounts/2" in [r.url.path for r in old.calls]
