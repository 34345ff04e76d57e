"""The report's words beside its numbers: the ``posts`` part of the findings and the
plain sentences the demo story tells from it.

The computation is :func:`purgewatch.analysis.post_context.post_context`; this module
only adapts it to the findings (events with their report ids, the accounts in scope)
and phrases it. Templates: ``_posts_section.html.j2`` (the "Posts" section),
``_posts_account.html.j2`` (an account's posts around its events) and
``_posts_macros.html.j2``; the web UI renders the same templates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from purgewatch.errors import PurgeWatchError
from purgewatch.queries import AccountName
from purgewatch.store import Store

log = logging.getLogger("purgewatch.report")


def posts_findings(
    store: Store,
    events: list[dict[str, Any]],
    accounts: Iterable[dict[str, Any]],
    start: Any = None,
    end: Any = None,
    groups: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The ``posts`` key of the findings: ``{"available": False}`` when the store holds no
    post (the report and UI then say nothing about posts), else
    :func:`~purgewatch.analysis.post_context.post_context`'s answer for the report's
    events and accounts. An analysis failure is reported in ``error``, not raised: the
    rest of the report stands without it."""
    from purgewatch.analysis.post_context import post_context

    keys = [(str(a["platform"]), str(a["account_id"])) for a in accounts]
    try:
        return post_context(store, events, accounts=keys, start=_dt(start), end=_dt(end), groups=groups)
    except PurgeWatchError as exc:
        log.warning("posts context failed", extra={"error": str(exc)})
        return {"available": False, "error": str(exc)}


def _dt(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v
    to_py = getattr(v, "to_pydatetime", None)
    return to_py() if to_py is not None else None


def _name(d: dict[str, Any]) -> str:
    return AccountName(d.get("handle"), d.get("label")).text(d.get("account_id"))


def _when(when: Formatter | None) -> Formatter:
    from purgewatch.timefmt import human_time

    return when or human_time


def full_stop(sentence: str) -> str:
    from purgewatch.analysis.post_context import full_stop as stop

    return stop(sentence)


def _quote(p: dict[str, Any], limit: int = 140) -> str:
    from purgewatch.analysis.post_context import excerpt

    return f"\u201c{excerpt(p.get('text'), limit)}\u201d"


Formatter = Callable[[Any], str]


def wave_lines(posts: dict[str, Any], when: Formatter | None = None) -> list[str]:
    """Who spoke about each wave, per camp (the one with most matching posts quoted), and
    who stayed silent (never an unread account): sentences for the demo story. ``when``
    formats a time (default ``Thu 5 Mar 2026, 18:00 UTC``)."""
    if not posts.get("available"):
        return []
    cited = posts.get("posts") or {}
    lines = []
    for w in posts.get("waves") or []:
        parts = []
        for g in w.get("groups") or []:
            spoke, silent, unread = g.get("spoke") or [], g.get("silent") or [], g.get("unread") or []
            if not (spoke or silent):
                parts.append(f"none of the {g['group']} camp's {g['accounts']} accounts could be read")
                continue
            if spoke:
                first = sorted(spoke, key=lambda d: (-int(d.get("n_posts") or 0), _name(d)))[0]
                quote = next((_quote(cited[r]) for r in first.get("posts") or [] if r in cited), "")
                said = f"{_name(first)}: {quote}" if quote else _name(first)
                phrase = f"{len(spoke)} of the {g['read']} {g['group']} accounts read spoke about it ({said})"
            else:
                phrase = f"the {g['group']} camp stayed silent ({len(silent)} of {g['read']} accounts read, none mentioned it)"
            if unread:
                phrase += f"; {len(unread)} not read"
            parts.append(phrase)
        if parts:
            lines.append(f"In the days after the wave (to {_when(when)(w['window']['to'])}), " + "; ".join(parts) + ".")
    return lines


def call_lines(posts: dict[str, Any], account: tuple[str, str] | None = None,
               when: Formatter | None = None) -> list[str]:
    """The call to follow that preceded each account's first follower surge with one
    (of ``account`` only, when given), with how many others reposted or quoted it."""
    if not posts.get("available"):
        return []
    human_time = _when(when)
    cited = posts.get("posts") or {}
    lines = []
    told: set[tuple[str, str]] = set()
    for s in sorted(posts.get("surges") or [], key=lambda s: str(s.get("start"))):
        acct = (s["platform"], s["account_id"])
        if (account is not None and acct != account) or acct in told:
            continue
        for ref in s.get("calls") or []:
            if ref not in cited:
                continue
            told.add(acct)
            p = cited[ref]
            rp = next((r for r in s.get("reposts") or [] if r["of"] == ref), None)
            again = f", reposted or quoted {rp['n']:,} times by {rp['accounts']:,} accounts" if rp else ""
            lines.append(full_stop(f"Before the follower surge of {human_time(s['start'])}, {_name(p)} called "
                                   f"on supporters, {human_time(p['created_at'])}: {_quote(p)}{again}"))
            break
    return lines


def deleted_lines(posts: dict[str, Any], limit: int = 3, when: Formatter | None = None) -> list[str]:
    """Deleted posts of the accounts in scope, each in one sentence."""
    if not posts.get("available"):
        return []
    from purgewatch.analysis.post_context import deletion_sentence

    cited = posts.get("posts") or {}

    def full(d: dict[str, Any]) -> dict[str, Any]:
        return {**cited.get(d["ref"], {}), **d, "text": (cited.get(d["ref"]) or {}).get("text")}

    gone = [full(d) for d in posts.get("deleted") or []]
    # Own posts first; a repost whose original is among the deleted is told with it.
    originals = {(d["platform"], d["post_id"]) for d in gone if not d.get("repost_of")}
    along: dict[tuple[str, str], list[dict[str, Any]]] = {}
    told = []
    for d in gone:
        key = (d["platform"], str(d.get("repost_of")))
        if d.get("repost_of") and key in originals:
            along.setdefault(key, []).append(d)
        else:
            told.append(d)
    told.sort(key=lambda d: bool(d.get("repost_of")))
    lines = []
    for d in told[:limit]:
        line = deletion_sentence(d, when=when)
        with_it = along.get((d["platform"], d["post_id"]), [])
        if with_it:
            names = ", ".join(_name(r) for r in with_it)
            line = f"{line} With it, {len(with_it)} repost{'s' if len(with_it) > 1 else ''} disappeared ({names})."
        lines.append(line)
    if len(told) > limit:
        lines.append(f"{len(told) - limit} more deleted posts are listed in the report.")
    return lines


def posts_tables(P: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    """CSV tables of the ``posts`` section of the findings (file name -> rows, columns); none when the
    store holds no post: who spoke after each wave per camp (one row per account), the
    posts before each surge with their reposts, the deleted posts, every quoted post."""
    if not P.get("available"):
        return {}
    cited = P.get("posts") or {}
    spoke = []
    for w in P.get("waves") or []:
        for g in w.get("groups") or []:
            for state in ("spoke", "silent", "unread"):
                for d in g.get(state) or []:
                    spoke.append({"events": w.get("events"), "window_from": w["window"]["from"],
                                  "window_to": w["window"]["to"], "group": g["group"], "platform": d["platform"],
                                  "account_id": d["account_id"], "handle": d.get("handle"), "label": d.get("label"),
                                  "state": "not_read" if state == "unread" else state,
                                  "matching_posts": d.get("n_posts"), "other_posts": d.get("other_posts"),
                                  "quoted": d.get("posts")})
    surges = []
    for s in P.get("surges") or []:
        for ref in s.get("posts") or []:
            rp: dict[str, Any] = next((r for r in s.get("reposts") or [] if r["of"] == ref), {})
            surges.append({"event": s.get("event"), "platform": s["platform"], "account_id": s["account_id"],
                           "ref": ref, "call": ref in (s.get("calls") or []), "reposts": rp.get("n", 0),
                           "reposting_accounts": rp.get("accounts", 0), "watched_reposting": rp.get("watched", 0)})
    deleted = [{**d, "text": (cited.get(d["ref"]) or {}).get("text")} for d in P.get("deleted") or []]
    quoted = [{k: p.get(k) for k in ("ref", "platform", "account_id", "handle", "label", "group", "post_id",
                                     "created_at", "text", "url", "repost_of", "quote_of", "deleted")}
              for p in cited.values()]
    return {
        "posts_waves.csv": (spoke, ["events", "window_from", "window_to", "group", "platform", "account_id", "handle",
                                    "label", "state", "matching_posts", "other_posts", "quoted"]),
        "posts_surges.csv": (surges, ["event", "platform", "account_id", "ref", "call", "reposts", "reposting_accounts",
                                      "watched_reposting"]),
        "posts_deleted.csv": (deleted, ["ref", "platform", "account_id", "post_id", "created_at", "last_seen",
                                        "last_seen_evidence", "first_missing", "first_missing_evidence", "text"]),
        "posts_quoted.csv": (quoted, ["ref", "platform", "account_id", "handle", "label", "group", "post_id",
                                      "created_at", "text", "url", "repost_of", "quote_of", "deleted"]),
    }
