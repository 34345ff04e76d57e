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


# string columns read dictionary-encoded (see Store.read)
_WORDS = ["platform", "account_id", "status"]


def _words(col: pa.ChunkedArray) -> np.ndarray:
    """A column of a few distinct words (statuses) as an object array whose entries share
    one Python string per word: millions of readings make no million strings."""
    enc = pc.dictionary_encode(col).combine_chunks() if len(col) else None
    if enc is None:
        return np.zeros(0, dtype=object)
    lookup = np.asarray(enc.dictionary.to_pylist() + [None], dtype=object)
    return lookup[np.asarray(enc.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False), dtype=np.int64)]


def _account_index(parts: list[pa.Table]) -> tuple[list[np.ndarray], list[tuple[str, str]]]:
    """Dense index per row of each table into the accounts of all of them, numbered in
    (platform, account_id) order: what ``ORDER BY platform, account_id`` gave, from
    dictionary codes (no sort of millions of strings, no copy of the rows in DuckDB)."""
    plats: dict[str, int] = {}
    accs: dict[str, int] = {}
    combined: list[np.ndarray] = []
    for tb in parts:
        if tb.num_rows == 0:
            combined.append(np.zeros(0, dtype=np.int64))
            continue
        codes = []
        for col, book in (("platform", plats), ("account_id", accs)):
            enc = pc.dictionary_encode(tb[col]).combine_chunks()
            ids = np.array([book.setdefault(w, len(book)) for w in enc.dictionary.to_pylist()], dtype=np.int64)
            codes.append(ids[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)])
        combined.append(codes[0] * (1 << 32) + codes[1])
    flat = np.concatenate(combined) if combined else np.zeros(0, dtype=np.int64)
    if len(plats) * len(accs) <= 50_000_000:
        # Few (platform, account) cells: mark the ones present instead of sorting rows.
        cell = (flat >> 32) * len(accs) + (flat & 0xFFFFFFFF)
        present = np.zeros(len(plats) * len(accs), dtype=bool)
        present[cell] = True
        cells = np.flatnonzero(present)
        lut = np.zeros(len(present), dtype=np.int64)
        lut[cells] = np.arange(len(cells))
        uniq, inverse = (cells // max(len(accs), 1)) * (1 << 32) + cells % max(len(accs), 1), lut[cell]
    else:
        uniq, inverse = np.unique(flat, return_inverse=True)
    pname = [""] * len(plats)
    for w, i in plats.items():
        pname[i] = w
    aname = [""] * len(accs)
    for w, i in accs.items():
        aname[i] = w
    keys = [(pname[int(u) >> 32], aname[int(u) & 0xFFFFFFFF]) for u in uniq.tolist()]
    order = sorted(range(len(keys)), key=keys.__getitem__)  # code point order = byte order of UTF-8
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    sid = rank[inverse.reshape(-1)]
    bounds = np.cumsum([0] + [len(c) for c in combined])
    return [sid[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], [keys[i] for i in order]


def _order(sid: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    """Rows by (series, time), stable: one sort of a combined key when it fits."""
    if len(sid) == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(t_us.min())
    span = int(t_us.max()) - t0 + 1
    if (int(sid.max()) + 1) * span < 2**62:
        return np.argsort(sid * span + (t_us - t0), kind="stable")
    return np.lexsort((t_us, sid))


def _micros(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def load_series(store: Store, *, platform: str | None = None,
                accounts: list[str] | None = None) -> SeriesData:
    """Follower counts of accounts readable at the time (gone statuses carry no count)."""
    # key and status strings stay dictionary-encoded (as stored): matched and numbered
    # by their few distinct words, never made per reading
    tbl = store.read("observations", columns=["platform", "account_id", "observed_at", "followers_count", "status"],
                     dictionary=_WORDS)
    keep = pc.and_(pc.is_valid(tbl["followers_count"]),
                   pc.invert(pc.is_in(tbl["status"], value_set=pa.array(sorted(GONE_STATUSES), pa.string()))))
    if platform is not None:
        keep = pc.and_(keep, pc.equal(tbl["platform"], platform))
    if accounts:
        keep = pc.and_(keep, pc.is_in(tbl["account_id"], value_set=pa.array(list(accounts), pa.string())))
    tbl = tbl.filter(keep).drop_columns(["status"])
    (sid,), accs = _account_index([tbl])
    t_us = _micros(tbl["observed_at"])
    y = np.asarray(tbl["followers_count"].to_numpy(), dtype=np.float64)
    order = _order(sid, t_us)
    return SeriesData(sid[order], t_us[order].astype(np.float64) / 1e6, y[order], accs)


def load_status(store: Store, *, platform: str | None = None) -> StatusData:
    """Status readings of every account: stream events, observations and profiles, by
    (account, time); at one instant a reading comes before a stream event."""
    parts = [store.read("status_events", columns=["platform", "account_id", "at", "status"],
                        dictionary=_WORDS).rename_columns(["platform", "account_id", "time", "status"])]
    for name in ("observations", "profiles"):
        parts.append(store.read(name, columns=["platform", "account_id", "observed_at", "status"],
                                dictionary=_WORDS).rename_columns(["platform", "account_id", "time", "status"]))
    if platform is not None:
        parts = [tb.filter(pc.equal(tb["platform"], platform)) for tb in parts]
    sids, accs = _account_index(parts)
    key = np.concatenate(sids)
    t_us = np.concatenate([_micros(tb["time"]) for tb in parts])
    is_event = np.concatenate([np.full(tb.num_rows, i == 0) for i, tb in enumerate(parts)])
    status = np.concatenate([_words(tb["status"]) for tb in parts])
    # (account, time, reading before event): time doubled leaves room for the flag.
    order = _order(key, t_us * 2 + is_event) if len(t_us) and int(t_us.max()) < 2**61 else np.lexsort(
        (is_event, t_us, key))
    return StatusData(key[order], t_us[order].astype(np.float64) / 1e6, status[order], is_event[order], accs)


def group_array(accounts: list[tuple[str, str]], groups: dict[tuple[str, str], str]) -> np.ndarray:
    return np.array([groups.get(a) for a in accounts], dtype=object)
