"""The surrogate-id catalogue (table ``accounts``): compact on disk, read by sid range.

Each ``(platform, account_id)`` the store has seen has one dense ``sid``. On disk a row is
``sid, platform, account_id, account_num``: an id that is the canonical decimal form of
an integer below 10**19 (X user ids, Mastodon ids) is kept as that integer in
``account_num`` (``account_id`` null), any other id (Bluesky DIDs, handles) as a string in
``account_id`` (``account_num`` null). Stores written before this form hold every id as a
string; both forms are read, and compaction rewrites old rows in the new form.

Ids new to the store in one call get consecutive sids in ascending id order (numbers by
value, then strings bytewise), and a catalogue file is sorted by sid: so within a file
both ``sid`` and the ids ascend in long runs, which delta encoding (Parquet
DELTA_BINARY_PACKED / DELTA_BYTE_ARRAY, then zstd) turns into about the entropy of the id
set (~40 bits per X id instead of ~79 as strings in follow order), and a reader looking up
sids reads only the row groups (65,536 rows) whose sid range holds one of them, found
from the Parquet footers (cached per process).

The writer maps ids to sids with whole-array numpy work: numeric ids are sorted once per
call and matched against sorted runs of the catalogue with ``searchsorted``; string ids
go through Arrow's hash kernels (``index_in``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from purgewatch.errors import StoreError

NUM_COLUMN = "account_num"
ROW_GROUP_ROWS = 65_536
_MAX_DIGITS = 19  # every 19-digit decimal fits in uint64
# The values an id of k characters has when it is a canonical decimal (k digits, no
# leading zero): _LOW[k] <= value <= _HIGH[k]; k = 0 or > 19 (clipped to 20) never is.
_NEVER = 2**64 - 1
_LOW = np.array([_NEVER, 0, *(10 ** (k - 1) for k in range(2, _MAX_DIGITS + 1)), _NEVER], dtype=np.uint64)
_HIGH = np.array([0, *(10**k - 1 for k in range(1, _MAX_DIGITS + 1)), 0], dtype=np.uint64)
_NUMERIC = r"^[0-9]{1,19}$"
_CHUNK = 1 << 18  # ids per pass of the digit check


def split_numeric(ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(mask, values): which string ids are canonical decimals (no sign, no leading zero,
    at most 19 digits), and their values (0 elsewhere). ``str(value) == id`` exactly where
    the mask is set, so the integer form loses nothing."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.uint64)
    lengths = pc.binary_length(ids).to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(ids, pa.uint64()).to_numpy(zero_copy_only=False)
        mask = np.ones(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        digits_only = pc.match_substring_regex(ids, _NUMERIC)
        mask = digits_only.to_numpy(zero_copy_only=False).astype(bool)
        values = np.zeros(n, dtype=np.uint64)
        if mask.any():
            values[mask] = pc.cast(ids.filter(digits_only), pa.uint64()).to_numpy(zero_copy_only=False)
    # value has exactly as many digits as the id has characters: two table look-ups per
    # id, a chunk of ids at a time (temporaries that stay small: fresh memory is paid in
    # page faults)
    k = np.empty(min(n, _CHUNK), dtype=lengths.dtype)
    bound = np.empty(len(k), dtype=np.uint64)
    ok = np.empty(len(k), dtype=bool)
    for a in range(0, n, _CHUNK):
        v, m = values[a : a + _CHUNK], mask[a : a + _CHUNK]
        c = len(v)
        np.minimum(lengths[a : a + c], _MAX_DIGITS + 1, out=k[:c])
        m &= np.greater_equal(v, np.take(_LOW, k[:c], out=bound[:c]), out=ok[:c])
        m &= np.less_equal(v, np.take(_HIGH, k[:c], out=bound[:c]), out=ok[:c])
    if not mask.all():
        values = np.where(mask, values, np.uint64(0))
    return mask, values


def as_id_array(values: pa.Array | pa.ChunkedArray | Sequence[str] | Sequence[int]) -> pa.Array:
    """Ids as one Arrow array: strings, or non-negative integers (numeric ids given as
    numbers skip the string round trip)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, np.ndarray):
        values = pa.array(values)
    if not isinstance(values, pa.Array):
        values = pa.array(list(values))
        if pa.types.is_null(values.type):
            values = values.cast(pa.string())
    if pa.types.is_integer(values.type):
        if values.null_count == 0 and len(values) and pc.min(values).as_py() < 0:
            raise StoreError("negative numeric account ids", hint="pass platform ids as strings")
        return values.cast(pa.uint64())
    return values.cast(pa.string())


# ------------------------------------------------------------------ on disk


def table_for(platform: str, numbers: np.ndarray | None, strings: pa.Array | None, sids: np.ndarray) -> pa.Table:
    """Catalogue rows for new ids: ``numbers`` (uint64) or ``strings``, with their sids."""
    n = len(sids)
    if numbers is not None:
        account_id, account_num = pa.nulls(n, pa.string()), pa.array(numbers, pa.uint64())
    else:
        assert strings is not None
        account_id, account_num = strings, pa.nulls(n, pa.uint64())
    from purgewatch.model import ACCOUNTS_SCHEMA

    return pa.table(
        {"sid": pa.array(sids, pa.int64()), "platform": pa.repeat(pa.scalar(platform, pa.string()), n),
         "account_id": account_id, NUM_COLUMN: account_num},
        schema=ACCOUNTS_SCHEMA,
    )


def normalize(table: pa.Table) -> pa.Table:
    """A catalogue table in the current form: old-form rows (every id a string) get their
    canonical decimal ids moved to ``account_num``; rows sorted by sid."""
    from purgewatch.model import ACCOUNTS_SCHEMA

    if NUM_COLUMN not in table.column_names:
        ids = table["account_id"].combine_chunks().cast(pa.string())
        mask, values = split_numeric(pc.fill_null(ids, ""))
        num = pa.array(values, pa.uint64(), mask=~mask)
        ids = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), ids)
        table = pa.table({"sid": table["sid"], "platform": table["platform"], "account_id": ids, NUM_COLUMN: num})
    table = table.select(ACCOUNTS_SCHEMA.names).cast(ACCOUNTS_SCHEMA)
    sids = table["sid"].to_numpy()
    if len(sids) > 1 and not bool(np.all(sids[1:] > sids[:-1])):
        table = table.take(pa.array(np.argsort(sids, kind="stable")))
    return table


def write(table: pa.Table, path: Path) -> None:
    """One catalogue file: sorted by sid, delta-encoded ids, row groups of 65,536 rows."""
    pq.write_table(
        normalize(table), path, row_group_size=ROW_GROUP_ROWS, use_dictionary=["platform"],
        column_encoding={"sid": "DELTA_BINARY_PACKED", NUM_COLUMN: "DELTA_BINARY_PACKED",
                         "account_id": "DELTA_BYTE_ARRAY"},
        compression="zstd", compression_level=1, store_schema=False,
    )


@dataclass(frozen=True)
class _Footer:
    lo: np.ndarray  # per row group: smallest sid
    hi: np.ndarray  # per row group: largest sid
    rows: np.ndarray  # per row group: rows
    columns: tuple[str, ...]
    no_text: np.ndarray  # per row group: account_id is null in every row (numeric ids only)
    platform: tuple[str | None, ...]  # per row group: its one platform (None: several or unknown)


_FOOTERS: OrderedDict[tuple[str, int, int], _Footer] = OrderedDict()
_FOOTERS_MAX = 65_536
_LOCK = threading.Lock()


def _footer(f: str) -> _Footer:
    """Sid range of each row group of a (never rewritten) catalogue file, cached."""
    st = os.stat(f)
    key = (f, st.st_size, st.st_mtime_ns)
    with _LOCK:
        hit = _FOOTERS.get(key)
        if hit is not None:
            return hit
    md = pq.ParquetFile(f).metadata
    names = tuple(md.schema.to_arrow_schema().names)
    col = names.index("sid")
    lo = np.zeros(md.num_row_groups, dtype=np.int64)
    hi = np.zeros(md.num_row_groups, dtype=np.int64)
    rows = np.array([md.row_group(i).num_rows for i in range(md.num_row_groups)], dtype=np.int64)
    no_text = np.zeros(md.num_row_groups, dtype=bool)
    platforms: list[str | None] = []
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        stats = rg.column(col).statistics
        if stats is not None and stats.has_min_max:
            lo[i], hi[i] = int(stats.min), int(stats.max)
        else:  # no statistics: the row group may hold any sid
            lo[i], hi[i] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        # Column statistics let a lookup skip columns it would only read nulls or one
        # repeated value from (X ids: account_id is all null, the platform one value).
        if NUM_COLUMN in names:
            ts = rg.column(names.index("account_id")).statistics
            no_text[i] = ts is not None and ts.has_null_count and ts.null_count == rg.num_rows
        ps = rg.column(names.index("platform")).statistics
        same = ps is not None and ps.has_min_max and ps.min == ps.max and ps.null_count == 0
        platforms.append(str(ps.min) if same else None)
    footer = _Footer(lo, hi, rows, names, no_text, tuple(platforms))
    with _LOCK:
        _FOOTERS[key] = footer
        while len(_FOOTERS) > _FOOTERS_MAX:
            _FOOTERS.popitem(last=False)
    return footer


def max_sid(files: Sequence[str]) -> int:
    """The largest sid in the catalogue files (-1 when empty), from their footers."""
    top = -1
    for f in files:
        hi = _footer(f).hi
        if len(hi) and int(hi.max()) == np.iinfo(np.int64).max:  # a row group without statistics
            sids = pq.read_table(f, columns=["sid"])["sid"]
            top = max(top, int(pc.max(sids).as_py()) if len(sids) else -1)
        elif len(hi):
            top = max(top, int(hi.max()))
    return top


def lookup(files: Sequence[str], sids: np.ndarray, platform: str | None = None) -> pa.Array:
    """Platform ids (strings) for ``sids``: null where the sid is unknown (or belongs to
    another platform than ``platform``, when given). Reads only the row groups whose sid
    range holds a requested sid, of them only the id columns that are not all null, and
    keeps only the rows asked for (the ids of 1% of a 10M list touch every row group)."""
    sids = np.asarray(sids, dtype=np.int64)
    if not len(sids) or not files:
        return pa.nulls(len(sids), pa.string())
    # (a diff's sids come sorted: np.unique would sort them again)
    need = sids if bool(np.all(sids[1:] > sids[:-1])) else np.unique(sids)
    assigned = np.zeros(len(sids), dtype=bool)
    where: list[np.ndarray] = []  # positions in ``sids`` answered by each part
    found: list[pa.Array] = []
    for f in files:
        ft = _footer(f)
        if not len(ft.lo):
            continue
        # row group g is needed when some requested sid lies in [lo[g], hi[g]]
        hit = np.searchsorted(need, ft.lo, side="left") < np.searchsorted(need, ft.hi, side="right")
        hit &= ft.rows > 0
        if platform is not None:  # row groups of another platform only: nothing to read
            hit &= np.array([p is None or p == platform for p in ft.platform], dtype=bool)
        groups = np.flatnonzero(hit)
        if not len(groups):
            continue
        glo, ghi, grows = ft.lo[groups], ft.hi[groups], ft.rows[groups]
        dense = _dense(ft, groups)
        text = not bool(ft.no_text[groups].all())
        check_platform = platform is not None and any(ft.platform[g] is None for g in groups)
        cols = (["account_id"] if text else []) + ([NUM_COLUMN] if NUM_COLUMN in ft.columns else [])
        cols += ["platform"] if check_platform else []
        cols += [] if dense else ["sid"]
        t: pa.Table | None = None
        if dense:
            starts = np.concatenate([[0], np.cumsum(grows)[:-1]])
            g = np.maximum(np.searchsorted(glo, sids, side="right") - 1, 0)
            ok = (sids >= glo[g]) & (sids <= ghi[g])
            rows = starts[g] + (sids - glo[g])
        else:
            t = pq.ParquetFile(f).read_row_groups(groups.tolist(), columns=cols, use_threads=False)
            known = t["sid"].to_numpy()
            order = np.argsort(known, kind="stable") if not bool(np.all(known[1:] > known[:-1])) else None
            sorted_known = known if order is None else known[order]
            pos = np.minimum(np.searchsorted(sorted_known, sids), len(known) - 1)
            ok = sorted_known[pos] == sids
            rows = pos if order is None else order[pos]
        sel = np.flatnonzero(ok & ~assigned)
        if not len(sel):
            continue
        assigned[sel] = True
        sub = t.take(pa.array(rows[sel])) if t is not None else _take_rows(f, groups, cols, rows[sel])
        ids = _ids_of(sub)
        if check_platform:
            same = pc.fill_null(pc.equal(sub["platform"].combine_chunks().cast(pa.string()), platform), False)
            ids = pc.if_else(same, ids, pa.scalar(None, pa.string()))
        where.append(sel)
        found.append(ids)
    if not found:
        return pa.nulls(len(sids), pa.string())
    at = np.full(len(sids), -1, dtype=np.int64)
    at[np.concatenate(where)] = np.arange(sum(len(w) for w in where), dtype=np.int64)
    return pa.concat_arrays(found).take(pa.array(at, mask=at < 0))


_BATCH_ROWS = 1 << 20


def _take_rows(f: str, groups: np.ndarray, cols: list[str], rows: np.ndarray) -> pa.Table:
    """``read_row_groups(groups, cols).take(rows)``, read a batch of rows at a time: the
    rows asked for are usually few among many, and a whole read would hold (and fault
    in) every row's ids at once."""
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    parts: list[pa.RecordBatch] = []
    offset = 0
    for batch in pq.ParquetFile(f).iter_batches(batch_size=_BATCH_ROWS, row_groups=groups.tolist(), columns=cols,
                                                use_threads=False):
        lo, hi = np.searchsorted(ordered, [offset, offset + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(ordered[lo:hi] - offset)))
        offset += batch.num_rows
    table = pa.Table.from_batches(parts)
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order), dtype=np.int64)
    return table.take(pa.array(back))


def _read_numbers(f: str, groups: np.ndarray, n: int) -> np.ndarray | None:
    """The ``account_num`` column of ``groups`` (``n`` rows) as one array, read a batch
    at a time into it (a whole read, then a copy into one array, would touch twice the
    memory: at 2*10^7 ids most of the cost is the kernel faulting pages in). None when a
    row has no number."""
    out = np.empty(n, dtype=np.uint64)
    at = 0
    for batch in pq.ParquetFile(f).iter_batches(batch_size=_BATCH_ROWS, row_groups=groups.tolist(),
                                                columns=[NUM_COLUMN], use_threads=False):
        col = batch.column(0)
        if col.null_count or at + len(col) > n:
            return None
        out[at : at + len(col)] = col.to_numpy()
        at += len(col)
    return out if at == n else None


def _ids_of(t: pa.Table) -> pa.Array:
    """Ids as strings from catalogue rows in either form: ``account_id``, or the integer
    ``account_num`` (absent columns read as null)."""
    n = t.num_rows
    text = t["account_id"].combine_chunks().cast(pa.string()) if "account_id" in t.column_names else None
    num = t[NUM_COLUMN].combine_chunks().cast(pa.uint64()).cast(pa.string()) if NUM_COLUMN in t.column_names else None
    if text is None and num is None:
        return pa.nulls(n, pa.string())
    if text is None:
        return num  # type: ignore[return-value]
    if num is None:
        return text
    return pc.coalesce(text, num)


def _dense(ft: _Footer, groups: np.ndarray) -> bool:
    """Whether the row groups ``groups`` hold every sid of their footer ranges, in order
    (sid = lo + row). Sids are handed out by one counter and a batch's file holds a run
    of them, so this is the usual case: then the sids follow from the footer and the sid
    column need not be read."""
    glo, ghi, grows = ft.lo[groups], ft.hi[groups], ft.rows[groups]
    if bool((glo == np.iinfo(np.int64).min).any() or (ghi == np.iinfo(np.int64).max).any()):
        return False
    return bool(np.all(grows == ghi - glo + 1) and np.all(glo[1:] > ghi[:-1]))


def _dense_sids(lo: np.ndarray, hi: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The sids of dense row groups, in row order (one ``arange`` when they are
    contiguous, the usual case: every temporary of 10^7 rows costs page faults)."""
    if bool(np.all(lo[1:] == hi[:-1] + 1)):
        return np.arange(int(lo[0]), int(hi[-1]) + 1, dtype=np.int64)
    first_row = np.concatenate([[0], np.cumsum(rows)[:-1]])
    out = np.repeat(lo - first_row, rows)
    out += np.arange(len(out), dtype=np.int64)
    return out


# Sids of a run of catalogue rows: an array, or the first sid of rows whose sids ascend
# by one (a batch's new ids, the usual case: 160 MB of sids at 2*10^7 ids not built).
Sids = np.ndarray | int


def sids_array(sids: Sids, n: int) -> np.ndarray:
    """``sids`` as an array of ``n`` sids."""
    return np.arange(sids, sids + n, dtype=np.int64) if isinstance(sids, int) else sids


def read_platform(files: Sequence[str], platform: str) -> tuple[np.ndarray, Sids, pa.Array, np.ndarray]:
    """The whole catalogue of one platform: (numbers, their sids, strings, their sids).
    Old-form numeric strings are returned as numbers. The numbers' sids are an int (the
    first of consecutive sids) when every number's row is dense and in sid order.

    Reads, like :func:`lookup`, only what the footers do not already say: row groups of
    another platform are skipped, the sid column of dense row groups, the ``platform``
    column of one-platform row groups and ``account_id`` where it is all null are not
    read; so an X catalogue costs one delta-coded integer column (single-threaded: the
    decoding threads cost more CPU than they save on one column)."""
    nums: list[np.ndarray] = []
    nsids: list[Sids] = []
    strs: list[pa.Array] = []
    ssids: list[np.ndarray] = []
    for f in files:
        ft = _footer(f)
        ok = (ft.rows > 0) & np.array([p is None or p == platform for p in ft.platform], dtype=bool)
        groups = np.flatnonzero(ok)
        if not len(groups):
            continue
        has_num = NUM_COLUMN in ft.columns
        text = not has_num or not bool(ft.no_text[groups].all())
        check_platform = any(ft.platform[g] is None for g in groups)
        dense = _dense(ft, groups)
        first: int | None = None  # the first sid when the rows' sids ascend by one
        contiguous = dense and bool(np.all(ft.lo[groups][1:] == ft.hi[groups][:-1] + 1))
        if contiguous and has_num and not text and not check_platform:
            # the usual case (a batch's new numeric ids): one column, streamed
            numbers = _read_numbers(f, groups, int(ft.rows[groups].sum()))
            if numbers is not None:
                nums.append(numbers)
                nsids.append(int(ft.lo[groups[0]]))
                continue
        cols = (["account_id"] if text else []) + ([NUM_COLUMN] if has_num else [])
        cols += (["platform"] if check_platform else []) + ([] if dense else ["sid"])
        t = pq.ParquetFile(f).read_row_groups(groups.tolist(), columns=cols, use_threads=False)
        if contiguous:
            first = int(ft.lo[groups[0]])
            sid = np.zeros(0, dtype=np.int64)  # built below only if some rows are dropped
        elif dense:
            sid = _dense_sids(ft.lo[groups], ft.hi[groups], ft.rows[groups])
        else:
            sid = t["sid"].to_numpy()
        if check_platform:
            same = pc.fill_null(pc.equal(t["platform"].combine_chunks().cast(pa.string()), platform), False)
            if first is not None:
                sid, first = np.arange(first, first + t.num_rows, dtype=np.int64), None
            t, sid = t.filter(same), sid[same.to_numpy(zero_copy_only=False)]
        if not t.num_rows:
            continue
        if has_num:
            num = t[NUM_COLUMN].combine_chunks()
            is_num = np.ones(len(num), dtype=bool) if num.null_count == 0 else num.is_valid().to_numpy(zero_copy_only=False)
            values = num.to_numpy(zero_copy_only=False) if num.null_count == 0 else pc.fill_null(num, 0).to_numpy()
        else:
            ids = t["account_id"].combine_chunks().cast(pa.string())
            is_num, values = split_numeric(pc.fill_null(ids, ""))
        if is_num.all():
            nums.append(np.asarray(values, dtype=np.uint64))
            nsids.append(first if first is not None else sid)
            continue
        if first is not None:
            sid = np.arange(first, first + t.num_rows, dtype=np.int64)
        if is_num.any():
            nums.append(np.asarray(values[is_num], dtype=np.uint64))
            nsids.append(sid[is_num])
        rest = pa.array(~is_num)
        strs.append(t["account_id"].combine_chunks().cast(pa.string()).filter(rest))
        ssids.append(sid[~is_num])
    n: np.ndarray = np.zeros(0, dtype=np.uint64)
    ns: Sids = np.zeros(0, dtype=np.int64)
    if len(nums) == 1:
        n, ns = nums[0], nsids[0]
    elif nums:
        n = np.concatenate(nums)
        firsts = [x for x in nsids if isinstance(x, int)]
        if len(firsts) == len(nsids) and all(firsts[i + 1] == firsts[i] + len(nums[i]) for i in range(len(nums) - 1)):
            ns = firsts[0]  # the parts' sids follow on from each other
        else:
            ns = np.concatenate([sids_array(x, len(k)) for x, k in zip(nsids, nums, strict=True)])
    s = pa.concat_arrays(strs) if strs else pa.array([], pa.string())
    ss = np.concatenate(ssids) if ssids else np.zeros(0, dtype=np.int64)
    return n, ns, s, ss


# ------------------------------------------------------------------ the writer's index


def argsort_u64(values: np.ndarray, _depth: int = 0) -> np.ndarray:
    """``np.argsort(values)`` for uint64 (ties in any order), by one vectorised ``sort``
    of packed words instead of an index sort (several times slower in numpy): each word
    holds the top bits of ``value - min`` above the element's index. Elements whose kept
    bits tie (a dense cluster, e.g. X's legacy ids below a sparse snowflake range) are
    then ordered by (rank of their kept bits, the bits dropped), packed and sorted the
    same way, which needs far fewer bits."""
    n = len(values)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    if _depth > 3:
        return np.argsort(values, kind="stable")
    idx_bits = max(1, (n - 1).bit_length())
    keep = 64 - idx_bits
    low = values.min()
    packed = values - low  # (few temporaries of n words: each costs page faults)
    drop = max(0, int(packed.max()).bit_length() - keep)
    if drop:
        packed >>= np.uint64(drop)
    packed <<= np.uint64(idx_bits)
    # The index, then the tie test, a chunk at a time through two reused buffers: no
    # second and third n-word array (fresh memory is paid in page faults).
    step = np.arange(min(n, _CHUNK), dtype=np.uint64)
    buf = np.empty_like(step)
    for a in range(0, n, _CHUNK):
        m = min(n - a, _CHUNK)
        packed[a : a + m] |= np.add(step[:m], np.uint64(a), out=buf[:m])
    packed.sort()
    tie = np.zeros(0, dtype=np.int64)
    if drop:  # sorted positions whose kept bits equal the next one's
        same = np.empty(n - 1, dtype=bool)
        for a in range(0, n - 1, _CHUNK):
            m = min(n - 1 - a, _CHUNK)
            left = np.right_shift(packed[a : a + m], np.uint64(idx_bits), out=buf[:m])
            right = np.right_shift(packed[a + 1 : a + 1 + m], np.uint64(idx_bits), out=step[:m])
            np.equal(left, right, out=same[a : a + m])
        tie = np.flatnonzero(same)
        del same
    packed &= np.uint64((1 << idx_bits) - 1)
    order = packed.view(np.int64)
    if drop:
        if len(tie):
            inside = np.zeros(n, dtype=bool)  # sorted positions inside groups of equal kept bits
            inside[tie] = True
            inside[tie + 1] = True
            members = np.flatnonzero(inside)
            idx = order[members]
            t = (values[idx] - low) >> np.uint64(drop)  # their kept bits
            rank = np.concatenate([[0], np.cumsum(t[1:] != t[:-1])]).astype(np.uint64)
            key = (rank << np.uint64(drop)) | ((values[idx] - low) & np.uint64((1 << drop) - 1))
            order[members] = idx[argsort_u64(key, _depth + 1)]
    return order


_EMPTY = np.uint64(2**64 - 1)  # a free hash slot: no canonical id reaches it (ids < 10**19)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier
# Linear probing at load 0.6 takes ~1.8 probes to find a key, ~3.6 to miss one; a lower
# bound would double the table (16 bytes a slot) for 3*10^7 ids.
_MAX_LOAD = 0.6


class U64Map:
    """uint64 key -> int64 value, an open-addressing hash table (linear probing, load
    <= 0.6) whose inserts and lookups are whole-array numpy rounds: every pending key
    probes one slot per round, so a lookup of 10^8 keys is a few random gathers per key
    (the memory system overlaps them) instead of ~25 dependent steps of a binary search
    over tens of millions of sorted keys."""

    def __init__(self, capacity: int = 1 << 10) -> None:
        bits = max(10, int(capacity - 1).bit_length())
        self._alloc(bits)
        self.size = 0

    def _alloc(self, bits: int, wide: bool = False) -> None:
        self.bits = bits
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.uint64)
        # Values (sids) as int32 while they fit: 12 bytes a slot instead of 16 (a third
        # of a GB for 3*10^7 ids), widened to int64 by the first value that does not.
        self.vals = np.zeros(1 << bits, dtype=np.int64 if wide else np.int32)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = keys * _GOLDEN
        h >>= np.uint64(64 - self.bits)
        return h.view(np.int64)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        used = self.keys != _EMPTY
        return self.keys[used], self.vals[used]

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Add distinct ``keys`` (none already present) with their ``vals``."""
        keys = np.asarray(keys, dtype=np.uint64)
        if not len(keys):
            return
        if bool((keys == _EMPTY).any()):
            raise StoreError(f"numeric account id {int(_EMPTY)} is out of range", hint="pass it as a string")
        vals = np.asarray(vals, dtype=np.int64)
        wide = self.vals.dtype == np.int64 or bool(vals.max() > np.iinfo(np.int32).max or vals.min() < 0)
        need = int((self.size + len(keys)) / _MAX_LOAD) + 1
        if need > len(self.keys):
            old_k, old_v = self.items()
            self._alloc((need - 1).bit_length(), wide)
            self.size = 0
            if len(old_k):
                self.insert(old_k, old_v)
            del old_k, old_v
        elif wide and self.vals.dtype != np.int64:
            self.vals = self.vals.astype(np.int64)
        slot = self._slots(keys)
        pend = np.arange(len(keys), dtype=np.int64)
        top = np.int64(len(self.keys) - 1)
        while len(pend):
            free = self.keys[slot] == _EMPTY
            cand, cs = pend[free], slot[free]
            self.keys[cs] = keys[cand]  # keys racing for one slot: one of them lands
            won = self.keys[cs] == keys[cand]
            self.vals[cs[won]] = vals[cand[won]]
            lost = ~won
            pend = np.concatenate([pend[~free], cand[lost]])
            slot = np.concatenate([slot[~free], cs[lost]]) + 1
            slot &= top
        self.size += len(keys)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Values of ``keys`` (any order, repeats allowed), -1 where absent."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.full(len(keys), -1, dtype=np.int64)
        if not self.size or not len(keys):
            return out
        slot = self._slots(keys)
        k = self.keys[slot]
        hit = k == keys
        out[hit] = self.vals[slot[hit]]
        pend = np.flatnonzero(~hit & (k != _EMPTY))
        del k
        slot = slot[pend]
        top = np.int64(len(self.keys) - 1)
        while len(pend):
            slot += 1
            slot &= top
            k = self.keys[slot]
            hit = k == keys[pend]
            out[pend[hit]] = self.vals[slot[hit]]
            more = ~hit & (k != _EMPTY)
            pend, slot = pend[more], slot[more]
        return out


@dataclass
class PlatformIndex:
    """One platform's catalogue in a writer: numeric ids as sorted runs, searched with
    ``searchsorted`` until the ids looked up outnumber the catalogue, then in a hash
    table (:class:`U64Map`: building it costs about as much as looking up as many ids
    as it holds, so one 10M list against a 20M catalogue does not pay for it, a day of
    10^8 lookups against 3*10^7 does); string ids as Arrow chunks (Arrow's hash kernels)."""

    numbers: U64Map = field(default_factory=U64Map)
    strings: list[pa.Array] = field(default_factory=list)
    string_sids: list[np.ndarray] = field(default_factory=list)
    runs: list[tuple[np.ndarray, Sids]] = field(default_factory=list)  # (ids, sids), not yet hashed
    looked_up: int = 0

    def add_numbers(self, values: np.ndarray, sids: Sids) -> None:
        """Remember new distinct ``values`` with their sids."""
        if len(values):
            if self.numbers.size:
                self.numbers.insert(values, sids_array(sids, len(values)))
            else:
                self.runs.append((values, sids))

    def has_numbers(self) -> bool:
        return bool(self.numbers.size or self.runs)

    def find_numbers(self, values: np.ndarray) -> np.ndarray:
        """Sids of ``values`` (-1 where unknown)."""
        if self.count_lookups(len(values)):
            return self.numbers.find(values)
        order = argsort_u64(values)
        out = np.empty(len(values), dtype=np.int64)
        out[order] = self.find_sorted(values[order])
        return out

    def count_lookups(self, n: int) -> bool:
        """Count ``n`` more ids to look up; once the ids looked up outnumber the runs,
        move the runs into the hash table. True when the numbers are in the hash table
        (look up with ``numbers.find``), False when in sorted runs (:meth:`find_sorted`)."""
        self.looked_up += n
        if self.runs and self.looked_up > sum(len(k) for k, _ in self.runs):
            while self.runs:
                keys, sids = self.runs.pop()
                self.numbers.insert(keys, sids_array(sids, len(keys)))
        return bool(self.numbers.size)

    def find_sorted(self, needles: np.ndarray) -> np.ndarray:
        """Sids of ascending ``needles`` in the sorted runs (-1 where unknown): with
        sorted needles ``searchsorted`` walks a run forward instead of jumping over it
        (~20x faster than unsorted needles against 10^7 ids)."""
        self._sort_runs()
        found = np.full(len(needles), -1, dtype=np.int64)
        for keys, sids in self.runs:
            at_key = np.empty(min(len(needles), _CHUNK), dtype=keys.dtype)
            for a in range(0, len(needles), _CHUNK):  # (small temporaries: see split_numeric)
                part = needles[a : a + _CHUNK]
                pos = np.searchsorted(keys, part)
                np.minimum(pos, len(keys) - 1, out=pos)
                hit = np.flatnonzero(np.take(keys, pos, out=at_key[: len(part)]) == part)
                at = pos[hit]
                found[a + hit] = at + sids if isinstance(sids, int) else sids[at]
        return found

    def _sort_runs(self) -> None:
        """Each run sorted by id; runs merged like a binary counter (a small run per
        call, so lookups search a few runs)."""
        for i, (keys, sids) in enumerate(self.runs):
            if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
                o = argsort_u64(keys)
                self.runs[i] = (keys[o], o + sids if isinstance(sids, int) else sids[o])
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            k2, s2 = self.runs.pop()
            k1, s1 = self.runs.pop()
            keys = np.concatenate([k1, k2])
            o = argsort_u64(keys)
            self.runs.append((keys[o], np.concatenate([sids_array(s1, len(k1)), sids_array(s2, len(k2))])[o]))

    def number_items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (number, sid) held."""
        nums, sids = self.numbers.items()
        return (np.concatenate([nums, *(r[0] for r in self.runs)]),
                np.concatenate([sids, *(sids_array(r[1], len(r[0])) for r in self.runs)]))

    def find_strings(self, distinct: pa.Array) -> np.ndarray:
        """Sids of distinct string ids (-1 where unknown)."""
        out = np.full(len(distinct), -1, dtype=np.int64)
        total = sum(len(c) for c in self.strings)
        if not total or not len(distinct):
            return out
        if len(self.strings) > 1:
            self.strings = [pa.concat_arrays(self.strings)]
            self.string_sids = [np.concatenate(self.string_sids)]
        known, known_sids = self.strings[0], self.string_sids[0]
        if len(distinct) * 8 < len(known):
            # few ids against many: hash the few, scan the catalogue once
            hit = pc.index_in(known, value_set=distinct)
            valid = pc.is_valid(hit).to_numpy(zero_copy_only=False)
            out[pc.drop_null(hit).to_numpy(zero_copy_only=False)] = known_sids[valid]
        else:
            idx = pc.index_in(distinct, value_set=known)
            found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
            out[found] = known_sids[pc.drop_null(idx).to_numpy(zero_copy_only=False)]
        return out

    def add_strings(self, values: pa.Array, sids: np.ndarray) -> None:
        if len(values):
            self.strings.append(values)
            self.string_sids.append(sids)
