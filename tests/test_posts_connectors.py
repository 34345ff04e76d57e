"""What each connector's ``read_posts`` makes of failures and refusals (DESIGN rule 1):
a transport failure is never a listing, a failure after some pages leaves an incomplete
read of what was listed, an account that cannot be shown is ``account_unavailable``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from purgewatch.net.clock import FakeClock
from purgewatch.net.http import HttpClient
from purgewatch.sources.bluesky import BlueskyConnector
from purgewatch.sources.mastodon import MastodonConnector
from purgewatch.sources.protocol import PostRead
from purgewatch.sources.x import Secret, XConnector

SINCE = datetime(2026, 5, 1, tzinfo=UTC)
DID = "did:plc:abcdefghijklmnopqrstuvwx"


def _bsky_item(n: int) -> dict[str, Any]:
    return {"post": {"uri": f"at://{DID}/app.bsky.feed.post/3m{n:011d}", "cid": "bafyreiabc",
                     "author": {"did": DID, "handle": "a.example"},
                     "record": {"$type": "app.bsky.feed.post", "text": f"post {n}",
                                "createdAt": f"2026-05-{20 - n:02d}T10:00:00.000Z"},
                     "indexedAt": f"2026-05-{20 - n:02d}T10:00:01.000Z"}}


def _tweet(n: int) -> dict[str, Any]:
    return {"id": str(1000 - n), "text": f"tweet {n}", "created_at": f"2026-05-{20 - n:02d}T10:00:00.000Z"}


def _status(n: int) -> dict[str, Any]:
    return {"id": str(1000 - n), "created_at": f"2026-05-{20 - n:02d}T10:00:00.000Z", "content": f"<p>toot {n}</p>",
            "reblog": None, "url": f"https://m.example/@a/{1000 - n}", "language": "en", "tags": [], "mentions": []}


ACCOUNT = {"id": "7", "username": "a", "acct": "a", "followers_count": 3, "following_count": 1, "statuses_count": 9}


def _first_page(platform: str, request: httpx.Request) -> httpx.Response | None:
    """The first page of a two-page listing, or None for a second-page request."""
    q = request.url.params
    if platform == "bluesky":
        return None if q.get("cursor") else httpx.Response(200, json={"feed": [_bsky_item(0), _bsky_item(1)],
                                                                      "cursor": "c1"})
    if platform == "x":
        return None if q.get("pagination_token") else httpx.Response(
            200, json={"data": [_tweet(0), _tweet(1)], "meta": {"result_count": 2, "next_token": "T1"}})
    if request.url.path.endswith("/accounts/7"):
        return httpx.Response(200, json=ACCOUNT)
    if q.get("max_id"):
        return None
    link = '<https://m.example/api/v1/accounts/7/statuses?limit=40&max_id=999>; rel="next"'
    return httpx.Response(200, json=[_status(0), _status(1)], headers={"Link": link})


def _read(platform: str, handler: Callable[[httpx.Request], httpx.Response]) -> PostRead:
    async def go() -> PostRead:
        async with HttpClient(clock=FakeClock(), transport=httpx.MockTransport(handler), retries=1) as http:
            if platform == "bluesky":
                return await BlueskyConnector(http, appview_url="https://bsky.example").read_posts(DID, since=SINCE)
            if platform == "x":
                return await XConnector(http, token=Secret("t"), base_url="https://x.example").read_posts(
                    "12", since=SINCE)
            conn = MastodonConnector(http, instances={"m.example": "https://m.example"}, batch=False)
            return await conn.read_posts("7@m.example", since=SINCE)

    return asyncio.run(go())


PLATFORMS = ["bluesky", "x", "mastodon"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_transport_failure_is_an_error_never_a_listing(platform: str) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if platform == "mastodon" and request.url.path.endswith("/accounts/7"):
            return httpx.Response(200, json=ACCOUNT)
        raise httpx.ConnectError("connection refused", request=request)

    read = _read(platform, down)
    assert read.answer == "error" and not read.complete and read.posts == []
    assert read.detail


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_failure_after_a_page_leaves_an_incomplete_read_of_that_page(platform: str) -> None:
    def second_fails(request: httpx.Request) -> httpx.Response:
        got = _first_page(platform, request)
        if got is None:
            raise httpx.ReadTimeout("timed out", request=request)
        return got

    read = _read(platform, second_fails)
    assert read.answer == "ok" and not read.complete and len(read.posts) == 2
    # only what was listed is vouched for: the window starts at its oldest post
    assert read.window_start == datetime(2026, 5, 19, 10, tzinfo=UTC)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_listing_paged_to_its_end_is_complete(platform: str) -> None:
    def two_pages(request: httpx.Request) -> httpx.Response:
        got = _first_page(platform, request)
        if got is not None:
            return got
        if platform == "bluesky":
            return httpx.Response(200, json={"feed": [_bsky_item(2)]})
        if platform == "x":
            return httpx.Response(200, json={"data": [_tweet(2)], "meta": {"result_count": 1}})
        return httpx.Response(200, json=[_status(2)])

    read = _read(platform, two_pages)
    assert read.answer == "ok" and read.complete and len(read.posts) == 3
    assert read.window_start == SINCE


@pytest.mark.parametrize("platform,answer", [
    ("bluesky", httpx.Response(400, json={"error": "InvalidRequest", "message": "Profile not found"})),
    ("x", httpx.Response(200, json={"errors": [{"title": "Forbidden", "detail": "User has been suspended: [12].",
                                                "type": "https://api.twitter.com/2/problems/resource-not-found"}]})),
    ("mastodon", httpx.Response(200, json={**ACCOUNT, "suspended": True})),
])
def test_an_account_that_cannot_be_shown_is_unavailable_not_an_empty_listing(platform: str,
                                                                             answer: httpx.Response) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if platform == "mastodon" and request.url.path.endswith("/statuses"):
            return httpx.Response(200, json=[])  # what Mastodon answers for it: not a listing
        return httpx.Response(answer.status_code, content=answer.content, headers={"Content-Type": "application/json"})

    read = _read(platform, refuse)
    assert read.answer == "account_unavailable" and not read.complete and read.posts == []
    assert json.dumps(read.detail)
