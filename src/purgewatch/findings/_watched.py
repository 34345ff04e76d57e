"""The watched accounts (the watchlist's one definition: purgewatch.watchlist)."""

from __future__ import annotations

from typing import Any

from purgewatch.errors import PurgeWatchError
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist

AccountKey = tuple[str, str]  # (platform, account_id)


def watched_accounts(store: Store) -> tuple[list[dict[str, Any]], str]:
    """The current watchlist, sorted by (group, platform, account id), and its availability."""
    try:
        rows = current_watchlist(store).to_pylist()
    except PurgeWatchError as exc:
        return [], f"not available: {exc}"
    out = [{"platform": r.get("platform"), "account": r.get("account"),
            "account_id": r.get("account_id") or r.get("account"), "group": r.get("group"),
            "label": r.get("label")} for r in rows]
    return sorted(out, key=lambda r: (str(r["group"]), str(r["platform"]), str(r["account_id"]))), "ok"


def key_of(d: dict[str, Any]) -> AccountKey:
    return (str(d.get("platform")), str(d.get("account_id")))


def display_name(d: dict[str, Any]) -> str:
    """``Label (@handle)`` of an account, event or explained drop (the id when nameless)."""
    from purgewatch.queries import AccountName

    return AccountName(d.get("handle"), d.get("label")).text(d.get("account_id"))


def anchor(prefix: str, raw: str) -> str:
    """A fragment id for an account or drop: a short content hash keeps hostile or very
    long ids from making unwieldy anchors."""
    import hashlib

    from purgewatch.safetext import anchor_id

    return anchor_id(prefix, hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16])


def snapshot_anchor(snapshot_id: str) -> str:
    """``n-<snapshot id>``: the reference of a follower snapshot."""
    from purgewatch.safetext import anchor_id

    return anchor_id("n", snapshot_id)
