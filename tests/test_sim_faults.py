"""Emulator rate limits (headers, 429, reset) and injected faults (rates, shapes, determinism)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from purgewatch.sim import Emulator, SimClock, load_scenario, truth

pytest_plugins = ["purgewatch.sim.testing"]

X_AUTH = {"Authorization": "Bearer test-token"}
THURSDAY = datetime(2026, 3, 5, 14, tzinfo=UTC)


class FakeWall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def small():
    return load_scenario("small")


def test_bluesky_rate_limit_headers_429_and_reset(small):
    wall = FakeWall(1000.0)
    with Emulator(small, faults=False, budgets={"bluesky": (5, 60.0)}, wall=wall) as emu, httpx.Client() as c:
        url = f"{emu.url('bluesky')}/xrpc/app.bsky.actor.getProfile"
        remaining = []
        for _ in range(5):
            r = c.get(url, params={"actor": "leader.bsky.social"})
            assert r.status_code == 200
            remaining.append(int(r.headers["RateLimit-Remaining"]))
            assert r.headers["RateLimit-Limit"] == "5" and r.headers["RateLimit-Policy"] == "5;w=60"
            assert r.headers["RateLimit-Reset"] == "1020"  # epoch seconds of the window's end
        assert remaining == [4, 3, 2, 1, 0]
        r = c.get(url, params={"actor": "leader.bsky.social"})
        assert r.status_code == 429
        assert r.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        assert r.headers["RateLimit-Remaining"] == "0"
        wall.t = 1021.0
        assert c.get(url, params={"actor": "leader.bsky.social"}).status_code == 200
        assert emu.stats()["bluesky"]["rate_limited"] == 1


def test_mastodon_paging_budget_is_separate_and_reset_is_iso(small):
    wall = FakeWall(1_800_000_000.0)
    budgets = {"mastodon": (100, 300.0), "mastodon_paging": (2, 900.0)}
    with Emulator(small, faults=False, budgets=budgets, wall=wall) as emu, httpx.Client() as c:
        m = emu.url("mastodon", "mastodon.social")
        ident = c.get(f"{m}/api/v1/accounts/lookup", params={"acct": "journalist"}).json()["id"]
        first = c.get(f"{m}/api/v1/accounts/{ident}/followers", params={"limit": 5})
        assert first.headers["X-RateLimit-Limit"] == "100"  # no max_id: the general bucket
        nxt = re.search(r'<([^>]+)>; rel="next"', first.headers["Link"]).group(1)
        codes = [c.get(nxt).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get(nxt)
        assert r.json() == {"error": "Too many requests"}
        assert r.headers["X-RateLimit-Limit"] == "2"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r.headers["X-RateLimit-Reset"])
        reset = datetime.strptime(r.headers["X-RateLimit-Reset"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert reset.timestamp() % 900 == 0 and reset.timestamp() > wall.t
        assert c.get(f"{m}/api/v1/accounts/{ident}").status_code == 200  # other calls still fine


def test_x_rate_limits_per_endpoint_and_usage_cap(small):
    wall = FakeWall(1_800_000_100.0)
    with Emulator(small, faults=False, budgets={"x_lookup": (3, 900.0)}, wall=wall) as emu, httpx.Client() as c:
        x = emu.url("x")
        rs = [c.get(f"{x}/2/users/by", params={"usernames": "leader_x"}, headers=X_AUTH) for _ in range(4)]
        assert [r.status_code for r in rs] == [200, 200, 200, 429]
        assert rs[0].headers["x-rate-limit-limit"] == "3" and rs[0].headers["x-rate-limit-remaining"] == "2"
        assert int(rs[0].headers["x-rate-limit-reset"]) == 1_800_000_900
        assert rs[3].json() == {"title": "Too Many Requests", "detail": "Too Many Requests",
                                "type": "about:blank", "status": 429}
        uid = rs[0].json()["data"][0]["id"]
        assert c.get(f"{x}/2/users/{uid}/followers", headers=X_AUTH).status_code == 200  # own bucket
    capped = dataclasses.replace(small, x_usage_cap=2)
    with Emulator(capped, faults=False) as emu, httpx.Client() as c:
        codes = [c.get(f"{emu.url('x')}/2/users/by", params={"usernames": "leader_x"}, headers=X_AUTH)
                 for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert codes[2].json()["title"] == "UsageCapExceeded" and codes[2].json()["period"] == "Monthly"


def _outcome(c: httpx.Client, url: str, params: dict) -> str:
    try:
        r = c.get(url, params=params, headers=X_AUTH)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.RemoteProtocolError:
        return "reset"
    if r.status_code >= 500:
        return "http_5xx"
    try:
        json.loads(r.content)
    except ValueError:
        return "malformed_json" if r.content.startswith(b"<html") else "truncated_json"
    assert r.status_code == 200, r.text
    return "ok"


RATES = {"reset": 0.06, "http_5xx": 0.08, "malformed_json": 0.05, "truncated_json": 0.05}


def _faulty(small):
    return dataclasses.replace(small, faults={"bluesky": dict(RATES), "x": dict(RATES)},
                               timeout_delay={"bluesky": 0.4, "x": 0.4}, fault_windows=())


def test_faults_happen_at_the_configured_rates(small):
    n = 200
    with Emulator(_faulty(small), limits=False) as emu, httpx.Client(timeout=5) as c:
        url = f"{emu.url('bluesky')}/xrpc/app.bsky.actor.getProfile"
        seen = Counter(_outcome(c, url, {"actor": "leader.bsky.social"}) for _ in range(n))
        served = emu.stats()["bluesky"]["faults"]
    for kind, p in RATES.items():
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(seen[kind] - n * p) <= 4 * sigma, (kind, seen)
        assert seen[kind] == served.get(kind, 0), (kind, seen, served)  # what the client saw = what was served
    assert seen["ok"] == n - sum(served.values())


def test_faults_are_deterministic_given_the_seed(small):
    runs = []
    for _ in range(2):
        with Emulator(_faulty(small), limits=False) as emu, httpx.Client(timeout=5) as c:
            url = f"{emu.url('x')}/2/users/by"
            runs.append([_outcome(c, url, {"usernames": "leader_x"}) for _ in range(60)])
    assert runs[0] == runs[1] and set(runs[0]) - {"ok"}


def test_timeout_fault_holds_the_answer_past_the_client_timeout(small):
    sc = dataclasses.replace(small, faults={"x": {"timeout": 0.5}}, timeout_delay={"x": 1.2}, fault_windows=())
    with Emulator(sc, limits=False) as emu, httpx.Client(timeout=0.4) as c:
        url = f"{emu.url('x')}/2/users/by"
        seen = [_outcome(c, url, {"usernames": "leader_x"}) for _ in range(6)]
        assert set(seen) == {"ok", "timeout"}
        assert seen.count("timeout") == emu.stats()["x"]["faults"]["timeout"]


def test_unknown_status_strings_in_repo_status(small):
    sc = dataclasses.replace(small, faults={"bluesky": {"unknown_status": 0.3}}, fault_windows=())
    doc = truth(small)
    ministry = next(a["account_id"] for a in doc["accounts"] if a["key"] == "bluesky:ministry-interior.bsky.social")
    leader = next(a["account_id"] for a in doc["accounts"] if a["key"] == "bluesky:leader.bsky.social")
    with Emulator(sc, limits=False, clock=SimClock.manual(THURSDAY + timedelta(hours=2))) as emu, httpx.Client() as c:
        url = f"{emu.url('bluesky')}/xrpc/com.atproto.sync.getRepoStatus"
        down = [c.get(url, params={"did": ministry}).json() for _ in range(60)]
        up = [c.get(url, params={"did": leader}).json() for _ in range(60)]
    down_words = Counter(b["status"] for b in down)
    assert set(down_words) == {"takendown", "quarantined"} and 5 <= down_words["quarantined"] <= 35
    assert all(b["active"] is False for b in down)  # the fault changes the word, never the flag
    assert {b.get("status") for b in up} == {None, "throttled"} and all(b["active"] for b in up)


def test_scheduled_outage(small):
    sc = dataclasses.replace(small, faults={})
    clock = SimClock.manual(datetime(2026, 3, 6, 1, tzinfo=UTC))
    with Emulator(sc, limits=False, clock=clock) as emu, httpx.Client() as c:
        m = emu.url("mastodon", "mastodon.social")
        codes = {c.get(f"{m}/api/v1/accounts/lookup", params={"acct": "journalist"}).status_code for _ in range(10)}
        assert codes <= {500, 502, 503} and len(codes) > 1
        clock.advance(hours=3)
        assert c.get(f"{m}/api/v1/accounts/lookup", params={"acct": "journalist"}).status_code == 200


def test_jetstream_disconnects_and_resumes_from_cursor(small):
    sc = dataclasses.replace(small, faults={"bluesky": {"disconnect": 0.2}}, fault_windows=())
    clock = SimClock.manual(THURSDAY + timedelta(hours=1))
    cursor = int(THURSDAY.timestamp() * 1e6) - 60_000_000
    got: dict[int, dict] = {}
    closes = 0
    with Emulator(sc, limits=False, clock=clock) as emu:
        while closes < 500:
            try:
                with connect(f"{emu.jetstream_url}?cursor={cursor}") as ws:
                    while True:
                        frame = json.loads(ws.recv(timeout=0.4))
                        got[frame["account"]["seq"]] = frame
                        cursor = frame["time_us"]  # resume inclusively from the last frame seen
            except ConnectionClosed:
                closes += 1
            except TimeoutError:
                break  # caught up with the clock: the replay is complete
    want = [ch for ch in truth(small)["status_changes"] if ch["platform"] == "bluesky"
            and "2026-03-05T13:59:00.000Z" <= ch["at"] <= "2026-03-05T15:00:00.000Z"]
    assert closes >= 3
    assert {(f["did"], f["account"]["status"]) for f in got.values()} == {(w["account_id"], w["status"]) for w in want}


def test_stopping_mid_fault_ends_cleanly_without_an_error_log(small, capfd):
    """A timeout fault holds its answer for 30 s and a Jetstream client stays connected:
    stopping the emulator meanwhile must end both at once, not leave uvicorn to cancel
    them after its grace period (which it logs as "ERROR: Exception in ASGI application"
    with a CancelledError traceback, the end of every demo run before)."""
    import threading
    import time

    sc = dataclasses.replace(small, faults={"x": {"timeout": 1.0}}, timeout_delay={"x": 30.0}, fault_windows=())
    emu = Emulator(sc, limits=False, clock=SimClock.manual(THURSDAY)).start()
    outcomes: list[str] = []

    def held_request() -> None:
        with httpx.Client(timeout=0.3) as c:
            outcomes.append(_outcome(c, f"{emu.url('x')}/2/users/by", {"usernames": "leader_x"}))

    t = threading.Thread(target=held_request)
    t.start()
    t.join()
    with connect(emu.jetstream_url) as ws:
        t0 = time.monotonic()
        emu.stop()
        took = time.monotonic() - t0
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=2)
    assert outcomes == ["timeout"]
    assert emu.stats()["x"]["faults"]["timeout"] == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ERROR" not in err, err
    assert took < 1.0, took
