"""Bluesky / AT Protocol connector (public reads, no credentials) and the Jetstream
stream of account status events.

Status resolution (docs/collecting.md, "Status words", names the document behind each
row): ``getProfiles`` silently drops taken-down, deactivated and unknown actors, so a
missing entry is only a signal. For a missing DID the relay's ``getRepoStatus`` is asked
first: a status word it names (``takendown``, ``suspended``, ``deactivated``, ``deleted``)
settles it in one request. Anything else -- ``active``, an unknown word, a failure, or
``RepoNotFound`` (the relay answers it for every DID it has never seen, so it says
nothing about the account) -- sends the actor to the AppView's ``getProfile``, whose error
name decides: ``AccountTakedown`` (takedown or suspension), ``AccountDeactivated``,
"Profile not found". Unknown repo status words are kept verbatim in ``status_raw`` and
recorded as ``unknown``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from purgewatch.errors import TransportError
from purgewatch.model import Observation, Status, StatusEvent
from purgewatch.net.clock import Clock
from purgewatch.net.http import ApiResponse, HttpClient
from purgewatch.sources._common import as_dict, as_int, as_str, chunks, error_fields, parse_time
from purgewatch.sources.protocol import (
    READ_UNAVAILABLE,
    FollowerListing,
    PageCallback,
    PagingState,
    Post,
    PostListing,
    PostRead,
    call_page_callback,
    failed_read,
    listing_from,
    lookup_reads,
    unknown,
)
from purgewatch.sources.registry import ConnectorSpec, check_keys, url

log = logging.getLogger("purgewatch.sources.bluesky")

PLATFORM = "bluesky"
APPVIEW_URL = "https://public.api.bsky.app"
RELAY_URL = "https://bsky.network"
JETSTREAM_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
BATCH = 25
FOLLOWERS_PAGE = 100
FEED_PAGE = 100  # getAuthorFeed's maximum limit (lexicon app.bsky.feed.getAuthorFeed)
REPOST_REASON = "app.bsky.feed.defs#reasonRepost"
# Rate-limit bucket: hosts can serve several platforms (a proxy, the emulator), and each
# platform meters its own requests.
BUCKET = "bluesky"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# getRepoStatus words -> our vocabulary. Anything else (desynchronized, throttled,
# broken, new words) is not a verdict on the account: unknown, word kept.
_REPO_STATUS = {
    "takendown": Status.TAKENDOWN.value,
    "suspended": Status.SUSPENDED.value,
    "deleted": Status.DELETED.value,
    "deactivated": Status.DEACTIVATED.value,
}


@dataclass
class RepoStatus:
    status: str            # our vocabulary
    raw: str | None        # the server's word (or error name)
    detail: str
    ok: bool               # False when the request failed (nothing learnt)
    response: ApiResponse | None = None

    @property
    def verdict(self) -> bool:
        """A definite account state (takendown, suspended, deactivated, deleted)."""
        return self.ok and self.status in _REPO_STATUS.values()


class BlueskyConnector:
    platform = PLATFORM
    source = "bluesky"

    def __init__(
        self,
        http: HttpClient,
        *,
        appview_url: str = APPVIEW_URL,
        relay_url: str = RELAY_URL,
    ) -> None:
        self.http = http
        self.appview = appview_url.rstrip("/")
        self.relay = relay_url.rstrip("/")

    @property
    def clock(self) -> Clock:
        return self.http.clock

    # ------------------------------------------------------------------ lookup
    async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
        parts = await asyncio.gather(*(self._lookup_batch(b) for b in chunks(list(accounts), BATCH)))
        return [o for part in parts for o in part]

    async def _lookup_batch(self, actors: list[str]) -> list[Observation]:
        url = f"{self.appview}/xrpc/app.bsky.actor.getProfiles"
        params = [("actors", a) for a in actors]
        try:
            resp = await self.http.get(url, params=params, bucket=BUCKET)
            body = resp.json()
            profiles = body.get("profiles") if isinstance(body, dict) else None
        except TransportError as exc:
            at = self.http.now()
            return [unknown(PLATFORM, a, at, f"getProfiles failed: {exc}", source=self.source) for a in actors]
        if resp.status_code != 200 or not isinstance(profiles, list):
            # A whole-batch refusal (e.g. one malformed handle): ask each actor alone.
            return list(await asyncio.gather(*(self._resolve_missing(a) for a in actors)))
        by_key: dict[str, dict[str, Any]] = {}
        for p in profiles:
            if isinstance(p, dict) and isinstance(p.get("did"), str):
                by_key[p["did"]] = p
                if isinstance(p.get("handle"), str):
                    by_key[p["handle"].lower()] = p
        out: list[Observation | None] = [None] * len(actors)
        missing: list[int] = []
        for i, a in enumerate(actors):
            p = by_key.get(a) or by_key.get(a.lower().lstrip("@"))
            if p is None:
                missing.append(i)
            else:
                out[i] = self._profile_observation(p, resp)
        resolved = await asyncio.gather(*(self._resolve_missing(actors[i]) for i in missing))
        for i, obs in zip(missing, resolved, strict=True):
            out[i] = obs
        return [o for o in out if o is not None]

    def _profile_observation(self, p: dict[str, Any], resp: ApiResponse, detail: str | None = None) -> Observation:
        labels = [lab.get("val") for lab in p.get("labels") or [] if isinstance(lab, dict) and not lab.get("neg")]
        moderation = [v for v in labels if isinstance(v, str) and v.startswith("!")]
        if moderation:
            note = "moderation labels: " + ", ".join(moderation)
            detail = f"{detail}; {note}" if detail else note
        return Observation(
            platform=PLATFORM,
            account_id=p["did"],
            observed_at=resp.retrieved_at,
            status=Status.ACTIVE.value,
            followers_count=as_int(p.get("followersCount")),
            following_count=as_int(p.get("followsCount")),
            posts_count=as_int(p.get("postsCount")),
            handle=as_str(p.get("handle")),
            display_name=as_str(p.get("displayName")),
            created_at=parse_time(p.get("createdAt")),
            default_profile_image=not p.get("avatar"),
            description=as_str(p.get("description")),
            detail=detail,
            source=self.source,
            source_ref=resp.url,
            payload_hash=resp.payload_hash,
        )

    async def _resolve_missing(self, actor: str) -> Observation:
        """Why ``actor`` is absent from getProfiles. For a DID the relay's repo status
        answers in one request when it names a state; otherwise (active at the relay but
        hidden by the AppView, an unknown word, a failure) getProfile's error decides."""
        did = actor if actor.startswith("did:") else None
        repo = await self.repo_status(did) if did else None
        if repo is not None and repo.verdict and repo.response is not None:
            r = repo.response
            return Observation(
                platform=PLATFORM, account_id=actor, observed_at=r.retrieved_at, status=repo.status,
                status_raw=repo.raw,
                detail=f"absent from getProfiles; getRepoStatus: {repo.detail}",
                source=self.source, source_ref=r.url, payload_hash=r.payload_hash,
            )
        url = f"{self.appview}/xrpc/app.bsky.actor.getProfile"
        try:
            resp = await self.http.get(url, params={"actor": actor}, bucket=BUCKET)
            body = resp.json()
        except TransportError as exc:
            return unknown(
                PLATFORM, actor, self.http.now(),
                f"absent from getProfiles; getProfile failed: {exc}", source=self.source,
            )
        if resp.status_code == 200 and isinstance(body, dict) and isinstance(body.get("did"), str):
            return self._profile_observation(body, resp, detail="absent from getProfiles, present in getProfile")
        err, msg = error_fields(body)
        words = f"{err}: {msg}" if msg else str(err)
        base = Observation(
            platform=PLATFORM, account_id=actor, observed_at=resp.retrieved_at,
            status=Status.UNKNOWN.value, status_raw=err, handle=None if did else actor,
            source=self.source, source_ref=resp.url, payload_hash=resp.payload_hash,
        )
        if err is None or resp.status_code not in (400, 404):
            base.detail = f"getProfile answered HTTP {resp.status_code} without an XRPC error"
            return base
        repo_note = f"; getRepoStatus: {repo.detail}" if repo else ""
        if err == "AccountTakedown":
            # The AppView cannot tell takedown from suspension; the repo status can.
            if repo and repo.ok and repo.status in (Status.TAKENDOWN.value, Status.SUSPENDED.value):
                base.status, base.status_raw = repo.status, repo.raw
            else:
                # Enforcement for sure; which kind is unknown. Keep the error's own name.
                base.status = Status.TAKENDOWN.value
                repo_note += "; takedown vs suspension not distinguished"
            base.detail = f"AppView {words}{repo_note}"
        elif err == "AccountDeactivated":
            if repo and repo.ok and repo.status in (Status.DELETED.value, Status.DEACTIVATED.value):
                base.status, base.status_raw = repo.status, repo.raw
            else:
                base.status = Status.DEACTIVATED.value
            base.detail = f"AppView {words}{repo_note}"
        elif err == "InvalidRequest" and msg and "not found" in msg.lower():
            if did is None:
                base.status = Status.NOT_FOUND.value
                base.detail = f"AppView {words} (handle does not resolve)"
            elif repo and repo.ok and repo.verdict:
                base.status, base.status_raw = repo.status, repo.raw or err
                base.detail = f"AppView {words}{repo_note}"
            elif repo and repo.ok and repo.raw == "RepoNotFound":
                # Neither the AppView nor the relay has the account: the platform says so.
                base.status = Status.NOT_FOUND.value
                base.detail = f"AppView {words}{repo_note}"
            elif repo and repo.ok:
                # Active (or an unknown word) at the relay but no profile: no verdict.
                base.status_raw = repo.raw or err
                base.detail = f"AppView {words}{repo_note}; no verdict"
            else:
                base.detail = f"AppView {words}{repo_note}; repo status unavailable, no verdict"
        else:
            base.detail = f"AppView {words}{repo_note}"
        return base

    async def repo_status(self, did: str) -> RepoStatus:
        """Ask the relay (``relay_url``) for the repository status of ``did``."""
        url = f"{self.relay}/xrpc/com.atproto.sync.getRepoStatus"
        try:
            resp = await self.http.get(url, params={"did": did}, bucket=BUCKET)
            body = resp.json()
        except TransportError as exc:
            return RepoStatus(Status.UNKNOWN.value, None, f"failed: {exc}", ok=False)
        if resp.status_code == 200 and isinstance(body, dict):
            word = as_str(body.get("status"))
            active = body.get("active")
            if word is None:
                if active is True:
                    return RepoStatus(Status.ACTIVE.value, None, "active", ok=True, response=resp)
                return RepoStatus(Status.UNKNOWN.value, None, f"no status word (active={active!r})",
                                  ok=True, response=resp)
            mapped = _REPO_STATUS.get(word.lower(), Status.UNKNOWN.value)
            return RepoStatus(mapped, word, f"{word} (active={active!r})", ok=True, response=resp)
        err, msg = error_fields(body)
        if err == "RepoNotFound":
            # indigo's relay answers 404 RepoNotFound "account not found" for any DID it
            # has not seen (cmd/relay/handlers.go): no verdict on the account.
            return RepoStatus(Status.UNKNOWN.value, err,
                              f"RepoNotFound {msg or ''!r}: the relay does not know this DID",
                              ok=True, response=resp)
        return RepoStatus(Status.UNKNOWN.value, err, f"HTTP {resp.status_code} {err}: {msg}", ok=False,
                          response=resp)

    # ------------------------------------------------------------------ followers
    async def followers(
        self,
        account_id: str,
        *,
        resume: PagingState | None = None,
        on_page: PageCallback | None = None,
        max_pages: int | None = None,
    ) -> FollowerListing:
        url = f"{self.appview}/xrpc/app.bsky.graph.getFollowers"
        state = resume or PagingState(PLATFORM, account_id, self.http.now())
        pages = 0
        while True:
            params: dict[str, Any] = {"actor": account_id, "limit": FOLLOWERS_PAGE}
            if state.cursor:
                params["cursor"] = state.cursor
            try:
                resp = await self.http.get(url, params=params, bucket=BUCKET)
                body = resp.json()
            except TransportError as exc:
                return self._cut_short(state, f"getFollowers failed: {exc}")
            if resp.status_code != 200 or not isinstance(body, dict):
                err, msg = error_fields(body)
                if state.pages == 0:
                    return FollowerListing(None, skipped=f"getFollowers refused: HTTP {resp.status_code} {err}: {msg}")
                return self._cut_short(state, f"getFollowers refused mid-list: HTTP {resp.status_code} {err}: {msg}")
            page = body.get("followers")
            if not isinstance(page, list):
                return self._cut_short(state, "getFollowers answer without a followers list")
            if state.source_ref is None:
                state.source_ref = resp.url
            state.follower_ids.extend(
                f["did"] for f in page if isinstance(f, dict) and isinstance(f.get("did"), str)
            )
            state.pages += 1
            pages += 1
            cursor = as_str(body.get("cursor"))
            state.cursor = cursor
            if not cursor:
                break
            await call_page_callback(on_page, state)
            if max_pages is not None and pages >= max_pages:
                return self._cut_short(state, f"stopped after {pages} pages (max_pages)")
        return listing_from(state, source=self.source)

    def _cut_short(self, state: PagingState, reason: str) -> FollowerListing:
        return listing_from(state, source=self.source, partial=True, error=reason)


    # ------------------------------------------------------------------ posts
    async def read_posts(self, account_id: str, *, since: datetime, max_pages: int = 10) -> PostRead:
        """``app.bsky.feed.getAuthorFeed`` (filter ``posts_with_replies``: posts, replies
        and reposts), newest first, paged by ``cursor`` until an item older than
        ``since`` or the feed's end. The AppView refuses the feed of an actor it does not
        show (``InvalidRequest`` "Profile not found": taken down, deactivated, deleted;
        ``BlockedActor``/``BlockedByActor``): that read is ``account_unavailable``."""
        url = f"{self.appview}/xrpc/app.bsky.feed.getAuthorFeed"
        listing = PostListing(PLATFORM, account_id, since, self.http.now(), self.source)
        cursor: str | None = None
        for _ in range(max(1, max_pages)):
            params: dict[str, Any] = {"actor": account_id, "limit": FEED_PAGE, "filter": "posts_with_replies"}
            if cursor:
                params["cursor"] = cursor
            try:
                resp = await self.http.get(url, params=params, bucket=BUCKET)
                body = resp.json()
            except TransportError as exc:
                return listing.read(False, f"getAuthorFeed failed: {exc}")
            listing.answered(resp)
            if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("feed"), list):
                err, msg = error_fields(body)
                why = f"getAuthorFeed refused: HTTP {resp.status_code} {err}: {msg}"
                if not listing.posts and resp.status_code == 400 and err in ("InvalidRequest", "BlockedActor", "BlockedByActor"):
                    return failed_read(PLATFORM, account_id, resp.retrieved_at, since, READ_UNAVAILABLE, why, source=self.source,
                                       source_ref=resp.url, payload_hash=resp.payload_hash)
                return listing.read(False, why)
            older = listing.take(feed_item_post(item, account_id) for item in body["feed"])
            cursor = as_str(body.get("cursor"))
            if older or not cursor:
                return listing.read(True, None)
        return listing.read(False, f"stopped after {max_pages} pages")

    async def check_posts(self, account_id: str, post_ids: Sequence[str]) -> list[PostRead]:
        """``app.bsky.feed.getPosts`` (25 URIs a request): a URI it leaves out is not
        found (the lexicon: posts that cannot be shown are omitted). Asked only after a
        complete read of the author in the same pass, so a hidden author is not taken
        for deleted posts. A failure says nothing."""
        out: list[PostRead] = []
        url = f"{self.appview}/xrpc/app.bsky.feed.getPosts"
        for batch in chunks([p for p in post_ids if "/app.bsky.feed.post/" in p], BATCH):
            try:
                resp = await self.http.get(url, params=[("uris", u) for u in batch], bucket=BUCKET)
                body = resp.json()
            except TransportError:
                continue
            if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                continue
            found = {as_str(p.get("uri")) for p in body["posts"] if isinstance(p, dict)}
            out += lookup_reads(PLATFORM, account_id, resp.retrieved_at, batch, {u for u in batch if u in found},
                                {u for u in batch if u not in found}, source=self.source, source_ref=resp.url,
                                payload_hash=resp.payload_hash)
        return out


def _facet_values(record: dict[str, Any], kind: str, key: str) -> list[str]:
    out: list[str] = []
    for facet in record.get("facets") or []:
        for feat in (facet.get("features") or []) if isinstance(facet, dict) else []:
            if isinstance(feat, dict) and feat.get("$type") == f"app.bsky.richtext.facet#{kind}":
                value = as_str(feat.get(key))
                if value:
                    out.append(value)
    return out


def _post_url(uri: str, handle: str | None) -> str | None:
    # at://<did>/app.bsky.feed.post/<rkey> -> the web client's address of the post
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


def feed_item_post(item: Any, account_id: str) -> Post | None:
    """One ``app.bsky.feed.defs#feedViewPost`` of ``account_id``'s feed -> a Post.

    A repost (``reason`` ``#reasonRepost``) becomes the reposter's item: the repost
    record's URI when the reason carries it (else ``<original uri>#repost-by-<did>``),
    the time it was indexed, the original's text and ``repost_of``. A quote is a post
    whose record embeds another (``app.bsky.embed.record`` or ``recordWithMedia``)."""
    if not isinstance(item, dict) or not isinstance(item.get("post"), dict):
        return None
    pv = item["post"]
    uri = as_str(pv.get("uri"))
    record = as_dict(pv.get("record"))
    if uri is None:
        return None
    author = as_dict(pv.get("author"))
    text = as_str(record.get("text"))
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    tags = [t.lower().lstrip("#") for t in _facet_values(record, "tag", "tag")]
    tags += [t.lower().lstrip("#") for t in record.get("tags") or [] if isinstance(t, str)]
    links = _facet_values(record, "link", "uri")
    mentions = _facet_values(record, "mention", "did")
    reply = as_dict(record.get("reply"))
    parent = as_dict(reply.get("parent"))
    embed = as_dict(record.get("embed"))
    quoted = None
    if embed.get("$type") == "app.bsky.embed.record" and isinstance(embed.get("record"), dict):
        quoted = as_str(embed["record"].get("uri"))
    elif embed.get("$type") == "app.bsky.embed.recordWithMedia":
        inner = as_dict(embed.get("record"))
        rec = as_dict(inner.get("record"))
        quoted = as_str(rec.get("uri"))
    if embed.get("$type") == "app.bsky.embed.external" and isinstance(embed.get("external"), dict):
        ext = as_str(embed["external"].get("uri"))
        if ext:
            links.append(ext)
    reason = item.get("reason") if isinstance(item.get("reason"), dict) else None
    base = Post(
        post_id=uri, created_at=parse_time(record.get("createdAt")) or parse_time(pv.get("indexedAt")),
        text=text, url=_post_url(uri, as_str(author.get("handle"))), lang=lang,
        reply_to=as_str(parent.get("uri")), quote_of=quoted,
        links=list(dict.fromkeys(links)) or None, hashtags=list(dict.fromkeys(tags)) or None,
        mentions=list(dict.fromkeys(mentions)) or None,
    )
    if reason is not None and reason.get("$type") == REPOST_REASON:
        by = as_dict(reason.get("by"))
        did = as_str(by.get("did")) or account_id
        base.post_id = as_str(reason.get("uri")) or f"{uri}#repost-by-{did}"
        base.created_at = parse_time(reason.get("indexedAt"))
        base.repost_of, base.quote_of, base.reply_to, base.url = uri, None, None, None
        return base
    if reason is not None:
        return None  # a pinned post (#reasonPin) is listed again elsewhere in its place
    if as_str(author.get("did")) not in (None, account_id):
        return None  # not the account's own item (a feed answers only those, but be sure)
    return base


# ---------------------------------------------------------------------- Jetstream

def _time_us(value: Any) -> int | None:
    """An RFC 3339 stamp (Jetstream v2 ``time``, microsecond precision) -> unix µs."""
    dt = parse_time(value)
    if dt is None:
        return None
    return (dt - _EPOCH) // timedelta(microseconds=1)


def parse_jetstream_frame(text: str | bytes) -> tuple[dict[str, Any] | None, int | None]:
    """One Jetstream frame (v1 or v2) -> (the ``account`` object with ``did``, ``time``,
    ``active``, ``status``; the frame's cursor as unix µs). Non-account frames give
    (None, cursor); unreadable frames (None, None).

    v1 frames carry ``time_us``, the cursor. v2 frames (``subscribeEvents``) carry
    Jetstream's own ``seq`` and an RFC 3339 ``time`` (when Jetstream saw the event) and
    no ``time_us``: the cursor is that ``time`` in µs, which v2 accepts as a cursor too
    (a cursor ≥ 1e15 is read as a timestamp), so one saved number resumes either
    version and the usual rewind applies. The inner ``account`` object is the relay's
    ``#account`` event verbatim (its own ``seq`` and ``time`` are the relay's)."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(frame, dict):
        return None, None
    if frame.get("$type") == "error":
        return None, None
    if frame.get("$type") == "message" and isinstance(frame.get("payload"), dict):  # v2
        payload = frame["payload"]
        cursor = as_int(payload.get("time_us")) or _time_us(payload.get("time"))
        kind = str(payload.get("$type", ""))
        if not kind.endswith("#account"):
            return None, cursor
        acct = payload.get("account") if isinstance(payload.get("account"), dict) else payload
        acct = dict(acct)
        acct.setdefault("did", payload.get("did"))
        acct.setdefault("time", payload.get("time"))
        acct.setdefault("seq", payload.get("seq"))
        acct["jetstream_seq"] = payload.get("seq")
        return acct, cursor
    cursor = as_int(frame.get("time_us"))
    if frame.get("kind") != "account" or not isinstance(frame.get("account"), dict):
        return None, cursor
    acct = dict(frame["account"])
    acct.setdefault("did", frame.get("did"))
    return acct, cursor


class CursorFile:
    """A Jetstream cursor (unix µs) kept in a small file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def save(self, cursor: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{cursor}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class Jetstream:
    """Account status events from a Jetstream websocket, confirmed before they count.

    Jetstream is not signed, so an event is a prompt, not evidence: each one is checked
    with ``getRepoStatus`` and recorded with the status the relay confirms. When the
    check fails, the event is still recorded but as status ``unknown`` with the
    stream's word in ``status_raw`` and ``source_ref`` ending in ``unconfirmed: <why>``,
    so analyses never count it as enforcement. The cursor is saved after the events up
    to it are handed on, and a reconnect resumes ``rewind_s`` seconds earlier (replays
    are harmless: the store drops identical records).
    """

    source = "bluesky-jetstream"

    def __init__(
        self,
        connector: BlueskyConnector,
        *,
        url: str = JETSTREAM_URL,
        watched: set[str] | None = None,
        cursor_file: CursorFile | None = None,
        rewind_s: float = 5.0,
        reconnect_s: float = 1.0,
        max_filter: int = 10_000,
    ) -> None:
        self.connector = connector
        self.url = url
        self.watched = watched or set()
        self.cursor_file = cursor_file
        self.rewind_us = int(rewind_s * 1_000_000)
        self.reconnect_s = reconnect_s
        self.max_filter = max_filter
        self.cursor: int | None = cursor_file.load() if cursor_file else None
        self.received = 0
        self.errors: collections.deque[str] = collections.deque(maxlen=100)

    def subscribe_url(self) -> str:
        params: list[tuple[str, str]] = []
        v2 = "subscribeEvents" in self.url
        if self.watched and len(self.watched) <= self.max_filter:
            key = "dids" if v2 else "wantedDids"
            params += [(key, d) for d in sorted(self.watched)]
        if v2:
            params.append(("kinds", "account"))
        else:
            # Account events come whatever the collections; ask for an unlikely one to
            # keep commit traffic off the wire.
            params.append(("wantedCollections", "app.bsky.purgewatch.none"))
        if self.cursor is not None:
            params.append(("cursor", str(max(self.cursor - self.rewind_us, 0))))
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}{urlencode(params)}"

    async def events(self, stop: asyncio.Event | None = None) -> AsyncIterator[StatusEvent]:
        """Yield confirmed events until ``stop`` is set; reconnects on failures."""
        import websockets

        while stop is None or not stop.is_set():
            try:
                async with websockets.connect(self.subscribe_url(), max_size=2**22, open_timeout=10) as ws:
                    while stop is None or not stop.is_set():
                        try:
                            frame = await asyncio.wait_for(ws.recv(), timeout=1.0)
                        except TimeoutError:
                            continue
                        self.received += 1
                        acct, cursor = parse_jetstream_frame(frame)
                        event = await self._confirm(acct, frame) if acct is not None else None
                        # The consumer saves the cursor only after committing what it was
                        # given, so advancing it before the yield cannot skip an event.
                        if cursor is not None:
                            self.cursor = max(self.cursor or 0, cursor)
                        if event is not None:
                            yield event
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                reason = f"jetstream connection failed: {type(exc).__name__}: {exc}"
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status == 400 and self.cursor is not None:
                    # v2 refuses a cursor older than its replay window (CursorTooOld):
                    # resume live and say that events in between may be missing.
                    reason += f"; cursor {self.cursor} refused, resuming live (events since then may be missed)"
                    self.cursor = None
                self.errors.append(reason)
                log.warning(reason)
                await asyncio.sleep(self.reconnect_s)

    def save_cursor(self) -> None:
        """Persist the cursor; call after the events yielded so far are committed."""
        if self.cursor_file is not None and self.cursor is not None:
            self.cursor_file.save(self.cursor)

    async def _confirm(self, acct: dict[str, Any], frame: str | bytes) -> StatusEvent | None:
        did = as_str(acct.get("did"))
        if did is None or (self.watched and did not in self.watched):
            return None
        at = parse_time(acct.get("time")) or self.connector.http.now()
        word = as_str(acct.get("status"))
        if word is None:
            # The lexicon (com.atproto.sync.subscribeRepos#account) makes ``status``
            # optional: ``active: false`` alone says the account is not active without
            # saying why. It is a prompt like any other: the relay's answer decides.
            active = acct.get("active")
            if active is True:
                word = "active"
            elif active is False:
                word = "inactive"
            else:
                return None
        seq = acct.get("seq")
        ref = f"{self.url}#seq={seq}"
        digest = hashlib.sha256(frame if isinstance(frame, bytes) else frame.encode()).hexdigest()
        repo = await self.connector.repo_status(did)
        if repo.ok and repo.status != Status.UNKNOWN.value:
            status, raw = repo.status, repo.raw if repo.raw != repo.status else None
            ref += f"; confirmed by getRepoStatus: {repo.detail}"
            if word.lower() != (repo.raw or repo.status).lower() and repo.status != _REPO_STATUS.get(word.lower(), word.lower()):
                ref += f"; stream said {word}"
        else:
            status, raw = Status.UNKNOWN.value, word
            ref += f"; unconfirmed: getRepoStatus {repo.detail}"
        return StatusEvent(
            platform=PLATFORM, account_id=did, at=at, status=status, status_raw=raw,
            source=self.source, source_ref=ref, payload_hash=digest,
        )


def jetstream_cursor_path(store_path: Path) -> Path:
    return store_path / "state" / "jetstream.cursor"


@dataclass(frozen=True)
class BlueskySettings:
    """``[platforms.bluesky]``: public reads need no credentials."""

    appview_url: str = APPVIEW_URL
    relay_url: str = RELAY_URL
    jetstream_url: str = JETSTREAM_URL
    stream: bool = False       # confirm #account events of watched DIDs from Jetstream


def _settings(table: Mapping[str, Any], where: str) -> BlueskySettings:
    check_keys(table, {"appview_url", "relay_url", "jetstream_url", "stream"}, where)
    d = BlueskySettings()
    return BlueskySettings(
        appview_url=url(table.get("appview_url", d.appview_url), f"{where} appview_url"),
        relay_url=url(table.get("relay_url", d.relay_url), f"{where} relay_url"),
        jetstream_url=url(table.get("jetstream_url", d.jetstream_url), f"{where} jetstream_url",
                          schemes=("ws://", "wss://")),
        stream=bool(table.get("stream", False)),
    )


def _stream(conn: BlueskyConnector, s: BlueskySettings, watched: set[str], store_path: Path) -> Jetstream | None:
    # Only with watched DIDs: an unfiltered stream would confirm every account event of
    # the whole network.
    if not s.stream or not watched:
        return None
    return Jetstream(conn, url=s.jetstream_url, watched=watched,
                     cursor_file=CursorFile(jetstream_cursor_path(store_path)))


CONNECTOR = ConnectorSpec(
    name=PLATFORM,
    settings=_settings,
    build=lambda http, s: BlueskyConnector(http, appview_url=s.appview_url, relay_url=s.relay_url),
    followers=True,
    base_url=lambda base, _q: {"appview_url": base, "relay_url": base},
    base_url_usage="bluesky=URL",
    stream=_stream,
)
