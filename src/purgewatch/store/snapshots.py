"""Follower-list snapshots, stored compactly (byte format in docs/store.md).

Each follower id becomes a dense surrogate id (``sid``, the ``accounts`` table). A snapshot
is a sorted sid set. The first snapshot of an account is stored in full; a later one as
the change (removed, added) against the account's nearest earlier complete snapshot when
that is smaller, so storage grows with churn, not audience size. Every
``MAX_CHAIN + 1``-th snapshot in a chain is stored in full again, so reading any snapshot
decodes at most one full set and ``MAX_CHAIN`` small changes.

A change (``sidset-change-v2``) codes a removed follower as its rank in the sorted set of
the chain's *full* snapshot (about log2(C(n, removed)) bits in all, the bound for random
removals), or as a sid when it is not in that set (it arrived within the chain). Decoding
a change therefore reads the chain's full set: a lone change (the adjacent diff) sums the
full set's stored gaps up to the removed ranks without decoding it; otherwise the reader
decodes the full set once and caches it. Changes written as ``sidset-change-v1``
(removed and added sids) are still read.

Partial snapshots (list not read to the end) are always stored in full, flagged, never
used as a base, and :func:`diff_snapshots` refuses them when asked for a complete diff.

The list order (newest follower first) is kept separately in ``order_payload`` as a
permutation of a reference sequence the reader can rebuild: the ascending sids (new
followers receive increasing sids in follow order, so that is usually the order itself)
or the base snapshot's order with the change applied (new followers appended).
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from struct import error as struct_error

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from purgewatch.errors import AnalysisError, InputError, StoreError
from purgewatch.model import TABLE_SCHEMAS
from purgewatch.store import _catalogue, _codec, _layout
from purgewatch.store._store import BatchWriter, Store

__all__ = [
    "ENCODING_CHANGE",
    "ENCODING_CHANGE_V1",
    "ENCODING_FULL",
    "MAX_CHAIN",
    "SnapshotDiff",
    "add_snapshot",
    "diff_many",
    "diff_snapshots",
    "ids_to_sids",
    "list_snapshots",
    "load_followers",
    "load_order",
    "sids_to_ids",
]

ENCODING_FULL = "sidset-full-v1"
ENCODING_CHANGE = "sidset-change-v2"
ENCODING_CHANGE_V1 = "sidset-change-v1"  # still read; no longer written
# Longest run of changes after a full snapshot (a full one is stored every 30th).
MAX_CHAIN = 29
# A change is kept only when it is smaller than this fraction of the full encoding.
_CHANGE_MAX_RATIO = 0.5
# Bytes of lists a writer keeps in memory to diff the next snapshot of the same account
# without decoding the previous one (a long-running writer, e.g. ``watch``, keeps each
# watched account's latest list and its chain's full set: 8 bytes a follower slot with
# sids below 2**31, so 10^8 slots fit).
_CACHE_BYTES = 1 << 30
# Decoded full sets (chain roots) a reader keeps: v2 changes are ranks into them.
_FULL_CACHE_ELEMENTS = 20_000_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAYLOAD_COLUMNS = ("payload", "order_payload")
META_COLUMNS = [f.name for f in TABLE_SCHEMAS["snapshots"] if f.name not in _PAYLOAD_COLUMNS]


@dataclass(frozen=True)
class SnapshotDiff:
    """Followers that left (``removed``) and arrived (``added``), as sorted int64 sids."""

    removed: np.ndarray
    added: np.ndarray
    old_partial: bool
    new_partial: bool

    @property
    def complete(self) -> bool:
        """True when both lists were read to the end (``removed`` means unfollowed or gone)."""
        return not (self.old_partial or self.new_partial)


# ---------------------------------------------------------------------------- reading


@dataclass
class _Meta:
    snapshot_id: str
    platform: str
    account_id: str
    observed_at: datetime
    partial: bool
    n_followers: int
    base_snapshot_id: str | None
    encoding: str
    file: str
    row_group: int
    row: int


# Committed batch files never change (a batch directory name is unique), so their
# snapshot metadata is indexed once per process; repeated load/diff calls then cost one
# directory listing instead of re-reading every snapshots file.
_INDEX: OrderedDict[tuple[str, int, int], tuple[pa.Table, list[_Meta]]] = OrderedDict()
_INDEX_FILES = 4096
_INDEX_LOCK = threading.Lock()


_META_FIELDS = (
    "snapshot_id", "platform", "account_id", "observed_at", "partial", "n_followers", "base_snapshot_id", "encoding",
)


def _index_file(f: str) -> tuple[pa.Table, list[_Meta]]:
    st = os.stat(f)
    key = (f, st.st_size, st.st_mtime_ns)
    with _INDEX_LOCK:
        hit = _INDEX.get(key)
        if hit is not None:
            _INDEX.move_to_end(key)
            return hit
    pf = pq.ParquetFile(f)
    present = set(pf.schema_arrow.names)
    table = pf.read(columns=[c for c in META_COLUMNS if c in present])
    for c in META_COLUMNS:  # files written before a column existed
        if c not in present:
            table = table.append_column(TABLE_SCHEMAS["snapshots"].field(c), pa.nulls(table.num_rows, TABLE_SCHEMAS["snapshots"].field(c).type))
    table = table.select(META_COLUMNS)
    # Column by column (one Python list each), not row dicts: a month of 5,000 watched
    # accounts is 150,000 rows, read by every fresh process that diffs them.
    col = {c: table.column(c).to_pylist() for c in _META_FIELDS}
    where = [(rg, r) for rg in range(pf.num_row_groups) for r in range(pf.metadata.row_group(rg).num_rows)]
    metas = [
        _Meta(sid, plat, acc, at, bool(part), int(n), base, enc, f, rg, r)
        for sid, plat, acc, at, part, n, base, enc, (rg, r) in zip(
            *(col[c] for c in _META_FIELDS), where, strict=True
        )
    ]
    with _INDEX_LOCK:
        _INDEX[key] = (table, metas)
        while len(_INDEX) > _INDEX_FILES:
            _INDEX.popitem(last=False)
    return table, metas


# Bytes of payload row groups a reader keeps (each group holds at most ~4 MB).
_GROUPS_BYTES = 256 << 20
# The merged metadata of the last few file sets: a caller diffing thousands of accounts
# one by one (the daily question at twitter-watch scale) must not rebuild an index of
# every snapshot per call.
_META: OrderedDict[tuple[str, ...], tuple[dict[str, _Meta], pa.Table]] = OrderedDict()
_META_LOCK = threading.Lock()


class _Reader:
    """Snapshot metadata of one generation, and payload access by id.

    The generation is resolved once, so a concurrent compaction cannot move files under
    a read (old generations outlive readers: see _layout.drop_old_generations)."""

    def __init__(self, store: Store, generation: Path | None = None) -> None:
        self.store = store
        self.gen = generation or _layout.current_generation(store.path)
        files = tuple(store.files("snapshots", generation=self.gen))
        with _META_LOCK:
            hit = _META.get(files)
        if hit is None:
            meta: dict[str, _Meta] = {}
            parts: list[pa.Table] = []
            for f in files:
                table, metas = _index_file(f)
                parts.append(table)
                for m in metas:
                    meta.setdefault(m.snapshot_id, m)
            schema = pa.schema([TABLE_SCHEMAS["snapshots"].field(c) for c in META_COLUMNS])
            hit = (meta, pa.concat_tables([p.cast(schema) for p in parts]) if parts else schema.empty_table())
            with _META_LOCK:
                _META[files] = hit
                while len(_META) > 2:
                    _META.popitem(last=False)
        # shared between readers of the same files: never mutated after this point
        self.meta, self.table = hit
        self._full: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lookups: dict[str, int] = {}  # rank lookups into a full set not decoded
        self.full_bytes: dict[str, int] = {}  # encoded size of the full sets read
        self._groups: OrderedDict[tuple[str, int, str], pa.ChunkedArray] = OrderedDict()
        self._group_bytes = 0

    def get(self, snapshot_id: str) -> _Meta:
        try:
            return self.meta[snapshot_id]
        except KeyError:
            raise StoreError(
                f"no snapshot {snapshot_id!r} in the store at {self.store.path}",
                hint="list snapshot ids with purgewatch.store.snapshots.list_snapshots",
            ) from None

    def payload(self, m: _Meta, column: str) -> memoryview | None:
        key = (m.file, m.row_group, column)
        col = self._groups.get(key)
        if col is None:
            col = pq.ParquetFile(m.file).read_row_group(m.row_group, columns=[column]).column(0)
            # Keep recent row groups up to a byte budget: diffing many accounts of one
            # day reads each of the day's row groups once, and a writer loading each
            # account's previous snapshot walks its chain through every day's (small)
            # change row groups, which must stay cached for the next account.
            self._groups[key] = col
            self._group_bytes += col.nbytes
            while self._group_bytes > _GROUPS_BYTES and len(self._groups) > 1:
                _, old = self._groups.popitem(last=False)
                self._group_bytes -= old.nbytes
        else:
            self._groups.move_to_end(key)
        value = col[m.row]
        if not value.is_valid:
            return None
        return memoryview(value.as_buffer())

    def chain(self, snapshot_id: str) -> list[_Meta]:
        """[full snapshot, change, ..., snapshot_id]."""
        out = [self.get(snapshot_id)]
        while out[-1].base_snapshot_id is not None:
            if len(out) > 10_000:
                raise StoreError(f"snapshot {snapshot_id!r} has a cyclic base chain")
            out.append(self.get(out[-1].base_snapshot_id))
        return out[::-1]

    def full_set(self, m: _Meta) -> np.ndarray:
        """The sids of a snapshot stored in full (decoded once per reader, then cached)."""
        hit = self._full.get(m.snapshot_id)
        if hit is not None:
            self._full.move_to_end(m.snapshot_id)
            return hit
        data = self.payload(m, "payload")
        assert data is not None
        self.full_bytes[m.snapshot_id] = len(data)
        kind, arrays = _codec.decode_set_payload(data)
        if kind != _codec.KIND_FULL:
            raise StoreError(f"snapshot {m.snapshot_id!r} has no base but stores a change")
        sids = arrays[0]
        self._full[m.snapshot_id] = sids
        total = sum(len(s) for s in self._full.values())
        while total > _FULL_CACHE_ELEMENTS and len(self._full) > 1:
            _, old = self._full.popitem(last=False)
            total -= len(old)
        return sids

    def change(self, m: _Meta) -> tuple[np.ndarray, np.ndarray]:
        """(removed, added) sids of a snapshot stored as a change."""
        data = self.payload(m, "payload")
        assert data is not None
        kind, arrays = _codec.decode_set_payload(data)
        if kind == _codec.KIND_CHANGE:
            return arrays[0], arrays[1]
        if kind != _codec.KIND_CHANGE_RANKS:
            raise StoreError(f"snapshot {m.snapshot_id!r} names a base but stores a full set")
        ranks, other, added = arrays
        if len(ranks) == 0:
            return other, added
        root = self.chain(m.snapshot_id)[0]
        if int(ranks[-1]) >= root.n_followers:
            raise StoreError(
                f"snapshot {m.snapshot_id!r} removes follower #{int(ranks[-1])} of a full set of {root.n_followers}"
            )
        return _codec.union(self.full_at(root, ranks), other), added

    def full_at(self, m: _Meta, ranks: np.ndarray) -> np.ndarray:
        """``full_set(m)[ranks]``, without decoding the whole set when it is not cached
        (a diff between adjacent snapshots needs only the removed followers)."""
        hit = self._full.get(m.snapshot_id)
        if hit is not None:
            return hit[ranks]
        self._lookups[m.snapshot_id] = self._lookups.get(m.snapshot_id, 0) + 1
        if self._lookups[m.snapshot_id] > 1:  # several changes of the chain: decode it once
            return self.full_set(m)[ranks]
        data = self.payload(m, "payload")
        assert data is not None
        self.full_bytes[m.snapshot_id] = len(data)
        if len(data) < 5 or data[4] != _codec.KIND_FULL:
            raise StoreError(f"snapshot {m.snapshot_id!r} has no base but stores a change")
        try:
            return _codec.decode_sorted_at(data, 5, ranks)
        except (ValueError, pa.ArrowException) as e:
            raise StoreError(f"snapshot {m.snapshot_id!r}: payload is damaged ({e})") from e

    def followers(self, snapshot_id: str) -> np.ndarray:
        chain = self.chain(snapshot_id)
        full = self.full_set(chain[0])
        if len(chain) == 1:
            return full
        # Compose the (small) changes first, then touch the large set once.
        net = self.change(chain[1])
        for m in chain[2:]:
            net = _codec.compose(net, self.change(m))
        return _codec.apply_change(full, *net)

    def order_oldest_first(self, snapshot_id: str) -> np.ndarray | None:
        # A run of APPEND orders is composed in one pass over the order it starts from
        # (each step only drops a few sids and appends a tail), so reading any snapshot's
        # order costs one full-size pass however long the chain (format 4).
        steps: list[tuple[np.ndarray, np.ndarray]] = []  # (dropped sids, tail), newest first
        m = self.get(snapshot_id)
        data = self.payload(m, "order_payload")
        while data is not None and len(data) > 5 and data[4] == _codec.ORDER_REF_APPEND:
            if bytes(data[:4]) != _codec.ORDER_MAGIC or m.base_snapshot_id is None:
                raise StoreError(f"snapshot {m.snapshot_id!r}: APPEND order without a base or magic")
            removed, added = self.change(m)
            try:
                moved, tail = _codec.decode_order_append(data, added)
            except (ValueError, struct_error, pa.ArrowException) as e:
                raise StoreError(f"snapshot {m.snapshot_id!r}: order payload is damaged ({e})") from e
            steps.append((np.union1d(removed, moved), tail))
            m = self.get(m.base_snapshot_id)
            data = self.payload(m, "order_payload")
            if data is None:
                raise StoreError(f"snapshot {snapshot_id!r}: order refers to an unordered base")
        if data is None:
            return None
        order = self._order_from_reference(m, data)
        if not steps:
            return order
        pieces: list[np.ndarray] = []
        dropped = np.zeros(0, dtype=np.int64)  # sids dropped by a later step
        for drop, tail in steps:
            pieces.append(tail[~_codec.isin_sorted(tail, dropped)] if len(dropped) else tail)
            dropped = np.union1d(dropped, drop)
        kept = order[~_codec.isin_sorted(order, dropped)] if len(dropped) else order
        return np.concatenate([kept, *pieces[::-1]])

    def _order_from_reference(self, m: _Meta, data: memoryview) -> np.ndarray:
        """The order of a snapshot whose order is a permutation of a reference."""
        ref_kind, perm = _codec.decode_order(data)
        if ref_kind == _codec.ORDER_REF_SORTED:
            reference = self.followers(m.snapshot_id)
        elif ref_kind == _codec.ORDER_REF_BASE and m.base_snapshot_id is not None:
            base_order = self.order_oldest_first(m.base_snapshot_id)
            if base_order is None:
                raise StoreError(f"snapshot {m.snapshot_id!r}: order refers to an unordered base")
            removed, added = self.change(m)
            reference = _expected_order(base_order, removed, added)
        else:
            raise StoreError(f"snapshot {m.snapshot_id!r}: unknown order reference {ref_kind}")
        return _codec.apply_order(reference, perm)

    def diff(self, old_id: str, new_id: str) -> tuple[np.ndarray, np.ndarray]:
        old_chain = self.chain(old_id)
        new_chain = self.chain(new_id)
        old_ids = [m.snapshot_id for m in old_chain]
        new_ids = [m.snapshot_id for m in new_chain]
        if old_id == new_id:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        if old_id in new_ids:  # old is an ancestor of new: the stored changes are the diff
            steps = new_chain[new_ids.index(old_id) + 1 :]
            net = self.change(steps[0])
            for m in steps[1:]:
                net = _codec.compose(net, self.change(m))
            return net
        if new_id in old_ids:
            removed, added = self.diff(new_id, old_id)
            return added, removed
        old = self.followers(old_id)
        new = self.followers(new_id)
        return _codec.minus(old, new), _codec.minus(new, old)


def _expected_order(base_oldest_first: np.ndarray, removed: np.ndarray, added: np.ndarray) -> np.ndarray:
    """Base order without the removed followers, then the added ones (ascending sids)."""
    kept = base_oldest_first
    if len(removed):
        kept = kept[~_codec.isin_sorted(kept, removed)]
    return np.concatenate([kept, added]) if len(added) else kept


def list_snapshots(
    store: Store, platform: str | None = None, account_id: str | None = None
) -> pa.Table:
    """Snapshot metadata (no payloads), sorted by (platform, account_id, observed_at)."""
    table = _Reader(store).table
    retracted = store.retracted()
    if retracted and table.num_rows:
        # A retracted import's snapshots are not listed (so no analysis diffs them);
        # they stay readable as bases of other snapshots' changes.
        hidden = pc.is_in(table["batch_id"], value_set=pa.array(sorted(retracted), pa.string()))
        table = table.filter(pc.invert(pc.fill_null(hidden, False)))
    if platform is not None:
        table = table.filter(pc.equal(table["platform"], platform))
    if account_id is not None:
        table = table.filter(pc.equal(table["account_id"], account_id))
    # Repeated ids cannot occur through add_snapshot; keep the first copy if a user
    # appended one by hand.
    if table.num_rows:
        _, first = np.unique(table["snapshot_id"].to_numpy(zero_copy_only=False), return_index=True)
        if len(first) != table.num_rows:
            table = table.take(pa.array(np.sort(first)))
    return table.sort_by([("platform", "ascending"), ("account_id", "ascending"), ("observed_at", "ascending")])


def load_followers(store: Store, snapshot_id: str) -> np.ndarray:
    """The snapshot's followers as sorted int64 surrogate ids."""
    return _Reader(store).followers(snapshot_id)


def load_order(store: Store, snapshot_id: str) -> np.ndarray | None:
    """The followers newest-first (position 0 = newest), or None when order is unknown."""
    order = _Reader(store).order_oldest_first(snapshot_id)
    return None if order is None else order[::-1].copy()


def diff_snapshots(store: Store, old_id: str, new_id: str, *, complete: bool = False) -> SnapshotDiff:
    """Who left and who arrived between two snapshots.

    With ``complete=True`` a partial snapshot on either side is an error (its missing
    tail would read as followers lost); otherwise the flags tell the caller."""
    reader = _Reader(store)
    old, new = reader.get(old_id), reader.get(new_id)
    if complete and (old.partial or new.partial):
        which = " and ".join(
            f"{m.snapshot_id} ({m.account_id} at {m.observed_at:%Y-%m-%d %H:%M})"
            for m in (old, new)
            if m.partial
        )
        raise AnalysisError(
            f"cannot diff as complete: snapshot {which} is partial (the list was not read to the end)",
            hint="diff two complete snapshots, or pass complete=False and treat 'removed' as a lower bound",
        )
    removed, added = reader.diff(old_id, new_id)
    return SnapshotDiff(removed=removed, added=added, old_partial=old.partial, new_partial=new.partial)


def diff_many(
    store: Store, pairs: Sequence[tuple[str, str]], *, complete: bool = False
) -> list[SnapshotDiff]:
    """:func:`diff_snapshots` for many (old, new) pairs through one reader: the metadata
    is resolved once and each payload row group is read once (the daily question over
    thousands of watched accounts)."""
    reader = _Reader(store)
    out = []
    for old_id, new_id in pairs:
        old, new = reader.get(old_id), reader.get(new_id)
        if complete and (old.partial or new.partial):
            raise AnalysisError(
                f"cannot diff {old_id} -> {new_id} as complete: a snapshot is partial",
                hint="diff complete snapshots, or pass complete=False and treat 'removed' as a lower bound",
            )
        removed, added = reader.diff(old_id, new_id)
        out.append(SnapshotDiff(removed=removed, added=added, old_partial=old.partial, new_partial=new.partial))
    return out


# The numeric/string catalogue of one platform, for ids_to_sids (rarely used: analyses
# go from sids to ids, which reads only the row groups holding the sids asked for).
_CATALOGUE: OrderedDict[tuple[str, tuple[str, ...]], _catalogue.PlatformIndex] = OrderedDict()
_CATALOGUE_LOCK = threading.Lock()


def sids_to_ids(store: Store, platform: str | None, sids: np.ndarray) -> pa.Array:
    """Platform ids for surrogate ids (null where the sid is not a ``platform`` account;
    ``platform=None``: any platform, as sids are unique across platforms). Reads only the
    catalogue row groups whose sid range holds one of ``sids``."""
    gen = _layout.current_generation(store.path)
    return _catalogue.lookup(store.files("accounts", generation=gen), np.asarray(sids, dtype=np.int64), platform)


def ids_to_sids(store: Store, platform: str, ids: pa.Array | Sequence[str]) -> np.ndarray:
    """Surrogate ids for platform ids, -1 where the store has never seen the id."""
    gen = _layout.current_generation(store.path)
    files = tuple(store.files("accounts", generation=gen))
    key = (platform, files)
    with _CATALOGUE_LOCK:
        index = _CATALOGUE.get(key)
    if index is None:
        nums, nsids, strs, ssids = _catalogue.read_platform(files, platform)
        index = _catalogue.PlatformIndex()
        index.add_numbers(nums, nsids)
        index.add_strings(strs, ssids)
        with _CATALOGUE_LOCK:
            _CATALOGUE[key] = index
            while len(_CATALOGUE) > 2:
                _CATALOGUE.popitem(last=False)
    arr = _catalogue.as_id_array(ids if isinstance(ids, pa.Array | pa.ChunkedArray) else list(ids))
    out = np.full(len(arr), -1, dtype=np.int64)
    if not len(arr):
        return out
    if pa.types.is_integer(arr.type):
        mask, values = np.ones(len(arr), dtype=bool), arr.to_numpy(zero_copy_only=False)
    else:
        mask, values = _catalogue.split_numeric(pc.fill_null(arr, ""))
    with _CATALOGUE_LOCK:  # the index merges its runs lazily
        if mask.any():
            v = values[mask]
            uniq, inverse = np.unique(v, return_inverse=True)
            out[mask] = index.find_numbers(uniq)[inverse]
        if (~mask).any():
            rest = arr.filter(pa.array(~mask))
            enc = pc.dictionary_encode(rest)
            out[~mask] = index.find_strings(enc.dictionary)[enc.indices.to_numpy(zero_copy_only=False)]
    return out


# ---------------------------------------------------------------------------- writing


@dataclass
class _Known:
    snapshot_id: str
    observed_at: datetime
    partial: bool
    depth: int  # changes between this snapshot and its full base (0 = full)
    root: str  # the full snapshot its chain starts from (itself when depth = 0)


@dataclass
class _Cached:
    """A list the writer keeps: its order (oldest first) or, unordered, its sorted sids,
    as int32 when every sid fits (half the memory; sorting it again is cheap)."""

    account: tuple[str, str]
    values: np.ndarray
    is_order: bool

    def sids(self) -> np.ndarray:
        if self.is_order:
            return np.sort(self.values).astype(np.int64)
        return self.values.astype(np.int64, copy=False)

    def order(self) -> np.ndarray | None:
        return self.values.astype(np.int64, copy=False) if self.is_order else None


def _compact(values: np.ndarray) -> np.ndarray:
    if len(values) and int(values.max()) < 2**31 and int(values.min()) >= 0:
        return values.astype(np.int32)
    return values.astype(np.int64, copy=False)


@dataclass
class _WriterState:
    reader: _Reader
    accounts: dict[tuple[str, str], list[_Known]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    marked_append: bool = False  # the store is marked format 4 (APPEND orders)
    # snapshot_id -> the list; least recently used first, within _CACHE_BYTES.
    cache: OrderedDict[str, _Cached] = field(default_factory=OrderedDict)
    cache_bytes: int = 0
    by_account: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # Rows queued since the last commit, handed to the writer as one table (flush).
    rows: list[tuple[object, ...]] = field(default_factory=list)
    # Encoded size of full snapshots (chain roots) seen by this writer: a change far
    # smaller than its root's full encoding is kept without encoding today's set in full.
    full_bytes: dict[str, int] = field(default_factory=dict)

    def cached(self, snapshot_id: str) -> _Cached | None:
        hit = self.cache.get(snapshot_id)
        if hit is not None:
            self.cache.move_to_end(snapshot_id)
        return hit

    def remember(
        self, snapshot_id: str, account: tuple[str, str], sids: np.ndarray, order: np.ndarray | None, root: str
    ) -> None:
        """Keep ``snapshot_id``'s list; the account's older lists are dropped except its
        chain's full set (``root``), whose sids code the next change's removals."""
        mine = self.by_account.setdefault(account, set())
        for sid in [k for k in mine if k != root]:
            mine.discard(sid)
            self.cache_bytes -= self.cache.pop(sid).values.nbytes
        entry = _Cached(account, _compact(order if order is not None else sids), order is not None)
        self.cache[snapshot_id] = entry
        mine.add(snapshot_id)
        self.cache_bytes += entry.values.nbytes
        while self.cache_bytes > _CACHE_BYTES and len(self.cache) > 1:
            sid, old = self.cache.popitem(last=False)
            self.by_account[old.account].discard(sid)
            self.cache_bytes -= old.values.nbytes


_ROW_COLUMNS = (
    "snapshot_id", "platform", "account_id", "observed_at", "completed_at", "partial", "n_followers",
    "base_snapshot_id", "encoding", "payload", "order_payload", "source", "source_ref", "payload_hash",
)


def _flush_rows(writer: BatchWriter, st: _WriterState) -> None:
    """Queue the buffered snapshot rows with the writer as one table (adding rows one
    by one cost about a millisecond each in keys and conversions: seconds a day for
    thousands of watched accounts)."""
    if not st.rows:
        return
    rows, st.rows = st.rows, []
    schema = TABLE_SCHEMAS["snapshots"]
    columns = {
        name: pa.array([r[i] for r in rows], schema.field(name).type) for i, name in enumerate(_ROW_COLUMNS)
    }
    writer.add("snapshots", pa.table(columns))


_STATES: weakref.WeakKeyDictionary[BatchWriter, _WriterState] = weakref.WeakKeyDictionary()


def _state(writer: BatchWriter) -> _WriterState:
    st = _STATES.get(writer)
    if st is not None and st.reader.gen != _layout.current_generation(writer.store.path):
        # Compacted under this writer (watch does): the same snapshots in new files; the
        # old generation may be deleted once its grace period is over.
        st.reader = _Reader(writer.store)
    if st is None:
        # The writer holds the store lock: only this writer can add snapshots from now on.
        reader = _Reader(writer.store)
        st = _WriterState(reader=reader)
        placed: dict[str, tuple[int, str]] = {}  # snapshot_id -> (depth, root)

        def place(sid: str) -> tuple[int, str]:
            seen = []
            cur: str | None = sid
            while cur is not None and cur not in placed and cur in reader.meta:
                seen.append(cur)
                cur = reader.meta[cur].base_snapshot_id
                if len(seen) > 10_000:
                    break
            if cur is not None and cur in placed:
                d, root = placed[cur]
            else:  # seen ends at a full snapshot (or a dangling base)
                d, root = -1, seen[-1]
            for s in reversed(seen):
                d += 1
                placed[s] = (d, root)
            return placed[sid]

        for m in reader.meta.values():
            st.ids.add(m.snapshot_id)
            st.accounts.setdefault((m.platform, m.account_id), []).append(
                _Known(m.snapshot_id, m.observed_at, m.partial, *place(m.snapshot_id))
            )
        _STATES[writer] = st
        writer.on_flush(lambda w: _flush_rows(w, st))
    return st


def _as_id_array(values: pa.Array | pa.ChunkedArray | Sequence[str] | Sequence[int]) -> pa.Array:
    values = _catalogue.as_id_array(values)
    if values.null_count:
        raise InputError("follower_ids contains empty (null) ids", hint="drop rows without a follower id")
    return values


def _snapshot_id(
    platform: str, account_id: str, observed_at: datetime, partial: bool, ordered: bool, sids: np.ndarray
) -> str:
    """Deterministic: the same list read at the same moment gets the same id (idempotent
    re-imports). Sids are stable within a store, so they stand for the ids."""
    h = hashlib.blake2b(digest_size=16)
    micros = (observed_at - _EPOCH) // timedelta(microseconds=1)  # exact, no float
    h.update(f"{platform}\0{account_id}\0{micros}\0{int(partial)}\0{int(ordered)}\0".encode())
    h.update(np.ascontiguousarray(sids, dtype="<i8").tobytes())
    return h.hexdigest()


def _append_order(order: np.ndarray, base_order: np.ndarray, removed: np.ndarray) -> bytes | None:
    """The APPEND form of ``order`` (oldest first) against its base's order: the longest
    head of the list that keeps the base's relative order stays implicit, the rest (the
    new followers and any that moved, e.g. refollowed) is the tail. None when the tail
    would be over half the list (the order was reshuffled: a permutation is stored)."""
    kept = base_order[~_codec.isin_sorted(base_order, removed)] if len(removed) else base_order
    if len(kept) <= len(order) and np.array_equal(order[: len(kept)], kept):
        # the usual day: nobody moved, the tail is the new followers
        if 2 * (len(order) - len(kept)) > len(order):
            return None
        return _codec.encode_order_append(np.zeros(0, dtype=np.int64), order[len(kept) :])
    pos = _codec.positions(kept, order)
    ahead = np.maximum.accumulate(pos)
    bad = (pos < 0)
    bad[1:] |= pos[1:] <= ahead[:-1]
    k = int(np.argmax(bad)) if bad.any() else len(order)
    if 2 * (len(order) - k) > len(order):
        return None
    tail = order[k:]
    moved = np.sort(tail[pos[k:] >= 0])
    return _codec.encode_order_append(moved, tail)


def _pick_base(candidates: list[_Known], observed_at: datetime) -> _Known | None:
    complete = [k for k in candidates if not k.partial]
    before = [k for k in complete if k.observed_at <= observed_at]
    if before:
        return max(before, key=lambda k: k.observed_at)
    after = [k for k in complete if k.observed_at > observed_at]
    return min(after, key=lambda k: k.observed_at) if after else None


def _root_sids(st: _WriterState, root: str) -> np.ndarray | None:
    """The sids of a chain's full snapshot: from the writer's cache (kept fresh there, as
    every change of the chain needs it) or decoded once by the reader; None when it was
    queued in this writer and has been evicted since."""
    cached = st.cached(root)
    if cached is not None:
        return cached.sids()
    if root in st.reader.meta:
        return st.reader.full_set(st.reader.meta[root])
    return None


def _ranks(root_sids: np.ndarray | None, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Removed sids split into (ranks in the chain's full set, sids not in it)."""
    if root_sids is None or len(root_sids) == 0 or len(removed) == 0:
        return np.zeros(0, dtype=np.int64), removed
    pos = np.searchsorted(root_sids, removed)
    hit = root_sids[np.minimum(pos, len(root_sids) - 1)] == removed
    return pos[hit].astype(np.int64), removed[~hit]


def add_snapshot(
    writer: BatchWriter,
    *,
    platform: str,
    account_id: str,
    observed_at: datetime,
    follower_ids: pa.Array | pa.ChunkedArray | Sequence[str] | Sequence[int],
    partial: bool = False,
    ordered: bool = True,
    source: str | None = None,
    source_ref: str | None = None,
    payload_hash: str | None = None,
    completed_at: datetime | None = None,
) -> str | None:
    """Queue one follower list for the writer's next commit.

    ``follower_ids`` is in the platform's list order, newest follower first.
    ``observed_at`` is when reading the list began, ``completed_at`` (optional) when its
    last page was read. Returns the snapshot id, or None when the identical snapshot is
    already stored."""
    if observed_at.tzinfo is None:
        raise InputError(
            f"observed_at {observed_at.isoformat()} of the snapshot of {platform}:{account_id} has no time zone",
            hint="pass an aware datetime (e.g. datetime.now(UTC))",
        )
    ids = _as_id_array(follower_ids)
    # Followers new to the store get consecutive sids (in ascending id order, which keeps
    # the catalogue small: see _catalogue.py), so a first snapshot's set is mostly dense
    # runs; its list order is stored apart (order_payload).
    oldest_first = writer.sids(platform, ids[::-1])
    sids = _codec.sorted_unique(oldest_first)
    if len(sids) != len(oldest_first):
        # A follower listed twice (pages shifted while reading): keep the newest place.
        newest_first = oldest_first[::-1]
        _, first = np.unique(newest_first, return_index=True)
        oldest_first = newest_first[np.sort(first)][::-1].copy()
    order = oldest_first if ordered else None
    snapshot_id = _snapshot_id(
        platform, account_id, observed_at, partial, ordered, oldest_first if ordered else sids
    )
    st = _state(writer)
    if snapshot_id in st.ids:
        return None

    key = (platform, account_id)
    known = st.accounts.setdefault(key, [])
    payload: bytes | None = None
    base: str | None = None
    depth, root = 0, snapshot_id
    base_order: np.ndarray | None = None
    removed = added = np.zeros(0, dtype=np.int64)
    candidate = None if partial else _pick_base(known, observed_at)
    if candidate is not None and candidate.depth < MAX_CHAIN:
        hit = st.cached(candidate.snapshot_id)
        cached = None if hit is None else (hit.sids(), hit.order())
        if cached is None and candidate.snapshot_id not in st.reader.meta:
            st.reader = _Reader(writer.store)  # it may have been committed since
        if cached is None and candidate.snapshot_id in st.reader.meta:
            cached = (
                st.reader.followers(candidate.snapshot_id),
                st.reader.order_oldest_first(candidate.snapshot_id),
            )
        if cached is not None:  # else: queued earlier and evicted; store in full
            base_sids, base_order = cached
            removed, added = _codec.minus(base_sids, sids), _codec.minus(sids, base_sids)
            root_sids = base_sids if candidate.depth == 0 else _root_sids(st, candidate.root)
            change = _codec.encode_change_ranks(*_ranks(root_sids, removed), added)
            # Keep the change when it is under half of today's full encoding. When it is
            # under a quarter of the root's (today's set is the root's after a few days
            # of churn), today's set need not be encoded in full just to compare.
            root_bytes = st.full_bytes.get(candidate.root, st.reader.full_bytes.get(candidate.root))
            if root_bytes is not None and len(change) < 0.25 * root_bytes:
                payload = change
            else:
                payload = _codec.encode_full(sids)
                if len(change) < _CHANGE_MAX_RATIO * len(payload):
                    payload = change
            if payload is change:
                base, depth, root = candidate.snapshot_id, candidate.depth + 1, candidate.root
    if payload is None:
        payload = _codec.encode_full(sids)
    if base is None:
        st.full_bytes[snapshot_id] = len(payload)

    order_payload: bytes | None = None
    if order is not None:
        if base is not None and base_order is not None:
            order_payload = _append_order(order, base_order, removed)
            if order_payload is None:
                order_payload = _codec.encode_order(
                    order, _expected_order(base_order, removed, added), _codec.ORDER_REF_BASE
                )
            elif not st.marked_append:
                # the lock is held: no reader of an older format can slip in before this
                _layout.mark_version(writer.store.path, _layout.APPEND_ORDER_VERSION)
                st.marked_append = True
        else:
            order_payload = _codec.encode_order(order, sids, _codec.ORDER_REF_SORTED)

    st.rows.append((snapshot_id, platform, account_id, observed_at, completed_at, bool(partial), len(sids), base,
                    ENCODING_CHANGE if base is not None else ENCODING_FULL, payload, order_payload, source,
                    source_ref, payload_hash))
    st.ids.add(snapshot_id)
    known.append(_Known(snapshot_id, observed_at, bool(partial), depth, root))
    if not partial:
        st.remember(snapshot_id, key, sids, order, root)
    return snapshot_id
