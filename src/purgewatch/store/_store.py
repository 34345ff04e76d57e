"""The evidence store: append-only Parquet tables with provenance.

Writers go through :class:`BatchWriter` (one batch = one atomic directory, see
``_layout.py``); readers through :meth:`Store.files`, :meth:`Store.read` or
:meth:`Store.ibis`. Nothing here ever rewrites a committed record; compaction only
re-packs the same rows into fewer files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from purgewatch.errors import StoreError
from purgewatch.model import LATE_FACT_COLUMNS, TABLE_SCHEMAS, TOOL_VERSION
from purgewatch.store import _catalogue, _guard, _layout

if TYPE_CHECKING:
    import ibis.backends.duckdb

DEFAULT_STORE = "purgewatch-data"
ENV_STORE = "PURGEWATCH_STORE"

# Columns that identify a record's content (everything but provenance). Re-importing
# the same content yields the same key, so it is not stored twice.
_PROVENANCE = {
    "source",
    "source_ref",
    "retrieved_at",
    "tool_version",
    "payload_hash",
    "batch_id",
    "record_key",
}
KEYED_TABLES = ("observations", "profiles", "status_events", "status_counts", "snapshots", "watchlist", "posts",
                "post_reads")
# Content columns left out of a table's key. A post re-read unchanged is the same
# version whenever it was read (its reads are logged in post_reads); a read is identified
# by who, when and what window, so its list of post ids need not be hashed.
_NOT_KEYED: dict[str, frozenset[str]] = {
    "posts": frozenset({"observed_at"}),
    "post_reads": frozenset({"post_ids"}),
}
# zstd level 1: as small as level 3 on these tables and ~40% faster to write (measured
# on the IRA series). Columns unique per row gain nothing from dictionary encoding.
_PARQUET_OPTS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
# Counts are delta-encoded (Parquet DELTA_BINARY_PACKED, read by DuckDB, pandas and
# Spark alike): half the write time and 25-40% smaller than plain + zstd, measured on
# the IRA series and on random counts; dictionaries only overflow on them.
_DELTA_COLUMNS = ("followers_count", "following_count", "posts_count")
_NO_DICTIONARY = frozenset({"record_key", "source_ref", "observed_at", "at", *_DELTA_COLUMNS})
# Columns holding already-compressed blobs (follower snapshots): written as-is, and kept
# in row groups of bounded size so one snapshot is read without its neighbours.
_BLOB_COLUMNS = ("payload", "order_payload")
_ROW_GROUP_BLOB_BYTES = 4 << 20
# Tables written in the order of one time column, in row groups of that many rows: a
# query over a window then skips every row group whose min/max of that column lies
# outside it (a word search over a 3-month window of a year of posts reads about a
# third of the text). Stored row order carries no meaning.
_CLUSTERED: dict[str, tuple[str, int]] = {"posts": ("created_at", 131_072)}
# Per-table column encodings (Parquet 2 encodings DuckDB, pandas and Spark read alike):
# times in publication or account order delta-encode to a few bytes, and post ids and
# file:line references that share prefixes keep only what differs. They kept the posts
# table as small as before it was reordered by time (the ids had been in file order)
# and made the read log 10% smaller, measured on benchmarks/posts.py's generated posts.
_DELTA = "DELTA_BINARY_PACKED"
_TABLE_ENCODINGS: dict[str, dict[str, str]] = {
    "posts": {"created_at": _DELTA, "observed_at": _DELTA, "post_id": "DELTA_BYTE_ARRAY",
              "source_ref": "DELTA_BYTE_ARRAY"},
    "post_reads": {"read_at": _DELTA, "window_start": _DELTA, "window_end": _DELTA},
}
# A batch whose tables beside the largest hold this many rows writes its files in parallel.
_PARALLEL_ROWS = 100_000
# How long a generation replaced by compaction stays on disk for readers that resolved
# it before the swap (see _layout.drop_old_generations).
GENERATION_GRACE_SECONDS = 3600.0
# Compaction merges small batches into batches of about this size on disk (a merged
# group is decoded in memory, several times this).
COMPACT_TARGET_BYTES = 64 << 20


def constant_strings(value: str | None, n: int) -> pa.Array:
    """``n`` copies of one string as a dictionary array: no per-row bytes to build, hash
    or encode (a 64-hex file hash repeated 2M times is 128 MB as a plain column). Store
    files are written without the Arrow schema, so readers see a plain string column."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string())
    )


def default_store_path() -> Path:
    return Path(os.environ.get(ENV_STORE) or DEFAULT_STORE)


def content_columns(table: str) -> list[str]:
    skip = _PROVENANCE | _NOT_KEYED.get(table, frozenset())
    return [f.name for f in TABLE_SCHEMAS[table] if f.name not in skip]


def record_keys(table: pa.Table, columns: Sequence[str], *, version: int = 2) -> np.ndarray:
    """64-bit content key per row over ``columns`` (the table's content columns, in
    schema order). ``version`` is the store's key function (STORE.json ``"keys"``):
    stores made before 0.2 keep version 1 so their re-imports still de-duplicate.

    Columns added to the schema later (``model.LATE_FACT_COLUMNS``) leave a row's key as
    it was while they are null: version 2 adds nothing for such a null cell, version 1
    does not hash them at all."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.uint64)
    if version == 1:
        return _record_keys_v1(table, [c for c in columns if c not in LATE_FACT_COLUMNS])
    return _record_keys_v2(table, columns)


def _record_keys_v1(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """pandas' documented, seeded SipHash of the row (``hash_pandas_object``)."""
    table = table.select(list(columns))
    frame = table.cast(_decoded(table.schema)).to_pandas(
        types_mapper={pa.timestamp("us", tz="UTC"): pd.ArrowDtype(pa.int64())}.get
    )
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].astype("int64")
    hashed = pd.util.hash_pandas_object(frame, index=False, categorize=True)
    return hashed.to_numpy(dtype=np.uint64)


# Key function version 2 (docs/store.md, "Content keys"). Per column i (1-based) a value
# hash v: strings and bytes -> pandas.util.hash_array (SipHash-2-4, key
# "0123456789123456", UTF-8), computed once per distinct value; integers, booleans (0/1)
# and timestamps (microseconds) -> fmix64 of the 64-bit two's complement; null -> _NULL.
# key = fmix64(sum_i m_i * v_i mod 2**64), m_i = fmix64(i) | 1. Being a sum, a column that
# is constant in a batch (all null, one platform) costs one scalar, not a pass over rows;
# everything else is whole-array numpy, which runs beside the background Parquet writer.
_FMIX_C1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_FMIX_SHIFT = np.uint64(33)
_NULL = np.uint64(0x9E3779B97F4A7C15)


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that mixes every bit), on a copy."""
    x = np.array(x, dtype=np.uint64)
    x ^= x >> _FMIX_SHIFT
    x *= _FMIX_C1
    x ^= x >> _FMIX_SHIFT
    x *= _FMIX_C2
    x ^= x >> _FMIX_SHIFT
    return x


def _value_hashes(col: pa.Array | pa.ChunkedArray) -> np.ndarray | np.uint64:
    """Per-row value hashes of one column, or one scalar when the column is constant."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    if col.null_count == n:
        return _NULL
    if pa.types.is_dictionary(col.type) and (
        not _is_text(col.type.value_type) or col.dictionary.null_count
    ):
        col = col.cast(col.type.value_type)  # key the values, not their encoding
        if col.null_count == n:
            return _NULL
    typ = col.type
    nulls = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
    if not pa.types.is_dictionary(typ) and _is_bytes_like(typ) and _mostly_distinct(col):
        # Nearly one value per row (post ids, texts, text hashes): building a dictionary
        # of them costs more than hashing each row, and handing SipHash bytes rather than
        # str objects skips a decode and a re-encode (the same UTF-8 bytes, the same hash).
        raw = col.cast(pa.large_binary() if pa.types.is_large_string(typ) or pa.types.is_large_binary(typ)
                       else pa.binary())
        out = pd.util.hash_array(raw.to_numpy(zero_copy_only=False), categorize=False)
    elif pa.types.is_dictionary(typ) or _is_bytes_like(typ):
        enc = col if pa.types.is_dictionary(typ) else pc.dictionary_encode(col)
        distinct = pd.util.hash_array(enc.dictionary.to_numpy(zero_copy_only=False), categorize=False)
        indices = enc.indices
        if nulls is None and len(distinct) == 1:
            return np.uint64(distinct[0])
        out = distinct[indices.fill_null(0).to_numpy()]
    else:
        if pa.types.is_timestamp(typ) or pa.types.is_boolean(typ):
            col = col.cast(pa.int64())
        values = col.fill_null(0) if nulls is not None else col
        out = fmix64(values.to_numpy().astype(np.int64, copy=False).view(np.uint64))
    if nulls is not None:
        out[nulls] = _NULL
    return out


_DISTINCT_SAMPLE = 2048


def _mostly_distinct(col: pa.Array) -> bool:
    """Whether most rows of a large column hold a value no other sampled row holds
    (judged on evenly spaced rows). Only speed depends on it: both ways of hashing
    give every value the same hash."""
    n = len(col)
    if n < 4 * _DISTINCT_SAMPLE:
        return False
    sample = col.take(pa.array(np.linspace(0, n - 1, _DISTINCT_SAMPLE, dtype=np.int64)))
    return bool(pc.count_distinct(sample, mode="all").as_py() > _DISTINCT_SAMPLE // 2)


def _is_bytes_like(typ: pa.DataType) -> bool:
    return _is_text(typ) or pa.types.is_binary(typ) or pa.types.is_large_binary(typ)


def _record_keys_v2(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    constant = np.zeros(1, dtype=np.uint64)
    for i, name in enumerate(columns, start=1):
        weight = fmix64(np.array([i], dtype=np.uint64)) | np.uint64(1)
        v = _value_hashes(table.column(name))
        if name in LATE_FACT_COLUMNS:
            # A null late column adds nothing, so rows without it keep their old keys.
            if not isinstance(v, np.ndarray):
                continue
            v = np.where(v == _NULL, np.uint64(0), v)
        if isinstance(v, np.ndarray):
            v *= weight
            acc += v
        else:
            constant += weight * v
    acc += constant
    return fmix64(acc)


@dataclass
class CommitResult:
    batch_id: str | None
    rows: dict[str, int]
    duplicates: dict[str, int]

    @property
    def committed(self) -> bool:
        return self.batch_id is not None


class Store:
    """An evidence store on disk. Cheap to construct; reads resolve files on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Stores made before 0.2 keep content keys of version 1 (see record_keys).
        self.key_version = _layout.key_version(_layout.read_marker(self.path))

    @classmethod
    def init(cls, path: str | os.PathLike[str]) -> Store:
        _layout.init_layout(Path(path))
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = False) -> Store:
        p = Path(path) if path is not None else default_store_path()
        if create and not (p / "STORE.json").exists():
            return cls.init(p)
        return cls(p)

    # ------------------------------------------------------------------ reading
    def state(self) -> tuple[str, ...]:
        """The committed state: the live generation's name and its batches' names, in
        commit order. Equal states hold equal data, so an answer computed from the store
        can be cached under its state."""
        gen = _layout.current_generation(self.path)
        return (gen.name, *(b.name for b in _layout.committed_batches(gen)))

    def files(self, table: str, *, generation: Path | None = None) -> list[str]:
        """Committed Parquet files of ``table`` in the live generation, commit order."""
        _check_table(table)
        gen = generation or _layout.current_generation(self.path)
        name = f"{table}.parquet"
        return [str(batch / name) for batch in _layout.committed_batches(gen) if name in _layout.batch_files(batch)]

    def retracted(self) -> frozenset[str]:
        """Batch ids withdrawn by ``purgewatch retract`` (their rows stay stored)."""
        files = self.files("retractions")
        if not files:
            return frozenset()
        return frozenset(pa.concat_tables(
            [pq.read_table(f, columns=["retracted_batch"]) for f in files]).column(0).to_pylist())

    def read(self, table: str, columns: Sequence[str] | None = None, *,
             include_retracted: bool = False, dictionary: Sequence[str] = ()) -> pa.Table:
        """Whole table as Arrow (empty table with the schema when nothing is stored), as
        analyses see it: rows of retracted batches hidden, implausible times clamped with
        a warning (see ``_guard.py``). ``include_retracted`` shows every stored row.
        String columns named in ``dictionary`` come dictionary-encoded (int32 indices, as
        Parquet stores them; each file's chunk has its own dictionary): a reader that only
        groups or matches them skips making a string per row."""
        for attempt in range(3):
            files = self.files(table)
            schema = TABLE_SCHEMAS[table]
            # only string columns: Parquet would hand others (times, numbers) over
            # dictionary-encoded too, at a cost, for no gain
            dictionary = [c for c in dictionary if pa.types.is_string(schema.field(c).type)]
            if dictionary:
                schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type), f.nullable)
                                    if f.name in dictionary else f for f in schema])
            if not files:
                empty = schema.empty_table()
                return empty.select(list(columns)) if columns else empty
            retracted = frozenset() if include_retracted else self.retracted()
            suspect = _guard.suspect_columns(files, table) if table in _guard.RETRACTABLE else []
            if columns:
                suspect = [c for c in suspect if c in columns]
            wanted = list(columns) if columns else None
            extra = (wanted is not None and (retracted or suspect) and "batch_id" not in wanted
                     and table in _guard.RETRACTABLE)
            if extra and wanted is not None:
                wanted = [*wanted, "batch_id"]
            # Columns a file predates (added to the schema later) read as nulls.
            target = pa.schema([schema.field(c) for c in wanted]) if wanted else schema
            try:
                parts = [_read_conformed(f, target, dictionary=dictionary) for f in files]
            except FileNotFoundError:
                # Only a read slower than the compaction grace period gets here: its
                # generation was retired and deleted. The live one has the same rows.
                if attempt == 2:
                    raise StoreError(
                        f"the store at {self.path} was compacted under a read that outlived the grace period",
                        hint="retry; or raise Store.compact(grace_seconds=...)",
                    ) from None
                continue
            data = pa.concat_tables(parts)
            if retracted or suspect:
                data = _guard.visible(table, data, retracted, store_path=str(self.path), suspect=suspect)
            return data.drop_columns(["batch_id"]) if extra else data
        raise AssertionError("unreachable")

    def visible_filter(self) -> pc.Expression:
        """A pyarrow dataset filter that hides retracted batches (for code that reads
        :meth:`files` directly); always true on a store without retractions."""
        retracted = self.retracted()
        if not retracted:
            return pc.scalar(True)
        return ~pc.field("batch_id").isin(pa.array(sorted(retracted), pa.string()))

    def ibis(self) -> ibis.backends.duckdb.Backend:
        """An Ibis connection (embedded DuckDB) with one view per table of the live store,
        as analyses see it (see :meth:`read`)."""
        import ibis

        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        gen = _layout.current_generation(self.path)
        retracted = self.retracted()
        if retracted:
            con.con.register("__retracted", pa.table({"b": pa.array(sorted(retracted), pa.string())}))
        for table, schema in TABLE_SCHEMAS.items():
            files = self.files(table, generation=gen)
            name = "_accounts_stored" if table == "accounts" else table
            if not files:
                con.con.register(name, schema.empty_table())
                continue
            dataset = ds.dataset(files, schema=schema, format="parquet")
            guarded = table in _guard.RETRACTABLE
            suspect = _guard.suspect_columns(files, table) if guarded else []
            hide = bool(retracted) and guarded
            if not suspect and not hide:
                con.con.register(name, dataset)
                continue
            raw = f"__stored_{table}"
            con.con.register(raw, dataset)
            con.con.execute(f'CREATE VIEW "{table}" AS '
                            + _guard.view_sql(table, raw, schema.names, suspect, hide))
            if suspect:
                _guard.warn_view(str(self.path), table, files, suspect, retracted)
        # The catalogue keeps numeric ids as integers: the view shows every id as text.
        con.raw_sql(
            "CREATE VIEW accounts AS SELECT sid, platform, "
            "coalesce(account_id, CAST(account_num AS VARCHAR)) AS account_id, account_num "
            "FROM _accounts_stored"
        )
        return con

    def duckdb(self, tables: Sequence[str] | None = None) -> Any:
        """A plain DuckDB connection with the views of :meth:`ibis` (for ad-hoc SQL by users,
        and for analyses written in SQL), only for ``tables`` when given.

        DuckDB reads the Parquet files itself (``read_parquet``), so a filter on a table's
        columns skips whole row groups by their min/max statistics and decodes only the
        columns a query names; through Arrow datasets (as :meth:`ibis` registers them) it
        reads every row of every column it needs before filtering. Columns a file predates
        read as nulls, as in :meth:`read`."""
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        # The footers read to find each view's columns serve the queries too.
        con.execute("SET parquet_metadata_cache = true")
        gen = _layout.current_generation(self.path)
        retracted = self.retracted()
        if retracted:
            con.register("__retracted", pa.table({"b": pa.array(sorted(retracted), pa.string())}))
        for table in tables if tables is not None else TABLE_SCHEMAS:
            _check_table(table)
            schema = TABLE_SCHEMAS[table]
            files = self.files(table, generation=gen)
            name = "_accounts_stored" if table == "accounts" else table
            if not files:
                con.register(name, schema.empty_table())
            else:
                guarded = table in _guard.RETRACTABLE
                suspect = _guard.suspect_columns(files, table) if guarded else []
                hide = bool(retracted) and guarded
                raw = f"__stored_{table}" if suspect or hide else name
                con.execute(f'CREATE VIEW "{raw}" AS ' + _parquet_view_sql(con, files, schema))
                if raw != name:
                    con.execute(f'CREATE VIEW "{name}" AS '
                                + _guard.view_sql(table, raw, schema.names, suspect, hide))
                if suspect:
                    _guard.warn_view(str(self.path), table, files, suspect, retracted)
            if table == "accounts":
                # The catalogue keeps numeric ids as integers: the view shows every id as text.
                con.execute("CREATE VIEW accounts AS SELECT sid, platform, "
                            "coalesce(account_id, CAST(account_num AS VARCHAR)) AS account_id, account_num "
                            "FROM _accounts_stored")
        return con

    def existing_keys(self, table: str) -> np.ndarray:
        files = self.files(table)
        if not files:
            return np.zeros(0, dtype=np.uint64)
        # Rows of retracted batches do not count as stored: re-importing the file after
        # a retraction stores its rows again, in a new (visible) batch.
        retracted = self.retracted()
        if retracted and table in _guard.RETRACTABLE:
            hidden = pa.array(sorted(retracted), pa.string())
            keys = []
            for f in files:
                t = pq.read_table(f, columns=["record_key", "batch_id"])
                keys.append(t.filter(pc.invert(pc.fill_null(pc.is_in(t["batch_id"], value_set=hidden), False)))
                            .column(0))
        else:
            keys = [pq.read_table(f, columns=["record_key"]).column(0) for f in files]
        arr = pa.chunked_array([c for k in keys for c in k.chunks], type=pa.uint64())
        return np.sort(arr.to_numpy())

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writer(
        self,
        *,
        command: str,
        source: str,
        source_ref: str | None = None,
        lock_timeout: float = 30.0,
        all_or_nothing: bool = False,
    ) -> Iterator[BatchWriter]:
        """Hold the writer lock; batches committed with :meth:`BatchWriter.commit`
        become visible one by one. Uncommitted rows are dropped on error.
        ``all_or_nothing``: committed batches are written to disk (so memory stays
        bounded) but made visible only when the block ends without an error; on an
        error none of them is (a streamed file refused at its last line)."""
        with _layout.writer_lock(self.path, timeout=lock_timeout):
            _layout.sweep_staging(self.path)
            _layout.upgrade_marker(self.path)
            bw = BatchWriter(self, command=command, source=source, source_ref=source_ref,
                             defer_publish=all_or_nothing)
            # Never release the lock while a batch is still being written.
            try:
                yield bw
                bw.commit()
                bw.publish_deferred()
            except BaseException:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    bw.close()
                raise
            bw.close()

    def content_version(self) -> str:
        """A token that changes whenever what readers see changes (a commit, a retraction,
        a compaction): the live generation and its committed batches, hashed. Derived
        results (the web UI's findings cache) are keyed by it."""
        import hashlib

        gen = _layout.current_generation(self.path)
        h = hashlib.sha256(gen.name.encode())
        for batch in _layout.committed_batches(gen):
            h.update(b"\0" + batch.name.encode())
        return h.hexdigest()[:32]

    @property
    def derived_dir(self) -> Path:
        """Where results derived from the evidence may be kept (``STORE/derived/``): apart
        from ``gens/``, never read as evidence, safe to delete (docs/store.md)."""
        return self.path / "derived"

    def batches(self) -> pa.Table:
        """One row per committed batch (the ``runs`` log, commit order) with the
        retraction of each, if any: ``retracted_at`` and ``retraction_reason``."""
        runs = self.read("runs")
        out = runs.append_column("retracted_at", pa.nulls(runs.num_rows, TABLE_SCHEMAS["retractions"].field("at").type))
        out = out.append_column("retraction_reason", pa.nulls(runs.num_rows, pa.string()))
        files = self.files("retractions")
        if not files or not runs.num_rows:
            return out
        ret = pa.concat_tables([pq.read_table(f, columns=["retracted_batch", "at", "reason"]) for f in files])
        first: dict[str, tuple[Any, str]] = {}
        for b, at, why in zip(*(ret.column(i).to_pylist() for i in range(3)), strict=True):
            first.setdefault(b, (at, why))
        ids = runs.column("batch_id").to_pylist()
        at_col = pa.array([first.get(b, (None, None))[0] for b in ids], out.schema.field("retracted_at").type)
        why_col = pa.array([first.get(b, (None, None))[1] for b in ids], pa.string())
        out = out.set_column(out.schema.get_field_index("retracted_at"), "retracted_at", at_col)
        return out.set_column(out.schema.get_field_index("retraction_reason"), "retraction_reason", why_col)

    def retract(self, batch_ids: Sequence[str], reason: str, *, lock_timeout: float = 30.0) -> list[str]:
        """Withdraw committed batches from every analysis: one tombstone row per batch in
        ``retractions`` (with ``reason``); the batches' rows stay stored as evidence of
        what was withdrawn. Returns the batches newly retracted (already retracted ones
        are left as they are). A batch id may be given by a unique prefix."""
        if not batch_ids:
            raise StoreError("no batch to retract", hint="`purgewatch batches` lists the batch ids")
        if not reason or not reason.strip():
            raise StoreError("a retraction needs a reason", hint="--reason 'dates off by a century (export bug)'")
        runs = self.batches()
        known = runs.column("batch_id").to_pylist()
        rows_of = dict(zip(known, runs.column("rows").to_pylist(), strict=True))
        commands = dict(zip(known, runs.column("command").to_pylist(), strict=True))
        already = {b for b, at in zip(known, runs.column("retracted_at").to_pylist(), strict=True) if at}
        chosen: list[str] = []
        for given in batch_ids:
            hits = [b for b in known if b == given] or [b for b in known if b.startswith(given)]
            if len(hits) != 1:
                what = "no batch" if not hits else f"{len(hits)} batches"
                raise StoreError(f"{what} with id {given!r} in {self.path}",
                                 hint="`purgewatch batches` lists the batch ids (give one, or a unique prefix)")
            if commands[hits[0]] == "retract":
                raise StoreError(f"batch {hits[0]} is itself a retraction; retractions are permanent",
                                 hint="re-import the file to store its rows again (see docs/importing.md)")
            if hits[0] not in already and hits[0] not in chosen:
                chosen.append(hits[0])
        if not chosen:
            return []
        now = datetime.now(UTC)
        rows = pa.table({
            "retracted_batch": pa.array(chosen, pa.string()),
            "reason": pa.array([reason.strip()] * len(chosen), pa.string()),
            "at": pa.array([now] * len(chosen), TABLE_SCHEMAS["retractions"].field("at").type),
            "rows": pa.array([rows_of[b] for b in chosen], pa.string()),
        })
        with _layout.writer_lock(self.path, timeout=lock_timeout):
            _layout.mark_retractions(self.path)
        with self.writer(command="retract", source="retract", lock_timeout=lock_timeout) as w:
            w.add("retractions", rows)
        return chosen

    def append(self, table: str, rows: pa.Table, *, command: str, source: str) -> CommitResult:
        with self.writer(command=command, source=source) as w:
            w.add(table, rows)
            return w.commit()

    def compact(
        self,
        *,
        grace_seconds: float = GENERATION_GRACE_SECONDS,
        lock_timeout: float = 30.0,
        target_bytes: int = COMPACT_TARGET_BYTES,
    ) -> dict[str, int]:
        """Merge runs of small batches into batches of up to ``target_bytes`` (on disk)
        without exposing partial states; see :func:`compact_locked`."""
        with _layout.writer_lock(self.path, timeout=lock_timeout):
            return compact_locked(self, grace_seconds=grace_seconds, target_bytes=target_bytes)

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for table in TABLE_SCHEMAS:
            files = self.files(table)
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            size = sum(os.path.getsize(f) for f in files)
            out[table] = {"rows": rows, "bytes": size, "files": len(files)}
        return out


def compact_locked(store: Store, *, grace_seconds: float, target_bytes: int) -> dict[str, int]:
    """Compaction, for a caller holding the writer lock.

    Batches are taken in commit order; consecutive ones smaller than half of
    ``target_bytes`` are merged, in order, into batches of at most ``target_bytes``; a
    larger batch (or a small one with nothing to merge with) is hard-linked into the new
    generation unchanged. So the cost and memory follow the small batches (what a long
    ``watch`` leaves behind), not the store, and a repeat compaction with nothing new is
    a no-op. Rows keep their ``batch_id``; each merged batch holds its members' ``runs``
    rows. Readers that resolved the previous generation keep reading it: a replaced
    generation is deleted only by a later compaction, ``grace_seconds`` after it was
    replaced. A reader (or an Ibis connection) older than that must re-open."""
    root = store.path
    _layout.sweep_staging(root)
    cur = _layout.current_generation(root)
    batches = _layout.committed_batches(cur)
    groups = _compaction_groups(batches, target_bytes)
    result = {"batches_before": len(batches), "batches_after": len(groups),
              "batches_rewritten": sum(len(g) for g in groups if len(g) > 1)}
    if len(groups) == len(batches):  # nothing to merge
        result["generations_dropped"] = _layout.drop_old_generations(root, keep=set(), grace_seconds=grace_seconds)
        return result
    gen = _layout.new_generation(root, cur)
    for group in groups:
        staging = _layout.new_staging_dir(root)
        if len(group) == 1:
            for name in _layout.batch_files(group[0]):
                _layout.link_or_copy(group[0] / name, staging / name)
        else:
            for table, schema in TABLE_SCHEMAS.items():
                name = f"{table}.parquet"
                parts = [_read_conformed(b / name, schema)
                         if table != "accounts" else _catalogue.normalize(pq.read_table(b / name))
                         for b in group if name in _layout.batch_files(b)]
                if parts:
                    write_parquet(pa.concat_tables(parts), staging / name, table=table)
        _layout.publish_batch(root, gen, staging, _last_seq(group))
    _layout.switch_generation(root, gen)
    _layout.retire_generation(cur)
    result["generations_dropped"] = _layout.drop_old_generations(root, keep={gen}, grace_seconds=grace_seconds)
    return result


def _compaction_groups(batches: list[Path], target_bytes: int) -> list[list[Path]]:
    """Consecutive batches to merge (groups of one are kept as they are)."""
    groups: list[list[Path]] = []
    run: list[Path] = []
    run_bytes = 0
    for batch in batches:
        size = sum(os.path.getsize(batch / n) for n in _layout.batch_files(batch))
        if size >= target_bytes // 2:
            if run:
                groups.append(run)
            groups.append([batch])
            run, run_bytes = [], 0
            continue
        if run and run_bytes + size > target_bytes:
            groups.append(run)
            run, run_bytes = [], 0
        run.append(batch)
        run_bytes += size
    if run:
        groups.append(run)
    return groups


def write_parquet(data: pa.Table, path: Path, *, table: str | None = None) -> None:
    """Write one table file of a batch (the only place store files are written)."""
    if _catalogue.NUM_COLUMN in data.column_names:  # the id catalogue: its own layout
        _catalogue.write(data, path)
        return
    blobs = [c for c in _BLOB_COLUMNS if c in data.column_names]
    if not blobs:
        row_group_size = None
        if table in _CLUSTERED:
            column, row_group_size = _CLUSTERED[table]
            data = data.take(pc.sort_indices(data, [(column, "ascending")]))  # nulls last
        encodings = {c: _DELTA for c in _DELTA_COLUMNS if c in data.column_names}
        encodings.update(_TABLE_ENCODINGS.get(table or "", {}))
        # Without the Arrow schema: columns handed over dictionary-encoded (constant
        # provenance) read back as the plain strings the table schema declares.
        pq.write_table(
            data, path,
            use_dictionary=[c for c in data.column_names if c not in _NO_DICTIONARY and c not in encodings],
            column_encoding=encodings, store_schema=False, row_group_size=row_group_size, **_PARQUET_OPTS,
        )
        return
    # Few rows (one per snapshot): decode constant columns, keep the Arrow schema exact.
    data = data.cast(_decoded(data.schema))
    others = [c for c in data.column_names if c not in blobs]
    sizes = np.zeros(data.num_rows, dtype=np.int64)
    for c in blobs:
        sizes += pc.fill_null(pc.binary_length(data[c]), 0).to_numpy(zero_copy_only=False)
    with pq.ParquetWriter(
        path,
        data.schema,
        compression={c: ("none" if c in blobs else "zstd") for c in data.column_names},
        compression_level={c: _PARQUET_OPTS["compression_level"] for c in others},
        use_dictionary=[c for c in others if c not in _NO_DICTIONARY],
    ) as out:
        start, acc = 0, 0
        for i, size in enumerate(sizes.tolist()):
            if i > start and acc + size > _ROW_GROUP_BLOB_BYTES:
                out.write_table(data.slice(start, i - start), row_group_size=i - start)
                start, acc = i, 0
            acc += size
        if start < data.num_rows:
            out.write_table(data.slice(start), row_group_size=data.num_rows - start)


class _KeySet:
    """Content keys already stored, for de-duplication: one big sorted array plus a few
    small sorted runs, merged when they grow (so a long-running writer that commits many
    small batches does not re-sort everything on every batch)."""

    def __init__(self, base: np.ndarray) -> None:
        self.runs: list[np.ndarray] = [np.sort(base, kind="stable")]

    def contains_sorted(self, needles: np.ndarray) -> np.ndarray:
        """Which of the ascending ``needles`` are stored. Sorted needles make the binary
        searches walk memory in order (4x faster on 500k keys against 1.5M than
        searching them in arrival order)."""
        self._merge()
        found = np.zeros(len(needles), dtype=bool)
        for run in self.runs:
            if len(run):
                pos = np.searchsorted(run, needles)
                pos[pos >= len(run)] = 0
                found |= run[pos] == needles
        return found

    def add_sorted(self, keys: np.ndarray) -> None:
        """Remember ascending ``keys``."""
        if not len(keys):
            return
        self.runs.append(keys)

    def _merge(self) -> None:
        # Merge while the newer run is as big as the older (a binary counter: O(log n)
        # runs, each key merged O(log n) times). A stable sort of two sorted runs is a
        # linear merge (timsort finds the runs). Done before a lookup, not after an add,
        # so the keys of an import's last batch are never merged for nothing.
        while len(self.runs) > 1 and len(self.runs[-2]) <= len(self.runs[-1]):
            last = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")


def _last_seq(batches: list[Path]) -> int:
    return int(batches[-1].name[1:9])


def _check_table(table: str) -> None:
    if table not in TABLE_SCHEMAS:
        raise StoreError(f"unknown table {table!r}; known: {', '.join(TABLE_SCHEMAS)}")


def _distinct_sorted(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(distinct values, index of each element's value in them) of an ascending array;
    the index is None when every element is distinct (the usual case)."""
    head = np.empty(len(ordered), dtype=bool)
    head[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    if bool(head.all()):
        return ordered, None
    return ordered[head], np.cumsum(head) - 1


class BatchWriter:
    """Collects rows for one or more tables and commits them as one atomic batch."""

    def __init__(self, store: Store, *, command: str, source: str, source_ref: str | None,
                 defer_publish: bool = False) -> None:
        self.store = store
        # Written batches waiting to be published (all_or_nothing writers), in order.
        self._deferred: list[Path] | None = [] if defer_publish else None
        self.command = command
        self.source = source
        self.source_ref = source_ref
        self._pending: dict[str, list[pa.Table]] = {}
        self._keys: dict[str, _KeySet] = {}
        self._next_sid: int | None = None
        self._catalogue: dict[str, _catalogue.PlatformIndex] = {}
        self._new_accounts: list[pa.Table] = []
        # Callbacks that hand rows a caller buffers (snapshot rows, one table per commit
        # instead of one per list) to add() before anything is committed or counted.
        self._flushers: list[Callable[[BatchWriter], None]] = []
        self._started = datetime.now(UTC)
        self.totals: dict[str, int] = {}
        self.duplicates: dict[str, int] = {}
        # At most one batch is written in the background while the caller prepares the
        # next (Parquet encoding releases the GIL): see commit_in_background.
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: Future[CommitResult] | None = None

    # -- surrogate ids ------------------------------------------------------
    def _index(self, platform: str) -> _catalogue.PlatformIndex:
        """The platform's catalogue, read once per writer (only this platform's rows)."""
        idx = self._catalogue.get(platform)
        if idx is not None and self._next_sid is not None:
            return idx  # (a list of the batch files per call would cost more than the lookup)
        files = self.store.files("accounts")
        if self._next_sid is None:
            self._next_sid = _catalogue.max_sid(files) + 1
        if idx is None:
            nums, nsids, strs, ssids = _catalogue.read_platform(files, platform)
            idx = _catalogue.PlatformIndex()
            idx.add_numbers(nums, nsids)
            idx.add_strings(strs, ssids)
            self._catalogue[platform] = idx
        return idx

    def _new_sids(self, n: int) -> np.ndarray:
        assert self._next_sid is not None
        out = np.arange(self._next_sid, self._next_sid + n, dtype=np.int64)
        self._next_sid += n
        return out

    def sids(self, platform: str, account_ids: pa.Array | pa.ChunkedArray | Sequence[str] | Sequence[int]) -> np.ndarray:
        """Dense surrogate ids for ``account_ids`` (strings, or non-negative integers for
        numeric ids). Ids new to the store get consecutive new sids in ascending id order
        (numeric ids by value, then the others bytewise): see store/_catalogue.py."""
        ids = _catalogue.as_id_array(account_ids)
        if ids.null_count:
            raise StoreError(f"{ids.null_count} empty (null) {platform} account ids", hint="drop rows without an id")
        idx = self._index(platform)
        if pa.types.is_integer(ids.type):
            mask, values = np.ones(len(ids), dtype=bool), ids.to_numpy(zero_copy_only=False)
        else:
            mask, values = _catalogue.split_numeric(ids)
        if mask.all():
            return self._numeric_sids(platform, idx, values)
        out = np.empty(len(ids), dtype=np.int64)
        if mask.any():
            out[mask] = self._numeric_sids(platform, idx, values[mask])
        out[~mask] = self._string_sids(platform, idx, ids.filter(pa.array(~mask)))
        return out

    def _numeric_sids(self, platform: str, idx: _catalogue.PlatformIndex, values: np.ndarray) -> np.ndarray:
        if idx.count_lookups(len(values)):
            return self._numeric_sids_hashed(platform, idx, values)
        # Against sorted runs of the catalogue (or none): one argsort of the ids serves
        # the search (runs are walked with sorted needles), the ascending order of the
        # new ids (a subsequence of the sorted needles: no second sort, no second
        # look-up) and where each input id goes.
        order = _catalogue.argsort_u64(values)
        needles = values[order]
        found = idx.find_sorted(needles)
        new = found < 0
        n_new = int(np.count_nonzero(new))
        if n_new:
            ordered = needles if n_new == len(needles) else needles[new]
            distinct, first = _distinct_sorted(ordered)
            fresh = self._new_sids(len(distinct))
            idx.add_numbers(distinct, fresh)
            self._new_accounts.append(_catalogue.table_for(platform, distinct, None, fresh))
            given = fresh if first is None else fresh[first]
            if n_new == len(needles):
                found = given
            else:
                found[new] = given
        # the sorted ids are done with: their array takes the answer, unless the new ids
        # kept in the index are that very array (every id new)
        out = needles.view(np.int64) if n_new < len(needles) else np.empty(len(values), dtype=np.int64)
        out[order] = found
        return out

    def _numeric_sids_hashed(self, platform: str, idx: _catalogue.PlatformIndex, values: np.ndarray) -> np.ndarray:
        # Known ids: one hash lookup each (no sort). Ids new to the store: sorted (a
        # vectorised sort, not an argsort), given consecutive sids in that order, and
        # looked up again in the table (which now holds them).
        out = idx.numbers.find(values)
        new = out < 0
        n_new = int(np.count_nonzero(new))
        if n_new:
            new_in = values[new] if n_new < len(values) else values
            distinct, _ = _distinct_sorted(np.sort(new_in))
            fresh = self._new_sids(len(distinct))
            idx.add_numbers(distinct, fresh)
            self._new_accounts.append(_catalogue.table_for(platform, distinct, None, fresh))
            if n_new == len(values):
                out = idx.numbers.find(values)
            else:
                out[new] = idx.numbers.find(new_in)
        return out

    def _string_sids(self, platform: str, idx: _catalogue.PlatformIndex, ids: pa.Array) -> np.ndarray:
        enc = pc.dictionary_encode(ids)
        distinct = enc.dictionary
        sid_of = idx.find_strings(distinct)
        new = sid_of < 0
        if new.any():
            new_ids = distinct.filter(pa.array(new))  # in order of first appearance
            rank = pc.sort_indices(new_ids).to_numpy(zero_copy_only=False)
            fresh = self._new_sids(len(rank))
            in_order = np.empty(len(rank), dtype=np.int64)
            in_order[rank] = fresh  # the i-th smallest new id gets the i-th new sid
            sid_of[np.flatnonzero(new)] = in_order
            sorted_ids = new_ids.take(pa.array(rank))
            idx.add_strings(sorted_ids, fresh)
            self._new_accounts.append(_catalogue.table_for(platform, None, sorted_ids, fresh))
        return sid_of[enc.indices.to_numpy(zero_copy_only=False)]

    # -- rows ---------------------------------------------------------------
    def add(self, table: str, rows: pa.Table) -> int:
        """Queue rows for the next commit; returns how many are new (not already stored)."""
        _check_table(table)
        schema = TABLE_SCHEMAS[table]
        rows = _conform(rows, schema)
        if rows.num_rows == 0:
            return 0
        if table in KEYED_TABLES:
            keys = record_keys(rows, content_columns(table), version=self.store.key_version)
            if table not in self._keys:
                self._keys[table] = _KeySet(self.store.existing_keys(table))
            seen = self._keys[table]
            # One sort serves both checks: repeats inside this input (keep each key's
            # first row) and keys already stored. Usually there are neither, and the
            # plain sort suffices; otherwise a stable argsort says which rows to keep.
            sorted_keys = np.sort(keys)
            first_sorted = np.ones(len(keys), dtype=bool)
            first_sorted[1:] = sorted_keys[1:] != sorted_keys[:-1]
            keep_sorted = first_sorted & ~seen.contains_sorted(sorted_keys)
            dropped = int(len(keys) - keep_sorted.sum())
            self.duplicates[table] = self.duplicates.get(table, 0) + dropped
            if dropped:
                order = np.argsort(keys, kind="stable")
                keep = np.empty(len(keys), dtype=bool)
                keep[order] = keep_sorted  # equal keys: the stable order's first is the input's first
                rows = rows.filter(pa.array(keep))
                keys = keys[keep]
            rows = rows.set_column(
                rows.schema.get_field_index("record_key"), "record_key", pa.array(keys, pa.uint64())
            )
            seen.add_sorted(sorted_keys[keep_sorted])
        self._pending.setdefault(table, []).append(rows)
        return rows.num_rows

    def on_flush(self, flush: Callable[[BatchWriter], None]) -> None:
        """Call ``flush(writer)`` (which queues buffered rows with :meth:`add`) before every
        commit, compaction or count of pending rows. It is passed the writer rather than
        closing over it: a closure holding the writer would make a reference cycle, and
        the writer's state (gigabytes at scale) would outlive it until a GC pass."""
        self._flushers.append(flush)

    def _flush(self) -> None:
        for flush in self._flushers:
            flush(self)

    def pending_rows(self) -> int:
        self._flush()
        return sum(t.num_rows for parts in self._pending.values() for t in parts)

    def pending_bytes(self) -> int:
        """Bytes of the rows queued for the next commit (Arrow buffers), to size batches
        by memory rather than by rows (a full follower list is megabytes, a change bytes)."""
        self._flush()
        return sum(t.nbytes for parts in self._pending.values() for t in parts) + sum(
            t.nbytes for t in self._new_accounts)

    def commit(self, note: str | None = None) -> CommitResult:
        """Write the queued rows as one batch and make it visible atomically."""
        self.wait()
        job = self._take(note)
        return job.result if job.staging is None else self._write(job)

    def commit_in_background(self, note: str | None = None) -> Future[CommitResult]:
        """Like :meth:`commit`, but the batch is written by a background thread while
        the caller prepares the next one. Batches still become visible one by one, in
        order: this first waits for the previous background batch (raising its error).
        A process killed meanwhile loses at most the batch being written and the one
        being prepared; re-running the import restores both (content keys)."""
        self.wait()
        job = self._take(note)
        future: Future[CommitResult] = Future()
        if job.staging is None:
            future.set_result(job.result)
            return future
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="purgewatch-commit")
        self._in_flight = self._pool.submit(self._write, job)
        return self._in_flight

    def wait(self) -> None:
        """Wait for the batch being written in the background, if any."""
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            future.result()

    def close(self) -> None:
        """Wait for background work and stop its thread (the store's writer() does this);
        batches written but never published are deleted."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            for staging in self._deferred or []:
                shutil.rmtree(staging, ignore_errors=True)
            if self._deferred:
                self._deferred = []

    def publish_deferred(self) -> None:
        """Make the batches an all-or-nothing writer has written visible, in order."""
        self.wait()
        if not self._deferred:
            return
        gen = _layout.current_generation(self.store.path)
        pending, self._deferred = self._deferred, []
        for staging in pending:
            _layout.publish_batch(self.store.path, gen, staging, _layout.next_batch_seq(gen))

    def compact(
        self, *, grace_seconds: float = GENERATION_GRACE_SECONDS, target_bytes: int = COMPACT_TARGET_BYTES
    ) -> dict[str, int]:
        """Compact the store under this writer's lock (a long ``watch`` calls this
        between commits; see :func:`compact_locked`). Commit queued rows first."""
        self.wait()
        if self.pending_rows() or self._new_accounts:
            raise StoreError("compact() with rows still queued", hint="commit() first")
        return compact_locked(self.store, grace_seconds=grace_seconds, target_bytes=target_bytes)

    def _take(self, note: str | None) -> _Job:
        """Move the queued rows into a job (and reset the queue)."""
        self._flush()
        rows_by_table = {t: sum(p.num_rows for p in parts) for t, parts in self._pending.items()}
        if not any(rows_by_table.values()) and not self._new_accounts:
            self._pending.clear()
            return _Job(None, {}, [], self._started, note, CommitResult(None, {}, dict(self.duplicates)))
        staging = _layout.new_staging_dir(self.store.path)
        pending = dict(self._pending)
        new_accounts = list(self._new_accounts)
        if new_accounts:
            rows_by_table["accounts"] = sum(t.num_rows for t in new_accounts)
        for t, n in rows_by_table.items():
            self.totals[t] = self.totals.get(t, 0) + n
        job = _Job(staging, pending, new_accounts, self._started, note,
                   CommitResult(staging.name, rows_by_table, dict(self.duplicates)))
        self._pending = {}
        self._new_accounts = []
        self._started = datetime.now(UTC)
        return job

    def _write(self, job: _Job) -> CommitResult:
        assert job.staging is not None
        root = self.store.path
        gen = _layout.current_generation(root)
        staging = job.staging
        batch_id = staging.name
        now = datetime.now(UTC)
        files: list[tuple[str, pa.Table]] = []
        for table, parts in job.pending.items():
            if any(p.schema != parts[0].schema for p in parts[1:]):
                # Parts added with and without dictionary-encoded columns: decode them.
                parts = [p.cast(TABLE_SCHEMAS[table]) for p in parts]
            data = pa.concat_tables(parts)
            if data.num_rows == 0:
                continue
            files.append((table, _stamp(data, batch_id=batch_id, now=now, source=self.source)))
        if sum(t.num_rows for _, t in files) - max((t.num_rows for _, t in files), default=0) >= _PARALLEL_ROWS:
            # Two large tables in one batch (posts and their reads): written side by side
            # (Parquet encoding releases the GIL).
            with ThreadPoolExecutor(2, thread_name_prefix="purgewatch-write") as pool:
                for done in [pool.submit(write_parquet, data, staging / f"{table}.parquet", table=table)
                             for table, data in files]:
                    done.result()
        else:
            for table, data in files:
                write_parquet(data, staging / f"{table}.parquet", table=table)
        if job.new_accounts:
            acc = pa.concat_tables(job.new_accounts)
            write_parquet(acc, staging / "accounts.parquet")
        run = pa.table(
            {
                "batch_id": [batch_id],
                "started_at": [job.started],
                "committed_at": [now],
                "command": [self.command],
                "source": [self.source],
                "source_ref": [self.source_ref],
                "tool_version": [TOOL_VERSION],
                "rows": [json.dumps(job.result.rows, sort_keys=True)],
                "note": [job.note],
            },
            schema=TABLE_SCHEMAS["runs"],
        )
        write_parquet(run, staging / "runs.parquet")
        if self._deferred is not None:
            self._deferred.append(staging)
        else:
            _layout.publish_batch(root, gen, staging, _layout.next_batch_seq(gen))
        return job.result


@dataclass
class _Job:
    """One batch handed from the queue to the writing step."""

    staging: Path | None  # None: nothing to write
    pending: dict[str, list[pa.Table]]
    new_accounts: list[pa.Table]
    started: datetime
    note: str | None
    result: CommitResult


def _parquet_view_sql(con: Any, files: Sequence[str], schema: pa.Schema) -> str:
    """SQL reading ``files`` as ``schema`` (columns in schema order and type; a column no
    file has reads as nulls). Built from store paths (quoted) and schema names only."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    source = f"read_parquet([{listed}], union_by_name = true)"
    have = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}  # noqa: S608
    con.register("__schema", schema.empty_table())
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE __schema)").fetchall())
    con.unregister("__schema")
    # A cast to the type a column already has is dropped by DuckDB's binder, so filters
    # still reach the Parquet scan (row groups skipped by their statistics).
    cols = [f'CAST("{f.name}" AS {types[f.name]}) AS "{f.name}"' if f.name in have
            else f'CAST(NULL AS {types[f.name]}) AS "{f.name}"' for f in schema]
    return f"SELECT {', '.join(cols)} FROM {source}"  # noqa: S608


def _read_conformed(path: str | Path, target: pa.Schema, *, dictionary: Sequence[str] = ()) -> pa.Table:
    """One Parquet file as ``target``: columns the file predates (added to the schema
    later) read as nulls; the ``dictionary`` columns read dictionary-encoded."""
    pf = pq.ParquetFile(path, read_dictionary=[c for c in dictionary if c in target.names] or None)
    have = set(pf.schema_arrow.names)
    t = pf.read(columns=[f.name for f in target if f.name in have])
    for f in target:
        if f.name not in have:
            t = t.append_column(f, pa.nulls(t.num_rows, f.type))
    return t.select(target.names).cast(target)


def _conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/fill columns to the table schema; unknown columns are an error."""
    extra = set(rows.column_names) - set(schema.names)
    if extra:
        raise StoreError(f"columns not in the store schema: {sorted(extra)}")
    cols = []
    for field in schema:
        if field.name in rows.column_names:
            col = rows.column(field.name)
            if col.type != field.type and not _is_dictionary_of(col.type, field.type):
                col = col.cast(field.type)
            if not field.nullable and col.null_count:
                raise StoreError(f"{col.null_count} empty (null) values in {field.name!r}, which every row needs",
                                 hint=f"drop rows without {field.name}")
            cols.append(col)
        else:
            cols.append(pa.nulls(rows.num_rows, field.type))
    fields = [f.with_type(c.type) for f, c in zip(schema, cols, strict=True)]
    return pa.Table.from_arrays(cols, schema=pa.schema(fields, metadata=schema.metadata))


def _is_dictionary_of(typ: pa.DataType, value_type: pa.DataType) -> bool:
    """Dictionary-encoded strings stay encoded until written (see constant_strings)."""
    return pa.types.is_dictionary(typ) and typ.value_type == value_type and _is_text(value_type)


def _is_text(typ: pa.DataType) -> bool:
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def _decoded(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every dictionary column as its value type."""
    return pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema])


def _stamp(data: pa.Table, *, batch_id: str, now: datetime, source: str) -> pa.Table:
    """Fill provenance every row must carry."""
    n = data.num_rows

    def fill(name: str, value: Any, typ: pa.DataType) -> None:
        nonlocal data
        if name not in data.column_names:
            return
        idx = data.schema.get_field_index(name)
        col = data.column(name)
        if col.null_count == len(col) and typ == pa.string():
            filled = constant_strings(value, n)
        elif col.null_count:
            filled = pc.fill_null(col, pa.scalar(value, typ))
        else:
            filled = col
        data = data.set_column(idx, name, filled)

    fill("retrieved_at", now, pa.timestamp("us", tz="UTC"))
    fill("tool_version", TOOL_VERSION, pa.string())
    fill("source", source, pa.string())
    if "batch_id" in data.column_names:
        data = data.set_column(data.schema.get_field_index("batch_id"), "batch_id", constant_strings(batch_id, n))
    return data

