"""Telegram posts from the channel preview pages (``t.me/s/<name>``, ``?before=`` paging)
on fixture pages (tests/fixtures/telegram/*.html: written by hand in the markup of the
real preview pages -- ``tgme_widget_message`` blocks with ``data-post``, a service
message, a forward, a reply, a media-only post, the "Load more" link -- since tests
never touch the network)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from purgewatch.net.clock import FakeClock
from purgewatch.net.http import HttpClient
from purgewatch.sources.protocol import PostRead
from purgewatch.sources.telegram import TelegramConnector, parse_channel_posts

PAGES = Path(__file__).parent / "fixtures" / "telegram"
SINCE = datetime(2026, 5, 20, tzinfo=UTC)


def test_the_page_parser_reads_posts_forwards_replies_and_entities() -> None:
    posts = {p.post_id: p for p in parse_channel_posts((PAGES / "newschan.html").read_text())}
    assert sorted(posts) == ["newschan/119", "newschan/120", "newschan/121", "newschan/122"]  # no service message
    p = posts["newschan/119"]
    assert p.text is not None and p.text.startswith("The suspensions are a targeted attack on our audience.\nDetails:")
    assert p.created_at == datetime(2026, 5, 21, 17, 45, tzinfo=UTC)
    assert p.url == "https://t.me/newschan/119"
    assert p.hashtags == ["wewillnotbesilenced"] and p.mentions == ["ministry_channel"]
    assert p.links == ["https://example.org/report"]
    assert posts["newschan/120"].repost_of == "ministry_channel/452"
    assert posts["newschan/121"].reply_to == "newschan/119"
    assert posts["newschan/122"].text is None  # media only: nothing to read, still listed
    # The channel's own description is not a post.
    assert not any("not endorsements" in (q.text or "") for q in posts.values())


def _read(handler: httpx.MockTransport, channel: str) -> PostRead:
    async def go() -> PostRead:
        clock = FakeClock(datetime(2026, 5, 22, 12, tzinfo=UTC).timestamp())
        async with HttpClient(clock=clock, transport=handler, retries=0) as http:
            return await TelegramConnector(http, base_url="http://tg.test").read_posts(channel, since=SINCE)

    return asyncio.run(go())


def _pages(fail_second: bool = False) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path, before = request.url.path, request.url.params.get("before")
        if path == "/s/newschan" and before is None:
            return httpx.Response(200, text=(PAGES / "newschan.html").read_text())
        if path == "/s/newschan" and before == "118":
            if fail_second:
                return httpx.Response(502, text="<html>Bad Gateway</html>")
            return httpx.Response(200, text=(PAGES / "newschan_before_118.html").read_text())
        if path == "/s/gonechan":
            return httpx.Response(200, text=(PAGES / "gonechan.html").read_text())
        if path == "/s/private_group":
            return httpx.Response(302, headers={"Location": "http://tg.test/private_group"})
        raise AssertionError(f"unexpected request {request.url}")

    return httpx.MockTransport(handle)


def test_read_posts_pages_back_to_the_window_start() -> None:
    read = _read(_pages(), "newschan")
    assert read.answer == "ok" and read.complete
    assert read.window_start == SINCE and read.window_end == read.read_at
    ids = [p.post_id for p in read.posts]
    # 119-122 from the first page; 116 and 117 from the second; 115 is older than the window
    assert sorted(ids) == ["newschan/116", "newschan/117", "newschan/119", "newschan/120", "newschan/121",
                           "newschan/122"]
    assert read.source_ref == "http://tg.test/s/newschan"


def test_a_failed_second_page_leaves_an_incomplete_read_of_what_was_listed() -> None:
    read = _read(_pages(fail_second=True), "newschan")
    assert read.answer == "ok" and not read.complete
    # only what was listed is vouched for: from its oldest post on
    assert read.window_start == datetime(2026, 5, 21, 17, 45, tzinfo=UTC)
    assert "HTTP 502" in (read.detail or "")


def test_a_banned_or_hidden_channel_is_unavailable_never_an_empty_listing() -> None:
    for channel in ("gonechan", "private_group"):
        read = _read(_pages(), channel)
        assert read.answer == "account_unavailable" and not read.complete and read.posts == []
