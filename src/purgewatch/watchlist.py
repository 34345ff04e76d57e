"""Who is watched, and in which group (camp).

The store keeps the watchlist as an append-only log (table ``watchlist``: one row per
``add`` or ``remove`` action, with its time and provenance). The current watchlist is the
latest action per (platform, account): an account whose latest action is ``add`` is
watched, with that row's group and label. Changing an account's group is a new ``add``.

Handles are kept as given. ``account_id`` is filled only when the account already *is* a
platform id (an X numeric id, a Bluesky ``did:...``, a Mastodon ``id@instance``);
resolving handles to ids is the connectors' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError
from purgewatch.model import TABLE_SCHEMAS, TS
from purgewatch.store import BatchWriter, Store

__all__ = [
    "WatchlistChange",
    "add_to_watchlist",
    "current_watchlist",
    "groups_by_account",
    "import_watchlist",
    "known_account_ids",
    "remove_from_watchlist",
]

CURRENT_SCHEMA = pa.schema([
    pa.field("platform", pa.string()),
    pa.field("account", pa.string()),
    pa.field("account_id", pa.string()),
    pa.field("group", pa.string()),
    pa.field("label", pa.string()),
])


@dataclass
class WatchlistChange:
    """What an import or edit did: entries newly added, entries whose group/label/id
    changed, entries already present unchanged (nothing written for those), removed."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged,
                "removed": self.removed}


def known_account_ids(platform: pa.Array | pa.ChunkedArray, account: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The account itself when it already is a stable id, else null (vectorised)."""
    platform = pc.cast(platform, pa.string())
    account = pc.cast(account, pa.string())
    is_id = pc.or_(
        pc.and_(pc.equal(platform, "x"), pc.match_substring_regex(account, r"^[0-9]+$")),
        pc.or_(
            pc.match_substring_regex(account, r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$"),
            pc.match_substring_regex(account, r"^[0-9]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"),
        ),
    )
    out = pc.if_else(pc.fill_null(is_id, False), account, pa.scalar(None, pa.string()))
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out


def _log(store: Store) -> pa.Table:
    return store.read("watchlist", columns=["platform", "account", "account_id", "group", "label", "action"])


def _latest(log: pa.Table) -> pa.Table:
    """Latest row per (platform, account), in store (commit) order."""
    if log.num_rows == 0:
        return log
    idx = pa.array(np.arange(log.num_rows, dtype=np.int64))
    keyed = log.append_column("__i", idx)
    last = keyed.group_by(["platform", "account"], use_threads=False).aggregate([("__i", "max")])
    take = np.sort(last.column("__i_max").to_numpy())
    return log.take(pa.array(take))


def current_watchlist(store: Store, group: str | None = None, *, fill_ids: bool = False) -> pa.Table:
    """The watched accounts now: platform, account, account_id, group, label (sorted by
    group, platform, account). The one replay of the log: every reader of "who is
    watched" comes here. ``fill_ids``: ``account_id`` is the account as written where
    no id is known yet (how analyses key an entry)."""
    latest = _latest(_log(store))
    if latest.num_rows:
        latest = latest.filter(pc.equal(latest["action"], "add"))
        if group is not None:
            latest = latest.filter(pc.equal(latest["group"], group))
    out = latest.select(CURRENT_SCHEMA.names).cast(CURRENT_SCHEMA) if latest.num_rows else CURRENT_SCHEMA.empty_table()
    if out.num_rows:
        out = out.take(pc.sort_indices(out, [("group", "ascending"), ("platform", "ascending"),
                                             ("account", "ascending")]))
    if fill_ids:
        out = out.set_column(2, "account_id", pc.coalesce(out["account_id"], out["account"]))
    return out


def groups_by_account(store: Store) -> dict[tuple[str, str], str]:
    """(platform, account as written or its id) -> group, for the current watchlist."""
    out: dict[tuple[str, str], str] = {}
    for row in current_watchlist(store).to_pylist():
        out[(row["platform"], row["account"])] = row["group"]
        if row["account_id"]:
            out[(row["platform"], row["account_id"])] = row["group"]
    return out


def _rows(entries: pa.Table, action: str, at: datetime, source: str) -> pa.Table:
    n = entries.num_rows
    cols = {name: entries.column(name) if name in entries.column_names else pa.nulls(n, pa.string())
            for name in ("platform", "account", "account_id", "group", "label", "source_ref", "payload_hash")}
    return pa.table({
        **{k: pc.cast(v, pa.string()) for k, v in cols.items()},
        "action": pa.repeat(pa.scalar(action, pa.string()), n),
        "at": pa.array([at] * n, TS),
        "source": pa.repeat(pa.scalar(source, pa.string()), n),
    })


def watchlist_changes(store: Store, entries: pa.Table, *, source: str,
                      at: datetime | None = None) -> tuple[pa.Table, WatchlistChange]:
    """Rows to append so that every entry (platform, account, group, label[, account_id])
    is watched as given; entries already watched identically produce no row, so
    re-importing the same list writes nothing. Later entries for the same account win."""
    at = at or datetime.now(UTC)
    change = WatchlistChange()
    if entries.num_rows == 0:
        return TABLE_SCHEMAS["watchlist"].empty_table(), change
    if "account_id" not in entries.column_names:
        entries = entries.append_column("account_id", known_account_ids(entries["platform"], entries["account"]))
    if "label" not in entries.column_names:
        entries = entries.append_column("label", pa.nulls(entries.num_rows, pa.string()))
    # Last entry per account inside this input wins (a file may list an account twice).
    entries = _latest(entries.append_column("action", pa.repeat(pa.scalar("add", pa.string()), entries.num_rows)))
    current = current_watchlist(store)
    cur = {
        (r["platform"], r["account"]): (r["group"], r["label"], r["account_id"])
        for r in current.to_pylist()
    }
    keep = np.zeros(entries.num_rows, dtype=bool)
    for i, r in enumerate(entries.select(["platform", "account", "group", "label", "account_id"]).to_pylist()):
        before = cur.get((r["platform"], r["account"]))
        now = (r["group"], r["label"], r["account_id"])
        if before is None:
            change.added += 1
            keep[i] = True
        elif before != now:
            change.changed += 1
            keep[i] = True
        else:
            change.unchanged += 1
    return _rows(entries.filter(pa.array(keep)), "add", at, source), change


def import_watchlist(store: Store, entries: pa.Table, *, source: str = "import:watchlist",
                     command: str = "watchlist import", writer: BatchWriter | None = None) -> WatchlistChange:
    """Add (or regroup) every entry of ``entries`` (columns platform, account, group and
    optionally label, account_id, source_ref, payload_hash). Writes nothing for entries
    already watched as given."""
    rows, change = watchlist_changes(store, entries, source=source)
    if rows.num_rows == 0:
        return change
    if writer is not None:
        writer.add("watchlist", rows)
        return change
    with store.writer(command=command, source=source) as w:
        w.add("watchlist", rows)
    return change


def add_to_watchlist(store: Store, platform: str, account: str, group: str,
                     label: str | None = None) -> WatchlistChange:
    """Watch one account (or change its group/label)."""
    platform = platform.strip().lower()
    account = account.strip()
    if not platform or not account or not group.strip():
        raise InputError("platform, account and group must not be empty")
    entries = pa.table({"platform": [platform], "account": [account], "group": [group.strip()],
                        "label": pa.array([label], pa.string())})
    return import_watchlist(store, entries, source="watchlist:add", command="watchlist add")


def remove_from_watchlist(store: Store, platform: str, account: str) -> WatchlistChange:
    """Stop watching an account (its history stays in the log and in the evidence)."""
    platform = platform.strip().lower()
    account = account.strip()
    current = current_watchlist(store)
    hit = current.filter(pc.and_(pc.equal(current["platform"], platform),
                                 pc.equal(current["account"], account))) if current.num_rows else current
    if hit.num_rows == 0:
        raise InputError(
            f"{platform} account {account!r} is not on the watchlist",
            hint="`purgewatch watchlist list` shows what is watched (accounts are matched as written)",
        )
    rows = _rows(hit, "remove", datetime.now(UTC), "watchlist:remove")
    with store.writer(command="watchlist remove", source="watchlist:remove") as w:
        w.add("watchlist", rows)
    return WatchlistChange(removed=1)
