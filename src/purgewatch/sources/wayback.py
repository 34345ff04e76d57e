"""Web-archive backfill: follower-count history of an X/Twitter account from archived
profile pages (server-rendered HTML, roughly before 2019–2020).

1. CDX listing (``/cdx/search/cdx?url=twitter.com/<handle>&output=json&...``), one
   capture per day, archived status 2xx or 3xx (a suspended profile redirected to
   ``/account/suspended``);
2. each raw capture (``/web/<timestamp>id_/twitter.com/<handle>``) parsed with the
   documented selectors. Exact figures (``data-count``, "12,345 Followers") are counts;
   a rounded display value ("1.2M", "130K") is kept in ``detail`` only.

Observations: platform ``x``, source ``web-archive``, ``observed_at`` = capture time,
``source_ref`` = the capture URL, status ``active`` (the profile page was served) or
``suspended`` (the capture is the platform's "Account suspended" page, reached from the
profile URL). The archive's redirects are followed only to captures of the same profile
or of ``/account/suspended``: a redirect to any other page is not the account's. A
replayed capture (``Memento-Datetime`` header) answers with the archived page's own
status: a replayed 429 or 403 is an archived error page, not the archive throttling or
refusing, and says nothing about the account. A capture that could not be fetched is
recorded as ``unknown`` with the reason; a capture without a follower count (modern JS
pages, login walls) is skipped and counted. The archive asks for ≤ 24 requests/minute:
the engine gives its host a 2.5 s spacing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from purgewatch.errors import TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.http import ApiResponse, HostPolicy, HttpClient
from purgewatch.sources.protocol import parse_count, unknown
from purgewatch.sources.registry import ConnectorSpec, base_url_settings

PLATFORM = "x"
ARCHIVE_URL = "https://web.archive.org"
MIN_INTERVAL = 60.0 / 24
_CAPTURE_PATH = re.compile(r"^/web/(\d{14})id_/(.*)$")
_ROUNDED = re.compile(r"\d\s*[KMB]\b", re.IGNORECASE)
REPLAY_HEADER = "Memento-Datetime"
_PROFILE_HOSTS = {"twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com", "www.x.com"}
SUSPENDED_PATH = "/account/suspended"


@dataclass
class BackfillResult:
    observations: list[Observation] = field(default_factory=list)
    captures: int = 0
    without_count: int = 0
    failures: list[str] = field(default_factory=list)
    # Captures that were not the profile: archived error pages, redirects elsewhere.
    not_profile: list[str] = field(default_factory=list)


def read_profile_followers(html: str) -> tuple[int | None, str | None]:
    """(exact followers, the value as shown when it is rounded) of a profile page."""
    tree = HTMLParser(html)
    node = tree.css_first("li.ProfileNav-item--followers span.ProfileNav-value[data-count]")
    if node is not None:
        n = parse_count(node.attributes.get("data-count"))
        if n is not None:
            return n, None
    for a in tree.css("a.ProfileNav-stat[title]"):
        nav = (a.attributes.get("data-nav") or "").lower()
        title = a.attributes.get("title") or ""
        if nav == "followers" or "follower" in title.lower():
            n = parse_count(title)
            if n is not None:
                return (None, title) if _ROUNDED.search(title) else (n, None)
    for sel in ("ul.user-stats a.user-stats-followers", "a#follower_count_link"):
        node = tree.css_first(sel)
        if node is not None:
            strong = node.css_first("strong") or node.css_first(".user-stats-count")
            text = (strong or node).text(strip=True)
            n = parse_count(text)
            if n is not None:
                return (None, text) if _ROUNDED.search(text) else (n, None)
    return None, None


def is_suspended_page(html: str) -> bool:
    """The platform's own "Account suspended" page (its heading or title)."""
    tree = HTMLParser(html)
    for sel in ("h1", "title"):
        for node in tree.css(sel):
            if "account suspended" in " ".join(node.text().split()).lower():
                return True
    return False


def _original_path(capture_url: str) -> tuple[str, str] | None:
    """(host, path) of the original URL inside a ``/web/<ts>id_/<original>`` URL."""
    m = _CAPTURE_PATH.match(urlsplit(capture_url).path)
    if m is None:
        return None
    original = m.group(2)
    if "://" not in original:
        original = "http://" + original
    parts = urlsplit(original)
    return (parts.hostname or "").lower(), parts.path.rstrip("/").lower()


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
            "collapse": "timestamp:8", "filter": "statuscode:[23]..",
        }
        if start:
            params["from"] = start
        if end:
            params["to"] = end
        result = BackfillResult()
        try:
            # Only a 200 must be JSON: the archive refuses (403, 404) with HTML pages,
            # which are answers, not garbled JSON to retry.
            resp = await self.http.get(f"{self.base}/cdx/search/cdx", params=params, bucket="wayback",
                                       expect_json="2xx")
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
        want = f"/{handle.lower()}"
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
            replayed = REPLAY_HEADER in page.headers
            where = _original_path(url)
            if where is not None and (where[0] not in _PROFILE_HOSTS or where[1] not in (want, SUSPENDED_PATH)):
                result.not_profile.append(f"redirects to another page ({where[0]}{where[1]}): {url}")
                continue
            if page.status_code in (301, 302, 303, 307, 308):
                result.not_profile.append(f"archived redirect not followed (HTTP {page.status_code}): {url}")
                continue
            if page.status_code != 200 and replayed:
                # The archived page's own status (a 429 or 403 the platform gave the crawler).
                result.not_profile.append(f"archived error page (HTTP {page.status_code}): {url}")
                continue
            if page.status_code != 200:
                result.failures.append(f"HTTP {page.status_code}: {url}")
                result.observations.append(unknown(PLATFORM, aid, at, f"capture answered HTTP {page.status_code}",
                                                   source=self.source, source_ref=url))
                continue
            if (where is not None and where[1] == SUSPENDED_PATH) or is_suspended_page(page.text):
                result.observations.append(Observation(
                    platform=PLATFORM, account_id=aid, observed_at=at, status=Status.SUSPENDED.value,
                    status_raw="account-suspended-page", handle=handle, source=self.source, source_ref=url,
                    payload_hash=page.payload_hash,
                    detail="archived capture of the platform's 'Account suspended' page for the profile URL",
                ))
                continue
            n, shown = read_profile_followers(page.text)
            if n is None and shown is None:
                result.without_count += 1
                continue
            result.observations.append(Observation(
                platform=PLATFORM, account_id=aid, observed_at=at, status=Status.ACTIVE.value,
                followers_count=n, handle=handle, source=self.source, source_ref=url,
                payload_hash=page.payload_hash,
                detail="archived profile page" if shown is None else
                f"archived profile page; followers shown rounded: {shown} (not stored as a count)",
            ))
        return result

    async def _capture(self, url: str, at: datetime) -> tuple[ApiResponse, str, datetime]:
        """Fetch a raw capture, following the archive's own redirects to the nearest
        capture (same host, ``/web/<timestamp>id_/`` paths only, at most 3 hops); the
        final URL and its timestamp are what the observation cites. Whether the final
        capture is still the profile is the caller's check."""
        for _hop in range(4):
            page = await self.http.get(url, expect_json=False, bucket="wayback", replay_header=REPLAY_HEADER)
            if page.status_code not in (301, 302, 303, 307, 308):
                return page, url, at
            target = urljoin(url, page.headers.get("location", ""))
            m = _CAPTURE_PATH.match(urlsplit(target).path)
            if urlsplit(target).netloc != urlsplit(self.base).netloc or m is None:
                return page, url, at  # not the archive's own capture: not followed
            url, at = target, capture_time(m.group(1)) or at
        return page, url, at


# Registered under its own name, not X's: it backfills X accounts' counts for
# ``collect --archive`` and is no watchlist platform (no status look-up).
CONNECTOR = ConnectorSpec(
    name="wayback",
    settings=base_url_settings(ARCHIVE_URL),
    build=lambda http, s: WaybackConnector(http, base_url=s.base_url),
    live=False,
    # The Wayback Machine asks for <= 24 requests/minute and sends no rate headers.
    host_policies=lambda s: {urlsplit(s.base_url).netloc.lower(): HostPolicy(concurrency=1, min_interval=MIN_INTERVAL)},
)
