"""What analyses see of the store: retracted batches hidden, implausible times clamped.

Every analysis reads through :meth:`Store.read` or :meth:`Store.ibis`, and both apply
:func:`visible` (Arrow) or :func:`view_sql` (DuckDB views) here, so the rules live in one
place:

- **Retractions.** Rows whose ``batch_id`` was retracted (``purgewatch retract``) are
  hidden. They stay in the store, with the reason, in the ``retractions`` table.
- **Implausible times.** Imports refuse times before 2000-01-01 or more than a day after
  the import, but a store written by an earlier version may hold one (a row dated 2300
  made reports overflow and detection allocate hourly bins over three centuries). Such a
  time is clamped into [2000-01-01, now + 1 day] for analysis, and a warning names the
  table, the column, the number of rows and their batches, so the user can retract them.
  Stored rows are never changed.

Checking costs nothing on a clean store: the time columns' Parquet statistics (min/max
per row group, cached per immutable file) say whether any row needs clamping.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from purgewatch.model import TABLE_SCHEMAS, TS

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# Tables whose rows come from batches that can be retracted (the catalogue of surrogate
# ids, the run log and the retractions themselves are bookkeeping, never hidden).
RETRACTABLE = frozenset(t for t, s in TABLE_SCHEMAS.items()
                        if "batch_id" in s.names and t not in ("runs", "retractions"))


class ImplausibleTimeWarning(UserWarning):
    """An out-of-range time in the store was clamped for analysis."""


def time_columns(table: str) -> list[str]:
    return [f.name for f in TABLE_SCHEMAS[table]
            if f.type == TS and f.name not in ("retrieved_at",)]


def bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    return EARLIEST, (now or datetime.now(UTC)) + FUTURE_SLACK


@functools.lru_cache(maxsize=4096)
def _file_range(path: str, mtime_ns: int, column: str) -> tuple[int | None, int | None]:
    """(min, max) of a timestamp column in microseconds, from the file's statistics.
    ``mtime_ns`` is not read: it is part of the cache key, so a rewritten file (compaction)
    is read again."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return None, None
    idx = names.index(column)
    lo: int | None = None
    hi: int | None = None
    for rg in range(meta.num_row_groups):
        st = meta.row_group(rg).column(idx).statistics
        if st is None or not st.has_min_max:
            return -(1 << 62), 1 << 62  # unknown: assume the worst, the data decides
        try:
            mn, mx = _micros(st.min), _micros(st.max)
        except (ValueError, OverflowError):  # beyond what Python's datetime holds
            return -(1 << 62), 1 << 62
        lo = mn if lo is None else min(lo, mn)
        hi = mx if hi is None else max(hi, mx)
    return lo, hi


def _micros(value: object) -> int:
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int((v - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    return int(value)  # type: ignore[call-overload]


def suspect_columns(files: Sequence[str], table: str, now: datetime | None = None) -> list[str]:
    """Time columns of ``table`` with a value outside the plausible range in ``files``."""
    lo, hi = (_micros(b) for b in bounds(now))
    out = []
    for col in time_columns(table):
        for f in files:
            try:
                mn, mx = _file_range(f, os.stat(f).st_mtime_ns, col)
            except FileNotFoundError:
                continue
            if mn is not None and mx is not None and (mn < lo or mx > hi):
                out.append(col)
                break
    return out


_warned: set[tuple[str, str, str, int]] = set()


def _warn(store_path: str, table: str, column: str, n: int, batches: list[str]) -> None:
    key = (store_path, table, column, n)
    if key in _warned:  # a web UI reads the same store many times: say it once
        return
    _warned.add(key)
    shown = ", ".join(batches[:5]) + (f" and {len(batches) - 5} more" if len(batches) > 5 else "")
    warnings.warn(
        f"{n:,} {table} row(s) have {column} before 2000-01-01 or more than a day in the "
        f"future (stored before imports checked times); analyses use them clamped into that "
        f"range. Batch(es): {shown}. To withdraw them: purgewatch retract BATCH --reason TEXT",
        ImplausibleTimeWarning, stacklevel=3,
    )


def visible(table: str, data: pa.Table, retracted: frozenset[str], *, store_path: str,
            suspect: Sequence[str] = ()) -> pa.Table:
    """``data`` (rows of ``table``, with ``batch_id`` when it can matter) without
    retracted rows, with the ``suspect`` time columns clamped."""
    if retracted and table in RETRACTABLE and "batch_id" in data.column_names:
        keep = pc.invert(pc.fill_null(pc.is_in(data.column("batch_id"),
                                               value_set=pa.array(sorted(retracted), pa.string())), False))
        data = data.filter(keep)
    lo, hi = bounds()
    for col in suspect:
        if col not in data.column_names:
            continue
        v = data.column(col)
        early = pc.fill_null(pc.less(v, pa.scalar(lo, TS)), False)
        late = pc.fill_null(pc.greater(v, pa.scalar(hi, TS)), False)
        out = pc.or_(early, late)
        n = int(pc.sum(out).as_py() or 0)
        if not n:
            continue
        batches = (sorted(set(data.column("batch_id").filter(out).to_pylist()) - {None})
                   if "batch_id" in data.column_names else [])
        _warn(store_path, table, col, n, batches)
        clamped = pc.if_else(early, pa.scalar(lo, TS), pc.if_else(late, pa.scalar(hi, TS), v))
        data = data.set_column(data.schema.get_field_index(col), col, clamped)
    return data


def view_sql(table: str, raw_name: str, columns: Sequence[str], suspect: Sequence[str],
             hide: bool) -> str:
    """DuckDB SQL of the analysis view of ``table`` over the registered ``raw_name``;
    ``hide`` filters batches listed in the registered ``__retracted`` table. Built from
    schema names and datetimes formatted here only (no user text)."""
    lo, hi = bounds()
    sel = []
    for c in columns:
        q = f'"{c}"'
        if c in suspect:
            sel.append(f"greatest(least({q}, TIMESTAMPTZ '{hi.isoformat()}'), "
                       f"TIMESTAMPTZ '{lo.isoformat()}') AS {q}")
        else:
            sel.append(q)
    where = ' WHERE "batch_id" IS NULL OR "batch_id" NOT IN (SELECT b FROM __retracted)' if hide else ""
    return f'SELECT {", ".join(sel)} FROM "{raw_name}"{where}'  # noqa: S608


def warn_view(store_path: str, table: str, files: Sequence[str], suspect: Sequence[str],
              retracted: frozenset[str]) -> None:
    """The warning for clamped rows behind a DuckDB view (counted from the files once)."""
    import pyarrow.dataset as ds

    lo, hi = bounds()
    dset = ds.dataset(list(files), format="parquet")
    for col in suspect:
        flt = (pc.field(col) < pa.scalar(lo, TS)) | (pc.field(col) > pa.scalar(hi, TS))
        t = dset.to_table(columns=["batch_id"], filter=flt)
        batches = sorted(set(t.column("batch_id").to_pylist()) - {None} - set(retracted))
        if batches:
            n = sum(1 for b in t.column("batch_id").to_pylist() if b not in retracted)
            _warn(store_path, table, col, n, batches)
