"""The one small protocol every platform connector implements.

    lookup(accounts)   -> one Observation per account asked, in the same order
    followers(id, ...) -> a FollowerListing (a snapshot, or the reason there is none)
    stream (optional)  -> StatusEvents as the platform reports them (see bluesky.Jetstream)

Contract (tests/test_connectors.py checks it for every connector, with faults on):
- never raise for a transport failure: the account gets status ``unknown`` and the
  reason in ``detail`` (DESIGN rule 1); a status other than ``unknown`` is only ever
  derived from an answer the platform actually gave;
- the platform's own words go in ``detail`` / ``status_raw``; unknown status words map
  to ``unknown`` and are kept verbatim in ``status_raw``;
- ``account_id`` is the platform's stable id when it could be resolved (the handle as
  given otherwise, with ``detail`` saying so);
- provenance: ``source`` and ``source_ref`` (the request URL) and ``payload_hash``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from purgewatch.model import FollowerSnapshot, Observation, Status
from purgewatch.net.http import ApiResponse


@dataclass
class PagingState:
    """Where a follower listing stands: enough to resume it after a crash."""

    platform: str
    account_id: str
    started_at: datetime
    cursor: str | None = None
    follower_ids: list[str] = field(default_factory=list)
    pages: int = 0
    source_ref: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "account_id": self.account_id,
            "started_at": self.started_at.isoformat(),
            "cursor": self.cursor,
            "follower_ids": self.follower_ids,
            "pages": self.pages,
            "source_ref": self.source_ref,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PagingState:
        ids = data.get("follower_ids") or []
        cursor = data.get("cursor")
        ref = data.get("source_ref")
        return cls(
            platform=str(data["platform"]),
            account_id=str(data["account_id"]),
            started_at=datetime.fromisoformat(str(data["started_at"])),
            cursor=str(cursor) if cursor is not None else None,
            follower_ids=[str(x) for x in ids] if isinstance(ids, list) else [],
            pages=int(str(data.get("pages") or 0)),
            source_ref=str(ref) if ref is not None else None,
        )


@dataclass
class FollowerListing:
    """The outcome of reading one follower list.

    ``snapshot`` is None when no list can honestly be recorded (``skipped`` says why: a
    suspended or hidden account's empty list is not zero followers). A listing cut short
    by a failure carries a snapshot marked ``partial`` and the reason in ``error``."""

    snapshot: FollowerSnapshot | None
    skipped: str | None = None
    error: str | None = None


def listing_from(
    state: PagingState, *, source: str, partial: bool = False, error: str | None = None
) -> FollowerListing:
    """The listing a connector returns once paging ends (``partial`` when cut short).
    Paging can repeat an entry when the list moves under us: keep its first sight."""
    snap = FollowerSnapshot(
        platform=state.platform, account_id=state.account_id, observed_at=state.started_at,
        follower_ids=list(dict.fromkeys(state.follower_ids)), partial=partial, ordered=True,
        source=source, source_ref=state.source_ref,
    )
    return FollowerListing(snap, error=error)


PageCallback = Callable[[PagingState], Awaitable[None] | None]


@runtime_checkable
class Connector(Protocol):
    platform: str
    source: str

    async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
        """One observation per account (id or handle), in the order asked."""
        ...

    async def followers(
        self,
        account_id: str,
        *,
        resume: PagingState | None = None,
        on_page: PageCallback | None = None,
        max_pages: int | None = None,
    ) -> FollowerListing:
        """Read the follower list of ``account_id`` (a resolved id)."""
        ...


def unknown(
    platform: str,
    account: str,
    observed_at: datetime,
    reason: str,
    *,
    source: str,
    source_ref: str | None = None,
    status_raw: str | None = None,
    payload_hash: str | None = None,
) -> Observation:
    """The observation recorded when nothing could be learnt: status ``unknown``, why."""
    return Observation(
        platform=platform,
        account_id=account,
        observed_at=observed_at,
        status=Status.UNKNOWN.value,
        status_raw=status_raw,
        detail=reason,
        source=source,
        source_ref=source_ref,
        payload_hash=payload_hash,
    )


async def call_page_callback(cb: PageCallback | None, state: PagingState) -> None:
    if cb is None:
        return
    result = cb(state)
    if result is not None:
        await result


_COUNT_RE = re.compile(r"(\d[\d,.\s]*)\s*([KMB])?\b", re.IGNORECASE)


def parse_count(text: str | None) -> int | None:
    """'12,345', '12 345 subscribers', '12.3K', '1.2M', '3B' -> int (None when no count)."""
    if text is None:
        return None
    m = _COUNT_RE.search(text.replace("\u00a0", " ").replace("\u202f", " "))
    if m is None:
        return None
    digits = re.sub(r"[\s,]", "", m.group(1))
    suffix = (m.group(2) or "").upper()
    if not suffix and re.fullmatch(r"\d{1,3}(\.\d{3})+", digits):
        digits = digits.replace(".", "")  # "12.345": a thousands separator, not a decimal
    try:
        value = float(digits)
    except ValueError:
        return None
    scale = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}[suffix]
    return int(round(value * scale))


# ---------------------------------------------------------------------- posts
@dataclass
class Post:
    """One post as a listing showed it (a row of the store's ``posts`` table).

    A repost or boost is the reposter's own item: ``post_id`` is the repost's id,
    ``created_at`` when it was reposted, ``repost_of`` the original's id and ``text`` the
    original's words. A quote has its own text and ``quote_of``."""

    post_id: str
    created_at: datetime | None
    text: str | None
    url: str | None = None
    lang: str | None = None
    reply_to: str | None = None
    repost_of: str | None = None
    quote_of: str | None = None
    links: list[str] | None = None
    hashtags: list[str] | None = None
    mentions: list[str] | None = None


# ``answer`` words of a read (model.POST_READS_SCHEMA): only ``ok`` and ``not_found``
# are evidence about posts.
READ_OK, READ_NOT_FOUND, READ_UNAVAILABLE, READ_ERROR = "ok", "not_found", "account_unavailable", "error"


@dataclass
class PostRead:
    """One read of an account's posts (a row of ``post_reads``) and the posts it held.

    ``complete`` only when every post published in ``[window_start, window_end]`` was
    listed: the listing was paged until a post older than ``window_start`` or its end,
    with no failure. An account that cannot be shown (suspended, deactivated,
    protected, hiding its posts) is ``account_unavailable``, never a complete empty
    listing; a transport failure is ``error`` (or an incomplete read when some pages
    came through)."""

    platform: str
    account_id: str
    read_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    complete: bool
    answer: str
    posts: list[Post] = field(default_factory=list)
    post_id: str | None = None          # the post asked about directly (not_found)
    detail: str | None = None           # why a read is incomplete or unavailable
    source: str | None = None
    source_ref: str | None = None
    payload_hash: str | None = None
    lookup: bool = False                # a direct look-up: ``posts`` hold ids only, no versions


def failed_read(platform: str, account_id: str, at: datetime, since: datetime | None, answer: str,
                detail: str, *, source: str, source_ref: str | None = None,
                payload_hash: str | None = None) -> PostRead:
    """A read that learnt nothing about posts (``account_unavailable`` or ``error``)."""
    return PostRead(platform, account_id, at, since, at, complete=False, answer=answer, detail=detail,
                    source=source, source_ref=source_ref, payload_hash=payload_hash)


def paged_read(platform: str, account_id: str, at: datetime, since: datetime, posts: list[Post], *,
               complete: bool, detail: str | None, source: str, source_ref: str | None,
               payload_hash: str | None) -> PostRead:
    """The read a listing gives once paging stops; ``at`` is when its first (newest) page
    was answered, which is what the listing vouches for. Complete: the window asked for. Cut
    short: only what was listed can be vouched for, from its oldest post on (no window
    at all when nothing came through, which makes it an ``error``)."""
    seen = list({p.post_id: p for p in posts}.values())  # a post repeated across pages once
    if complete:
        return PostRead(platform, account_id, at, since, at, True, READ_OK, seen, detail=detail,
                        source=source, source_ref=source_ref, payload_hash=payload_hash)
    if not seen:
        return failed_read(platform, account_id, at, since, READ_ERROR, detail or "nothing read",
                           source=source, source_ref=source_ref, payload_hash=payload_hash)
    times = [p.created_at for p in seen if p.created_at is not None]
    return PostRead(platform, account_id, at, max(since, min(times)) if times else None, at, False, READ_OK,
                    seen, detail=detail, source=source, source_ref=source_ref, payload_hash=payload_hash)


@dataclass
class PostListing:
    """One paged listing of an account's posts while it is read: the posts so far and the
    first (newest) page's answer, which the read is stamped and referenced with."""

    platform: str
    account_id: str
    since: datetime
    at: datetime          # when the listing began (the stamp if no page ever answered)
    source: str
    url: str | None = None  # the listing's address (the reference if no page answered)
    posts: list[Post] = field(default_factory=list)
    first: ApiResponse | None = None

    def answered(self, resp: ApiResponse) -> None:
        self.first = self.first or resp

    def take(self, items: Iterable[Post | None]) -> bool:
        """Keep a page's posts published since the window's start; whether the page
        reached past it (an older post: the listing, newest first, is complete)."""
        older = False
        for post in items:
            if post is None:
                continue
            if post.created_at is not None and post.created_at < self.since:
                older = True
            else:
                self.posts.append(post)
        return older

    def read(self, complete: bool, detail: str | None) -> PostRead:
        """The read this listing gives once paging stops (:func:`paged_read`)."""
        first = self.first
        return paged_read(self.platform, self.account_id, first.retrieved_at if first else self.at, self.since,
                          self.posts, complete=complete, detail=detail, source=self.source,
                          source_ref=first.url if first else self.url,
                          payload_hash=first.payload_hash if first else None)


@runtime_checkable
class PostReader(Protocol):
    """Connectors that can list an account's posts (``collect --posts``)."""

    platform: str
    source: str

    async def read_posts(self, account_id: str, *, since: datetime, max_pages: int = 10) -> PostRead:
        """Every post of ``account_id`` (a resolved id) published since ``since``,
        newest first, in at most ``max_pages`` requests."""
        ...


def lookup_reads(platform: str, account_id: str, at: datetime, asked: Sequence[str], found: set[str],
                 missing: set[str], *, source: str, source_ref: str | None,
                 payload_hash: str | None) -> list[PostRead]:
    """Reads from a direct look-up of ``asked`` posts: one ``not_found`` read per post the
    platform said does not exist, and one incomplete read listing those it showed (they
    were there: a listing that missed them was flaky). Posts it neither showed nor
    denied say nothing."""
    out = [PostRead(platform, account_id, at, None, None, False, READ_NOT_FOUND, post_id=pid,
                    detail="not found when asked for directly", source=source, source_ref=source_ref,
                    payload_hash=payload_hash, lookup=True) for pid in asked if pid in missing]
    shown = [p for p in asked if p in found]
    if shown:
        out.append(PostRead(platform, account_id, at, None, None, False, READ_OK,
                            [Post(pid, None, None) for pid in shown], detail="asked for directly",
                            source=source, source_ref=source_ref, payload_hash=payload_hash, lookup=True))
    return out


@runtime_checkable
class PostChecker(Protocol):
    """Connectors that can ask for posts by id (a deletion's direct evidence)."""

    async def check_posts(self, account_id: str, post_ids: Sequence[str]) -> list[PostRead]:
        """``not_found`` reads for the posts the platform says do not exist."""
        ...


_TAG = re.compile(r"(?:^|(?<=[^\w&]))#(\w+)")
_MENTION = re.compile(r"(?:^|(?<=[^\w]))@([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|[A-Za-z0-9_])")
_LINK = re.compile(r"https?://[^\s<>\"']+")


def text_entities(text: str | None) -> tuple[list[str] | None, list[str] | None, list[str] | None]:
    """(links, hashtags, mentions) read from plain text, for platforms whose answer does
    not list them (Telegram pages); hashtags lowercased without '#'."""
    if not text:
        return None, None, None
    links = _LINK.findall(text)
    tags = [t.lower() for t in _TAG.findall(text)]
    mentions = _MENTION.findall(text)
    return links or None, tags or None, mentions or None
