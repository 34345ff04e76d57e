"""X (Twitter) API v2 connector (bearer token; paid access).

The token comes only from the environment (``PURGEWATCH_X_BEARER_TOKEN``) or the config
file, is held in a :class:`Secret` whose ``repr`` is masked, is sent only in the
``Authorization`` header, and never appears in logs, errors or the store.

``/2/users`` answers **HTTP 200 with an ``errors`` array** for accounts it will not show:
``title`` "Forbidden" with detail "User has been suspended" -> suspended; "Not Found
Error" -> not_found (deactivated and deleted look the same); "Authorization Error" ->
protected. Error ``type`` URLs are matched by suffix (the host varies). Counts come from
``public_metrics`` (``tweet_count`` or ``post_count``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from purgewatch.errors import ConfigError, TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.clock import Clock
from purgewatch.net.http import ApiResponse, HttpClient
from purgewatch.sources._common import as_dict, as_int, as_str, chunks, parse_time
from purgewatch.sources.protocol import (
    READ_ERROR,
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
from purgewatch.sources.registry import ConnectorSpec, Secret, check_keys, text, url

PLATFORM = "x"
API_URL = "https://api.x.com"
ENV_TOKEN = "PURGEWATCH_X_BEARER_TOKEN"
BATCH = 100
FOLLOWERS_PAGE = 1000
USER_FIELDS = "created_at,protected,verified,verified_type,public_metrics,withheld"
TWEETS_PAGE = 100  # GET /2/users/:id/tweets: max_results 5..100
TWEET_FIELDS = "created_at,lang,referenced_tweets,entities,conversation_id,author_id"


def resolve_token(config_value: str | None) -> Secret | None:
    """The bearer token: environment first, then the config file."""
    value = os.environ.get(ENV_TOKEN) or config_value
    return Secret(value.strip()) if value and value.strip() else None


def is_user_id(ref: str) -> bool:
    """Numeric strings are ids, ``@name`` or anything else is a username
    (write ``@123`` for an all-digit username)."""
    return ref.isdigit()


def classify_error(err: dict[str, Any]) -> tuple[str, str]:
    """An entry of a v2 ``errors`` array -> (status, status_raw)."""
    title = as_str(err.get("title")) or ""
    detail = as_str(err.get("detail")) or ""
    typ = as_str(err.get("type")) or ""
    if title == "Forbidden" and detail.startswith("User has been suspended"):
        return Status.SUSPENDED.value, title
    if title == "Not Found Error" or (typ.endswith("/resource-not-found") and title != "Forbidden"):
        return Status.NOT_FOUND.value, title
    if title == "Authorization Error" or typ.endswith("/not-authorized-for-resource"):
        return Status.PROTECTED.value, title
    return Status.UNKNOWN.value, title or typ or "error"


# Batch compliance (``POST /2/compliance/jobs``, type ``users``) rows say why a user id
# must be removed: ``reason`` is the platform's own word for it.
_COMPLIANCE_REASONS = {
    "suspended": Status.SUSPENDED.value,
    "deleted": Status.DELETED.value,
    "deactivated": Status.DEACTIVATED.value,
    "protected": Status.PROTECTED.value,
}


def classify_compliance(row: dict[str, Any]) -> tuple[str, str | None]:
    """A batch-compliance JSONL row -> (status, status_raw). ``action: delete`` with a
    known ``reason`` is that status; anything else (``scrub_geo``, a new reason, no
    reason) says nothing about the account and is ``unknown`` with the words kept."""
    action = as_str(row.get("action")) or ""
    reason = as_str(row.get("reason"))
    if action == "delete" and reason is not None and reason.lower() in _COMPLIANCE_REASONS:
        return _COMPLIANCE_REASONS[reason.lower()], reason
    return Status.UNKNOWN.value, reason or action or None


class XConnector:
    platform = PLATFORM
    source = "x"

    def __init__(self, http: HttpClient, *, token: Secret | None, base_url: str = API_URL) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self._token = token

    def __repr__(self) -> str:
        return f"XConnector(base_url={self.base!r})"

    @property
    def clock(self) -> Clock:
        return self.http.clock

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            raise ConfigError(
                "the X connector needs a bearer token",
                hint=f"set {ENV_TOKEN} or [platforms.x] bearer_token in the config file",
            )
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
        headers = self._headers()
        refs = list(accounts)
        ids = [i for i, a in enumerate(refs) if is_user_id(a)]
        names = [i for i, a in enumerate(refs) if not is_user_id(a)]
        jobs = [(b, True) for b in chunks(ids, BATCH)] + [(b, False) for b in chunks(names, BATCH)]
        parts = await asyncio.gather(*(self._batch(refs, b, by_id, headers) for b, by_id in jobs))
        out: list[Observation | None] = [None] * len(refs)
        for part in parts:
            for i, obs in part:
                out[i] = obs
        return [o for o in out if o is not None]

    async def _batch(
        self, refs: list[str], idx: list[int], by_id: bool, headers: dict[str, str]
    ) -> list[tuple[int, Observation]]:
        keys = [refs[i].lstrip("@") for i in idx]
        if by_id:
            url, params = f"{self.base}/2/users", {"ids": ",".join(keys), "user.fields": USER_FIELDS}
        else:
            url, params = f"{self.base}/2/users/by", {"usernames": ",".join(keys), "user.fields": USER_FIELDS}
        try:
            resp = await self.http.get(url, params=params, headers=headers, bucket="x-lookup")
            body = resp.json()
        except TransportError as exc:
            at = self.http.now()
            return [(i, unknown(PLATFORM, refs[i], at, f"user lookup failed: {exc}", source=self.source)) for i in idx]
        if resp.status_code != 200 or not isinstance(body, dict):
            title = as_str(body.get("title")) if isinstance(body, dict) else None
            why = f"HTTP {resp.status_code} {title or ''}".strip()
            return [
                (i, unknown(PLATFORM, refs[i], resp.retrieved_at, f"user lookup refused: {why}",
                            source=self.source, source_ref=resp.url, payload_hash=resp.payload_hash))
                for i in idx
            ]
        found: dict[str, dict[str, Any]] = {}
        for u in body.get("data") or []:
            if isinstance(u, dict) and as_str(u.get("id")):
                found[u["id"]] = u
                if as_str(u.get("username")):
                    found[u["username"].lower()] = u
        errors: dict[str, dict[str, Any]] = {}
        for e in body.get("errors") or []:
            if isinstance(e, dict):
                key = as_str(e.get("value")) or as_str(e.get("resource_id"))
                if key:
                    errors[key.lower()] = e
        out = []
        for i, key in zip(idx, keys, strict=True):
            u = found.get(key if by_id else key.lower())
            if u is not None:
                out.append((i, self._user(u, resp)))
                continue
            e = errors.get(key.lower())
            if e is None:
                out.append((i, unknown(PLATFORM, refs[i], resp.retrieved_at,
                                       "absent from both data and errors of the answer",
                                       source=self.source, source_ref=resp.url,
                                       payload_hash=resp.payload_hash)))
                continue
            status, raw = classify_error(e)
            obs = Observation(
                platform=PLATFORM, account_id=key, observed_at=resp.retrieved_at, status=status,
                status_raw=raw, detail=as_str(e.get("detail")) or raw, source=self.source,
                source_ref=resp.url, payload_hash=resp.payload_hash,
            )
            if not by_id:
                obs.handle = key
            out.append((i, obs))
        return out

    def _user(self, u: dict[str, Any], resp: ApiResponse) -> Observation:
        m: dict[str, Any] = as_dict(u.get("public_metrics"))
        posts = as_int(m.get("tweet_count"))
        if posts is None:
            posts = as_int(m.get("post_count"))
        withheld = u.get("withheld")
        return Observation(
            platform=PLATFORM,
            account_id=u["id"],
            observed_at=resp.retrieved_at,
            status=Status.PROTECTED.value if u.get("protected") is True else Status.ACTIVE.value,
            followers_count=as_int(m.get("followers_count")),
            following_count=as_int(m.get("following_count")),
            posts_count=posts,
            listed_count=as_int(m.get("listed_count")),
            favourites_count=as_int(m.get("like_count")),   # in newer v2 answers only
            handle=as_str(u.get("username")),
            display_name=as_str(u.get("name")),
            created_at=parse_time(u.get("created_at")),
            verified=u.get("verified") if isinstance(u.get("verified"), bool) else None,
            description=as_str(u.get("description")),
            detail=f"withheld: {withheld}" if withheld else None,
            source=self.source,
            source_ref=resp.url,
            payload_hash=resp.payload_hash,
        )

    async def followers(
        self,
        account_id: str,
        *,
        resume: PagingState | None = None,
        on_page: PageCallback | None = None,
        max_pages: int | None = None,
    ) -> FollowerListing:
        headers = self._headers()
        url = f"{self.base}/2/users/{account_id}/followers"
        state = resume or PagingState(PLATFORM, account_id, self.http.now(), source_ref=url)
        pages = 0
        while True:
            params: dict[str, Any] = {"max_results": FOLLOWERS_PAGE}
            if state.cursor:
                params["pagination_token"] = state.cursor
            try:
                resp = await self.http.get(url, params=params, headers=headers, bucket="x-followers")
                body = resp.json()
            except TransportError as exc:
                return self._cut_short(state, f"followers request failed: {exc}")
            if resp.status_code != 200 or not isinstance(body, dict) or ("data" not in body and body.get("errors")):
                errs = body.get("errors") if isinstance(body, dict) else None
                title = as_str(errs[0].get("title")) if isinstance(errs, list) and errs and isinstance(errs[0], dict) else None
                why = f"followers refused: HTTP {resp.status_code} {title or ''}".strip()
                return FollowerListing(None, skipped=why) if state.pages == 0 else self._cut_short(state, why)
            state.follower_ids.extend(
                u["id"] for u in body.get("data") or [] if isinstance(u, dict) and as_str(u.get("id"))
            )
            state.pages += 1
            pages += 1
            meta: dict[str, Any] = as_dict(body.get("meta"))
            state.cursor = as_str(meta.get("next_token"))
            if not state.cursor:
                break
            await call_page_callback(on_page, state)
            if max_pages is not None and pages >= max_pages:
                return self._cut_short(state, f"stopped after {pages} pages (max_pages)")
        return listing_from(state, source=self.source)

    def _cut_short(self, state: PagingState, reason: str) -> FollowerListing:
        return listing_from(state, source=self.source, partial=True, error=reason)

    # ------------------------------------------------------------------ posts
    async def read_posts(self, account_id: str, *, since: datetime, max_pages: int = 10) -> PostRead:
        """``GET /2/users/:id/tweets`` with ``start_time`` = ``since``, paged by
        ``pagination_token`` (``meta.next_token``) to the end: the answer holds only the
        window asked for, so its end is the window's end. The timeline reaches back 3,200
        tweets at most (X API reference): a window deeper than that is read incomplete.
        Retweets carry ``referenced_tweets`` type ``retweeted``, quotes ``quoted``."""
        headers = self._headers()
        url = f"{self.base}/2/users/{account_id}/tweets"
        at = self.http.now()
        listing = PostListing(PLATFORM, account_id, since, at, self.source, url)
        token: str | None = None

        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(max(1, max_pages)):
            params: dict[str, Any] = {"max_results": TWEETS_PAGE, "start_time": start, "tweet.fields": TWEET_FIELDS}
            if token:
                params["pagination_token"] = token
            try:
                resp = await self.http.get(url, params=params, headers=headers, bucket="x-tweets")
                body = resp.json()
            except TransportError as exc:
                return listing.read(False, f"tweets request failed: {exc}")
            listing.answered(resp)
            if resp.status_code != 200 or not isinstance(body, dict) or ("data" not in body and body.get("errors")):
                errs = body.get("errors") if isinstance(body, dict) else None
                err = errs[0] if isinstance(errs, list) and errs and isinstance(errs[0], dict) else {}
                status, raw = classify_error(err) if err else ("unknown", None)
                why = f"tweets refused: HTTP {resp.status_code} {raw or ''}: {as_str(err.get('detail')) or ''}".strip()
                if resp.status_code == 200 and status != "unknown" and not listing.posts:
                    # suspended, protected, gone: the account's tweets cannot be shown
                    return failed_read(PLATFORM, account_id, resp.retrieved_at, since, READ_UNAVAILABLE, why, source=self.source,
                                       source_ref=resp.url, payload_hash=resp.payload_hash)
                if not listing.posts:
                    return failed_read(PLATFORM, account_id, resp.retrieved_at, since, READ_ERROR, why, source=self.source,
                                       source_ref=resp.url, payload_hash=resp.payload_hash)
                return listing.read(False, why)
            listing.take(tweet_post(tw) for tw in body.get("data") or [])  # start_time bounds it already
            meta: dict[str, Any] = as_dict(body.get("meta"))
            token = as_str(meta.get("next_token"))
            if not token:
                return listing.read(True, None)
        return listing.read(False, f"stopped after {max_pages} pages")


    async def check_posts(self, account_id: str, post_ids: Sequence[str]) -> list[PostRead]:
        """``GET /2/tweets?ids=`` (100 a request): an ``errors`` entry titled "Not Found
        Error" (resource_type ``tweet``) is not found; "Authorization Error" (a
        suspended or protected author) says nothing about the tweet. A failure says
        nothing."""
        headers = self._headers()
        out: list[PostRead] = []
        url = f"{self.base}/2/tweets"
        for batch in chunks([p for p in post_ids if p.isdigit()], 100):
            try:
                resp = await self.http.get(url, params={"ids": ",".join(batch)}, headers=headers,
                                           bucket="x-tweets-lookup")
                body = resp.json()
            except TransportError:
                continue
            if resp.status_code != 200 or not isinstance(body, dict):
                continue
            found = {as_str(t.get("id")) for t in body.get("data") or [] if isinstance(t, dict)}
            missing = {as_str(e.get("resource_id") or e.get("value")) for e in body.get("errors") or []
                       if isinstance(e, dict) and e.get("title") == "Not Found Error"
                       and e.get("resource_type") in (None, "tweet")}
            out += lookup_reads(PLATFORM, account_id, resp.retrieved_at, batch, {p for p in batch if p in found},
                                {p for p in batch if p in missing}, source=self.source, source_ref=resp.url,
                                payload_hash=resp.payload_hash)
        return out


def tweet_post(tw: Any) -> Post | None:
    """One tweet object of the v2 API -> a Post (a retweet is the retweeter's item)."""
    if not isinstance(tw, dict) or not as_str(tw.get("id")):
        return None
    refs = {as_str(r.get("type")): as_str(r.get("id")) for r in tw.get("referenced_tweets") or []
            if isinstance(r, dict)}
    ent = as_dict(tw.get("entities"))

    def values(kind: str, key: str) -> list[str] | None:
        got = [as_str(e.get(key)) for e in ent.get(kind) or [] if isinstance(e, dict)]
        return [g for g in got if g] or None

    tags = values("hashtags", "tag")
    return Post(
        post_id=tw["id"], created_at=parse_time(tw.get("created_at")), text=as_str(tw.get("text")),
        url=f"https://x.com/i/web/status/{tw['id']}", lang=as_str(tw.get("lang")),
        reply_to=refs.get("replied_to"), repost_of=refs.get("retweeted"), quote_of=refs.get("quoted"),
        links=values("urls", "expanded_url"), hashtags=[t.lower() for t in tags] if tags else None,
        mentions=values("mentions", "username"),
    )

@dataclass(frozen=True)
class XSettings:
    """``[platforms.x]``; the bearer token may also come from the environment."""

    base_url: str = API_URL
    bearer_token: Secret | None = None    # as configured; :meth:`token` adds the environment

    def token(self) -> Secret | None:
        return resolve_token(self.bearer_token.reveal() if self.bearer_token else None)


def _settings(table: Mapping[str, Any], where: str) -> XSettings:
    check_keys(table, {"base_url", "bearer_token"}, where)
    token = table.get("bearer_token")
    return XSettings(
        base_url=url(table.get("base_url", API_URL), f"{where} base_url"),
        bearer_token=Secret(text(token, f"{where} bearer_token")) if token is not None else None,
    )


def _build(http: HttpClient, s: XSettings) -> XConnector:
    token = s.token()
    if token is None:
        raise ConfigError(
            "the watchlist has X accounts but no X bearer token is configured",
            hint=f"set {ENV_TOKEN} or [platforms.x] bearer_token",
        )
    return XConnector(http, token=token, base_url=s.base_url)


def _secrets(s: XSettings) -> list[str]:
    token = s.token()
    return [token.reveal()] if token is not None else []


CONNECTOR = ConnectorSpec(
    name=PLATFORM,
    settings=_settings,
    build=_build,
    followers=True,
    secrets=_secrets,
    base_url=lambda base, _q: {"base_url": base},
    base_url_usage="x=URL",
)
