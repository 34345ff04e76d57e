"""Web-archive backfill: follower-count history of an X/Twitter account from archived
profile pages (server-rendered HTML, roughly before 2019–2020).

1. CDX listing (``/cdx/search/cdx?url=twitter.com/<handle>&output=json&...``), one
   capture per day, status 200 only;
2. each raw capture (``/web/<timestamp>id_/twitter.com/<handle>``) parsed with the
   documented selectors, K/M/B suffixes scaled.

Observations: platform ``x``, source ``web-archive``, ``observed_at`` = capture time,
``source_ref`` = the capture URL, status ``active`` (the page was served). A capture that
could not be fetched is recorded as ``unknown`` with the reason; a capture without a
follower count (modern JS pages, login walls) is skipped and counted. The archive asks
for ≤ 24 requests/minute: the engine gives its host a 2.5 s spacing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from purgewatch.errors import TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.http import ApiResponse, HttpClient
from purgewatch.sources.protocol import parse_count, unknown

PLATFORM = "x"
ARCHIVE_URL = "https://web.archive.org"
MIN_INTERVAL = 60.0 / 24
_CAPTURE_PATH = re.compile(r"^/web/(\d{14})id_/")


@dataclass
class BackfillResult:
    observations: list[Observation] = field(default_factory=list)
    captures: int = 0
    without_count: int = 0
    failures: list[str] = field(default_factory=list)


def parse_profile_followers(html: str) -> int | None:
    """Followers in a server-rendered Twitter profile page, or None."""
    tree = HTMLParser(html)
    node = tree.css_first("li.ProfileNav-item--followers span.ProfileNav-value[data-count]")
    if node is not None:
        n = parse_count(node.attributes.get("data-count"))
        if n is not None:
            return n
    for a in tree.css("a.ProfileNav-stat[title]"):
        nav = (a.attributes.get("data-nav") or "").lower()
        title = a.attributes.get("title") or ""
        if nav == "followers" or "follower" in title.lower():
            n = parse_count(title)
            if n is not None:
                return n
    for sel in ("ul.user-stats a.user-stats-followers", "a#follower_count_link"):
        node = tree.css_first(sel)
        if node is not None:
            strong = node.css_first("strong") or node.css_first(".user-stats-count")
            n = parse_count((strong or node).text(strip=True))
            if n is not None:
                return n
    return None


def capture_time(ts: str) -> datetime | None:
    try:
        return datetime.strptime(ts[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


class WaybackConnector:
    """Backfill only: there is no live lookup or follower list in an archive."""

    platform = PLATFORM
    source = "web-archive"

    def __init__(self, http: HttpClient, *, base_url: str = ARCHIVE_URL) -> None:
        self.http = http
        self.base = base_url.rstrip("/")

    async def backfill(
        self,
        handle: str,
        *,
        account_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        max_captures: int | None = None,
    ) -> BackfillResult:
        """History of ``handle``; ``start``/``end`` are CDX dates (``YYYYMMDD``)."""
        handle = handle.lstrip("@")
        aid = account_id or handle
        original = f"twitter.com/{handle}"
        params: dict[str, str] = {
            "url": original, "output": "json", "fl": "timestamp,statuscode,digest",
            "collapse": "timestamp:8", "filter": "statuscode:200",
        }
        if start:
            params["from"] = start
        if end:
            params["to"] = end
        result = BackfillResult()
        try:
            resp = await self.http.get(f"{self.base}/cdx/search/cdx", params=params, bucket="wayback")
            rows = resp.json() if resp.status_code == 200 else None
        except TransportError as exc:
            result.failures.append(f"CDX listing failed: {exc}")
            result.observations.append(unknown(PLATFORM, aid, self.http.now(),
                                               f"CDX listing failed: {exc}", source=self.source))
            return result
        if not isinstance(rows, list):
            result.failures.append(f"CDX listing refused: HTTP {resp.status_code}")
            return result
        stamps = [r[0] for r in rows[1:] if isinstance(r, list) and r and isinstance(r[0], str)]
        if max_captures is not None:
            stamps = stamps[:max_captures]
        for ts in stamps:
            at = capture_time(ts)
            if at is None:
                continue
            result.captures += 1
            url = f"{self.base}/web/{ts}id_/{original}"
            try:
                page, url, at = await self._capture(url, at)
            except TransportError as exc:
                result.failures.append(str(exc))
                result.observations.append(unknown(PLATFORM, aid, at, f"capture fetch failed: {exc}",
                                                   source=self.source, source_ref=url))
                continue
            if page.status_code != 200:
                result.failures.append(f"HTTP {page.status_code}: {url}")
                result.observations.append(unknown(PLATFORM, aid, at, f"capture answered HTTP {page.status_code}",
                                                   source=self.source, source_ref=url))
                continue
            n = parse_profile_followers(page.text)
            if n is None:
                result.without_count += 1
                continue
            result.observations.append(Observation(
                platform=PLATFORM, account_id=aid, observed_at=at, status=Status.ACTIVE.value,
                followers_count=n, handle=handle, source=self.source, source_ref=url,
                payload_hash=page.payload_hash, detail="archived profile page",
            ))
        return result

    async def _capture(self, url: str, at: datetime) -> tuple[ApiResponse, str, datetime]:
        """Fetch a raw capture, following the archive's own redirects to the nearest
        capture (same host, ``/web/<timestamp>id_/`` paths only, at most 3 hops); the
        final URL and its timestamp are what the observation cites."""
        for _hop in range(4):
            page = await self.http.get(url, expect_json=False, bucket="wayback")
            if page.status_code not in (301, 302, 303, 307, 308):
                return page, url, at
            target = urljoin(url, page.headers.get("location", ""))
            m = _CAPTURE_PATH.match(urlsplit(target).path)
            if urlsplit(target).netloc != urlsplit(self.base).netloc or m is None:
                return page, url, at  # not the archive's own capture: not followed
            url, at = target, capture_time(m.group(1)) or at
        return page, url, at
