"""Telegram public channels: subscriber counts from the ``t.me/s/<name>`` preview page.

The count is the first ``.tgme_channel_info_counter`` whose ``.counter_type`` says
"subscribers" ("12.3K" style); pages without a preview fall back to ``t.me/<name>`` and
its ``.tgme_page_extra`` ("12 345 subscribers"). A channel banned for breaking the
Terms of Service is recorded as ``suspended`` with status_raw ``banned`` and the
platform's sentence in ``detail``. Channel names are the account ids (lowercased).
Telegram has no follower lists for channels: ``followers`` answers with a skip.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from purgewatch.errors import TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.clock import Clock
from purgewatch.net.http import ApiResponse, HttpClient
from purgewatch.sources.protocol import (
    FollowerListing,
    PageCallback,
    PagingState,
    parse_count,
    unknown,
)

PLATFORM = "telegram"
BASE_URL = "https://t.me"
BANNED_MARK = "violated Telegram's Terms of Service"
_NAME = re.compile(r"^[A-Za-z0-9_]{3,64}$")


def channel_name(ref: str) -> str | None:
    name = ref.strip().lstrip("@")
    for prefix in ("https://t.me/s/", "https://t.me/", "t.me/s/", "t.me/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
    name = name.strip("/")
    return name.lower() if _NAME.match(name) else None


def parse_channel_page(html: str) -> tuple[str, int | None, str | None, str | None]:
    """-> (status, subscribers, title, detail)."""
    tree = HTMLParser(html)
    text = tree.text(separator=" ") if tree.body is not None else html
    if BANNED_MARK in text or BANNED_MARK.replace("'", "\u2019") in text:
        sentence = next(
            (s.strip() for s in re.split(r"(?<=[.!])\s+", " ".join(text.split())) if "Terms of Service" in s),
            BANNED_MARK,
        )
        return Status.SUSPENDED.value, None, None, sentence
    title_node = tree.css_first(".tgme_channel_info_header_title") or tree.css_first(".tgme_page_title")
    title = title_node.text(strip=True) if title_node else None
    for counter in tree.css(".tgme_channel_info_counter"):
        kind = counter.css_first(".counter_type")
        value = counter.css_first(".counter_value")
        if kind and value and "subscriber" in kind.text().lower():
            n = parse_count(value.text(strip=True))
            if n is not None:
                return Status.ACTIVE.value, n, title, None
    extra = tree.css_first(".tgme_page_extra")
    if extra is not None:
        words = extra.text(strip=True)
        if "subscriber" in words.lower() or "member" in words.lower():
            n = parse_count(words)
            if n is not None:
                return Status.ACTIVE.value, n, title, None
    return Status.UNKNOWN.value, None, title, "no subscriber counter on the page"


class TelegramConnector:
    platform = PLATFORM
    source = "telegram"

    def __init__(self, http: HttpClient, *, base_url: str = BASE_URL) -> None:
        self.http = http
        self.base = base_url.rstrip("/")

    @property
    def clock(self) -> Clock:
        return self.http.clock

    async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
        return list(await asyncio.gather(*(self._one(a) for a in accounts)))

    async def _one(self, ref: str) -> Observation:
        name = channel_name(ref)
        if name is None:
            return unknown(PLATFORM, ref, self.http.now(), "not a public channel name", source=self.source)
        plain = f"{self.base}/{name}"
        last = ""
        for url in (f"{self.base}/s/{name}", plain):
            got = await self._page(name, url, final=url == plain)
            if isinstance(got, Observation):
                return got
            last = got
            # /s/ redirected or had nothing: the channel has no preview, try the plain page.
        return unknown(PLATFORM, name, self.http.now(), f"{last}: no channel page",
                       source=self.source, source_ref=plain)

    async def _page(self, name: str, url: str, *, final: bool) -> Observation | str:
        """An observation, or why this URL told nothing (caller tries the next one)."""
        for attempt in range(2):
            # A 200 page with neither a counter nor the ban sentence may be a proxy's
            # error page: ask once more before concluding anything.
            if attempt:
                await self.clock.sleep(2.0)
            try:
                resp = await self.http.get(url, expect_json=False, bucket="telegram")
            except TransportError as exc:
                return unknown(PLATFORM, name, self.http.now(), f"page request failed: {exc}",
                               source=self.source, source_ref=url)
            if resp.status_code in (301, 302, 303, 307, 308, 404):
                return f"HTTP {resp.status_code}"
            if resp.status_code != 200:
                return unknown(PLATFORM, name, resp.retrieved_at, f"HTTP {resp.status_code}",
                               source=self.source, source_ref=resp.url)
            status, count, title, detail = parse_channel_page(resp.text)
            if status != Status.UNKNOWN.value or (final and attempt == 1):
                return self._obs(name, resp, status, count, title, detail)
        return "no subscriber counter on the page"

    def _obs(self, name: str, resp: ApiResponse, status: str, count: int | None,
             title: str | None, detail: str | None) -> Observation:
        return Observation(
            platform=PLATFORM, account_id=name, observed_at=resp.retrieved_at, status=status,
            status_raw="banned" if status == Status.SUSPENDED.value else None,
            followers_count=count, handle=name, display_name=title, detail=detail,
            source=self.source, source_ref=resp.url, payload_hash=resp.payload_hash,
        )

    async def followers(
        self,
        account_id: str,
        *,
        resume: PagingState | None = None,
        on_page: PageCallback | None = None,
        max_pages: int | None = None,
    ) -> FollowerListing:
        return FollowerListing(None, skipped="Telegram does not list channel subscribers")
