"""What a page can show at once while the findings of a large store are computed: the
stored rows per table, the watchlist by group and the latest observations. Each is a
cheap read (row counts from the Parquet footers, one watchlist replay, a top-k over one
column of observations), a second or less on the IRA store."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from purgewatch.findings import plain
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist

RECENT = 30  # latest observations listed
WATCHED_LISTED = 100


def store_preview(store: Store) -> dict[str, Any]:
    counts = {t: int(v.get("rows", 0)) for t, v in sorted(store.stats().items()) if v.get("rows")}
    watch = current_watchlist(store)
    groups: dict[str, int] = {}
    for g in watch.column("group").to_pylist() if watch.num_rows else []:
        groups[str(g)] = groups.get(str(g), 0) + 1
    return {
        "counts": counts,
        "groups": dict(sorted(groups.items())),
        "watched": watch.num_rows,
        "watch": plain(watch.slice(0, WATCHED_LISTED)) if watch.num_rows else [],
        "recent": _latest_observations(store),
    }


def _latest_observations(store: Store) -> list[dict[str, Any]]:
    cols = ["platform", "account_id", "observed_at", "status", "followers_count", "handle"]
    tbl = store.read("observations", columns=cols)
    if tbl.num_rows == 0:
        return []
    idx = pc.select_k_unstable(tbl, k=min(RECENT, tbl.num_rows),
                               sort_keys=[("observed_at", "descending"), ("account_id", "ascending")])
    rows = tbl.take(idx)
    rows = rows.take(pc.sort_indices(rows, sort_keys=[("observed_at", "descending"), ("account_id", "ascending")]))
    return plain(rows)  # type: ignore[no-any-return]
