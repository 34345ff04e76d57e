"""Ground truth of a scenario, and its watchlist (FORMATS.md columns)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from purgewatch.sim._clock import iso_ms
from purgewatch.sim._scenario import Scenario
from purgewatch.sim._world import INF, STATUS_NAMES, World, build_world

WATCHLIST_COLUMNS = ("platform", "account", "group", "label")


def truth(scenario: Scenario) -> dict[str, Any]:
    """Who was suspended or reinstated when, who followed whom when, and drop sizes."""
    return truth_of_world(build_world(scenario))


def truth_of_world(world: World) -> dict[str, Any]:
    sc = world.scenario
    event_at = {f"wave:{w.name}": w.at_us for w in sc.waves}
    event_at.update({f"purge:{p.name}": p.at_us for p in sc.purges})
    accounts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    follows: dict[str, list[dict[str, Any]]] = {}
    drops: list[dict[str, Any]] = []
    for platform, w in world.platforms.items():
        nw = len(w.watched)
        for i, a in enumerate(w.watched):
            accounts.append({"key": a.key, "platform": platform, "account_id": w.account_id(i),
                             "handle": a.handle, "group": a.group, "label": a.label,
                             "created_at": iso_ms(a.created_us)})
        down = np.flatnonzero(w.down_us < INF)
        for k in down.tolist():
            base = {"platform": platform, "account_id": w.account_id(k), "watched": k < nw,
                    "cause": w.causes[int(w.down_cause[k])]}
            changes.append({**base, "at": iso_ms(int(w.down_us[k])), "status": STATUS_NAMES[int(w.down_code[k])]})
            if w.up_us[k] < INF:
                changes.append({**base, "at": iso_ms(int(w.up_us[k])), "status": "active"})
        for i in range(nw):
            e = w.edges[i]
            key = f"{platform}:{w.account_id(i)}"
            rev = slice(None, None, -1)  # oldest first
            fol = e.follower[rev].tolist()
            followed = _iso_many(e.follow_us[rev])
            un_us = e.unfollow_us[rev]
            unfollowed = _iso_many(np.where(un_us < INF, un_us, 0))
            has_un = (un_us < INF).tolist()
            cohort = [w.cohorts[c] for c in e.cohort[rev].tolist()]
            follows[key] = [
                {"follower_id": w.account_id(f), "followed_at": fa,
                 "unfollowed_at": ua if hu else None, "cohort": co}
                for f, fa, ua, hu, co in zip(fol, followed, unfollowed, has_un, cohort, strict=True)
            ]
            fcause = w.down_cause[e.follower]
            for c, cause in enumerate(w.causes):
                if cause == "background":
                    continue
                hit = (fcause == c) & (e.follow_us <= e.f_down) & (e.unfollow_us > e.f_down)
                hit |= e.end_cause == c
                lost = int(np.count_nonzero(hit))
                if lost:
                    at = event_at[cause]
                    drops.append({"event": cause, "platform": platform, "account_id": w.account_id(i),
                                  "key": w.watched[i].key, "at": iso_ms(at), "lost": lost,
                                  "before": int(np.count_nonzero(e.visible(at - 1)))})
    changes.sort(key=lambda r: (r["at"], r["platform"], r["account_id"]))
    return {
        "scenario": sc.name, "seed": sc.seed, "start": iso_ms(sc.start_us), "end": iso_ms(sc.end_us),
        "accounts": accounts, "status_changes": changes, "follows": follows, "drops": drops,
        "posts": _scripted_posts(world),
    }


def _post_id(w: Any, p: Any) -> str:
    """A post's id as PurgeWatch stores it (docs/posts.md): the X tweet id, the Mastodon
    status id, the Bluesky post URI (a repost: its ``app.bsky.feed.repost`` record URI)."""
    if w.platform == "x":
        return str(w.posts.x_id(p))
    if w.platform == "mastodon":
        return str(w.posts.masto_id(p))
    collection = "app.bsky.feed.repost" if p.repost_of >= 0 else "app.bsky.feed.post"
    return f"at://{w.id_of(p.author)}/{collection}/{w.posts.rkey(p)}"


def _scripted_posts(world: World) -> list[dict[str, Any]]:
    """The scenario's ``[[posts]]`` (not the chatter): who posted what when, and when it
    went (``deleted_at``: deleted by its author; a repost also goes with its original)."""
    out = []
    for platform, w in world.platforms.items():
        for p in w.posts.posts:
            if p.key is None:
                continue
            ref = {name: _post_id(w, w.posts.posts[i]) if i >= 0 else None
                   for name, i in (("repost_of", p.repost_of), ("quote_of", p.quote_of), ("reply_to", p.reply_to))}
            out.append({"key": p.key, "platform": platform, "account_id": w.account_id(p.author),
                        "post_id": _post_id(w, p), "created_at": iso_ms(p.created_us),
                        "deleted_at": iso_ms(p.deleted_us) if p.deleted_us < INF else None,
                        "text": None if p.repost_of >= 0 else p.text, **ref})
    out.sort(key=lambda r: (r["created_at"], r["platform"], r["post_id"]))
    return out


def _iso_many(us: np.ndarray) -> list[str]:
    """ISO 8601 with milliseconds and Z for many microsecond timestamps at once."""
    text = np.datetime_as_string(us.astype("datetime64[us]").astype("datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def watchlist_rows(scenario: Scenario) -> list[dict[str, str]]:
    """The scenario's watched accounts as FORMATS.md watchlist rows (ids, not handles)."""
    world = build_world(scenario)
    rows = []
    for platform, w in world.platforms.items():
        for i, a in enumerate(w.watched):
            rows.append({"platform": platform, "account": w.account_id(i), "group": a.group,
                         "label": a.label or a.handle})
    return rows


def write_watchlist(scenario: Scenario, out: Path) -> int:
    rows = watchlist_rows(scenario)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(WATCHLIST_COLUMNS))
        wr.writeheader()
        wr.writerows(rows)
    return len(rows)


# ---------------------------------------------------------------- truth helpers
# Read the exported ground truth (``truth(scenario)``) the way a checker would: from the
# JSON document alone, independent of the emulator's internals.


def _iso_key(at: datetime | str) -> str:
    if isinstance(at, str):
        return at
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def truth_status_at(doc: dict[str, Any], platform: str, account_id: str, at: datetime | str) -> str:
    """The true status of an account at ``at`` (``active`` when it never changed)."""
    when = _iso_key(at)
    status = "active"
    for ch in doc["status_changes"]:
        if ch["platform"] == platform and ch["account_id"] == account_id and ch["at"] <= when:
            status = ch["status"]
    return status


def truth_statuses_at(doc: dict[str, Any], platform: str, at: datetime | str) -> dict[str, str]:
    """Every account that is not active at ``at`` -> its status."""
    when = _iso_key(at)
    out: dict[str, str] = {}
    for ch in doc["status_changes"]:  # sorted by time
        if ch["platform"] == platform and ch["at"] <= when:
            if ch["status"] == "active":
                out.pop(ch["account_id"], None)
            else:
                out[ch["account_id"]] = ch["status"]
    return out


def truth_followers_at(doc: dict[str, Any], platform: str, account_id: str, at: datetime | str,
                       *, active_only: bool = True) -> set[str]:
    """Followers of a watched account at ``at``: follows standing, and (by default) only
    followers whose account is active, which is what the platforms list and count."""
    when = _iso_key(at)
    down = truth_statuses_at(doc, platform, at) if active_only else {}
    out = set()
    for e in doc["follows"][f"{platform}:{account_id}"]:
        if e["followed_at"] <= when and (e["unfollowed_at"] is None or e["unfollowed_at"] > when):
            if e["follower_id"] not in down:
                out.add(e["follower_id"])
    return out
