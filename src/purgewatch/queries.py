"""Read-only views of the store that the CLI, report and web UI share: the latest state
of each account, and one account's observation history.

Written as Ibis expressions so they run unchanged on another Ibis backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from purgewatch.errors import InputError
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist

if TYPE_CHECKING:
    import ibis

# The tables that say something about an account, in the order that breaks ties between
# rows at the same instant (a look at the account beats a profile beats a status event).
EVIDENCE_TABLES = ("observations", "profiles", "status_events")
_FACT_COLUMNS = ("handle", "followers_count", "following_count", "posts_count")


def _evidence(con: ibis.BaseBackend, platform: str | None) -> ibis.Table:
    """Every row of every table that knows an account, on common columns: platform,
    account_id, t, status, handle, counts, table (its name) and _tie (tie order)."""
    import ibis

    parts = []
    for rank, name in enumerate(EVIDENCE_TABLES):
        t = con.table(name)
        if name == "status_events":
            part = t.select(
                platform=t.platform, account_id=t.account_id, t=t.at, status=t.status,
                handle=ibis.null("string"), followers_count=ibis.null("int64"),
                following_count=ibis.null("int64"), posts_count=ibis.null("int64"),
            )
        else:
            part = t.select(
                platform=t.platform, account_id=t.account_id, t=t.observed_at, status=t.status,
                handle=t.handle, followers_count=t.followers_count,
                following_count=t.following_count, posts_count=t.posts_count,
            )
        parts.append(part.mutate(table=ibis.literal(name), _tie=ibis.literal(rank)))
    rows = ibis.union(*parts)
    if platform:
        rows = rows.filter(rows.platform == platform)
    return rows


def latest_accounts(
    store: Store, *, platform: str | None = None, group: str | None = None
) -> pa.Table:
    """One row per account any table knows (observations, profiles, status events): its
    latest status (from whichever table has the latest row), counts and handle from its
    latest observation or profile, first and last times it was seen, rows per table,
    ``sources`` (the tables that know it, comma-separated) and ``source`` (the table of
    the latest row), and its watchlist group."""
    import ibis

    con = store.ibis()
    rows = _evidence(con, platform)
    # One pass, no window: arg_max over a key that orders by time, then by table on ties.
    # Structs keep the latest row's nulls (a status-only reading has no count).
    order = rows.t.epoch_seconds() * 4 + (3 - rows._tie)
    facts_row = rows.table != "status_events"
    latest = ibis.struct({"status": rows.status, "source": rows.table})
    facts = ibis.struct({c: rows[c] for c in _FACT_COLUMNS})
    agg = rows.group_by(["platform", "account_id"]).aggregate(
        _latest=latest.argmax(order),
        _facts=facts.argmax(order, where=facts_row),
        first_observed=rows.t.min(),
        last_observed=rows.t.max(),
        n_observations=(rows.table == "observations").sum(),
        n_profiles=(rows.table == "profiles").sum(),
        n_status_events=(rows.table == "status_events").sum(),
    )
    joined = agg.select(
        "platform", "account_id", *(agg._facts[c].name(c) for c in _FACT_COLUMNS[:1]),
        agg._latest["status"].name("status"), *(agg._facts[c].name(c) for c in _FACT_COLUMNS[1:]),
        "first_observed", "last_observed", "n_observations", "n_profiles", "n_status_events",
        agg._latest["source"].name("source"),
    )
    table = joined.order_by(["platform", "account_id"]).to_pyarrow()
    table = table.append_column("sources", pa.array(
        [",".join(name for name, n in zip(EVIDENCE_TABLES, counts, strict=True) if n)
         for counts in zip(*(table[f"n_{c}"].to_pylist() for c in EVIDENCE_TABLES), strict=True)],
        pa.string(),
    ))
    for c in ("n_observations", "n_profiles", "n_status_events"):
        i = table.schema.get_field_index(c)
        table = table.set_column(i, c, table[c].cast(pa.int64()).fill_null(0))
    groups = current_watchlist(store)
    table = _attach_groups(table, groups)
    if group is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table["group"], group))
    return table


def account_counts(store: Store) -> dict[str, int]:
    """Distinct accounts known to each evidence table, and to any of them."""
    con = store.ibis()
    rows = _evidence(con, None)
    out = {"known": int(rows.select("platform", "account_id").distinct().count().execute())}
    for name in EVIDENCE_TABLES:
        t = con.table(name)
        out[name] = int(t.select("platform", "account_id").distinct().count().execute())
    return out


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


@dataclass(frozen=True)
class AccountName:
    """How a reader knows an account: its latest handle and its watchlist label."""

    handle: str | None
    label: str | None

    def text(self, account_id: str | None = None) -> str:
        """``The Leader (@PresidentLeader)``, ``@PresidentLeader``, the label, or the id."""
        handle = f"@{self.handle}" if self.handle else None
        if self.label and handle:
            return f"{self.label} ({handle})"
        return self.label or handle or (account_id or "?")


def _any_handle(store: Store, wanted: set[tuple[str, str]]) -> bool:
    """Whether a profiles or observations row (not retracted) gives a handle to one of
    the ``wanted`` accounts: an Arrow scan that stops at the first match."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from purgewatch.model import TABLE_SCHEMAS

    flt = (pc.field("account_id").isin(pa.array(sorted({a for _, a in wanted}), pa.string()))
           & pc.field("handle").is_valid() & (pc.field("handle") != "") & store.visible_filter())
    for name in ("profiles", "observations"):
        files = store.files(name)
        if files and ds.dataset(files, schema=TABLE_SCHEMAS[name], format="parquet").scanner(
                columns=["account_id"], filter=flt).head(1).num_rows:
            return True
    return False


def account_names(store: Store, keys: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], AccountName]:
    """(platform, account_id) -> latest known handle (observations, else profiles) and
    watchlist label, for ``keys`` (default: every observed or watched account)."""
    wanted = None if keys is None else {(str(p), str(a)) for p, a in keys}
    if wanted is not None and not wanted:
        return {}
    handles: dict[tuple[str, str], str] = {}
    # (A store where no asked account has a handle skips the DuckDB connection and its
    # import: an explain of an account known only by its follower lists.)
    if wanted is None or _any_handle(store, wanted):
        con = store.ibis()
        # profiles first, observations after: a watched account's own observations win.
        for name in ("profiles", "observations"):
            t = con.table(name)
            q = t.filter(t.handle.notnull() & (t.handle != ""))
            if wanted is not None:
                q = q.filter(q.account_id.isin(sorted({a for _, a in wanted})))
            agg = q.group_by(["platform", "account_id"]).aggregate(handle=q.handle.argmax(q.observed_at))
            for row in agg.to_pyarrow().to_pylist():
                handles[(row["platform"], row["account_id"])] = row["handle"]
    labels: dict[tuple[str, str], str] = {}
    by_handle: dict[tuple[str, str], str] = {}
    for row in current_watchlist(store).to_pylist():
        if not row["label"]:
            continue
        if row["account_id"]:
            labels[(row["platform"], row["account_id"])] = row["label"]
        else:  # the watchlist named a handle: match it to the account that holds it
            by_handle[(row["platform"], row["account"].lstrip("@").lower())] = row["label"]
    keys_all = wanted if wanted is not None else set(handles) | set(labels)
    out: dict[tuple[str, str], AccountName] = {}
    for k in keys_all:
        h = handles.get(k)
        lab = labels.get(k) or (by_handle.get((k[0], h.lower())) if h else None)
        out[k] = AccountName(h, lab)
    return out


def resolve_account(store: Store, account: str, platform: str | None = None) -> tuple[str, str]:
    """The one resolver: (platform, account_id) for ACCOUNT given as an id or a handle
    (``@`` optional, any case) seen in observations, profiles, follower snapshots or the
    watchlist.

    An id wins over a handle. A handle held by several accounts over time (handles are
    released and re-registered) is never silently picked: the error lists every holder
    with when it held the handle, so the caller can pass the id. No match at all is
    "no such account"."""
    text = account.strip()
    if not text:
        raise InputError("the account is empty", hint="give an account id or a handle")
    con = store.ibis()
    by_id: set[tuple[str, str]] = set()
    for name in ("observations", "profiles", "status_events", "snapshots", "watchlist"):
        t = con.table(name)
        q = t.filter(t.account_id == text)
        if platform:
            q = q.filter(q.platform == platform)
        for row in q.select("platform", "account_id").distinct().to_pyarrow().to_pylist():
            by_id.add((row["platform"], row["account_id"]))
    if len(by_id) == 1:
        return next(iter(by_id))
    if len(by_id) > 1:
        listing = ", ".join(f"{p}:{a}" for p, a in sorted(by_id))
        raise InputError(f"account id {text!r} exists on several platforms: {listing}",
                         hint="add --platform")
    needle = text.lstrip("@").lower()
    held: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for name in ("observations", "profiles"):
        t = con.table(name)
        q = t.filter(t.handle.lower() == needle)
        if platform:
            q = q.filter(q.platform == platform)
        agg = q.group_by(["platform", "account_id"]).aggregate(first=q.observed_at.min(), last=q.observed_at.max())
        for row in agg.to_pyarrow().to_pylist():
            k = (row["platform"], row["account_id"])
            lo, hi = held.get(k, (row["first"], row["last"]))
            held[k] = (min(lo, row["first"]), max(hi, row["last"]))
    if not held:
        # a watchlist entry written as a handle whose account was never observed
        wl = current_watchlist(store).to_pylist()
        named = [r for r in wl if r["account"].lstrip("@").lower() == needle
                 and (platform is None or r["platform"] == platform)]
        hint = "`purgewatch accounts` lists the ids and handles the store knows"
        if named:
            hint = (f"{named[0]['platform']} {named[0]['account']!r} is on the watchlist but was never "
                    "observed: run `purgewatch watch` (or import observations) first")
        raise InputError(
            f"no such account: {text!r}" + (f" on platform {platform!r}" if platform else "")
            + " (neither an id nor a handle in the store)",
            hint=hint,
        )
    if len(held) > 1:
        from purgewatch.timefmt import human_time

        names = account_names(store, held)
        listing = "; ".join(
            f"{p}:{a}" + (f" ({names[(p, a)].label})" if names[(p, a)].label else "")
            + f", seen as @{needle} from {human_time(lo)} to {human_time(hi)}"
            for (p, a), (lo, hi) in sorted(held.items(), key=lambda kv: (kv[1][0], kv[0]))
        )
        raise InputError(
            f"the handle {text!r} was held by {len(held)} accounts over time: {listing}",
            hint="give the account id (or add --platform when they are on different platforms)",
        )
    return next(iter(held))


def account_history(
    store: Store,
    account: str,
    *,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, str, pa.Table]:
    """Every row any table holds about one account (observations, profiles, status
    events) in time order, with its provenance and ``table`` (where the row is stored)."""
    import ibis

    plat, account_id = resolve_account(store, account, platform)
    con = store.ibis()
    parts = []
    for rank, name in enumerate(EVIDENCE_TABLES):
        t = con.table(name)
        t = t.filter((t.platform == plat) & (t.account_id == account_id))
        if name == "status_events":
            t = t.select(
                observed_at=t.at, status=t.status, status_raw=t.status_raw,
                followers_count=ibis.null("int64"), following_count=ibis.null("int64"),
                posts_count=ibis.null("int64"), handle=ibis.null("string"), detail=ibis.null("string"),
                source=t.source, source_ref=t.source_ref, payload_hash=t.payload_hash, batch_id=t.batch_id,
            )
        else:
            t = t.select(
                "observed_at", "status", "status_raw", "followers_count", "following_count", "posts_count",
                "handle", "detail", "source", "source_ref", "payload_hash", "batch_id",
            )
        parts.append(t.mutate(table=ibis.literal(name), _tie=ibis.literal(rank)))
    q = ibis.union(*parts)
    if since is not None:
        q = q.filter(q.observed_at >= since)
    if until is not None:
        q = q.filter(q.observed_at <= until)
    q = q.order_by(["observed_at", "_tie", "source_ref"]).drop("_tie")
    return plat, account_id, q.to_pyarrow()


def account_record(store: Store, account: str, *, platform: str | None = None,
                   since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """One account's history as ``history --json`` and ``/api/history`` give it: platform,
    account_id, latest handle, watchlist label and the rows (``observations``)."""
    plat, account_id, table = account_history(store, account, platform=platform, since=since, until=until)
    name = account_names(store, [(plat, account_id)]).get((plat, account_id)) or AccountName(None, None)
    return {"platform": plat, "account_id": account_id, "handle": name.handle, "label": name.label,
            "observations": table.to_pylist()}
