"""Reading what the detectors need from the store (Ibis expressions, no engine-only SQL)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.model import GONE_STATUSES
from purgewatch.store import Store


@dataclass
class SeriesData:
    """Follower counts of many accounts as flat arrays sorted by (series, time)."""

    sid: np.ndarray
    t: np.ndarray  # Unix seconds
    y: np.ndarray
    accounts: list[tuple[str, str]]  # series index -> (platform, account_id)


@dataclass
class StatusData:
    key: np.ndarray  # index into accounts
    time: np.ndarray
    status: np.ndarray
    is_event: np.ndarray  # row came from status_events (a reported change)
    accounts: list[tuple[str, str]]


def _seconds(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64) / 1e6


def _words(col: pa.ChunkedArray) -> np.ndarray:
    """A column of a few distinct words (statuses) as an object array whose entries share
    one Python string per word: millions of readings make no million strings."""
    enc = pc.dictionary_encode(col).combine_chunks() if len(col) else None
    if enc is None:
        return np.zeros(0, dtype=object)
    lookup = np.asarray(enc.dictionary.to_pylist() + [None], dtype=object)
    return lookup[np.asarray(enc.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False), dtype=np.int64)]


def _keys(platform: pa.ChunkedArray, account: pa.ChunkedArray) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Dense index per row for (platform, account_id) of rows sorted by those columns."""
    n = len(platform)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    plat = platform.combine_chunks() if isinstance(platform, pa.ChunkedArray) else platform
    acc = account.combine_chunks() if isinstance(account, pa.ChunkedArray) else account
    change = np.ones(n, dtype=bool)
    if n > 1:
        d1 = pc.not_equal(plat.slice(1), plat.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        d2 = pc.not_equal(acc.slice(1), acc.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        change[1:] = d1 | d2
    sid = np.cumsum(change) - 1
    heads = np.flatnonzero(change)
    accounts = list(zip(plat.take(pa.array(heads)).to_pylist(), acc.take(pa.array(heads)).to_pylist(),
                        strict=True))
    return sid.astype(np.int64), accounts


def load_series(store: Store, *, platform: str | None = None,
                accounts: list[str] | None = None) -> SeriesData:
    """Follower counts of accounts readable at the time (gone statuses carry no count)."""
    con = store.ibis()
    o = con.table("observations")
    expr = o.filter(o.followers_count.notnull(), ~o.status.isin(sorted(GONE_STATUSES)))
    if platform is not None:
        expr = expr.filter(o.platform == platform)
    if accounts:
        expr = expr.filter(o.account_id.isin(list(accounts)))
    expr = expr.select("platform", "account_id", "observed_at", "followers_count").order_by(
        ["platform", "account_id", "observed_at"])
    tbl = expr.to_pyarrow()
    sid, accs = _keys(tbl["platform"], tbl["account_id"])
    y = np.asarray(tbl["followers_count"].to_numpy(), dtype=np.float64)
    return SeriesData(sid, _seconds(tbl["observed_at"]), y, accs)


def load_status(store: Store, *, platform: str | None = None) -> StatusData:
    """Status readings of every account: stream events, observations and profiles."""
    import ibis

    con = store.ibis()
    ev = con.table("status_events")
    parts = [ev.select(platform=ev.platform, account_id=ev.account_id, time=ev.at,
                       status=ev.status, is_event=ibis.literal(True))]
    for name in ("observations", "profiles"):
        t = con.table(name)
        parts.append(t.select(platform=t.platform, account_id=t.account_id, time=t.observed_at,
                              status=t.status, is_event=ibis.literal(False)))
    expr = parts[0].union(parts[1], distinct=False).union(parts[2], distinct=False)
    if platform is not None:
        expr = expr.filter(expr.platform == platform)
    expr = expr.order_by(["platform", "account_id", "time", "is_event"])
    tbl = expr.to_pyarrow()
    key, accs = _keys(tbl["platform"], tbl["account_id"])
    status = _words(tbl["status"])
    is_event = np.asarray(tbl["is_event"].to_numpy(zero_copy_only=False), dtype=bool)
    return StatusData(key, _seconds(tbl["time"]), status, is_event, accs)


def load_groups(store: Store) -> dict[tuple[str, str], str]:
    """(platform, account id or handle) -> watchlist group of the current watchlist."""
    try:
        from purgewatch.watchlist import current_watchlist

        wl = current_watchlist(store)
    except ImportError:  # the watchlist module is optional for detection
        log = store.read("watchlist", columns=["platform", "account", "account_id", "group", "action"])
        latest: dict[tuple[str, str], dict[str, str]] = {}
        for row in log.to_pylist():
            latest[(row["platform"], row["account"])] = row
        wl = pa.Table.from_pylist([r for r in latest.values() if r["action"] == "add"])
    out: dict[tuple[str, str], str] = {}
    if wl.num_rows == 0:
        return out
    for row in wl.select(["platform", "account", "account_id", "group"]).to_pylist():
        out[(row["platform"], row["account"])] = row["group"]
        if row["account_id"]:
            out[(row["platform"], row["account_id"])] = row["group"]
    return out


def group_array(accounts: list[tuple[str, str]], groups: dict[tuple[str, str], str]) -> np.ndarray:
    return np.array([groups.get(a) for a in accounts], dtype=object)
