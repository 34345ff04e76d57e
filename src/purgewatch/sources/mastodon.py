"""Mastodon connector (any instance; public reads need no token on default settings).

Accounts are written ``user@instance`` (a handle, resolved with ``accounts/lookup``) or
``<id>@instance`` (an id); the stored account id is always ``<id>@instance`` because
Mastodon ids are only unique within one instance. Each instance's base URL is
configurable (``instances``), defaulting to ``https://<instance>``.

Status words (docs/collecting.md, "Status words", names the server source of each):
``suspended: true`` with counts -> suspended (a moderator suspension keeps them);
``suspended: true`` with every count zero -> suspended_or_deleted (a self-deleted account
and a suspension whose data was purged leave the same record); HTTP 410 (2.4–3.3
servers, which answered it for both) -> suspended_or_deleted; ``limited`` -> limited;
``moved`` -> deactivated (status_raw ``moved``, the new account in ``detail``);
``memorial`` -> unknown (status_raw ``memorial``: admins memorialize an account, its owner
does not); 404 ``{"error":"Record not found"}``
-> not_found; any other 404 (a wrong route answers ``{"error":"Not Found"}``) -> unknown.
Blanked zero counts are not measurements, nor is ``followers_count: -1`` (the owner or
the instance hides it).

Followers are paged through the ``Link`` header only, and only to the same instance.
Paging requests are metered in their own bucket ("paging": 300 / 15 min per IP
unauthenticated). An empty list from an account that is suspended or reports followers
is not recorded: Mastodon answers ``[]`` for suspended, hidden and blocking accounts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from purgewatch.errors import ConfigError, TransportError
from purgewatch.model import Observation, Status
from purgewatch.net.clock import Clock
from purgewatch.net.http import ApiResponse, HttpClient
from purgewatch.sources._common import as_dict, as_int, as_str, error_fields, parse_time
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
    unknown,
)
from purgewatch.sources.registry import ConnectorSpec, Secret, check_keys, text, url

PLATFORM = "mastodon"
FOLLOWERS_PAGE = 80
STATUSES_PAGE = 40  # accounts/:id/statuses: limit defaults to 20, at most 40
BATCH = 40
RECORD_NOT_FOUND = "Record not found"
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def split_account(ref: str) -> tuple[str, str]:
    """'@alice@mastodon.social' / 'alice@mastodon.social' -> ('alice', 'mastodon.social')."""
    ref = ref.strip().lstrip("@")
    if "@" not in ref:
        raise ValueError(f"Mastodon account {ref!r} needs an instance: write user@instance")
    user, instance = ref.rsplit("@", 1)
    return user, instance.lower()


class MastodonConnector:
    platform = PLATFORM
    source = "mastodon"

    def __init__(
        self,
        http: HttpClient,
        *,
        instances: Mapping[str, str] | None = None,
        token: str | None = None,
        batch: bool = True,
    ) -> None:
        self.http = http
        self.batch = batch
        self._no_batch: set[str] = set()
        self.instances = {k.lower(): v.rstrip("/") for k, v in (instances or {}).items()}
        self._headers = {"Authorization": f"Bearer {token}"} if token else None

    @property
    def clock(self) -> Clock:
        return self.http.clock

    def base_url(self, instance: str) -> str:
        return self.instances.get(instance, f"https://{instance}")

    async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
        """Ids go 40 at a time through ``GET /api/v1/accounts?id[]=`` (Mastodon 4.3+;
        ids it drops, and servers without the endpoint, are asked one by one); handles
        through ``accounts/lookup``."""
        refs = list(accounts)
        out: list[Observation | None] = [None] * len(refs)
        by_instance: dict[str, list[int]] = {}
        singles: list[int] = []
        for i, ref in enumerate(refs):
            try:
                user, instance = split_account(ref)
            except ValueError:
                singles.append(i)
                continue
            if user.isdigit() and self.batch and instance not in self._no_batch:
                by_instance.setdefault(instance, []).append(i)
            else:
                singles.append(i)
        jobs = [self._batch(refs, instance, idx[j : j + BATCH], out)
                for instance, idx in by_instance.items() for j in range(0, len(idx), BATCH)]
        await asyncio.gather(*jobs)
        single_set = set(singles)
        missing = singles + [i for i, o in enumerate(out) if o is None and i not in single_set]
        found = await asyncio.gather(*(self._lookup_one(refs[i]) for i in missing))
        for i, obs in zip(missing, found, strict=True):
            out[i] = obs
        return [o for o in out if o is not None]

    async def _batch(self, refs: list[str], instance: str, idx: list[int], out: list[Observation | None]) -> None:
        base = self.base_url(instance)
        ids = [split_account(refs[i])[0] for i in idx]
        try:
            # expect_json=False: an old server's HTML 404 is an answer, not a fault to retry.
            resp = await self.http.get(f"{base}/api/v1/accounts", params=[("id[]", x) for x in ids],
                                       headers=self._headers, bucket=f"mastodon:{instance}",
                                       expect_json=False)
        except TransportError as exc:
            at = self.http.now()
            for i in idx:
                out[i] = unknown(PLATFORM, refs[i], at, f"accounts request failed: {exc}", source=self.source)
            return
        if 400 <= resp.status_code < 500:
            # An older server: no batch endpoint. Leave these to single lookups.
            self._no_batch.add(instance)
            return
        try:
            body = resp.json()
        except TransportError:
            return  # a spoiled answer: the single lookups (with their retries) decide
        if not isinstance(body, list):
            return
        by_id = {a["id"]: a for a in body if isinstance(a, dict) and isinstance(a.get("id"), str)}
        for i, x in zip(idx, ids, strict=True):
            a = by_id.get(x)
            if a is not None:
                obs = Observation(platform=PLATFORM, account_id=refs[i], observed_at=resp.retrieved_at,
                                  status=Status.UNKNOWN.value, source=self.source, source_ref=resp.url,
                                  payload_hash=resp.payload_hash)
                out[i] = self._account(a, instance, obs)
            # Dropped ids stay None: asked one by one (404 = not found, or an answer).

    async def _lookup_one(self, ref: str) -> Observation:
        try:
            user, instance = split_account(ref)
        except ValueError as exc:
            return unknown(PLATFORM, ref, self.http.now(), str(exc), source=self.source)
        base = self.base_url(instance)
        if user.isdigit():
            url, params = f"{base}/api/v1/accounts/{user}", None
        else:
            url, params = f"{base}/api/v1/accounts/lookup", {"acct": user}
        try:
            resp = await self.http.get(url, params=params, headers=self._headers, bucket=f"mastodon:{instance}")
            body = resp.json()
        except TransportError as exc:
            return unknown(PLATFORM, ref, self.http.now(), f"account request failed: {exc}", source=self.source)
        return self._observation(ref, instance, resp, body)

    def _observation(self, ref: str, instance: str, resp: ApiResponse, body: Any) -> Observation:
        obs = Observation(
            platform=PLATFORM, account_id=ref, observed_at=resp.retrieved_at,
            status=Status.UNKNOWN.value, source=self.source, source_ref=resp.url,
            payload_hash=resp.payload_hash,
        )
        code = resp.status_code
        if code == 200 and isinstance(body, dict) and as_str(body.get("id")):
            return self._account(body, instance, obs)
        err, _ = error_fields(body)
        if code == 404 and err == RECORD_NOT_FOUND:
            # The accounts API's own answer (Api::BaseController rescues RecordNotFound).
            obs.status, obs.status_raw = Status.NOT_FOUND.value, err
            obs.detail = f"HTTP 404: {err}"
        elif code == 404:
            # A wrong route or instance URL answers {"error":"Not Found"}: not about the account.
            obs.status_raw = err
            obs.detail = f"HTTP 404 {err or 'without an error word'}: not the accounts API's answer, no verdict"
        elif code == 410:
            # 2.4–3.3 answered 410 for every suspended record, self-deletions included.
            obs.status, obs.status_raw = Status.SUSPENDED_OR_DELETED.value, "gone"
            obs.detail = f"HTTP 410 (suspended or deleted, pre-3.3 server): {err or ''}".strip()
        else:
            obs.status_raw = err
            obs.detail = f"HTTP {code}: {err or 'unexpected answer'}"
        return obs

    def _account(self, a: dict[str, Any], instance: str, obs: Observation) -> Observation:
        obs.account_id = f"{a['id']}@{instance}"
        obs.handle = as_str(a.get("acct"))
        if obs.handle and "@" not in obs.handle:
            obs.handle = f"{obs.handle}@{instance}"
        obs.display_name = as_str(a.get("display_name")) or None
        obs.description = as_str(a.get("note")) or None
        obs.created_at = parse_time(a.get("created_at"))
        obs.followers_count = as_int(a.get("followers_count"))
        hidden = a.get("followers_count") == -1
        if hidden:
            obs.followers_count = None  # -1: the owner or the instance hides the count
        obs.following_count = as_int(a.get("following_count"))
        obs.posts_count = as_int(a.get("statuses_count"))
        avatar = as_str(a.get("avatar")) or ""
        obs.default_profile_image = avatar.endswith("/missing.png") if avatar else None
        if a.get("suspended") is True:
            counts = (obs.followers_count, obs.following_count, obs.posts_count)
            if all(c in (0, None) for c in counts):
                # Self-deletion and a purged suspension both leave this record.
                obs.status, obs.status_raw = Status.SUSPENDED_OR_DELETED.value, "suspended"
                obs.followers_count = obs.following_count = obs.posts_count = None
                obs.detail = ("suspended: true with every count zero: deleted by its owner or "
                              "suspended and purged (the answer cannot tell); counts not measured")
            else:
                obs.status, obs.status_raw = Status.SUSPENDED.value, "suspended"
                obs.detail = "suspended (counts kept: a moderator suspension)"
        elif isinstance(a.get("moved"), dict):
            obs.status, obs.status_raw = Status.DEACTIVATED.value, "moved"
            obs.detail = f"moved to {as_str(a['moved'].get('acct')) or '?'}"
        elif a.get("memorial") is True:
            # Memorialized by the instance's admins (Admin::AccountsController#memorialize),
            # at someone's request: neither enforcement nor the owner's own deactivation.
            obs.status, obs.status_raw = Status.UNKNOWN.value, "memorial"
            obs.detail = "memorial account (memorialized by the instance's admins): no status word fits"
        elif a.get("limited") is True:
            obs.status, obs.status_raw = Status.LIMITED.value, "limited"
            obs.detail = "limited (silenced) by the instance"
        else:
            obs.status = Status.ACTIVE.value
        if hidden:
            note = "followers_count -1: hidden by the owner or the instance"
            obs.detail = f"{obs.detail}; {note}" if obs.detail else note
        return obs

    async def followers(
        self,
        account_id: str,
        *,
        resume: PagingState | None = None,
        on_page: PageCallback | None = None,
        max_pages: int | None = None,
    ) -> FollowerListing:
        try:
            local_id, instance = split_account(account_id)
        except ValueError as exc:
            return FollowerListing(None, skipped=str(exc))
        base = self.base_url(instance)
        state = resume
        if state is None:
            # Know the account first: an empty list means nothing without its status.
            acct = await self._lookup_one(account_id)
            if acct.status == Status.UNKNOWN.value:
                return FollowerListing(None, skipped=f"account status unknown: {acct.detail}")
            if acct.status in (Status.SUSPENDED.value, Status.SUSPENDED_OR_DELETED.value,
                               Status.NOT_FOUND.value):
                return FollowerListing(None, skipped=f"account is {acct.status}: its list is not served")
            state = PagingState(PLATFORM, account_id, acct.observed_at)
            state.source_ref = f"{base}/api/v1/accounts/{local_id}/followers"
            expected = acct.followers_count
        else:
            expected = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": FOLLOWERS_PAGE}
            if state.cursor:
                params["max_id"] = state.cursor
            url = f"{base}/api/v1/accounts/{local_id}/followers"
            try:
                resp = await self.http.get(
                    url, params=params, headers=self._headers,
                    bucket=f"mastodon-paging:{instance}" if state.cursor else f"mastodon:{instance}",
                )
                body = resp.json()
            except TransportError as exc:
                return self._cut_short(state, f"followers request failed: {exc}")
            if resp.status_code != 200 or not isinstance(body, list):
                err, _ = error_fields(body)
                why = f"followers refused: HTTP {resp.status_code} {err or ''}".strip()
                return FollowerListing(None, skipped=why) if state.pages == 0 else self._cut_short(state, why)
            if state.pages == 0 and not body and (expected is None or expected > 0):
                return FollowerListing(
                    None,
                    skipped=f"empty follower list while the account reports {expected} followers: "
                    "suspended, hidden or blocking accounts answer [], which is not zero followers",
                )
            state.follower_ids.extend(
                f"{f['id']}@{instance}" for f in body if isinstance(f, dict) and as_str(f.get("id"))
            )
            state.pages += 1
            pages += 1
            state.cursor, problem = self._next_max_id(resp, base)
            if problem:
                return self._cut_short(state, problem)
            if not state.cursor:
                break
            await call_page_callback(on_page, state)
            if max_pages is not None and pages >= max_pages:
                return self._cut_short(state, f"stopped after {pages} pages (max_pages)")
        return listing_from(state, source=self.source)

    @staticmethod
    def _next_max_id(resp: ApiResponse, base: str) -> tuple[str | None, str | None]:
        """(``max_id`` of the ``rel="next"`` link, or None at the end; a problem). We
        rebuild the next URL ourselves and never follow a link to another host."""
        link = resp.headers.get("link")
        if not link:
            return None, None
        m = _LINK_NEXT.search(link)
        if not m:
            return None, None
        target = urlsplit(m.group(1))
        if target.netloc and target.netloc.lower() != urlsplit(base).netloc.lower():
            return None, f"next page link points to another host ({target.netloc}): not followed"
        values = parse_qs(target.query).get("max_id")
        if not values:
            return None, "next page link without max_id: not followed"
        return values[0], None

    def _cut_short(self, state: PagingState, reason: str) -> FollowerListing:
        return listing_from(state, source=self.source, partial=True, error=reason)

    # ------------------------------------------------------------------ posts
    async def read_posts(self, account_id: str, *, since: datetime, max_pages: int = 10) -> PostRead:
        """``GET /api/v1/accounts/:id/statuses`` newest first, paged by ``max_id`` from
        the ``Link`` header, until a status older than ``since`` or the last page.

        The account is looked up first: Mastodon answers ``[]`` for an account that is
        ``unavailable?`` (suspended, or deleted and kept as a record)
        (Api::V1::Accounts::StatusesController#load_statuses), and that empty list is not
        a listing. A boost (``reblog``) is the booster's item: the wrapper's id and time,
        the original's text and ``repost_of``."""
        try:
            local_id, instance = split_account(account_id)
        except ValueError as exc:
            return failed_read(PLATFORM, account_id, self.http.now(), since, READ_ERROR, str(exc),
                               source=self.source)
        acct = await self._lookup_one(account_id)
        if acct.status == Status.UNKNOWN.value:
            return failed_read(PLATFORM, account_id, acct.observed_at, since, READ_ERROR,
                               f"account status unknown: {acct.detail}", source=self.source,
                               source_ref=acct.source_ref, payload_hash=acct.payload_hash)
        if acct.status in (Status.SUSPENDED.value, Status.SUSPENDED_OR_DELETED.value, Status.NOT_FOUND.value,
                           Status.DEACTIVATED.value):
            return failed_read(PLATFORM, account_id, acct.observed_at, since, READ_UNAVAILABLE,
                               f"account is {acct.status}: its statuses are not served", source=self.source,
                               source_ref=acct.source_ref, payload_hash=acct.payload_hash)
        base = self.base_url(instance)
        url = f"{base}/api/v1/accounts/{local_id}/statuses"
        at = acct.observed_at
        listing = PostListing(PLATFORM, account_id, since, at, self.source, url)
        max_id: str | None = None

        for _ in range(max(1, max_pages)):
            params: dict[str, Any] = {"limit": STATUSES_PAGE}
            if max_id:
                params["max_id"] = max_id
            try:
                resp = await self.http.get(
                    url, params=params, headers=self._headers,
                    bucket=f"mastodon-paging:{instance}" if max_id else f"mastodon:{instance}")
                body = resp.json()
            except TransportError as exc:
                return listing.read(False, f"statuses request failed: {exc}")
            listing.answered(resp)
            if resp.status_code != 200 or not isinstance(body, list):
                err, _ = error_fields(body)
                return listing.read(False, f"statuses refused: HTTP {resp.status_code} {err or ''}".strip())
            older = listing.take(status_post(st) for st in body)
            max_id, problem = self._next_max_id(resp, base)
            if problem:
                return listing.read(False, problem)
            if older or not max_id:
                return listing.read(True, None)
        return listing.read(False, f"stopped after {max_pages} pages")


_BREAKS = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)


def html_text(content: str | None) -> str | None:
    """A status's HTML ``content`` as plain text (paragraphs and breaks kept as newlines)."""
    if content is None:
        return None
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(_BREAKS.sub("\n", content)).text().strip()


def status_post(st: Any) -> Post | None:
    """One REST::StatusSerializer status -> a Post; a boost is the booster's item."""
    if not isinstance(st, dict) or not as_str(st.get("id")):
        return None
    shown: dict[str, Any] = as_dict(st.get("reblog")) or st
    tags = [as_str(t.get("name")) for t in shown.get("tags") or [] if isinstance(t, dict)]
    mentions = [as_str(m.get("acct")) for m in shown.get("mentions") or [] if isinstance(m, dict)]
    card = as_dict(shown.get("card"))
    quote = as_dict(shown.get("quote"))
    quoted = as_dict(quote.get("quoted_status"))
    # Status ids as the instance gives them (FORMATS.md): unique within the instance,
    # as the account id (``<id>@instance``) that goes with them says.
    return Post(
        post_id=st["id"], created_at=parse_time(st.get("created_at")),
        text=html_text(as_str(shown.get("content"))), url=as_str(st.get("url")) or as_str(shown.get("url")),
        lang=as_str(shown.get("language")), reply_to=as_str(shown.get("in_reply_to_id")) if shown is st else None,
        repost_of=as_str(shown.get("id")) if shown is not st else None,
        quote_of=as_str(quoted.get("id")) if shown is st else None,
        links=[u] if (u := as_str(card.get("url"))) else None,
        hashtags=[t.lower() for t in tags if t] or None, mentions=[m for m in mentions if m] or None,
    )

@dataclass(frozen=True)
class MastodonSettings:
    """``[platforms.mastodon]``: instance base URLs (default ``https://<instance>``) and
    an optional token (public reads need none)."""

    instances: dict[str, str] = field(default_factory=dict)
    token: Secret | None = None


def _settings(table: Mapping[str, Any], where: str) -> MastodonSettings:
    check_keys(table, {"instances", "token"}, where)
    inst = table.get("instances", {})
    if not isinstance(inst, dict) or not all(isinstance(v, str) for v in inst.values()):
        raise ConfigError(f'{where} instances must map "instance" = "base URL"')
    token = table.get("token")
    return MastodonSettings(
        instances={k.lower(): url(v, f"{where} instances.{k}") for k, v in inst.items()},
        token=Secret(text(token, f"{where} token")) if token is not None else None,
    )


def _base_url(base: str, instance: str | None) -> dict[str, Any]:
    if not instance:
        raise ConfigError("--base-url mastodon=URL: name the instance", hint="mastodon:INSTANCE=URL")
    return {"instances": {instance: base}}


CONNECTOR = ConnectorSpec(
    name=PLATFORM,
    settings=_settings,
    build=lambda http, s: MastodonConnector(http, instances=s.instances,
                                            token=s.token.reveal() if s.token else None),
    followers=True,
    secrets=lambda s: [s.token.reveal()] if s.token else [],
    base_url=_base_url,
    base_url_usage="mastodon:INSTANCE=URL",
)
