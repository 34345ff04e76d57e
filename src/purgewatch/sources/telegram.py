"""Telegram public channels: subscriber counts from the channel pages.

``t.me/s/<name>`` (the preview) shows the counter rounded ("12.3K", "10.1M") and the
channel's posts; ``t.me/<name>`` shows the exact figure in ``.tgme_page_extra``
("11 005 186 subscribers", "no subscribers" = 0). A count is stored only when it is
exact: an unrounded preview counter ("771") or the plain page's figure. When only a
rounded display value can be read it is kept in ``detail`` (``subscribers shown rounded:
10.1M``) and ``followers_count`` stays empty.

A channel banned for breaking the Terms of Service is recorded as ``suspended`` with
status_raw ``banned`` and the platform's sentence in ``detail`` -- only when the sentence
is the page's own description of the channel (``.tgme_page_description`` /
``.tgme_channel_info_description``) on a page that shows no subscriber figure: posts are
on the same page, and a post or a channel's own description can quote the sentence.
Channel names are the account ids (lowercased). Telegram has no follower lists for
channels: ``followers`` answers with a skip.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from purgewatch.errors import TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.clock import Clock
from purgewatch.net.http import ApiResponse, HostPolicy, HttpClient
from purgewatch.sources._common import parse_time
from purgewatch.sources.protocol import (
    READ_UNAVAILABLE,
    FollowerListing,
    PageCallback,
    PagingState,
    Post,
    PostListing,
    PostRead,
    failed_read,
    parse_count,
    text_entities,
    unknown,
)
from purgewatch.sources.registry import ConnectorSpec, base_url_settings

PLATFORM = "telegram"
BASE_URL = "https://t.me"
BANNED_MARK = "violated Telegram's Terms of Service"
_NAME = re.compile(r"^[A-Za-z0-9_]{3,64}$")
_ROUNDED = re.compile(r"\d[.,]?\d*\s*[KMB]\b", re.IGNORECASE)
# Posts (and their embeds) share the preview page with the channel's own header.
_POSTS = ".tgme_widget_message_wrap, .tgme_widget_message, .tgme_channel_history"
_DESCRIPTIONS = ".tgme_page_description, .tgme_channel_info_description"
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def channel_name(ref: str) -> str | None:
    name = ref.strip().lstrip("@")
    for prefix in ("https://t.me/s/", "https://t.me/", "t.me/s/", "t.me/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
    name = name.strip("/")
    return name.lower() if _NAME.match(name) else None


@dataclass
class PageReading:
    """What one channel page says."""

    status: str                 # active, suspended (banned) or unknown (nothing read)
    count: int | None = None    # exact subscribers, when the page shows the full figure
    shown: str | None = None    # the counter as displayed when it is rounded ("10.1M")
    title: str | None = None
    detail: str | None = None


def _banned_sentence(tree: HTMLParser) -> str | None:
    for node in tree.css(_DESCRIPTIONS):
        text = " ".join(node.text(separator=" ").split())
        if BANNED_MARK in text.replace("\u2019", "'"):
            return text
    return None


def parse_channel_page(html: str) -> PageReading:
    """Status, exact count or rounded display value, and title of a t.me page."""
    tree = HTMLParser(html)
    for post in tree.css(_POSTS):
        post.decompose()
    title_node = tree.css_first(".tgme_channel_info_header_title") or tree.css_first(".tgme_page_title")
    title = title_node.text(strip=True) if title_node else None
    reading = PageReading(Status.UNKNOWN.value, title=title)
    for counter in tree.css(".tgme_channel_info_counter"):
        kind = counter.css_first(".counter_type")
        value = counter.css_first(".counter_value")
        if kind and value and "subscriber" in kind.text().lower():
            shown = value.text(strip=True)
            n = parse_count(shown)
            if n is not None:
                reading.status = Status.ACTIVE.value
                if _ROUNDED.search(shown):
                    reading.shown = shown
                else:
                    reading.count = n
                break
    extra = tree.css_first(".tgme_page_extra")
    if extra is not None and reading.count is None:
        words = " ".join(extra.text(separator=" ").split())
        low = words.lower()
        if "subscriber" in low or "member" in low:
            n = 0 if low.startswith(("no subscribers", "no members")) else parse_count(words)
            if n is not None and not _ROUNDED.search(words):
                reading.status, reading.count = Status.ACTIVE.value, n
    if reading.status == Status.UNKNOWN.value:
        sentence = _banned_sentence(tree)
        if sentence is not None:
            return PageReading(Status.SUSPENDED.value, title=None, detail=sentence)
        reading.detail = "no subscriber counter on the page"
    return reading


def _post_ref(href: str | None) -> str | None:
    """'https://t.me/other/45' (or '?single') -> 'other/45', the form of ``data-post``."""
    if not href:
        return None
    m = re.search(r"t\.me/(?:s/)?([A-Za-z0-9_]{3,64}/\d+)", href)
    return m.group(1) if m else None


def parse_channel_posts(html: str) -> list[Post]:
    """The posts of a ``t.me/s/<name>`` page, in page order (oldest first).

    Each ``.tgme_widget_message`` block carries ``data-post="<channel>/<number>"``; its
    text is ``.tgme_widget_message_text``, its time the ``datetime`` of
    ``.tgme_widget_message_date time``. A forwarded post (``.tgme_widget_message_forwarded_from``)
    is kept as a repost of the linked original when the link names one; a reply links its
    parent in ``.tgme_widget_message_reply``. Service messages have no text: skipped."""
    tree = HTMLParser(html)
    out: list[Post] = []
    for node in tree.css(".tgme_widget_message[data-post]"):
        ref = node.attributes.get("data-post")
        if not ref or "/" not in ref:
            continue
        if node.css_first(".service_message") is not None or "service_message" in (node.attributes.get("class") or ""):
            continue
        body = node.css_first(".tgme_widget_message_text")
        # Line breaks are <br/> in the markup; inline tags (<b>, <a>) are not breaks.
        text = HTMLParser(_BR.sub("\n", body.html or "")).text().strip() if body is not None else None
        when = node.css_first(".tgme_widget_message_date time")
        created = parse_time(when.attributes.get("datetime")) if when is not None else None
        fwd = node.css_first("a.tgme_widget_message_forwarded_from_name")
        reply = node.css_first("a.tgme_widget_message_reply")
        links, tags, mentions = text_entities(text)
        if body is not None:
            hrefs = [a.attributes.get("href") for a in body.css("a[href]")]
            links = list(dict.fromkeys([h for h in hrefs if h and h.startswith("http")] + (links or []))) or None
        out.append(Post(
            post_id=ref, created_at=created, text=text, url=f"https://t.me/{ref}",
            repost_of=_post_ref(fwd.attributes.get("href")) if fwd is not None else None,
            reply_to=_post_ref(reply.attributes.get("href")) if reply is not None else None,
            links=links, hashtags=tags, mentions=mentions,
        ))
    return out


def page_before(html: str) -> int | None:
    """Where the next older page starts: the page's own "Load more" link
    (``.js-messages_more[data-before]``), else the smallest message number on the page
    (service messages included: they take numbers too)."""
    tree = HTMLParser(html)
    more = tree.css_first(".js-messages_more[data-before]")
    value = more.attributes.get("data-before") if more is not None else None
    if value and value.isdigit():
        return int(value)
    numbers = [_number(n.attributes.get("data-post") or "") for n in tree.css(".tgme_widget_message[data-post]")]
    numbers = [n for n in numbers if n > 0]
    return min(numbers) if numbers else None


def _number(ref: str) -> int:
    tail = ref.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


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
        got = await self._page(name, f"{self.base}/s/{name}", final=False)
        rounded: tuple[ApiResponse, PageReading] | None = None
        if isinstance(got, Observation):
            return got
        if isinstance(got, tuple):
            rounded = got  # active, but the preview rounds its counter: ask the plain page
        # /s/ redirected, had nothing, or rounded: the plain page has the exact figure.
        got2 = await self._page(name, plain, final=rounded is None)
        if isinstance(got2, Observation):
            return got2
        if rounded is not None:
            resp, reading = rounded
            why = got2 if isinstance(got2, str) else "no exact figure on it"
            reading.detail = (f"subscribers shown rounded: {reading.shown} (t.me/s/); the plain page "
                              f"gave no exact figure ({why}): not stored as a count")
            return self._obs(name, resp, reading)
        last = got2 if isinstance(got2, str) else (got if isinstance(got, str) else "no exact figure")
        return unknown(PLATFORM, name, self.http.now(), f"{last}: no channel page",
                       source=self.source, source_ref=plain)

    async def _page(self, name: str, url: str, *,
                    final: bool) -> Observation | tuple[ApiResponse, PageReading] | str:
        """An observation; (response, reading) when the page shows only a rounded count;
        or why this URL told nothing (the caller tries the next one)."""
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
            reading = parse_channel_page(resp.text)
            if reading.status == Status.ACTIVE.value and reading.count is None:
                return resp, reading
            if reading.status != Status.UNKNOWN.value or (final and attempt == 1):
                return self._obs(name, resp, reading)
        return "no subscriber counter on the page"

    def _obs(self, name: str, resp: ApiResponse, reading: PageReading) -> Observation:
        return Observation(
            platform=PLATFORM, account_id=name, observed_at=resp.retrieved_at, status=reading.status,
            status_raw="banned" if reading.status == Status.SUSPENDED.value else None,
            followers_count=reading.count, handle=name, display_name=reading.title, detail=reading.detail,
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

    async def read_posts(self, account_id: str, *, since: datetime, max_pages: int = 10) -> PostRead:
        """The channel's preview pages, newest first: ``t.me/s/<name>``, then
        ``?before=<oldest number shown>`` until a post older than ``since`` or a page
        without older posts. A banned channel, or a name without a public preview
        (``t.me/s/`` redirects to the plain page), is ``account_unavailable``."""
        name = channel_name(account_id) or account_id
        at = self.http.now()
        listing = PostListing(PLATFORM, name, since, at, self.source, f"{self.base}/s/{name}")
        before: int | None = None

        for _ in range(max(1, max_pages)):
            url = f"{self.base}/s/{name}"
            params = {"before": str(before)} if before is not None else None
            try:
                resp = await self.http.get(url, params=params, expect_json=False, bucket="telegram")
            except TransportError as exc:
                return listing.read(False, f"page request failed: {exc}")
            if resp.status_code in (301, 302, 303, 307, 308, 404) and listing.first is None:
                return failed_read(PLATFORM, name, resp.retrieved_at, since, READ_UNAVAILABLE,
                                   f"HTTP {resp.status_code}: no public preview of the channel",
                                   source=self.source, source_ref=resp.url, payload_hash=resp.payload_hash)
            if resp.status_code != 200:
                return listing.read(False, f"HTTP {resp.status_code}")
            listing.answered(resp)
            page = parse_channel_posts(resp.text)
            if not page:
                if before is None:
                    reading = parse_channel_page(resp.text)
                    if reading.status != Status.ACTIVE.value:
                        # banned, or not a channel page at all: the empty page says nothing
                        return failed_read(PLATFORM, name, resp.retrieved_at, since, READ_UNAVAILABLE if
                                           reading.status == Status.SUSPENDED.value else "error",
                                           reading.detail or "no posts and no channel header on the page",
                                           source=self.source, source_ref=resp.url,
                                           payload_hash=resp.payload_hash)
                low = page_before(resp.text)  # only service messages here: page on
                if low is None or low <= 1 or (before is not None and low >= before):
                    return listing.read(True, None)  # an active channel's page with no (older) posts
                before = low
                continue
            # A page asked for ``?before=`` lists only older numbers; keep that promise.
            older = listing.take(p for p in page if before is None or _number(p.post_id) < before
                                 or (p.created_at is not None and p.created_at < since))
            low = page_before(resp.text)
            if older or low is None or low <= 1 or (before is not None and low >= before):
                return listing.read(True, None)
            before = low
        return listing.read(False, f"stopped after {max_pages} pages")


CONNECTOR = ConnectorSpec(
    name=PLATFORM,
    settings=base_url_settings(BASE_URL),
    build=lambda http, s: TelegramConnector(http, base_url=s.base_url),
    # t.me pages are HTML for people: two at a time, a second apart, stays polite.
    host_policies=lambda s: {urlsplit(s.base_url).netloc.lower(): HostPolicy(concurrency=2, min_interval=1.0)},
    base_url=lambda base, _q: {"base_url": base},
    base_url_usage="telegram=URL",
)
