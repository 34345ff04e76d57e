"""The mapping table of docs/collecting.md ("Status words") is a test: every row, a
(platform, answer shape) -> status claim with the platform document it rests on, is one
case here, run through the real connector against that answer. A row without a case, or
a case without a row, fails; so does a row whose status the connector does not give."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from purgewatch.model import STATUS_VALUES, Observation
from purgewatch.net.clock import FakeClock
from purgewatch.net.http import HttpClient
from purgewatch.sources.bluesky import BlueskyConnector, Jetstream, parse_jetstream_frame
from purgewatch.sources.mastodon import MastodonConnector
from purgewatch.sources.telegram import TelegramConnector
from purgewatch.sources.wayback import BackfillResult, WaybackConnector
from purgewatch.sources.x import Secret, XConnector, classify_compliance

DOC = Path(__file__).parent.parent / "docs" / "collecting.md"
ROW = re.compile(r"^\|\s*`(?P<id>[A-Z]+\d+)`\s*\|(?P<platform>[^|]+)\|(?P<answer>[^|]+)\|\s*(?P<status>[^|]+?)\s*\|(?P<source>[^|]+)\|\s*$")

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception
Routes = dict[str, Answer]


def doc_rows() -> dict[str, dict[str, str]]:
    text = DOC.read_text()
    start, end = text.index("<!-- status-map -->"), text.index("<!-- /status-map -->")
    rows = {}
    for line in text[start:end].splitlines():
        m = ROW.match(line)
        if m:
            assert m["id"] not in rows, f"row {m['id']} twice in docs/collecting.md"
            rows[m["id"]] = {k: m[k].strip() for k in ("platform", "answer", "status", "source")}
    return rows


def handler(routes: Routes) -> Callable[[httpx.Request], httpx.Response]:
    """Answers by path (and, for keys with ``?``, by path and the query's first value)."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        keyed = f"{path}?{next(iter(request.url.params.values()), '')}"
        got = routes.get(keyed, routes.get(path))
        assert got is not None, f"no answer for {request.url}"
        if isinstance(got, Exception):
            raise httpx.ConnectError(str(got), request=request)
        status, body, *rest = got
        headers = rest[0] if rest else {}
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers={"Content-Type": "text/html", **headers})
        return httpx.Response(status, json=body, headers=headers)

    return answer


def run(routes: Routes, go: Callable[[HttpClient], Any]) -> Any:
    async def main() -> Any:
        async with HttpClient(clock=FakeClock(), transport=httpx.MockTransport(handler(routes)),
                              retries=1, seed=1) as http:
            return await go(http)

    return asyncio.run(main())


@dataclass
class Seen:
    status: str | None                    # None: no observation at all
    obs: Observation | None = None
    extra: Any = None


def one(obs: list[Observation]) -> Seen:
    assert len(obs) == 1
    return Seen(obs[0].status, obs[0])


# ------------------------------------------------------------------ Bluesky
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
DOWN = ConnectionError("connection refused")


def bsky(routes: Routes, actor: str = DID) -> Seen:
    base: Routes = {"/xrpc/app.bsky.actor.getProfiles": (200, {"profiles": []})}
    return one(run({**base, **routes}, lambda h: BlueskyConnector(h, appview_url="http://bsky.test",
                                                                  relay_url="http://bsky.test").lookup([actor])))


def repo(status: int, body: Any) -> Routes:
    return {"/xrpc/com.atproto.sync.getRepoStatus": (status, body)}


def profile(status: int, body: Any) -> Routes:
    return {"/xrpc/app.bsky.actor.getProfile": (status, body)}


NOT_SEEN = repo(404, {"error": "RepoNotFound", "message": "account not found"})
TAKEDOWN = profile(400, {"error": "AccountTakedown", "message": "Account has been suspended"})
NO_PROFILE = profile(400, {"error": "InvalidRequest", "message": "Profile not found"})
RELAY_DOWN = repo(502, {"error": "BadGateway", "message": "upstream"})


def jetstream(frame: str, relay: Answer) -> Seen:
    async def go(h: HttpClient) -> Any:
        js = Jetstream(BlueskyConnector(h, appview_url="http://bsky.test", relay_url="http://bsky.test"),
                       url="ws://jet.test/subscribe", watched={DID})
        acct, _ = parse_jetstream_frame(frame)
        assert acct is not None
        return await js._confirm(acct, frame)

    ev = run({"/xrpc/com.atproto.sync.getRepoStatus": relay}, go)
    return Seen(ev.status if ev else None, extra=ev)


def account_frame(**account: Any) -> str:
    import json

    return json.dumps({"did": DID, "time_us": 1779719010272410, "kind": "account",
                       "account": {"did": DID, "seq": 30340180351, "time": "2026-05-25T14:23:29.950Z", **account}})


# ----------------------------------------------------------------- Mastodon
ACCOUNT = {"id": "2", "username": "bob", "acct": "bob", "display_name": "Bob", "note": "<p>hi</p>",
           "created_at": "2021-01-01T00:00:00.000Z", "avatar": "https://m.example/avatars/2.png",
           "followers_count": 5400, "following_count": 80, "statuses_count": 900, "fields": [], "emojis": []}
BLANKED = {"display_name": "", "note": "", "avatar": "https://m.example/avatars/original/missing.png"}


def masto(answer: Answer) -> Seen:
    return one(run({"/api/v1/accounts/2": answer},
                   lambda h: MastodonConnector(h, instances={"m.example": "http://m.test"}, batch=False)
                   .lookup(["2@m.example"])))


# ------------------------------------------------------------------------ X
def x_errors(title: str, detail: str, problem: str) -> Answer:
    return (200, {"errors": [{"value": "481186914", "detail": detail, "title": title, "resource_type": "user",
                              "parameter": "ids", "resource_id": "481186914",
                              "type": f"https://api.twitter.com/2/problems/{problem}"}]})


def x(answer: Answer) -> Seen:
    return one(run({"/2/users": answer}, lambda h: XConnector(h, token=Secret("t"), base_url="http://x.test")
                   .lookup(["481186914"])))


USER = {"id": "481186914", "username": "someone", "name": "Someone", "protected": False,
        "public_metrics": {"followers_count": 700, "following_count": 20, "tweet_count": 40, "listed_count": 2}}


def compliance(**row: Any) -> Seen:
    status, _raw = classify_compliance({"id": "481186914", "created_at": "2026-05-01T00:00:00.000Z", **row})
    return Seen(status)


# ----------------------------------------------------------------- Telegram
def page(counter: str | None = None, extra: str | None = None, description: str | None = None,
         posts: str = "") -> str:
    parts = ['<div class="tgme_channel_info"><div class="tgme_channel_info_header_title">Chan</div>']
    if counter:
        parts.append(f'<div class="tgme_channel_info_counter"><span class="counter_value">{counter}</span>'
                     ' <span class="counter_type">subscribers</span></div>')
    parts.append("</div>")
    if extra is not None or description is not None:
        parts.append('<div class="tgme_page"><div class="tgme_page_title">Chan</div>')
        if extra is not None:
            parts.append(f'<div class="tgme_page_extra">{extra}</div>')
        if description is not None:
            parts.append(f'<div class="tgme_page_description">{description}</div>')
        parts.append("</div>")
    if posts:
        parts.append(f'<div class="tgme_channel_history"><div class="tgme_widget_message_wrap">'
                     f'<div class="tgme_widget_message"><div class="tgme_widget_message_text">{posts}</div></div></div></div>')
    return "<html><body>" + "".join(parts) + "</body></html>"


BAN = "This channel can't be displayed because it violated Telegram's Terms of Service."


def telegram(s_page: Answer, plain: Answer | None = None) -> Seen:
    routes: Routes = {"/s/chan": s_page}
    if plain is not None:
        routes["/chan"] = plain
    return one(run(routes, lambda h: TelegramConnector(h, base_url="http://tg.test").lookup(["chan"])))


# -------------------------------------------------------------- web archive
CDX = "/cdx/search/cdx"
CAP = "/web/20170801000000id_/twitter.com/TEN_GOP"
CDX_ROWS = (200, [["timestamp", "statuscode", "digest"], ["20170801000000", "200", "AAA"]])


def archive(routes: Routes) -> Seen:
    res: BackfillResult = run(routes, lambda h: WaybackConnector(h, base_url="http://archive.test").backfill("TEN_GOP"))
    if not res.observations:
        return Seen(None, extra=res)
    assert len(res.observations) == 1
    return Seen(res.observations[0].status, res.observations[0], res)


def redirect(to: str) -> Answer:
    return (302, "", {"Location": to})


# ------------------------------------------------------------------ the cases
def _check(seen: Seen, pred: Callable[[Seen], bool], why: str) -> Seen:
    assert pred(seen), why
    return seen


CASES: dict[str, Callable[[], Seen]] = {
    # Bluesky
    "B1": lambda: one(run({"/xrpc/app.bsky.actor.getProfiles": (200, {"profiles": [
        {"did": DID, "handle": "a.bsky.social", "followersCount": 3}]})},
        lambda h: BlueskyConnector(h, appview_url="http://bsky.test", relay_url="http://bsky.test").lookup([DID]))),
    "B2": lambda: bsky(repo(200, {"did": DID, "active": False, "status": "takendown"})),
    "B3": lambda: bsky(repo(200, {"did": DID, "active": False, "status": "suspended"})),
    "B4": lambda: bsky(repo(200, {"did": DID, "active": False, "status": "deactivated"})),
    "B5": lambda: bsky(repo(200, {"did": DID, "active": False, "status": "deleted"})),
    "B6": lambda: _check(bsky({**repo(200, {"did": DID, "active": True, "status": "throttled"}), **NO_PROFILE}),
                         lambda s: s.obs is not None and s.obs.status_raw == "throttled", "word kept"),
    "B7": lambda: _check(bsky({**NOT_SEEN, **TAKEDOWN}),
                         lambda s: "not distinguished" in (s.obs.detail or "") if s.obs else False, "says so"),
    "B8": lambda: bsky({**NOT_SEEN, **NO_PROFILE}),
    "B9": lambda: bsky({**repo(200, {"did": DID, "active": True}), **NO_PROFILE}),
    "B10": lambda: bsky(NO_PROFILE, actor="ghost.bsky.social"),
    "B11": lambda: bsky({**RELAY_DOWN, **profile(400, {"error": "AccountDeactivated", "message": "Account is deactivated"})}),
    "B12": lambda: bsky({**RELAY_DOWN, **TAKEDOWN}),
    "B13": lambda: bsky({**repo(200, {"did": DID, "active": False}), **NO_PROFILE}),
    "B14": lambda: bsky({"/xrpc/app.bsky.actor.getProfiles": DOWN}),
    # Jetstream
    "J1": lambda: jetstream(account_frame(active=False, status="takendown"),
                            (200, {"did": DID, "active": False, "status": "takendown"})),
    "J2": lambda: jetstream(account_frame(active=False), (200, {"did": DID, "active": False, "status": "deactivated"})),
    "J3": lambda: _check(jetstream(account_frame(active=False), (404, {"error": "RepoNotFound", "message": "account not found"})),
                         lambda s: s.extra is not None and s.extra.status_raw == "inactive", "the stream's word kept"),
    "J4": lambda: jetstream(account_frame(active=False, status="takendown"), DOWN),
    # Mastodon
    "M1": lambda: masto((200, ACCOUNT)),
    "M2": lambda: _check(masto((200, {**ACCOUNT, **BLANKED, "suspended": True})),
                         lambda s: s.obs is not None and s.obs.followers_count == 5400, "counts kept"),
    "M3": lambda: _check(masto((200, {**ACCOUNT, **BLANKED, "suspended": True, "followers_count": 0,
                                      "following_count": 0, "statuses_count": 0})),
                         lambda s: s.obs is not None and s.obs.followers_count is None, "zeros are no count"),
    "M4": lambda: masto((410, {"error": "Gone"})),
    "M5": lambda: masto((200, {**ACCOUNT, "limited": True})),
    "M6": lambda: masto((200, {**ACCOUNT, "moved": {"id": "9", "acct": "bob@new.example"}})),
    "M7": lambda: masto((200, {**ACCOUNT, "memorial": True})),
    "M8": lambda: masto((404, {"error": "Record not found"})),
    "M9": lambda: masto((404, {"error": "Not Found"})),
    "M10": lambda: _check(masto((200, {**ACCOUNT, "followers_count": -1})),
                          lambda s: s.obs is not None and s.obs.followers_count is None, "-1 is not a count"),
    "M11": lambda: masto((403, {"error": "This action is not allowed"})),
    "M12": lambda: masto(DOWN),
    # X API v2
    "X1": lambda: x((200, {"data": [USER]})),
    "X2": lambda: x((200, {"data": [{**USER, "protected": True}]})),
    "X3": lambda: x(x_errors("Forbidden", "User has been suspended: [481186914].", "resource-not-found")),
    "X4": lambda: x(x_errors("Not Found Error", "Could not find user with ids: [481186914].", "resource-not-found")),
    "X5": lambda: x(x_errors("Authorization Error", "Sorry, you are not authorized to see the user with id: [481186914].",
                             "not-authorized-for-resource")),
    "X6": lambda: x(x_errors("Forbidden", "User is restricted: [481186914].", "resource-not-found")),
    "X7": lambda: x((200, {"data": [{**USER, "id": "1"}]})),
    "X8": lambda: x((429, {"title": "UsageCapExceeded", "period": "Monthly", "scope": "Product",
                           "detail": "Usage cap exceeded", "type": "https://api.twitter.com/2/problems/usage-capped"})),
    "X9": lambda: x(DOWN),
    "XC1": lambda: compliance(action="delete", reason="suspended"),
    "XC2": lambda: compliance(action="delete", reason="deleted"),
    "XC3": lambda: compliance(action="delete", reason="deactivated"),
    "XC4": lambda: compliance(action="delete", reason="protected"),
    "XC5": lambda: compliance(action="scrub_geo"),
    # Telegram
    "T1": lambda: _check(telegram((200, page(counter="771"))),
                         lambda s: s.obs is not None and s.obs.followers_count == 771, "exact"),
    "T2": lambda: _check(telegram((200, page(counter="10.1M")), (200, page(extra="11 005 186 subscribers"))),
                         lambda s: s.obs is not None and s.obs.followers_count == 11_005_186, "the full figure"),
    "T3": lambda: _check(telegram((200, page(counter="10.1M")), (200, page(extra=""))),
                         lambda s: s.obs is not None and s.obs.followers_count is None
                         and "rounded: 10.1M" in (s.obs.detail or ""), "rounded kept in detail only"),
    "T4": lambda: _check(telegram((302, ""), (200, page(extra="no subscribers"))),
                         lambda s: s.obs is not None and s.obs.followers_count == 0, "0"),
    "T5": lambda: telegram((200, page(description=BAN))),
    "T6": lambda: telegram((200, page(counter="1 234", posts=f"They wrote: {BAN}"))),
    "T7": lambda: telegram((200, page(description=f"Our motto: {BAN}", counter="5 000"))),
    "T8": lambda: telegram((200, "<html><body>nothing</body></html>"), (200, "<html><body>nothing</body></html>")),
    "T9": lambda: telegram(DOWN),
    # Web archive
    "W1": lambda: _check(archive({CDX: CDX_ROWS, CAP: (200, '<a class="ProfileNav-stat" title="12,345 Followers" '
                                                            'data-nav="followers">12K</a>')}),
                         lambda s: s.obs is not None and s.obs.followers_count == 12345, "exact"),
    "W2": lambda: _check(archive({CDX: CDX_ROWS, CAP: (200, '<a id="follower_count_link">130K followers</a>')}),
                         lambda s: s.obs is not None and s.obs.followers_count is None, "rounded: no count"),
    "W3": lambda: archive({CDX: CDX_ROWS, CAP: redirect("/web/20170801000001id_/https://twitter.com/account/suspended"),
                           "/web/20170801000001id_/https://twitter.com/account/suspended":
                               (200, "<html><head><title>Twitter / Account Suspended</title></head></html>")}),
    "W4": lambda: archive({CDX: CDX_ROWS, CAP: (200, "<html><body><h1>Account suspended</h1></body></html>")}),
    "W5": lambda: archive({CDX: CDX_ROWS, CAP: redirect("/web/20170801000001id_/https://twitter.com/someone_else"),
                           "/web/20170801000001id_/https://twitter.com/someone_else":
                               (200, '<a class="ProfileNav-stat" title="5,000,000 Followers" data-nav="followers">x</a>')}),
    "W6": lambda: archive({CDX: CDX_ROWS, CAP: (429, "<html>Rate limit exceeded</html>",
                                                {"Memento-Datetime": "Tue, 01 Aug 2017 00:00:00 GMT"})}),
    "W7": lambda: archive({CDX: (403, "<html><body>Blocked Site Error</body></html>")}),
    "W8": lambda: archive({CDX: DOWN}),
}


@pytest.mark.parametrize("row", sorted(doc_rows()), ids=str)
def test_documented_row(row: str) -> None:
    doc = doc_rows()[row]
    want = doc["status"].strip("`")
    assert row in CASES, f"docs/collecting.md row {row} has no test case"
    assert doc["source"], f"row {row} names no platform document"
    seen = CASES[row]()
    if want == "(none)":
        assert seen.status is None, f"{row}: expected no observation, got {seen.status}"
    else:
        assert want in STATUS_VALUES, f"{row}: {want!r} is not a status word"
        assert seen.status == want, f"{row} ({doc['answer']}): {seen.status} != {want}"
    if seen.obs is not None and seen.status == "unknown":
        assert seen.obs.detail, "unknown says why"
        if "transport failure" in doc["answer"]:
            assert seen.obs.followers_count is None, "a failed request carries no counts"


def test_every_case_is_documented() -> None:
    assert set(CASES) == set(doc_rows())


def test_every_platform_has_a_transport_failure_row() -> None:
    rows = doc_rows()
    failures = {r["platform"] for r in rows.values() if "transport failure" in r["answer"]}
    assert failures >= {"Bluesky", "Bluesky Jetstream", "Mastodon", "X API v2", "Telegram", "Web archive"}
    assert all(r["status"].strip("`") in ("unknown", "(none)") for r in rows.values()
               if "transport failure" in r["answer"])


def test_replayed_archive_errors_are_not_throttling_and_the_archives_403_is_not_retried() -> None:
    calls: list[str] = []
    routes: Routes = {CDX: (403, "<html>Blocked</html>")}

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return handler(routes)(request)

    async def main() -> Any:
        clock = FakeClock()
        async with HttpClient(clock=clock, transport=httpx.MockTransport(counting), retries=3) as http:
            res = await WaybackConnector(http, base_url="http://archive.test").backfill("TEN_GOP")
        return res, clock

    res, clock = asyncio.run(main())
    assert calls == [CDX] and not clock.sleeps, "a 403 page is the archive's answer, asked once"
    assert res.failures == ["CDX listing refused: HTTP 403"]
    seen = CASES["W6"]()
    assert seen.extra.not_profile and "archived error page (HTTP 429)" in seen.extra.not_profile[0]
