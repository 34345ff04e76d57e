"""Words beside the numbers: the posts around what detection found.

Counts say that accounts vanished and followers left; posts say what the people involved
said about it. :func:`post_context` answers, for the events a report shows:

- **after a suspension wave** (or a purge): per camp, who spoke about it in the days
  after (posts matching :data:`WAVE_TOPIC`, through :func:`~purgewatch.analysis.posts.search_posts`,
  so *spoke*, *silent* and *unread* mean what they mean there: an account whose posts
  were not read over the window is never called silent), with excerpts, and the share
  that spoke compared between camps;
- **before a follower surge**: the surging account's own posts in the days before it,
  those that read as a call to follow (:data:`CALL_TOPIC`) marked, and the posts of
  others that reposted or quoted them;
- **around each per-account event** (a drop, a surge) and each wave: the account's own
  posts, for its timeline;
- **deleted posts** of the accounts in scope, with the archived text and the two reads
  that show it (last seen, first missing; :func:`~purgewatch.analysis.posts.deleted_posts`).

:func:`deletion_alerts` turns the deletions of watched accounts into alert events
(``kind = "post_deleted"``) for the webhook (docs/alerts.md).

Everything here is derived from the ``posts`` and ``post_reads`` tables; a store without
posts answers ``{"available": False}`` and the report and the UI then say nothing about
posts. Post texts are returned as stored: they are attacker-controlled, and every
renderer escapes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from purgewatch.analysis.posts import deleted_posts, parse_query, query_sql, search_posts
from purgewatch.errors import AnalysisError, InputError
from purgewatch.queries import AccountName, account_names
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist

# What counts as speaking about a wave, and as a call to follow: plain search queries
# (docs/posts.md has the syntax), so a reader can run the same search with
# ``purgewatch posts search``. English words only: a store of posts in another language
# needs its own topic (the ``wave_topic`` / ``call_topic`` arguments).
WAVE_TOPIC = ('suspended OR suspension OR suspensions OR suspend OR banned OR ban OR purge OR purged OR '
              'censorship OR censored OR attack OR deplatformed OR "taken down"')
CALL_TOPIC = ('follow OR followers OR followback OR "follow back" OR "win back" OR "win them back" OR '
              '#followback')
DAYS_AFTER_WAVE = 3       # what the camps said in the days after a wave
DAYS_BEFORE_SURGE = 3     # the posts that preceded a follower surge
DAYS_AROUND_EVENT = 2     # an account's posts on either side of its own events
MAX_POSTS = 6             # posts quoted per item (the count of the others is given)
MAX_REPOSTERS = 20        # reposters named per post
EXCERPT = 280             # characters of a post quoted in an excerpt
WAVE_KINDS = ("suspension_wave", "purge")


def has_posts(store: Store) -> bool:
    """Whether the store holds any post at all."""
    con = store.duckdb()
    return bool(con.execute("SELECT count(*) FROM (SELECT 1 FROM posts LIMIT 1)").fetchone()[0])


def post_context(
    store: Store,
    events: Iterable[dict[str, Any]],
    *,
    accounts: Iterable[tuple[str, str]] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    groups: Iterable[str] | None = None,
    wave_topic: str = WAVE_TOPIC,
    call_topic: str = CALL_TOPIC,
) -> dict[str, Any]:
    """The posts around ``events`` (detect events as JSON, with the report's ``id`` and
    ``shown`` keys when present). ``accounts`` limits timelines and deletions to those
    (platform, account_id) keys (default: the watchlist); ``start``/``end`` the
    deletions to those whose publication or disappearance falls in the window;
    ``groups`` the camps shown after a wave."""
    if not has_posts(store):
        return {"available": False}
    con = store.duckdb()
    wl = current_watchlist(store).to_pandas()
    wl = wl[wl["account_id"].notna()]
    watch = {(str(r.platform), str(r.account_id)): (r.group, r.label) for r in wl.itertuples()}
    keys = {(str(p), str(a)) for p, a in accounts} if accounts is not None else set(watch)
    group_filter = set(groups) if groups is not None else None
    evs = [e for e in events if e.get("shown", True)]
    horizon = _horizon(con)
    ctx = _Builder(store, watch)

    waves = _wave_windows([e for e in evs if e.get("kind") in WAVE_KINDS], horizon)
    wave_out = [ctx.wave(w, wave_topic, group_filter) for w in waves]

    surges = [e for e in evs if e.get("kind") == "follower_surge" and e.get("account_id")]
    surge_out = [ctx.surge(con, e, call_topic) for e in surges]

    timelines = ctx.timelines(con, [e for e in evs if e.get("account_id")], waves, keys, wave_topic)

    deleted = ctx.deleted(con, keys, start, end)
    ctx.name_everyone()
    return {
        "available": True,
        "topics": {"wave": wave_topic, "call": call_topic},
        "days": {"after_wave": DAYS_AFTER_WAVE, "before_surge": DAYS_BEFORE_SURGE, "around_event": DAYS_AROUND_EVENT},
        "read_until": _iso(horizon),
        "waves": wave_out,
        "surges": surge_out,
        "timelines": timelines,
        "deleted": deleted,
        # oldest first: the quoted posts read as a timeline
        "posts": dict(sorted(ctx.cited.items(), key=lambda kv: (str(kv[1]["created_at"] or ""), kv[0]))),
    }


def deletion_alerts(store: Store) -> list[dict[str, Any]]:
    """Deleted posts of watched accounts as alert events (``kind = "post_deleted"``): the
    ``posts deleted`` answer with the author's handle, label and group, and ``start`` =
    the read that showed the post gone. Only what :func:`deleted_posts` calls deleted
    (a complete listing without it, or a direct "not found"): an incomplete read, an
    empty listing and a failed read never raise one."""
    if not has_posts(store):
        return []
    wl = current_watchlist(store).to_pandas()
    wl = wl[wl["account_id"].notna()]
    watch = {(str(r.platform), str(r.account_id)): (r.group, r.label) for r in wl.itertuples()}
    gone = [d for d in deleted_posts(store)["deleted"] if (d["platform"], d["account_id"]) in watch]
    if not gone:
        return []
    names = account_names(store, {(d["platform"], d["account_id"]) for d in gone})
    links = _links(store.duckdb(), gone)
    out = []
    for d in gone:
        key = (d["platform"], d["account_id"])
        group, label = watch[key]
        name = names.get(key)
        link = links.get(_pkey(d), {})
        out.append({
            "kind": "post_deleted", **d, "handle": name.handle if name else None, "label": label or None,
            "group": group or None, "start": d["first_missing"], "end": d["first_missing"],
            "url": post_url(d["platform"], d["account_id"], d["post_id"], link.get("url")),
            "repost_of": link.get("repost_of"), "quote_of": link.get("quote_of"),
        })
    return out


# --------------------------------------------------------------------------- helpers
def post_ref(platform: str, account_id: str, post_id: str) -> str:
    """A stable anchor for one post (``post-`` and 12 hex digits)."""
    return "post-" + hashlib.sha256(f"{platform}\x1f{account_id}\x1f{post_id}".encode()).hexdigest()[:12]


def excerpt(text: Any, limit: int = EXCERPT) -> str:
    """The text shortened at a word edge, with an ellipsis when cut."""
    s = " ".join(str(text or "").split())
    if len(s) <= limit:
        return s
    cut = s[:limit].rsplit(" ", 1)[0] if " " in s[:limit] else s[:limit]
    return cut.rstrip(" ,;:.") + "…"


def post_url(platform: str, account_id: str, post_id: str, stored: str | None = None) -> str | None:
    """The post's address as text (never followed by PurgeWatch): the stored URL when it
    is http(s), else the platform's canonical form when it can be built from the ids."""
    if stored and urlsplit(stored).scheme in ("http", "https") and urlsplit(stored).netloc:
        return stored
    if platform == "x" and post_id.isdigit():
        return f"https://x.com/i/web/status/{post_id}"
    if platform == "bluesky" and post_id.startswith("at://"):
        parts = post_id[5:].split("/")
        if len(parts) == 3 and parts[1] == "app.bsky.feed.post":
            return f"https://bsky.app/profile/{parts[0]}/post/{parts[2]}"
    return None


def _pkey(d: dict[str, Any]) -> tuple[str, str, str]:
    return (str(d["platform"]), str(d["account_id"]), str(d["post_id"]))


def _iso(t: Any) -> str | None:
    if t is None or t is pd.NaT or (isinstance(t, float) and t != t):
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat().replace("+00:00", "Z")


def _ts(v: Any) -> pd.Timestamp:
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _horizon(con: Any) -> pd.Timestamp | None:
    """The last moment any account's posts were read: windows are cut there (a window
    that runs past it would make every account unread)."""
    v = con.execute("SELECT max(read_at) FROM post_reads WHERE answer = 'ok'").fetchone()[0]
    return None if v is None else _ts(v)


def _wave_windows(waves: list[dict[str, Any]], horizon: pd.Timestamp | None) -> list[dict[str, Any]]:
    """One window per wave, waves whose windows overlap merged (a wave detected per
    platform or per camp is one moment for the people who talk about it)."""
    out: list[dict[str, Any]] = []
    for e in sorted(waves, key=lambda e: str(e.get("start"))):
        a, b = _ts(e["start"]), _ts(e["end"]) + timedelta(days=DAYS_AFTER_WAVE)
        if horizon is not None:
            b = max(min(b, horizon), _ts(e["end"]))
        if out and a <= out[-1]["to"]:
            out[-1]["events"].append(e)
            out[-1]["to"] = max(out[-1]["to"], b)
            continue
        out.append({"events": [e], "from": a, "to": b})
    return out


def _links(con: Any, rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The stored URL, ``repost_of`` and ``quote_of`` (newest version) of each post in ``rows``."""
    if not rows:
        return {}
    ids = sorted({str(r["post_id"]) for r in rows})
    marks = ", ".join("?" for _ in ids)
    sql = ("SELECT platform, account_id, post_id,"  # noqa: S608 -- placeholders only
           " arg_max(url, observed_at) FILTER (WHERE url IS NOT NULL),"
           " arg_max(repost_of, observed_at) FILTER (WHERE repost_of IS NOT NULL),"
           " arg_max(quote_of, observed_at) FILTER (WHERE quote_of IS NOT NULL) FROM posts "
           f"WHERE post_id IN ({marks}) GROUP BY ALL")
    return {(r[0], r[1], r[2]): {"url": r[3], "repost_of": r[4], "quote_of": r[5]}
            for r in con.execute(sql, ids).fetchall()}


class _Builder:
    """Collects the quoted posts (``cited``, by ref) and the accounts to name."""

    def __init__(self, store: Store, watch: dict[tuple[str, str], tuple[Any, Any]]) -> None:
        self.store = store
        self.watch = watch
        self.cited: dict[str, dict[str, Any]] = {}
        self._who: list[dict[str, Any]] = []   # account dicts to give handle/label/group
        # Every deletion in the store, once: a quoted post taken back later says so.
        self.all_deleted = deleted_posts(store)["deleted"]
        self._gone = {_pkey(d) for d in self.all_deleted}

    # -- accounts and posts
    def who(self, platform: str, account_id: str) -> dict[str, Any]:
        group, label = self.watch.get((platform, account_id), (None, None))
        d = {"platform": platform, "account_id": account_id, "handle": None, "label": label or None,
             "group": group or None}
        self._who.append(d)
        return d

    def cite(self, r: dict[str, Any]) -> str:
        ref = post_ref(r["platform"], r["account_id"], r["post_id"])
        if ref not in self.cited:
            p = self.who(r["platform"], r["account_id"])
            p.update({
                "ref": ref, "post_id": r["post_id"], "created_at": _iso(r.get("created_at")),
                "text": r.get("text"), "excerpt": excerpt(r.get("text")),
                "url": post_url(r["platform"], r["account_id"], r["post_id"], r.get("url") if isinstance(r.get("url"), str) else None),
                "repost_of": r.get("repost_of") if isinstance(r.get("repost_of"), str) else None,
                "quote_of": r.get("quote_of") if isinstance(r.get("quote_of"), str) else None,
                "deleted": _pkey(r) in self._gone,
            })
            self.cited[ref] = p
        return ref

    def name_everyone(self) -> None:
        names = account_names(self.store, {(d["platform"], d["account_id"]) for d in self._who})
        for d in self._who:
            n = names.get((d["platform"], d["account_id"]))
            if n is not None:
                d["handle"] = n.handle
                d["label"] = d["label"] or n.label

    # -- after a wave
    def wave(self, w: dict[str, Any], topic: str, group_filter: set[str] | None) -> dict[str, Any]:
        a, b = w["from"].to_pydatetime(), w["to"].to_pydatetime()
        try:
            ans = search_posts(self.store, topic, start=a, end=b, by="group", limit=2000)
        except (AnalysisError, InputError) as exc:
            return {"events": [e.get("id") for e in w["events"]], "window": {"from": _iso(a), "to": _iso(b)},
                    "error": str(exc), "groups": [], "tests": [], "warnings": []}
        by_author: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for p in sorted(ans["posts"], key=lambda p: str(p["created_at"])):
            by_author.setdefault((p["platform"], p["account_id"]), []).append(p)
        other = _posts_per_account(self.store.duckdb(), a, b)
        plat_of = {k[1]: k[0] for k in self.watch}
        groups = []
        for g in ans["groups"]:
            if group_filter is not None and g["group"] not in group_filter:
                continue

            def keyed(ids: list[str], g: dict[str, Any] = g) -> list[tuple[str, str]]:
                found = [(p, i) for (p, i), (grp, _l) in self.watch.items() if i in ids and str(grp) == g["group"]]
                return found or [(plat_of.get(i, "?"), i) for i in ids]

            spoke = []
            for k in keyed(g["spoke_accounts"]):
                posts = by_author.get(k, [])
                d = self.who(*k)
                d.update({"posts": [self.cite(p) for p in posts[:3]], "n_posts": len(posts)})
                spoke.append(d)
            silent = []
            for k in keyed(g["silent_accounts"]):
                d = self.who(*k)
                d["other_posts"] = int(other.get(k, 0))
                silent.append(d)
            unread = [self.who(*k) for k in keyed(g["unread_accounts"])]
            groups.append({"group": g["group"], "accounts": g["accounts"], "read": g["read"],
                           "share_spoke": g["share_spoke"], "spoke": spoke, "silent": silent, "unread": unread})
        first = w["events"][0]
        return {
            "events": [e.get("id") for e in w["events"]],
            "kind": first.get("kind"), "platform": first.get("platform"),
            "start": first.get("start"), "end": max(str(e.get("end")) for e in w["events"]),
            "magnitude": sum(float(e.get("magnitude") or 0) for e in w["events"]),
            "window": {"from": _iso(a), "to": _iso(b)}, "topic": topic,
            "groups": groups, "tests": ans["tests"], "warnings": ans["warnings"], "matches": ans["matches"],
        }

    # -- before a surge
    def surge(self, con: Any, e: dict[str, Any], topic: str) -> dict[str, Any]:
        key = (str(e["platform"]), str(e["account_id"]))
        a = _ts(e["start"]) - timedelta(days=DAYS_BEFORE_SURGE)
        b = _ts(e["end"])
        q = parse_query(topic)
        match, mparams = query_sql(q)
        sql = f"""
            SELECT platform, account_id, post_id, arg_max(created_at, observed_at) AS created_at,
                   arg_max(text, observed_at) AS text, arg_max(url, observed_at) AS url,
                   arg_max(repost_of, observed_at) AS repost_of, arg_max(quote_of, observed_at) AS quote_of,
                   arg_max({match}, observed_at) AS call
            FROM posts p
            WHERE p.platform = ? AND p.account_id = ? AND p.created_at >= ? AND p.created_at < ?
            GROUP BY ALL ORDER BY created_at, post_id
        """  # noqa: S608 -- this module's fragments; values bound
        own = con.execute(sql, [*mparams, key[0], key[1], a.to_pydatetime(), b.to_pydatetime()]).df()
        # reposts and quotes of those posts by anyone else, published before the surge ended
        reposts: list[dict[str, Any]] = []
        if len(own):
            con.register("__surge_own", own[["post_id"]])
            rows = con.execute("""
                SELECT platform, account_id, post_id, arg_max(created_at, observed_at) AS created_at,
                       arg_max(repost_of, observed_at) AS repost_of, arg_max(quote_of, observed_at) AS quote_of
                FROM posts p
                WHERE (p.repost_of IN (SELECT post_id FROM __surge_own) OR p.quote_of IN (SELECT post_id FROM __surge_own))
                  AND p.created_at < ? AND NOT (p.platform = ? AND p.account_id = ?)
                GROUP BY ALL ORDER BY created_at, platform, account_id
            """, [b.to_pydatetime(), key[0], key[1]]).df()
            con.unregister("__surge_own")
            for pid in own["post_id"].drop_duplicates():
                of = rows[(rows["repost_of"] == pid) | (rows["quote_of"] == pid)]
                if not len(of):
                    continue
                by = []
                for r in of.head(MAX_REPOSTERS).itertuples():
                    d = self.who(str(r.platform), str(r.account_id))
                    d.update({"post_id": r.post_id, "created_at": _iso(r.created_at),
                              "how": "repost" if r.repost_of == pid else "quote"})
                    by.append(d)
                reposts.append({"of": post_ref(key[0], key[1], str(pid)), "n": int(len(of)),
                                "accounts": int(of[["platform", "account_id"]].drop_duplicates().shape[0]),
                                "watched": int(sum((str(r.platform), str(r.account_id)) in self.watch for r in of.itertuples())),
                                "first": _iso(of["created_at"].min()), "by": by})
        calls = own[own["call"].fillna(False).astype(bool)]
        shown = pd.concat([calls, own[~own.index.isin(calls.index)]]).head(MAX_POSTS).sort_values("created_at")
        d = self.who(*key)
        d.update({
            "event": e.get("id"), "start": e.get("start"), "end": e.get("end"), "magnitude": e.get("magnitude"),
            "window": {"from": _iso(a), "to": _iso(b)}, "topic": topic,
            "posts": [self.cite(r) for r in shown.to_dict("records")],
            "calls": [post_ref(key[0], key[1], str(p)) for p in calls["post_id"]],
            "n_posts": int(len(own)), "reposts": reposts,
        })
        return d

    # -- an account's posts around its events
    def timelines(self, con: Any, events: list[dict[str, Any]], waves: list[dict[str, Any]],
                  keys: set[tuple[str, str]], topic: str) -> dict[str, dict[str, Any]]:
        pad = timedelta(days=DAYS_AROUND_EVENT)
        items: list[tuple[tuple[str, str] | None, dict[str, Any], pd.Timestamp, pd.Timestamp]] = []
        for e in events:
            k = (str(e["platform"]), str(e["account_id"]))
            if k in keys:
                items.append((k, {"event": e.get("id"), "kind": e.get("kind"), "start": e.get("start"), "end": e.get("end")},
                              _ts(e["start"]) - pad, _ts(e["end"]) + pad))
        for w in waves:
            first = w["events"][0]
            items.append((None, {"event": first.get("id"), "kind": first.get("kind"), "start": first.get("start"),
                                 "end": max(str(x.get("end")) for x in w["events"])}, w["from"], w["to"]))
        if not items or not keys:
            return {}
        # Constants only (ids and times as bound parameters): DuckDB pushes them into the
        # Parquet scan, so only the posts of these accounts in these windows are read. An
        # account's own events bring all its posts near them; a wave, each account's posts
        # about it (the wave topic), which every account in scope may have.
        about, about_params = query_sql(parse_query(topic))
        conds, params = [], []
        for owner, _info, a, b in items:
            if owner is not None:
                conds.append("(p.platform = ? AND p.account_id = ? AND p.created_at >= ? AND p.created_at < ?)")
                params += [owner[0], owner[1], a.to_pydatetime(), b.to_pydatetime()]
            else:
                conds.append("(p.created_at >= ? AND p.created_at < ?)")
                params += [a.to_pydatetime(), b.to_pydatetime()]
        ids = sorted({k[1] for k in keys})
        marks = ", ".join("?" for _ in ids)
        df = con.execute(f"""
            SELECT platform, account_id, post_id, arg_max(created_at, observed_at) AS created_at,
                   arg_max(text, observed_at) AS text, arg_max(url, observed_at) AS url,
                   arg_max(repost_of, observed_at) AS repost_of, arg_max(quote_of, observed_at) AS quote_of,
                   bool_or({about}) AS about
            FROM posts p
            WHERE p.account_id IN ({marks}) AND ({" OR ".join(conds)})
            GROUP BY ALL ORDER BY platform, account_id, created_at, post_id
        """, [*about_params, *ids, *params]).df()  # noqa: S608 -- this module's fragments and placeholders
        df = df[[(p, a) in keys for p, a in zip(df["platform"], df["account_id"], strict=True)]]
        if not len(df):
            return {}
        df["t"] = pd.to_datetime(df["created_at"], utc=True)
        out: dict[str, dict[str, Any]] = {}
        for (plat, aid), part in df.groupby(["platform", "account_id"], sort=True):
            k = (str(plat), str(aid))
            events_here: list[dict[str, Any]] = []
            chosen: set[int] = set()
            in_windows: set[int] = set()
            for owner, info, a, b in items:
                if owner is not None and owner != k:
                    continue
                inside = part[(part["t"] >= a) & (part["t"] < b)]
                if owner is None:
                    inside = inside[inside["about"].fillna(False).astype(bool)]
                if not len(inside):
                    continue
                # the posts nearest the event's start: at most MAX_POSTS per own event,
                # 3 per wave (the wave's section quotes the camps in full)
                near = inside.assign(d=(inside["t"] - _ts(info["start"])).abs()).sort_values(["d", "post_id"])
                chosen.update(near.index[:MAX_POSTS if owner is not None else 3].tolist())
                in_windows.update(inside.index.tolist())
                events_here.append({**info, "window": {"from": _iso(a), "to": _iso(b)}})
            if not events_here:
                continue
            # One chronological list: the events (at their start) and the posts between
            # them, each post once even when it is near several events.
            seq: list[tuple[str, int, dict[str, Any]]] = [(str(e["start"]), 0, e) for e in events_here]
            shown = part.loc[sorted(chosen)].drop(columns=["t", "about"])
            for r in shown.to_dict("records"):
                seq.append((str(_iso(r["created_at"])), 1, {"post": self.cite(r)}))
            seq.sort(key=lambda x: (x[0], x[1]))
            out[f"{k[0]}:{k[1]}"] = {"items": [x[2] for x in seq], "events": len(events_here),
                                     "posts": len(chosen), "more": len(in_windows) - len(chosen)}
        return out

    # -- what was taken back
    def deleted(self, con: Any, keys: set[tuple[str, str]], start: datetime | None,
                end: datetime | None) -> list[dict[str, Any]]:
        t0 = _ts(start) if start is not None else None
        t1 = _ts(end) if end is not None else None
        gone = []
        for d in self.all_deleted:
            if (d["platform"], d["account_id"]) not in keys:
                continue
            created = _ts(d["created_at"]) if d.get("created_at") else None
            missing = _ts(d["first_missing"])
            if t0 is not None and missing < t0:
                continue
            if t1 is not None and created is not None and created > t1:
                continue
            gone.append(d)
        if not gone:
            return []
        links = _links(con, gone)
        seen_refs = _last_seen_refs(con, gone)
        out = []
        for d in gone:
            ref = self.cite({**d, **links.get(_pkey(d), {})})
            out.append({"ref": ref, "platform": d["platform"], "account_id": d["account_id"], "post_id": d["post_id"],
                        "created_at": d["created_at"], "last_seen": d["last_seen"],
                        "last_seen_evidence": seen_refs.get(_pkey(d)), "first_missing": d["first_missing"],
                        "first_missing_evidence": d.get("evidence")})
        return out


def _posts_per_account(con: Any, a: datetime, b: datetime) -> dict[tuple[str, str], int]:
    rows = con.execute("SELECT platform, account_id, count(DISTINCT post_id) FROM posts "
                       "WHERE created_at >= ? AND created_at < ? GROUP BY ALL", [a, b]).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def _last_seen_refs(con: Any, gone: list[dict[str, Any]]) -> dict[tuple[str, str, str], str | None]:
    """The reference of the read that last showed each post (a listing that held it, or
    the post's own first reading when no later listing did)."""
    frame = pd.DataFrame([{"platform": d["platform"], "account_id": d["account_id"], "post_id": d["post_id"],
                           "last_seen": _ts(d["last_seen"]).to_pydatetime()} for d in gone])
    con.register("__gone", frame)
    rows = con.execute("""
        SELECT g.platform, g.account_id, g.post_id,
               coalesce((SELECT min(r.source_ref) FROM post_reads r
                         WHERE r.platform = g.platform AND r.account_id = g.account_id AND r.answer = 'ok'
                           AND r.read_at = g.last_seen AND list_contains(r.post_ids, g.post_id)),
                        (SELECT arg_min(p.source_ref, p.observed_at) FROM posts p
                         WHERE p.platform = g.platform AND p.account_id = g.account_id AND p.post_id = g.post_id))
        FROM __gone g
    """).fetchall()
    con.unregister("__gone")
    return {(r[0], r[1], r[2]): r[3] for r in rows}


def deletion_sentence(d: dict[str, Any], *, limit: int = 160, when: Callable[[Any], str] | None = None) -> str:
    """One plain sentence about a deleted post (alerts, the demo story): who, when it was
    published, last seen and first missing (``when`` formats a time; default
    ``Thu 5 Mar 2026, 18:00 UTC``), and the archived text shortened. Unescaped text,
    ending with its full stop."""
    from purgewatch.timefmt import human_time as default_when

    human_time = when or default_when
    who = AccountName(d.get("handle"), d.get("label")).text(d.get("account_id"))
    published = f" published {human_time(d['created_at'])}" if d.get("created_at") else ""
    text = excerpt(d.get("text"), limit)
    quoted = f": \u201c{text}\u201d" if text else " (no text archived)"
    # A repost is gone when its reposter undid it or when its original was deleted (the
    # platform removes reposts with it): the reposter did not necessarily delete anything.
    what = f"a repost by {who}{published} disappeared" if d.get("repost_of") else f"{who} deleted a post{published}"
    what = what[0].upper() + what[1:]
    return full_stop(f"{what}; last seen {human_time(d.get('last_seen'))}, "
                     f"first missing {human_time(d.get('first_missing'))}{quoted}")


def full_stop(sentence: str) -> str:
    """The sentence with a full stop, unless a quotation closing it already ends one."""
    return sentence if sentence.endswith((".\u201d", "!\u201d", "?\u201d", "\u2026\u201d")) else sentence + "."


__all__ = ["CALL_TOPIC", "WAVE_TOPIC", "deletion_alerts", "deletion_sentence", "excerpt", "full_stop", "has_posts",
           "post_context", "post_ref", "post_url"]
