"""What each platform answers: pure functions of the world, the scenario time and the
query, returning a ``Reply``. Shapes follow ../shared/PLATFORMS.md exactly; the HTTP
plumbing (limits, faults, headers) lives in ``_app``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from purgewatch.sim._clock import US, from_us, iso_ms, to_us
from purgewatch.sim._ids import B32, fmix, mix64, to_b36
from purgewatch.sim._posts import HASHTAG, SimPost, cid
from purgewatch.sim._world import (
    ACTIVE,
    DAY_US,
    DEACTIVATED,
    DELETED,
    SUSPENDED,
    TAKENDOWN,
    PlatformWorld,
)

# A moderator-suspended account's data is deleted ~30 days later; its record stays, with
# ``suspended: true`` and every count zero, like a self-deleted account's (PLATFORMS.md,
# "Facts checked"; mastodon/mastodon app/services/suspend_account_service.rb and
# delete_account_service.rb keep the account row).
MASTODON_PURGE_US = 30 * DAY_US
X_PROBLEMS = "https://api.twitter.com/2/problems/"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    # False for answers a fault must not touch (e.g. already an error page)
    json: bool = True


def _tid(seed: int) -> str:
    """A 13-char sortable id like an atproto TID/rev."""
    v = seed & ((1 << 64) - 1)
    out = []
    for _ in range(13):
        out.append("234567abcdefghijklmnopqrstuvwxyz"[v & 31])
        v >>= 5
    return "".join(reversed(out))


# =============================================================== Bluesky
def xrpc_error(name: str, message: str, status: int = 400) -> Reply:
    return Reply(status, {"error": name, "message": message})


def _bsky_resolve(w: PlatformWorld, actor: str) -> int | None:
    return w.index_of_id(actor) if actor.startswith("did:") else w.index_of_name(actor)


def bsky_profile(w: PlatformWorld, k: int, t: int, detailed: bool) -> dict[str, Any]:
    did = w.id_of(k)
    created = int(w.created_us[k])
    p: dict[str, Any] = {"did": did, "handle": w.name_of(k), "displayName": w.display_name(k)}
    desc = w.description(k)
    if desc:
        p["description"] = desc
    if not w.is_bot_like(k):  # farm and regain accounts keep the default avatar
        p["avatar"] = f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei{_tid(fmix(k, 11))}@jpeg"
    if detailed:
        p["associated"] = {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False}
        p["followersCount"] = w.followers_count(k, t)
        p["followsCount"] = w.following_count(k)
        p["postsCount"] = w.posts_count(k)
    p["indexedAt"] = iso_ms(created + 3600 * US)
    p["createdAt"] = iso_ms(created)
    p["labels"] = []
    return p


def bsky_get_profile(w: PlatformWorld, t: int, actor: str | None) -> Reply:
    if not actor:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actor"')
    k = _bsky_resolve(w, actor)
    if k is None or not w.exists(k, t):
        return xrpc_error("InvalidRequest", "Profile not found")
    st = w.status(k, t)
    if st in (TAKENDOWN, SUSPENDED):
        return xrpc_error("AccountTakedown", "Account has been suspended")
    if st == DEACTIVATED:
        return xrpc_error("AccountDeactivated", "Account is deactivated")
    if st == DELETED:
        return xrpc_error("InvalidRequest", "Profile not found")
    return Reply(200, bsky_profile(w, k, t, detailed=True))


def bsky_get_profiles(w: PlatformWorld, t: int, actors: list[str]) -> Reply:
    if not actors:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actors"')
    if len(actors) > 25:
        return xrpc_error("InvalidRequest", "Error: actors must not have more than 25 elements")
    out = []
    for actor in actors:
        k = _bsky_resolve(w, actor)
        # taken-down, deactivated, deleted and unknown actors are silently dropped
        if k is not None and w.exists(k, t) and w.status(k, t) == ACTIVE:
            out.append(bsky_profile(w, k, t, detailed=True))
    return Reply(200, {"profiles": out})


def _bsky_actor_limit(actor: str | None, limit_s: str | None) -> tuple[str, int] | Reply:
    """An actor-paged XRPC query's ``actor`` and ``limit`` (1-100, default 50) checked as
    the AppView's lexicon validation answers them; both, or the refusal."""
    if not actor:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actor"')
    try:
        limit = int(limit_s) if limit_s is not None else 50
    except ValueError:
        return xrpc_error("InvalidRequest", "Error: limit must be an integer")
    if not 1 <= limit <= 100:
        return xrpc_error("InvalidRequest", "Error: limit can not be greater than 100" if limit > 100
                          else "Error: limit can not be less than 1")
    return actor, limit


def bsky_get_followers(w: PlatformWorld, t: int, actor: str | None, limit_s: str | None,
                       cursor: str | None) -> Reply:
    checked = _bsky_actor_limit(actor, limit_s)
    if isinstance(checked, Reply):
        return checked
    actor, limit = checked
    before = None
    if cursor:
        try:
            before = int(cursor, 36)
        except ValueError:
            return xrpc_error("InvalidRequest", "Malformed cursor")
    k = _bsky_resolve(w, actor)
    if k is None or not w.exists(k, t):
        return xrpc_error("InvalidRequest", "Profile not found")
    if w.status(k, t) != ACTIVE:
        return xrpc_error("InvalidRequest", f"Actor not found: {actor}")
    followers, _, nxt = w.followers_page(k, t, before, limit, filter_first=False)
    body: dict[str, Any] = {
        "subject": bsky_profile(w, k, t, detailed=False),
        "followers": [bsky_profile(w, f, t, detailed=False) for f in followers],
    }
    if nxt is not None:
        body["cursor"] = to_b36(nxt)
    return Reply(200, body)


def bsky_repo_status(w: PlatformWorld, t: int, did: str | None, unknown_word: bool) -> Reply:
    if not did:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "did"')
    k = w.index_of_id(did) if did.startswith("did:") else None
    if k is None or not w.exists(k, t):
        # indigo's relay (cmd/relay/handlers.go): 404 for any DID it has not seen.
        return xrpc_error("RepoNotFound", "account not found", 404)
    st = w.status(k, t)
    body: dict[str, Any] = {"did": did, "active": st == ACTIVE}
    if st != ACTIVE:
        body["status"] = ("suspended", "takendown", "deactivated", "deleted")[st - 1]
    if unknown_word:
        # statuses the connector has never heard of: must be kept, not guessed
        body["status"] = "throttled" if st == ACTIVE else "quarantined"
    body["rev"] = _tid(mix64("rev", k, t // (3600 * US)))
    return Reply(200, body)


def jetstream_frame(w: PlatformWorld, k: int, t: int, code: int, seq: int, unknown_word: bool) -> dict[str, Any]:
    did = w.id_of(k)
    account: dict[str, Any] = {"active": code == ACTIVE, "did": did, "seq": seq}
    if code != ACTIVE:
        account["status"] = ("suspended", "takendown", "deactivated", "deleted")[code - 1]
    if unknown_word:
        account["status"] = "throttled" if code == ACTIVE else "quarantined"
    account["time"] = iso_ms(t)
    return {"did": did, "time_us": t, "kind": "account", "account": account}


def iso_us(us: int) -> str:
    """RFC 3339 with microseconds, as Jetstream v2 writes the time it saw an event."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % US:06d}Z"


def jetstream_v2_frame(v1: dict[str, Any], seq: int) -> dict[str, Any]:
    """The same event as Jetstream v2 (``subscribeEvents``) frames it
    (bluesky-social/jetstream api/jetstream/jetstreamsubscribeevents.go): Jetstream's own
    ``seq`` (the cursor) and ``time`` (µs), no ``time_us``, and the relay's ``#account``
    event verbatim (with the relay's own ``seq`` and ``time``)."""
    return {"$type": "message", "payload": {
        "$type": "network.bsky.jetstream.subscribeEvents#account", "seq": seq, "did": v1["did"],
        "time": iso_us(v1["time_us"]), "account": v1["account"]}}


# ============================================================== Mastodon
def masto_not_found() -> Reply:
    return Reply(404, {"error": "Record not found"})


def _masto_visible(w: PlatformWorld, k: int, t: int) -> bool:
    """Whether the instance has a record: every account that exists, suspended and
    deleted ones included (the record is kept, only its data goes)."""
    return w.exists(k, t)


def masto_account(w: PlatformWorld, k: int, t: int, viewer: str) -> dict[str, Any]:
    ident, user, inst = w.id_of(k), w.name_of(k), w.instance_of(k)
    created = int(w.created_us[k])
    st = w.status(k, t)
    spec = w.watched[k] if k < len(w.watched) else None
    avatar = (f"https://{inst}/system/accounts/avatars/{ident}/original/{_tid(fmix(k, 11))}.png"
              if not w.is_bot_like(k) else f"https://{inst}/avatars/original/missing.png")
    note = w.description(k)
    a: dict[str, Any] = {
        "id": ident,
        "username": user,
        "acct": user if inst == viewer else f"{user}@{inst}",
        "display_name": w.display_name(k),
        "locked": bool(spec and spec.protected),
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": from_us(created - created % DAY_US).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "note": f"<p>{html.escape(note)}</p>" if note else "",
        "url": f"https://{inst}/@{user}",
        "uri": f"https://{inst}/users/{user}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": f"https://{inst}/headers/original/missing.png",
        "header_static": f"https://{inst}/headers/original/missing.png",
        "followers_count": w.followers_count(k, t),
        "following_count": w.following_count(k),
        "statuses_count": w.posts_count(k),
        "last_status_at": from_us(t - DAY_US).strftime("%Y-%m-%d"),
        "emojis": [],
        "fields": [],
    }
    if spec is not None:
        if spec.limited:
            a["limited"] = True
        if spec.memorial:
            a["memorial"] = True
        if spec.moved_to:
            muser, _, minst = spec.moved_to.lstrip("@").partition("@")
            a["moved"] = {"id": str(mix64("moved", spec.moved_to) % 10**17), "username": muser,
                          "acct": spec.moved_to.lstrip("@"), "display_name": a["display_name"],
                          "url": f"https://{minst}/@{muser}"}
    if st != ACTIVE:
        # since 3.3.0: 200 with suspended:true and the profile blanked
        a.update(suspended=True, display_name="", note="", fields=[],
                 avatar=f"https://{inst}/avatars/original/missing.png",
                 avatar_static=f"https://{inst}/avatars/original/missing.png")
        purged = st in (SUSPENDED, TAKENDOWN) and t >= int(w.down_us[k]) + MASTODON_PURGE_US
        if st in (DELETED, DEACTIVATED) or purged:
            # self-deletion, and a suspension whose data was deleted, keep the record
            # with every count zero: the two answers are the same
            a.update(followers_count=0, following_count=0, statuses_count=0)
    return a


def masto_lookup(w: PlatformWorld, t: int, viewer: str, acct: str | None) -> Reply:
    if not acct:
        return Reply(400, {"error": "Missing acct"}) if acct is None else masto_not_found()
    user, _, domain = acct.lstrip("@").partition("@")
    k = w.index_of_name(user)
    if k is None:
        return masto_not_found()
    if w.instance_of(k) != (domain or viewer) or not _masto_visible(w, k, t):
        return masto_not_found()
    return Reply(200, masto_account(w, k, t, viewer))


def masto_get(w: PlatformWorld, t: int, viewer: str, ident: str) -> Reply:
    k = w.index_of_id(ident)
    if k is None or not _masto_visible(w, k, t):
        return masto_not_found()
    return Reply(200, masto_account(w, k, t, viewer))


def masto_batch(w: PlatformWorld, t: int, viewer: str, ids: list[str]) -> Reply:
    out = []
    for ident in ids[:40]:
        k = w.index_of_id(ident)
        if k is not None and _masto_visible(w, k, t):
            out.append(masto_account(w, k, t, viewer))
    return Reply(200, out)


def masto_followers(w: PlatformWorld, t: int, viewer: str, base: str, ident: str,
                    limit_s: str | None, max_id: str | None, since_id: str | None = None,
                    min_id: str | None = None) -> Reply:
    k = w.index_of_id(ident)
    if k is None or not _masto_visible(w, k, t):
        return masto_not_found()
    try:
        limit = min(80, max(1, int(limit_s))) if limit_s else 40  # Mastodon clamps silently
    except ValueError:
        limit = 40
    spec = w.watched[k] if k < len(w.watched) else None
    # a suspended account, or one hiding its collections, answers an empty list
    if w.status(k, t) != ACTIVE or (spec is not None and spec.hide_collections):
        return Reply(200, [])

    def edge(v: str | None) -> int | None:
        return int(v) if v and v.isdigit() else None

    after = edge(min_id) if edge(min_id) is not None else edge(since_id)
    followers, eids, nxt = w.followers_page(k, t, edge(max_id), limit, filter_first=True,
                                            after_edge=after, adjacent_to_after=edge(min_id) is not None)
    headers = {}
    if followers:
        page = f"{base}/api/v1/accounts/{ident}/followers?limit={limit}"
        links = []
        if nxt is not None or edge(min_id) is not None:
            links.append(f'<{page}&max_id={eids[-1]}>; rel="next"')
        links.append(f'<{page}&min_id={eids[0]}>; rel="prev"')
        headers["Link"] = ", ".join(links)
    return Reply(200, [masto_account(w, f, t, viewer) for f in followers], headers)


# ===================================================================== X
X_DEFAULT_AVATAR = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"


def x_invalid(param: str, value: Any, message: str) -> Reply:
    return Reply(400, {
        "errors": [{"parameters": {param: [value] if not isinstance(value, list) else value}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": X_PROBLEMS + "invalid-request",
    })


def x_user(w: PlatformWorld, k: int, t: int, fields: set[str]) -> dict[str, Any]:
    u: dict[str, Any] = {"id": w.id_of(k), "name": w.display_name(k), "username": w.name_of(k)}
    spec = w.watched[k] if k < len(w.watched) else None
    if "created_at" in fields:
        u["created_at"] = iso_ms(int(w.created_us[k]))
    if "protected" in fields:
        u["protected"] = bool(spec and spec.protected)
    if "verified" in fields:
        u["verified"] = spec is not None
    if "verified_type" in fields:
        u["verified_type"] = "government" if spec is not None and spec.group == "government" else "none"
    if "description" in fields:
        u["description"] = w.description(k)
    if "profile_image_url" in fields:
        u["profile_image_url"] = (X_DEFAULT_AVATAR if w.is_bot_like(k) else
                                  f"https://pbs.twimg.com/profile_images/{fmix(k, 13) % 10**18}/a_normal.jpg")
    if "public_metrics" in fields:
        u["public_metrics"] = {
            "followers_count": w.followers_count(k, t),
            "following_count": w.following_count(k),
            "tweet_count": w.posts_count(k),
            "listed_count": w.followers_count(k, t) // 50,
            "like_count": w.posts_count(k) * 2,
        }
    return u


def _x_error(value: str, param: str, title: str, detail: str, problem: str) -> dict[str, Any]:
    return {"value": value, "detail": detail, "title": title, "resource_type": "user",
            "parameter": param, "resource_id": value, "type": X_PROBLEMS + problem}


def _x_state_error(w: PlatformWorld, k: int | None, t: int, value: str, param: str) -> dict[str, Any] | None:
    """The 200-with-errors entry for an account that cannot be shown, else None."""
    plural = param  # X writes "ids: [..]", "usernames: [..]", "id: [..]"
    if k is None or not w.exists(k, t):
        return _x_error(value, param, "Not Found Error", f"Could not find user with {plural}: [{value}].",
                        "resource-not-found")
    st = w.status(k, t)
    if st in (SUSPENDED, TAKENDOWN):
        return _x_error(value, param, "Forbidden", f"User has been suspended: [{value}].", "resource-not-found")
    if st in (DEACTIVATED, DELETED):
        return _x_error(value, param, "Not Found Error", f"Could not find user with {plural}: [{value}].",
                        "resource-not-found")
    return None


def x_lookup(w: PlatformWorld, t: int, param: str, raw: str | None, fields_s: str | None) -> Reply:
    if not raw:
        return x_invalid(param, "", f"The `{param}` query parameter can not be empty")
    values = [v.strip() for v in raw.split(",")]
    if not 1 <= len(values) <= 100:
        return x_invalid(param, values, f"The number of values in the `{param}` query parameter list "
                         f"[{len(values)}] is not between 1 and 100")
    fields = set(filter(None, (fields_s or "").split(",")))
    data, errors = [], []
    for v in values:
        if param == "ids":
            if not v.isdigit() or len(v) > 19:
                return x_invalid(param, v, f"The `ids` query parameter value [{v}] is not valid")
            k = w.index_of_id(v)
        else:
            if not v or len(v) > 15 or not all(c.isalnum() or c == "_" for c in v):
                return x_invalid(param, v, f"The `usernames` query parameter value [{v}] does not match ^[A-Za-z0-9_]{{1,15}}$")
            k = w.index_of_name(v)
        err = _x_state_error(w, k, t, v, param)
        if err is not None:
            errors.append(err)
        else:
            assert k is not None
            data.append(x_user(w, k, t, fields))
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if errors:
        body["errors"] = errors
    return Reply(200, body)


def _x_token(edge_id: int) -> str:
    v, out = edge_id, []
    while v:
        out.append(B32[v & 31].upper())
        v >>= 5
    return "".join(reversed(out)) or "A"


def _x_untoken(tok: str) -> int | None:
    v = 0
    for c in tok.lower():
        i = B32.find(c)
        if i < 0:
            return None
        v = (v << 5) | i
    return v


def _x_user_page(w: PlatformWorld, t: int, uid: str, token: str | None) -> Reply | tuple[int, int | None]:
    """What a user's paged resource (followers, tweets) checks first: the pagination
    token, then the user's state (suspended, deactivated, protected) as X answers it,
    in a 200 with ``errors``. The user's index and the page's start, or the refusal."""
    before = None
    if token:
        before = _x_untoken(token)
        if before is None:
            return x_invalid("pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid")
    k = w.index_of_id(uid)
    err = _x_state_error(w, k, t, uid, "id")
    if err is not None:
        return Reply(200, {"errors": [err]})
    assert k is not None
    spec = w.watched[k] if k < len(w.watched) else None
    if spec is not None and spec.protected:
        return Reply(200, {"errors": [_x_error(uid, "id", "Authorization Error",
                                               f"Sorry, you are not authorized to see the user with id: [{uid}].",
                                               "not-authorized-for-resource")]})
    return k, before


def x_followers(w: PlatformWorld, t: int, uid: str, max_s: str | None, token: str | None,
                fields_s: str | None) -> Reply:
    if not uid.isdigit():
        return x_invalid("id", uid, f"The `id` query parameter value [{uid}] is not valid")
    try:
        max_results = int(max_s) if max_s else 100
    except ValueError:
        return x_invalid("max_results", max_s, "The `max_results` query parameter value is not valid")
    if not 1 <= max_results <= 1000:
        return x_invalid("max_results", max_s, f"The `max_results` query parameter value [{max_s}] is not between 1 and 1000")
    gate = _x_user_page(w, t, uid, token)
    if isinstance(gate, Reply):
        return gate
    k, before = gate
    fields = set(filter(None, (fields_s or "").split(",")))
    followers, _, nxt = w.followers_page(k, t, before, max_results, filter_first=True)
    meta: dict[str, Any] = {"result_count": len(followers)}
    if nxt is not None:
        meta["next_token"] = _x_token(nxt)
    body: dict[str, Any] = {}
    if followers:
        body["data"] = [x_user(w, f, t, fields) for f in followers]
    body["meta"] = meta
    return Reply(200, body)


# ================================================================== posts
# Shapes: Bluesky app.bsky.feed.getAuthorFeed / app.bsky.feed.defs#feedViewPost /
# #postView / #reasonRepost and app.bsky.embed.record#view (lexicons/app/bsky/feed,
# bluesky-social/atproto); the AppView's skeleton refuses an actor it does not show with
# InvalidRequest "Profile not found" (packages/bsky/src/api/app/bsky/feed/getAuthorFeed.ts).
# Mastodon: REST::StatusSerializer, Api::V1::Accounts::StatusesController (``[]`` for an
# unavailable account, Link next when a page is full). X: GET /2/users/:id/tweets and
# GET /2/tweets (X API v2 reference: tweet object, meta.next_token, partial errors).
BSKY_FEED_FILTERS = ("posts_with_replies", "posts_no_replies", "posts_with_media",
                     "posts_and_author_threads", "posts_with_video")


def _bsky_basic(w: PlatformWorld, k: int) -> dict[str, Any]:
    """app.bsky.actor.defs#profileViewBasic."""
    did = w.id_of(k)
    p: dict[str, Any] = {"did": did, "handle": w.name_of(k), "displayName": w.display_name(k)}
    if not w.is_bot_like(k):
        p["avatar"] = f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei{_tid(fmix(k, 11))}@jpeg"
    p["labels"] = []
    p["createdAt"] = iso_ms(int(w.created_us[k]))
    return p


def _bsky_uri(w: PlatformWorld, p: SimPost, collection: str = "app.bsky.feed.post") -> str:
    return f"at://{w.id_of(p.author)}/{collection}/{w.posts.rkey(p)}"


def _bsky_ref(w: PlatformWorld, p: SimPost) -> dict[str, str]:
    return {"uri": _bsky_uri(w, p), "cid": cid("post", w.platform, p.index)}


def _bsky_record(w: PlatformWorld, p: SimPost) -> dict[str, Any]:
    rec: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": p.text, "createdAt": iso_ms(p.created_us),
                           "langs": [p.lang]}
    facets = []
    for start, end, tag in p.tags():
        # byte offsets into the UTF-8 text (app.bsky.richtext.facet#byteSlice)
        b0, b1 = len(p.text[:start].encode()), len(p.text[:end].encode())
        facets.append({"index": {"byteStart": b0, "byteEnd": b1},
                       "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})
    if facets:
        rec["facets"] = facets
    if p.reply_to >= 0:
        parent = w.posts.posts[p.reply_to]
        root = parent
        while root.reply_to >= 0:
            root = w.posts.posts[root.reply_to]
        rec["reply"] = {"root": _bsky_ref(w, root), "parent": _bsky_ref(w, parent)}
    if p.quote_of >= 0:
        rec["embed"] = {"$type": "app.bsky.embed.record", "record": _bsky_ref(w, w.posts.posts[p.quote_of])}
    return rec


def _shown(w: PlatformWorld, p: SimPost, t: int) -> bool:
    return w.posts.visible(p, t) and w.status(p.author, t) == ACTIVE


def _reposts_of(w: PlatformWorld, p: SimPost, t: int) -> int:
    return sum(1 for q in w.posts.reposts.get(p.index, ()) if _shown(w, q, t))


def _bsky_post_view(w: PlatformWorld, p: SimPost, t: int) -> dict[str, Any]:
    v: dict[str, Any] = {"uri": _bsky_uri(w, p), "cid": cid("post", w.platform, p.index),
                         "author": _bsky_basic(w, p.author), "record": _bsky_record(w, p)}
    if p.quote_of >= 0:
        q = w.posts.posts[p.quote_of]
        if _shown(w, q, t):
            inner: dict[str, Any] = {"$type": "app.bsky.embed.record#viewRecord", "uri": _bsky_uri(w, q),
                                     "cid": cid("post", w.platform, q.index), "author": _bsky_basic(w, q.author),
                                     "value": _bsky_record(w, q), "labels": [],
                                     "indexedAt": iso_ms(q.created_us + US)}
        else:
            inner = {"$type": "app.bsky.embed.record#viewNotFound", "uri": _bsky_uri(w, q), "notFound": True}
        v["embed"] = {"$type": "app.bsky.embed.record#view", "record": inner}
    v.update(replyCount=0, repostCount=_reposts_of(w, p, t), likeCount=fmix(p.index, 31) % 400,
             quoteCount=0, indexedAt=iso_ms(p.created_us + US), labels=[])
    return v


def _bsky_feed_item(w: PlatformWorld, p: SimPost, t: int) -> dict[str, Any] | None:
    if p.repost_of < 0:
        item: dict[str, Any] = {"post": _bsky_post_view(w, p, t)}
        if p.reply_to >= 0:
            rec = item["post"]["record"]["reply"]
            parent, root = w.posts.posts[p.reply_to], p
            while root.reply_to >= 0:
                root = w.posts.posts[root.reply_to]

            def ref_view(q: SimPost, uri: str) -> dict[str, Any]:
                if _shown(w, q, t):
                    return {"$type": "app.bsky.feed.defs#postView", **_bsky_post_view(w, q, t)}
                return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}

            item["reply"] = {"root": ref_view(root, rec["root"]["uri"]), "parent": ref_view(parent, rec["parent"]["uri"])}
        return item
    orig = w.posts.posts[p.repost_of]
    if w.status(orig.author, t) != ACTIVE:
        return None  # the original's author is not shown: the AppView drops the item
    return {"post": _bsky_post_view(w, orig, t),
            "reason": {"$type": "app.bsky.feed.defs#reasonRepost", "by": _bsky_basic(w, p.author),
                       "uri": _bsky_uri(w, p, "app.bsky.feed.repost"), "cid": cid("repost", w.platform, p.index),
                       "indexedAt": iso_ms(p.created_us)}}


def _feed_key(p: SimPost) -> int:
    return p.created_us * 1024 + (p.index & 1023)


def bsky_author_feed(w: PlatformWorld, t: int, actor: str | None, limit_s: str | None,
                     cursor: str | None, filter_s: str | None) -> Reply:
    checked = _bsky_actor_limit(actor, limit_s)
    if isinstance(checked, Reply):
        return checked
    actor, limit = checked
    filt = filter_s or "posts_with_replies"
    if filt not in BSKY_FEED_FILTERS:
        return xrpc_error("InvalidRequest", f"Error: filter must be one of ({', '.join(BSKY_FEED_FILTERS)})")
    before = None
    if cursor:
        try:
            before = int(cursor, 36)
        except ValueError:
            return Reply(200, {"feed": []})  # clearlyBadCursor: an empty page, no error
    k = _bsky_resolve(w, actor)
    # the skeleton refuses an actor it does not hydrate (taken down, deactivated, gone)
    if k is None or not w.exists(k, t) or w.status(k, t) != ACTIVE:
        return xrpc_error("InvalidRequest", "Profile not found")
    items = sorted(w.posts.listing(k, t), key=_feed_key, reverse=True)
    if filt in ("posts_with_media", "posts_with_video"):
        items = []  # the emulated posts carry no media
    elif filt == "posts_no_replies":
        items = [p for p in items if p.reply_to < 0 or p.repost_of >= 0]
    elif filt == "posts_and_author_threads":
        items = [p for p in items if p.reply_to < 0 or w.posts.posts[p.reply_to].author == k]
    if before is not None:
        items = [p for p in items if _feed_key(p) < before]
    page = items[:limit]
    feed = [f for f in (_bsky_feed_item(w, p, t) for p in page) if f is not None]
    body: dict[str, Any] = {"feed": feed}
    if len(items) > limit:
        body["cursor"] = to_b36(_feed_key(page[-1]))
    return Reply(200, body)


def bsky_get_posts(w: PlatformWorld, t: int, uris: list[str]) -> Reply:
    """app.bsky.feed.getPosts: the posts it can show; the others are left out."""
    if len(uris) > 25:
        return xrpc_error("InvalidRequest", "Error: uris must not have more than 25 elements")
    out = []
    for uri in uris:
        parts = uri.removeprefix("at://").split("/")
        if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
            continue
        k = w.index_of_id(parts[0]) if parts[0].startswith("did:") else w.index_of_name(parts[0])
        p = w.posts.bsky_index(parts[2])
        if p is not None and p.author == k and p.repost_of < 0 and _shown(w, p, t):
            out.append(_bsky_post_view(w, p, t))
    return Reply(200, {"posts": out})


def _masto_html(text: str, inst: str) -> str:
    """A status's ``content``: paragraphs, line breaks and hashtag links, as Mastodon
    renders a local status (TextFormatter)."""
    words = HASHTAG.sub(lambda m: f'<a href="https://{inst}/tags/{m.group(1).lower()}" class="mention hashtag" '
                                  f'rel="tag">#<span>{m.group(1)}</span></a>', html.escape(text))
    return "<p>" + "</p><p>".join(words.split("\n\n")).replace("\n", "<br />") + "</p>"


def masto_status(w: PlatformWorld, p: SimPost, t: int, viewer: str) -> dict[str, Any]:
    inst, user = w.instance_of(p.author), w.name_of(p.author)
    ident = w.posts.masto_id(p)
    reblog = masto_status(w, w.posts.posts[p.repost_of], t, viewer) if p.repost_of >= 0 else None
    parent = w.posts.posts[p.reply_to] if p.reply_to >= 0 else None
    s: dict[str, Any] = {
        "id": ident,
        "created_at": iso_ms(p.created_us),
        "in_reply_to_id": w.posts.masto_id(parent) if parent else None,
        "in_reply_to_account_id": w.id_of(parent.author) if parent else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": None if reblog else p.lang,
        "uri": f"https://{inst}/users/{user}/statuses/{ident}" + ("/activity" if reblog else ""),
        "url": None if reblog else f"https://{inst}/@{user}/{ident}",
        "replies_count": 0,
        "reblogs_count": 0 if reblog else _reposts_of(w, p, t),
        "favourites_count": 0 if reblog else fmix(p.index, 31) % 200,
        "edited_at": None,
        "content": "" if reblog else _masto_html(p.text, inst),
        "reblog": reblog,
        "account": masto_account(w, p.author, t, viewer),
        "media_attachments": [],
        "mentions": [],
        "tags": [] if reblog else [{"name": tag.lower(), "url": f"https://{inst}/tags/{tag.lower()}"}
                                   for _, _, tag in p.tags()],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    if p.quote_of >= 0 and not reblog:
        q = w.posts.posts[p.quote_of]
        # Mastodon 4.4+: the quote and whether its author accepted it (REST::QuoteSerializer)
        s["quote"] = ({"state": "accepted", "quoted_status": masto_status(w, q, t, viewer)} if _shown(w, q, t)
                      else {"state": "deleted", "quoted_status": None})
    return s


def masto_statuses(w: PlatformWorld, t: int, viewer: str, base: str, ident: str, limit_s: str | None,
                   max_id: str | None, since_id: str | None, min_id: str | None,
                   exclude_reblogs: str | None, exclude_replies: str | None) -> Reply:
    k = w.index_of_id(ident)
    if k is None or not _masto_visible(w, k, t):
        return masto_not_found()
    try:
        limit = min(40, max(1, int(limit_s))) if limit_s else 20  # limit_param clamps silently
    except ValueError:
        limit = 20
    if w.status(k, t) != ACTIVE:
        return Reply(200, [])  # @account.unavailable? ? [] : ... (StatusesController)
    items = [p for p in w.posts.listing(k, t)
             if _shown(w, p, t) and (p.repost_of < 0 or _shown(w, w.posts.posts[p.repost_of], t))]
    if exclude_reblogs in ("true", "1"):
        items = [p for p in items if p.repost_of < 0]
    if exclude_replies in ("true", "1"):
        items = [p for p in items if p.reply_to < 0]
    items.sort(key=lambda p: int(w.posts.masto_id(p)), reverse=True)

    def num(v: str | None) -> int | None:
        return int(v) if v and v.isdigit() else None

    if num(max_id) is not None:
        items = [p for p in items if int(w.posts.masto_id(p)) < num(max_id)]  # type: ignore[operator]
    after = num(min_id) if num(min_id) is not None else num(since_id)
    if after is not None:
        items = [p for p in items if int(w.posts.masto_id(p)) > after]
    page = items[-limit:] if num(min_id) is not None else items[:limit]
    headers = {}
    if page:
        url = f"{base}/api/v1/accounts/{ident}/statuses?limit={limit}"
        links = []
        if len(page) == limit:  # records_continue?
            links.append(f'<{url}&max_id={w.posts.masto_id(page[-1])}>; rel="next"')
        links.append(f'<{url}&min_id={w.posts.masto_id(page[0])}>; rel="prev"')
        headers["Link"] = ", ".join(links)
    return Reply(200, [masto_status(w, p, t, viewer) for p in page], headers)


X_TWEET_FIELDS = {"created_at", "author_id", "lang", "conversation_id", "referenced_tweets", "entities",
                  "edit_history_tweet_ids", "public_metrics", "possibly_sensitive", "source", "text", "id",
                  "in_reply_to_user_id", "reply_settings", "attachments", "context_annotations", "geo",
                  "withheld", "edit_controls", "note_tweet", "display_text_range"}


def x_tweet(w: PlatformWorld, p: SimPost, fields: set[str]) -> dict[str, Any]:
    ident = w.posts.x_id(p)
    orig = w.posts.posts[p.repost_of] if p.repost_of >= 0 else None
    text = f"RT @{w.name_of(orig.author)}: {orig.text}" if orig else p.text
    tw: dict[str, Any] = {"id": ident, "text": text, "edit_history_tweet_ids": [ident]}
    if "created_at" in fields:
        tw["created_at"] = iso_ms(p.created_us)
    if "author_id" in fields:
        tw["author_id"] = w.id_of(p.author)
    if "lang" in fields:
        tw["lang"] = (orig or p).lang
    if "conversation_id" in fields:
        root = p
        while root.reply_to >= 0:
            root = w.posts.posts[root.reply_to]
        tw["conversation_id"] = w.posts.x_id(root)
    refs = [(kind, w.posts.posts[i]) for kind, i in (("retweeted", p.repost_of), ("quoted", p.quote_of),
                                                    ("replied_to", p.reply_to)) if i >= 0]
    if "referenced_tweets" in fields and refs:
        tw["referenced_tweets"] = [{"type": kind, "id": w.posts.x_id(q)} for kind, q in refs]
    if "entities" in fields:
        tags = []
        for m in HASHTAG.finditer(text):
            start, end, tag = m.start(), m.end(), m.group(1)
            tags.append({"start": start, "end": end, "tag": tag})
        ent: dict[str, Any] = {}
        if tags:
            ent["hashtags"] = tags
        if orig:
            ent["mentions"] = [{"start": 3, "end": 4 + len(w.name_of(orig.author)),
                                "username": w.name_of(orig.author), "id": w.id_of(orig.author)}]
        if ent:
            tw["entities"] = ent
    return tw


def _x_token_for(p_id: str) -> str:
    return _x_token(int(p_id))


def x_user_tweets(w: PlatformWorld, t: int, uid: str, max_s: str | None, token: str | None,
                  start_s: str | None, end_s: str | None, exclude_s: str | None, fields_s: str | None) -> Reply:
    if not uid.isdigit():
        return x_invalid("id", uid, f"The `id` query parameter value [{uid}] is not valid")
    try:
        max_results = int(max_s) if max_s else 10
    except ValueError:
        return x_invalid("max_results", max_s, "The `max_results` query parameter value is not valid")
    if not 5 <= max_results <= 100:
        return x_invalid("max_results", max_s, f"The `max_results` query parameter value [{max_s}] is not between 5 and 100")
    bounds: list[int | None] = []
    for name, raw in (("start_time", start_s), ("end_time", end_s)):
        if raw is None:
            bounds.append(None)
            continue
        try:
            bounds.append(to_us(datetime.fromisoformat(raw.replace("Z", "+00:00"))))
        except ValueError:
            return x_invalid(name, raw, f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 timestamp")
    gate = _x_user_page(w, t, uid, token)
    if isinstance(gate, Reply):
        return gate
    k, before = gate
    exclude = set(filter(None, (exclude_s or "").split(",")))
    fields = set(filter(None, (fields_s or "").split(",")))
    items = [p for p in w.posts.listing(k, t)
             if (p.repost_of < 0 or _shown(w, w.posts.posts[p.repost_of], t))
             and not ("retweets" in exclude and p.repost_of >= 0)
             and not ("replies" in exclude and p.reply_to >= 0)
             and (bounds[0] is None or p.created_us >= bounds[0])
             and (bounds[1] is None or p.created_us <= bounds[1])]
    items.sort(key=lambda p: int(w.posts.x_id(p)), reverse=True)
    if before is not None:
        items = [p for p in items if int(w.posts.x_id(p)) < before]
    page = items[:max_results]
    meta: dict[str, Any] = {"result_count": len(page)}
    body: dict[str, Any] = {}
    if page:
        body["data"] = [x_tweet(w, p, fields) for p in page]
        meta["newest_id"], meta["oldest_id"] = w.posts.x_id(page[0]), w.posts.x_id(page[-1])
    if len(items) > max_results:
        meta["next_token"] = _x_token_for(w.posts.x_id(page[-1]))
    body["meta"] = meta
    return Reply(200, body)


def x_tweets_lookup(w: PlatformWorld, t: int, raw: str | None, fields_s: str | None) -> Reply:
    """GET /2/tweets?ids=: the tweets it can show in ``data``, the others in ``errors``."""
    if not raw:
        return x_invalid("ids", "", "The `ids` query parameter can not be empty")
    values = [v.strip() for v in raw.split(",")]
    if not 1 <= len(values) <= 100:
        return x_invalid("ids", values, f"The number of values in the `ids` query parameter list "
                         f"[{len(values)}] is not between 1 and 100")
    fields = set(filter(None, (fields_s or "").split(",")))
    data, errors = [], []
    for v in values:
        if not v.isdigit() or len(v) > 19:
            return x_invalid("ids", v, f"The `ids` query parameter value [{v}] is not valid")
        p = w.posts.x_index(v)
        if p is not None and _shown(w, p, t):
            data.append(x_tweet(w, p, fields))
        elif p is not None and w.posts.visible(p, t) and w.status(p.author, t) in (SUSPENDED, TAKENDOWN):
            errors.append({"value": v, "detail": f"Sorry, you are not authorized to see the Tweet with ids: [{v}].",
                           "title": "Authorization Error", "resource_type": "tweet", "parameter": "ids",
                           "resource_id": v, "type": X_PROBLEMS + "not-authorized-for-resource"})
        else:
            errors.append({"value": v, "detail": f"Could not find tweet with ids: [{v}].", "title": "Not Found Error",
                           "resource_type": "tweet", "parameter": "ids", "resource_id": v,
                           "type": X_PROBLEMS + "resource-not-found"})
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if errors:
        body["errors"] = errors
    return Reply(200, body)
