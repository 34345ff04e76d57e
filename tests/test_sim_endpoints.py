"""Every emulator endpoint against the shapes of PLATFORMS.md, and against the ground truth
over time (faults off here; see test_sim_faults.py)."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.sync.client import connect

from purgewatch.errors import ConfigError
from purgewatch.sim import (
    Emulator,
    load_scenario,
    truth,
    truth_followers_at,
    truth_status_at,
    truth_statuses_at,
)

pytest_plugins = ["purgewatch.sim.testing"]

START = datetime(2026, 3, 2, tzinfo=UTC)
THURSDAY = datetime(2026, 3, 5, 14, tzinfo=UTC)
AFTER_WAVE = THURSDAY + timedelta(hours=2)
X_AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture(scope="module")
def doc():
    return truth(load_scenario("small"))


@pytest.fixture(scope="module")
def ids(doc):
    return {a["key"]: a["account_id"] for a in doc["accounts"]}


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def at(emu: Emulator, when: datetime) -> None:
    emu.clock.set(when)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# ------------------------------------------------------------------- Bluesky
def test_bluesky_get_profile_shapes(emulator, client, ids):
    b = emulator.url("bluesky")
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": "leader.bsky.social"})
    assert r.status_code == 200
    p = r.json()
    assert p["did"] == ids["bluesky:leader.bsky.social"] and p["handle"] == "leader.bsky.social"
    assert {"followersCount", "followsCount", "postsCount", "createdAt", "indexedAt", "labels"} <= set(p)
    assert client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": p["did"]}).json() == p
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": "nobody-here.bsky.social"})
    assert (r.status_code, r.json()) == (400, {"error": "InvalidRequest", "message": "Profile not found"})
    at(emulator, AFTER_WAVE)
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": "ministry-interior.bsky.social"})
    assert (r.status_code, r.json()) == (400, {"error": "AccountTakedown", "message": "Account has been suspended"})


def test_bluesky_deactivated_and_deleted(emulator, client, doc):
    b = emulator.url("bluesky")
    end = datetime(2026, 3, 15, tzinfo=UTC)
    at(emulator, end)
    down = truth_statuses_at(doc, "bluesky", end)
    deact = next(a for a, s in down.items() if s == "deactivated")
    deleted = next(a for a, s in down.items() if s == "deleted")
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": deact})
    assert (r.status_code, r.json()) == (400, {"error": "AccountDeactivated", "message": "Account is deactivated"})
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": deleted})
    assert (r.status_code, r.json()["error"]) == (400, "InvalidRequest")
    r = client.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": deact})
    assert r.json() == {"did": deact, "active": False, "status": "deactivated", "rev": r.json()["rev"]}
    r = client.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": deleted})
    assert (r.json()["active"], r.json()["status"]) == (False, "deleted")


def test_bluesky_get_profiles_silently_drops(emulator, client, ids, doc):
    b = emulator.url("bluesky")
    at(emulator, AFTER_WAVE)
    victims = [a for a, s in truth_statuses_at(doc, "bluesky", AFTER_WAVE).items() if s == "takendown"][:3]
    actors = [ids["bluesky:leader.bsky.social"], "did:plc:" + "b" * 24, *victims,
              ids["bluesky:ministry-interior.bsky.social"], "opp-leader.bsky.social"]
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfiles", params=[("actors", a) for a in actors])
    assert r.status_code == 200
    got = [p["did"] for p in r.json()["profiles"]]
    assert got == [ids["bluesky:leader.bsky.social"], ids["bluesky:opp-leader.bsky.social"]]
    r = client.get(f"{b}/xrpc/app.bsky.actor.getProfiles", params=[("actors", "x.bsky.social")] * 26)
    assert r.status_code == 400 and r.json()["error"] == "InvalidRequest"


def _bsky_all_followers(client, b, actor, limit=100):
    seen, pages, cursor = [], [], None
    while True:
        params = {"actor": actor, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"{b}/xrpc/app.bsky.graph.getFollowers", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) <= {"subject", "followers", "cursor"} and body["subject"]["did"] == actor
        assert all("followersCount" not in f for f in body["followers"])  # profileView: no counts
        pages.append(len(body["followers"]))
        seen += [f["did"] for f in body["followers"]]
        cursor = body.get("cursor")
        if not cursor:
            return seen, pages


def test_bluesky_followers_match_truth_and_pages_run_short(emulator, client, ids, doc):
    b = emulator.url("bluesky")
    leader = ids["bluesky:leader.bsky.social"]
    for when in (START + timedelta(hours=5), AFTER_WAVE, datetime(2026, 3, 12, tzinfo=UTC)):
        at(emulator, when)
        seen, pages = _bsky_all_followers(client, b, leader, limit=50)
        assert len(seen) == len(set(seen))
        assert set(seen) == truth_followers_at(doc, "bluesky", leader, when)
        count = client.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": leader}).json()["followersCount"]
        assert count == len(seen)
        if when == AFTER_WAVE:
            # taken-down followers are filtered after the page is cut: short pages
            assert any(n < 50 for n in pages[:-1])
    r = client.get(f"{b}/xrpc/app.bsky.graph.getFollowers",
                   params={"actor": ids["bluesky:ministry-interior.bsky.social"]})
    assert r.status_code == 400 and r.json()["error"] == "InvalidRequest"
    assert r.json()["message"].startswith("Actor not found")
    r = client.get(f"{b}/xrpc/app.bsky.graph.getFollowers", params={"actor": leader, "limit": 101})
    assert r.status_code == 400


def test_bluesky_repo_status(emulator, client, ids):
    b = emulator.url("bluesky")
    did = ids["bluesky:ministry-interior.bsky.social"]
    r = client.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": did})
    assert r.status_code == 200 and r.json()["active"] is True and "status" not in r.json()
    at(emulator, AFTER_WAVE)
    body = client.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": did}).json()
    assert (body["did"], body["active"], body["status"]) == (did, False, "takendown")
    assert re.fullmatch(r"[2-7a-z]{13}", body["rev"])
    r = client.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": "did:plc:" + "c" * 24})
    # indigo relay: 404 RepoNotFound "account not found" for a DID it has never seen
    assert r.status_code == 404 and r.json() == {"error": "RepoNotFound", "message": "account not found"}
    r = client.get(f"{b}/xrpc/app.bsky.feed.getTimeline")
    assert r.status_code == 501


# --------------------------------------------------------------------- Jetstream
def _frames(url: str, n: int | None, timeout: float = 2.0) -> list[dict]:
    out = []
    with connect(url, open_timeout=5) as ws:
        while n is None or len(out) < n:
            try:
                out.append(json.loads(ws.recv(timeout=timeout)))
            except TimeoutError:
                break
    return out


def test_jetstream_replays_from_cursor_and_filters_dids(emulator, ids, doc):
    at(emulator, THURSDAY + timedelta(hours=1))
    cursor = int((THURSDAY - timedelta(minutes=1)).timestamp() * 1e6)
    frames = _frames(f"{emulator.jetstream_url}?cursor={cursor}", None, timeout=0.5)
    want = [c for c in doc["status_changes"] if c["platform"] == "bluesky"
            and iso(THURSDAY - timedelta(minutes=1)) <= c["at"] <= iso(THURSDAY + timedelta(hours=1))]
    assert len(frames) == len(want) > 60
    f = frames[0]
    assert set(f) == {"did", "time_us", "kind", "account"} and f["kind"] == "account"
    assert set(f["account"]) <= {"active", "did", "seq", "status", "time"}
    assert [fr["time_us"] for fr in frames] == sorted(fr["time_us"] for fr in frames)
    assert {(fr["did"], fr["account"]["status"]) for fr in frames} == {(c["account_id"], c["status"]) for c in want}
    ministry = ids["bluesky:ministry-interior.bsky.social"]
    only = _frames(f"{emulator.jetstream_url}?cursor={cursor}&wantedDids={ministry}", None, timeout=0.3)
    assert [(fr["did"], fr["account"]["active"], fr["account"]["status"]) for fr in only] == [(ministry, False, "takendown")]


def test_jetstream_live_delivery_as_the_clock_moves(emulator, ids):
    ministry = ids["bluesky:ministry-interior.bsky.social"]
    at(emulator, THURSDAY - timedelta(minutes=5))
    with connect(f"{emulator.jetstream_url}?wantedDids={ministry}", open_timeout=5) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)  # nothing yet
        emulator.clock.advance(hours=1)
        frame = json.loads(ws.recv(timeout=2))
    assert frame["did"] == ministry and frame["account"]["status"] == "takendown"
    assert THURSDAY.timestamp() * 1e6 <= frame["time_us"] <= (THURSDAY + timedelta(minutes=30)).timestamp() * 1e6


# --------------------------------------------------------------------- Mastodon
def test_mastodon_lookup_account_and_suspension(emulator, client, ids):
    m = emulator.url("mastodon", "gov.social")
    r = client.get(f"{m}/api/v1/accounts/lookup", params={"acct": "minister"})
    assert r.status_code == 200
    a = r.json()
    assert a["id"] + "@gov.social" == ids["mastodon:minister@gov.social"]
    assert {"id", "username", "acct", "display_name", "locked", "bot", "group", "created_at", "note", "url",
            "followers_count", "following_count", "statuses_count", "last_status_at", "fields", "emojis"} <= set(a)
    assert a["created_at"].endswith("T00:00:00.000Z") and "suspended" not in a
    assert client.get(f"{m}/api/v1/accounts/{a['id']}").json() == a
    r = client.get(f"{m}/api/v1/accounts/lookup", params={"acct": "journalist@mastodon.social"})
    assert r.status_code == 200 and r.json()["acct"] == "journalist@mastodon.social"
    r = client.get(f"{m}/api/v1/accounts/lookup", params={"acct": "ghost"})
    assert (r.status_code, r.json()) == (404, {"error": "Record not found"})
    at(emulator, AFTER_WAVE)
    s = client.get(f"{m}/api/v1/accounts/{a['id']}").json()
    assert s["suspended"] is True and s["display_name"] == "" and s["note"] == "" and s["fields"] == []
    assert s["avatar"].endswith("/avatars/original/missing.png")
    assert s["followers_count"] > 0  # a moderator suspension keeps the counts
    r = client.get(f"{m}/api/v1/accounts/{a['id']}/followers")
    assert (r.status_code, r.json()) == (200, [])  # an empty list is not zero followers
    at(emulator, AFTER_WAVE + timedelta(days=31))
    # 30 days on the data is deleted but the record stays: suspended, every count zero
    purged = client.get(f"{m}/api/v1/accounts/{a['id']}")
    assert purged.status_code == 200 and purged.json()["suspended"] is True
    assert (purged.json()["followers_count"], purged.json()["following_count"], purged.json()["statuses_count"]) == (0, 0, 0)
    # a route the server does not have: Mastodon's own 404, not "Record not found"
    r = client.get(f"{m}/api/v1/acounts/{a['id']}")
    assert (r.status_code, r.json()) == (404, {"error": "Not Found"})
    q = emulator.url("mastodon", "mastodon.social")
    quiet = ids["mastodon:quiet@mastodon.social"].split("@")[0]
    r = client.get(f"{q}/api/v1/accounts/{quiet}")
    assert r.json()["limited"] is True
    assert client.get(f"{q}/api/v1/accounts/{quiet}/followers").json() == []  # hides collections


def test_mastodon_followers_link_paging_matches_truth(emulator, client, ids, doc):
    m = emulator.url("mastodon", "mastodon.social")
    acct = ids["mastodon:journalist@mastodon.social"]
    at(emulator, datetime(2026, 3, 9, 12, tzinfo=UTC))
    url: str | None = f"{m}/api/v1/accounts/{acct.split('@')[0]}/followers?limit=80"
    seen = []
    while url:
        r = client.get(url)
        assert r.status_code == 200
        assert int(r.headers["X-RateLimit-Remaining"]) < 300
        seen += [f"{a['id']}@{a['url'].split('/')[2]}" for a in r.json()]
        nxt = re.search(r'<([^>]+)>; rel="next"', r.headers.get("Link", ""))
        url = nxt.group(1) if nxt else None
        if url:
            assert "max_id=" in url
    assert set(seen) == truth_followers_at(doc, "mastodon", acct, datetime(2026, 3, 9, 12, tzinfo=UTC))
    assert len(seen) == len(set(seen)) > 80
    # prev (min_id) from the second page gives back the first page; since_id the newest
    base = f"{m}/api/v1/accounts/{acct.split('@')[0]}/followers"
    p1 = client.get(base, params={"limit": 10})
    p2 = client.get(re.search(r'<([^>]+)>; rel="next"', p1.headers["Link"]).group(1))
    prev = client.get(re.search(r'<([^>]+)>; rel="prev"', p2.headers["Link"]).group(1))
    assert "min_id=" in prev.url.query.decode() and prev.json() == p1.json()
    newest = client.get(base, params={"limit": 3, "since_id": re.search(r"max_id=(\d+)", p1.headers["Link"]).group(1)})
    assert newest.json() == p1.json()[:3]
    batch = client.get(f"{m}/api/v1/accounts", params=[("id[]", acct.split("@")[0]), ("id[]", "123")]).json()
    assert [a["id"] for a in batch] == [acct.split("@")[0]]
    assert client.get(f"{emulator.base_url}/mastodon/not.an.instance/api/v1/accounts/1").status_code == 404


# ---------------------------------------------------------------------------- X
def test_x_lookup_200_with_errors(emulator, client, ids):
    x = emulator.url("x")
    at(emulator, AFTER_WAVE)
    q = ",".join([ids["x:leader_x"], ids["x:interior_x"], "1234567890123456789", ids["x:private_x"]])
    r = client.get(f"{x}/2/users", params={"ids": q, "user.fields": "created_at,protected,public_metrics"},
                   headers=X_AUTH)
    assert r.status_code == 200
    body = r.json()
    assert [u["id"] for u in body["data"]] == [ids["x:leader_x"], ids["x:private_x"]]
    leader = body["data"][0]
    assert set(leader["public_metrics"]) >= {"followers_count", "following_count", "tweet_count", "listed_count"}
    assert body["data"][1]["protected"] is True
    susp, missing = body["errors"]
    assert susp["title"] == "Forbidden" and susp["detail"] == f"User has been suspended: [{ids['x:interior_x']}]."
    assert missing["title"] == "Not Found Error" and missing["type"].endswith("/resource-not-found")
    assert susp["type"].endswith("/resource-not-found") and susp["resource_id"] == ids["x:interior_x"]
    r = client.get(f"{x}/2/users/by", params={"usernames": "leader_x,nosuchuser"}, headers=X_AUTH)
    assert [u["username"] for u in r.json()["data"]] == ["leader_x"]
    assert r.json()["errors"][0]["detail"] == "Could not find user with usernames: [nosuchuser]."
    assert set(r.json()["data"][0]) == {"id", "name", "username"}  # default fields
    assert client.get(f"{x}/2/users", params={"ids": "1"}).status_code == 401
    r = client.get(f"{x}/2/users", params={"ids": ",".join(["1"] * 101)}, headers=X_AUTH)
    assert r.status_code == 400 and r.json()["title"] == "Invalid Request"


def test_x_followers_paging_matches_truth(emulator, client, ids, doc):
    x = emulator.url("x")
    leader = ids["x:leader_x"]
    for when in (AFTER_WAVE, datetime(2026, 3, 11, tzinfo=UTC)):
        at(emulator, when)
        seen, token = [], None
        while True:
            params = {"max_results": 200}
            if token:
                params["pagination_token"] = token
            body = client.get(f"{x}/2/users/{leader}/followers", params=params, headers=X_AUTH).json()
            assert body["meta"]["result_count"] == len(body.get("data", []))
            seen += [u["id"] for u in body.get("data", [])]
            token = body["meta"].get("next_token")
            if not token:
                break
        assert set(seen) == truth_followers_at(doc, "x", leader, when)
        count = client.get(f"{x}/2/users", params={"ids": leader, "user.fields": "public_metrics"},
                           headers=X_AUTH).json()["data"][0]["public_metrics"]["followers_count"]
        assert count == len(seen)
    body = client.get(f"{x}/2/users/{ids['x:private_x']}/followers", headers=X_AUTH).json()
    assert body["errors"][0]["title"] == "Authorization Error"
    assert body["errors"][0]["type"].endswith("/not-authorized-for-resource")
    body = client.get(f"{x}/2/users/{ids['x:interior_x']}/followers", headers=X_AUTH).json()
    assert body["errors"][0]["title"] == "Forbidden"


def test_truth_statuses_agree_with_endpoints_over_time(emulator, client, doc):
    """X accounts that changed status answer what the truth says, before and after."""
    x = emulator.url("x")
    existed = {e["follower_id"] for edges in (v for k, v in doc["follows"].items() if k.startswith("x:"))
               for e in edges if e["followed_at"] < iso(START)}
    changed = sorted({c["account_id"] for c in doc["status_changes"] if c["platform"] == "x"} & existed)[:100]
    assert len(changed) == 100
    seen_states = set()
    for when in (START + timedelta(hours=1), AFTER_WAVE, datetime(2026, 3, 10, 12, tzinfo=UTC)):
        at(emulator, when)
        body = client.get(f"{x}/2/users", params={"ids": ",".join(changed)}, headers=X_AUTH).json()
        shown = {u["id"]: "active" for u in body.get("data", [])}
        for e in body.get("errors", []):
            shown[e["value"]] = "suspended" if e["title"] == "Forbidden" else "gone"
        for a in changed:
            want = truth_status_at(doc, "x", a, when)
            expect = {"active": "active", "suspended": "suspended"}.get(want, "gone")
            assert shown[a] == expect, (a, when, want)
            seen_states.add(expect)
    assert seen_states == {"active", "suspended", "gone"}


# ----------------------------------------------------------------- control, safety
def test_control_clock_and_stats(emulator, client):
    c = client.get(f"{emulator.base_url}/_sim/clock").json()
    assert c["manual"] is True and c["now"] == "2026-03-02T00:00:00.000Z"
    c = client.post(f"{emulator.base_url}/_sim/clock", params={"advance": 7200}).json()
    assert c["now"] == "2026-03-02T02:00:00.000Z"
    c = client.post(f"{emulator.base_url}/_sim/clock", params={"set": "2026-03-05T15:00:00Z"}).json()
    assert emulator.clock.now() == datetime(2026, 3, 5, 15, tzinfo=UTC) and c["now_us"] > 0
    client.get(f"{emulator.url('bluesky')}/xrpc/app.bsky.actor.getProfile", params={"actor": "leader.bsky.social"})
    assert emulator.stats()["bluesky"]["requests"] == 1
    assert client.get(f"{emulator.base_url}/_sim/stats").json()["bluesky"]["rate_limited"] == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_binds_loopback_only(host):
    with pytest.raises(ConfigError):
        Emulator(load_scenario("small"), host=host)


def test_server_socket_is_on_loopback(emulator):
    sock = emulator._server.servers[0].sockets[0]  # type: ignore[union-attr]
    assert sock.getsockname()[0] == "127.0.0.1"
    # nothing listens on the machine's other addresses for this port
    other = socket.gethostbyname(socket.gethostname())
    if other != "127.0.0.1" and not other.startswith("127."):
        with socket.socket() as s:
            s.settimeout(0.5)
            assert s.connect_ex((other, emulator.port)) != 0


def test_jetstream_clamps_a_too_old_cursor(emulator, doc):
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)
    at(emulator, now)
    frames = _frames(f"{emulator.jetstream_url}?cursor=1", None, timeout=0.5)  # years too old
    oldest = iso(now - timedelta(hours=36))
    want = [c for c in doc["status_changes"] if c["platform"] == "bluesky" and oldest <= c["at"] <= iso(now)]
    assert len(frames) == len(want) > 0
    assert min(f["time_us"] for f in frames) >= (now - timedelta(hours=36)).timestamp() * 1e6


def test_jetstream_delivers_within_one_scenario_minute_on_an_accelerated_clock(emulator_factory, ids, doc):
    ministry = ids["bluesky:ministry-interior.bsky.social"]
    change = next(c for c in doc["status_changes"] if c["account_id"] == ministry)
    when = datetime.strptime(change["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    # 60x: one wall second per scenario minute; start 30 scenario seconds before the takedown
    emu = emulator_factory("small", faults=False, speed=60, start=when - timedelta(seconds=30))
    with connect(f"{emu.jetstream_url}?wantedDids={ministry}", open_timeout=5) as ws:
        frame = json.loads(ws.recv(timeout=5))
        received_us = emu.clock.now_us()
    assert frame["did"] == ministry and frame["account"]["status"] == "takendown"
    assert frame["time_us"] <= received_us <= frame["time_us"] + 60_000_000


def test_demo_story_through_the_endpoints(emulator_factory, client):
    """Issue 6's demo as a client sees it: the leader's X count falls by ~6,000 on Thursday
    afternoon, the opposition's does not, and brand-new accounts follow the leader later."""
    thursday = datetime(2026, 5, 21, 14, tzinfo=UTC)
    emu = emulator_factory("demo", faults=False, start=thursday - timedelta(minutes=1))
    x = emu.url("x")
    names = "PresidentLeader,OppLeader,MinInterior"

    def counts() -> dict[str, int]:
        body = client.get(f"{x}/2/users/by", params={"usernames": names, "user.fields": "public_metrics"},
                          headers=X_AUTH).json()
        return {u["username"]: u["public_metrics"]["followers_count"] for u in body.get("data", [])}

    before = counts()
    emu.clock.advance(hours=2)
    after = counts()
    assert 5500 <= before["PresidentLeader"] - after["PresidentLeader"] <= 6600
    assert abs(before["OppLeader"] - after["OppLeader"]) < 50  # organic noise only
    assert "MinInterior" not in after  # suspended: now in `errors`
    emu.clock.set(datetime(2026, 5, 26, 12, tzinfo=UTC))  # during the regain campaign
    leader = client.get(f"{x}/2/users/by", params={"usernames": "PresidentLeader"}, headers=X_AUTH).json()["data"][0]
    page = client.get(f"{x}/2/users/{leader['id']}/followers",
                      params={"max_results": 100, "user.fields": "created_at"}, headers=X_AUTH).json()["data"]
    ages = [datetime(2026, 5, 26, 12, tzinfo=UTC) - datetime.fromisoformat(u["created_at"].replace("Z", "+00:00"))
            for u in page]
    assert sum(a < timedelta(days=2) for a in ages) >= 90  # the newest followers are days-old accounts


def test_jetstream_v2_frames_and_too_old_cursor(emulator, ids):
    from websockets.exceptions import InvalidStatus

    ministry = ids["bluesky:ministry-interior.bsky.social"]
    at(emulator, THURSDAY + timedelta(hours=1))
    url = emulator.jetstream_url.replace("/subscribe", "/xrpc/network.bsky.jetstream.subscribeEvents")
    cursor = int(THURSDAY.timestamp() * 1e6)
    frames = _frames(f"{url}?dids={ministry}&kinds=account&cursor={cursor}", None, timeout=0.4)
    assert len(frames) == 1
    f = frames[0]
    assert f["$type"] == "message" and f["payload"]["$type"].endswith("#account")
    assert f["payload"]["did"] == ministry and f["payload"]["account"]["status"] == "takendown"
    assert {"seq", "did", "time", "account"} <= set(f["payload"])
    assert _frames(f"{url}?dids={ministry}&kinds=commit&cursor={cursor}", None, timeout=0.3) == []
    with pytest.raises(InvalidStatus) as exc:
        _frames(f"{url}?cursor=1", 1)
    assert exc.value.response.status_code == 400 and b"CursorTooOld" in exc.value.response.body
