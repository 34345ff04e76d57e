"""Read-only views of the store that the CLI, report and web UI share: the latest state
of each account, and one account's observation history.

Written as Ibis expressions so they run unchanged on another Ibis backend.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import pyarrow as pa

from purgewatch.errors import InputError
from purgewatch.store import Store


def _watch_groups(store: Store) -> pa.Table:
    from purgewatch.watchlist import current_watchlist

    wl = current_watchlist(store)
    return wl.select(["platform", "account", "account_id", "group", "label"])


def latest_accounts(
    store: Store, *, platform: str | None = None, group: str | None = None
) -> pa.Table:
    """One row per observed account: its latest observation (status, counts, handle),
    first and last observation times, number of observations, and its watchlist group."""
    con = store.ibis()
    obs = con.table("observations")
    if platform:
        obs = obs.filter(obs.platform == platform)
    w = ibis.window(group_by=[obs.platform, obs.account_id], order_by=ibis.desc(obs.observed_at))
    ranked = obs.mutate(_rank=ibis.row_number().over(w))
    latest = ranked.filter(ranked._rank == 0)
    agg = obs.group_by(["platform", "account_id"]).aggregate(
        first_observed=obs.observed_at.min(),
        n_observations=obs.count(),
    )
    joined = latest.join(agg, ["platform", "account_id"]).select(
        "platform",
        "account_id",
        "handle",
        "status",
        "followers_count",
        "following_count",
        "posts_count",
        "first_observed",
        last_observed="observed_at",
        n_observations="n_observations",
    )
    table = joined.order_by(["platform", "account_id"]).to_pyarrow()
    groups = _watch_groups(store)
    table = _attach_groups(table, groups)
    if group is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table["group"], group))
    return table


def _attach_groups(table: pa.Table, groups: pa.Table) -> pa.Table:
    """Group and label by account id, or by handle when the watchlist names a handle."""
    by_key: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for row in groups.to_pylist():
        value = (row["group"], row["label"])
        by_key[(row["platform"], row["account"].lower())] = value
        if row["account_id"]:
            by_key[(row["platform"], row["account_id"].lower())] = value
    plats = table["platform"].to_pylist()
    ids = table["account_id"].to_pylist()
    handles = table["handle"].to_pylist()
    out_group, out_label = [], []
    for p, i, h in zip(plats, ids, handles, strict=True):
        hit = by_key.get((p, i.lower())) or (by_key.get((p, h.lower())) if h else None)
        out_group.append(hit[0] if hit else None)
        out_label.append(hit[1] if hit else None)
    return table.append_column("group", pa.array(out_group, pa.string())).append_column(
        "label", pa.array(out_label, pa.string())
    )


def resolve_account(store: Store, account: str, platform: str | None = None) -> tuple[str, str]:
    """Find (platform, account_id) for an id or a handle seen in observations or profiles."""
    con = store.ibis()
    hits: set[tuple[str, str]] = set()
    needle = account.lstrip("@").lower()
    for name in ("observations", "profiles"):
        t = con.table(name)
        q = t.filter((t.account_id == account) | (t.handle.lower() == needle))
        if platform:
            q = q.filter(q.platform == platform)
        for row in q.select("platform", "account_id").distinct().to_pyarrow().to_pylist():
            hits.add((row["platform"], row["account_id"]))
    if not hits:
        raise InputError(
            f"no account {account!r} in the store"
            + (f" on platform {platform!r}" if platform else ""),
            hint="check `purgewatch accounts` for the ids and handles the store knows",
        )
    if len(hits) > 1:
        listing = ", ".join(f"{p}:{a}" for p, a in sorted(hits))
        raise InputError(
            f"{account!r} matches several accounts: {listing}",
            hint="add --platform, or give the account id",
        )
    return next(iter(hits))


def account_history(
    store: Store,
    account: str,
    *,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, str, pa.Table]:
    """All observations of one account in time order, with their provenance."""
    plat, account_id = resolve_account(store, account, platform)
    con = store.ibis()
    obs = con.table("observations")
    q = obs.filter((obs.platform == plat) & (obs.account_id == account_id))
    if since is not None:
        q = q.filter(q.observed_at >= since)
    if until is not None:
        q = q.filter(q.observed_at <= until)
    q = q.select(
        "observed_at",
        "status",
        "status_raw",
        "followers_count",
        "following_count",
        "posts_count",
        "handle",
        "detail",
        "source",
        "source_ref",
        "payload_hash",
        "batch_id",
    ).order_by("observed_at")
    return plat, account_id, q.to_pyarrow()
