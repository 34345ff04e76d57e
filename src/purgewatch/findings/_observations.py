"""The observations of a scope, indexed for the findings: sorted once in Arrow, one slice
per account, pandas frames only for the few accounts and rows a finding cites."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from purgewatch.findings._jsonable import (
    downsample,
    iso,
    iso_arrow,
    iso_series,
    key_hex,
    ref,
    text_or_none,
)
from purgewatch.model import TABLE_SCHEMAS
from purgewatch.store import Store

MAX_POINTS = 600  # per-account series points kept (thinned beyond; a chart is 720 px wide)
OBSERVATION_COLUMNS = [
    "platform", "account_id", "observed_at", "status", "status_raw", "followers_count",
    "following_count", "posts_count", "handle", "display_name", "created_at", "description",
    "detail", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash",
    "batch_id", "record_key",
]

# What the appendix lists of a cited observation (its provenance included).
APPENDIX_COLUMNS = ["platform", "account_id", "observed_at", "status", "followers_count", "source", "source_ref",
                    "retrieved_at", "tool_version", "payload_hash", "batch_id", "record_key"]
TRANSITION_COLUMNS = ["platform", "account_id", "observed_at", "status", "followers_count", "record_key"]


class ObservationIndex:
    """The observations in [t0, t1] as one Arrow table (compact: no Python object per
    row), with the order that sorts them by (platform, account_id, observed_at,
    record_key) and numpy arrays for the per-account work.

    Accounts are ranges of the sorted order; pandas frames are made only for single
    accounts (charted ones, those with events) and for the rows a finding cites
    (``use``/``rows_of``). A store of millions of readings used to become one frame of
    Python strings several gigabytes large."""

    LIGHT = ["platform", "account_id", "observed_at", "status", "followers_count", "handle", "record_key"]

    def __init__(self, store: Store, t0: pd.Timestamp | None, t1: pd.Timestamp | None) -> None:
        import pyarrow.compute as pc

        # strings read dictionary-encoded: sorted by the ranks of their few distinct words
        # (no string compared per row), decoded once, in sorted order
        words = ["platform", "account_id", "status", "handle"]
        tbl = store.read("observations", columns=self.LIGHT, dictionary=words)
        ts_type = pa.timestamp("us", tz="UTC")
        if t0 is not None:
            tbl = tbl.filter(pc.greater_equal(tbl["observed_at"], pa.scalar(t0.to_pydatetime(), ts_type)))
        if t1 is not None:
            tbl = tbl.filter(pc.less_equal(tbl["observed_at"], pa.scalar(t1.to_pydatetime(), ts_type)))
        self.store = store
        self.window = (t0, t1)
        n = tbl.num_rows
        order = pa.array(pc.sort_indices(pa.table({
            "platform": _ranks(tbl["platform"]), "account_id": _ranks(tbl["account_id"]),
            "observed_at": tbl["observed_at"], "record_key": tbl["record_key"]}), sort_keys=[
            ("platform", "ascending"), ("account_id", "ascending"), ("observed_at", "ascending"),
            ("record_key", "ascending")])) if n else pa.array([], pa.uint64())
        # the light columns, sorted, in one contiguous table: an account is a slice of it;
        # made a column at a time, each read column let go once its sorted copy is made
        schema = TABLE_SCHEMAS["observations"]
        cols = {c: tbl[c] for c in self.LIGHT}
        del tbl
        done = {}
        for c in self.LIGHT:
            col = cols.pop(c)
            done[c] = col.take(order).cast(schema.field(c).type).combine_chunks()
            del col
            pa.default_memory_pool().release_unused()  # the read column's pages, before the next copy
        self.sorted = pa.Table.from_arrays(list(done.values()), schema=pa.schema([schema.field(c) for c in self.LIGHT]))
        del done, order
        self.t = self.sorted["observed_at"].cast(pa.int64()).to_numpy() if n else np.zeros(0, np.int64)
        self.key = self.sorted["record_key"].to_numpy() if n else np.zeros(0, np.uint64)
        if n:
            plat, acc = self.sorted["platform"], self.sorted["account_id"]
            new = pc.or_(pc.not_equal(plat.slice(1), plat.slice(0, n - 1)),
                         pc.not_equal(acc.slice(1), acc.slice(0, n - 1)))
            heads = np.flatnonzero(np.concatenate([[True], np.asarray(new.to_numpy(zero_copy_only=False), dtype=bool)]))
            hp = plat.take(pa.array(heads)).to_pylist()
            ha = acc.take(pa.array(heads)).to_pylist()
            self.names: list[tuple[str, str]] = [(str(x), str(y)) for x, y in zip(hp, ha, strict=True)]
            self.start = heads.astype(np.int64)
            self.stop = np.append(heads[1:], n).astype(np.int64)
            self.code = np.repeat(np.arange(len(heads)), self.stop - self.start)
        else:
            self.names = []
            self.start = self.stop = self.code = np.zeros(0, np.int64)
        self._used: dict[str, int] = {}
        self._fetched: pa.Table | None = None  # heavy columns of rows fetched ahead (prefetch)

    def counts(self) -> np.ndarray:
        return self.stop - self.start

    def use(self, ref: str, row: int) -> None:
        """Remember the (sorted) row behind a reference: the appendix lists it."""
        self._used[ref] = row

    def take(self, rows: np.ndarray | list[int], columns: list[str]) -> pa.Table:
        """Columns of the given sorted rows, in that order. Light columns come from the
        sorted table; the others (provenance, names) from one filtered scan of the stored
        files that keeps only these rows (memory bounded by them, not by the store)."""
        rows = np.asarray(rows, dtype=np.int64)
        light = [c for c in columns if c in self.LIGHT]
        out = self.sorted.select(light).take(pa.array(rows))
        heavy = [c for c in columns if c not in self.LIGHT]
        if not heavy or not len(rows):
            for c in heavy:
                out = out.append_column(c, pa.nulls(len(rows), TABLE_SCHEMAS["observations"].field(c).type))
            return out.select(columns)
        want = self.key[rows]
        got = self._fetched
        if (got is None or not set(heavy) <= set(got.column_names)
                or not np.isin(want, got["record_key"].to_numpy()).all()):
            got = _rows_with_keys(self.store.files("observations"), np.unique(want), heavy)
        got_keys = got["record_key"].to_numpy()
        first = np.unique(got_keys, return_index=True)
        where = first[1][np.searchsorted(first[0], want)]
        picked = got.take(pa.array(where))
        for c in heavy:
            out = out.append_column(c, picked[c].cast(TABLE_SCHEMAS["observations"].field(c).type))
        return out.select(columns)

    def frame(self, i: int) -> pd.DataFrame:
        """Account ``i``'s rows as a frame (with ``ref``, and ``row``: the sorted position)."""
        a, b = int(self.start[i]), int(self.stop[i])
        df = self.sorted.slice(a, b - a).select(["observed_at", "status", "followers_count", "record_key"]).to_pandas()
        df["row"] = np.arange(a, b)
        df["ref"] = ["o-" + key_hex(k) for k in df["record_key"]]
        return df

    def latest_rows(self, idx: list[int]) -> list[dict[str, Any]]:
        """Per account: its latest reading, and the name fields of its latest named one."""
        if not idx:
            return []
        ii = np.array(idx, dtype=np.int64)
        last = self.stop[ii] - 1
        has = ~np.asarray(self.sorted["handle"].is_null().to_numpy(zero_copy_only=False), dtype=bool)
        best = np.maximum.accumulate(np.where(has, np.arange(len(has)), -1))
        named = best[last]
        named = np.where(named >= self.start[ii], named, last)
        lt = self.take(last, ["observed_at", "status", "followers_count"]).to_pylist()
        nm = self.take(named, ["handle", "display_name", "description"]).to_pylist()
        out = []
        for j, (row, r) in enumerate(zip(last.tolist(), lt, strict=True)):
            f = r["followers_count"]
            out.append({
                "row": row, "ref": "o-" + key_hex(self.key[row]), "t": iso(r["observed_at"]),
                "status": r["status"], "followers": None if f is None else int(f),
                "n": int(self.stop[ii[j]] - self.start[ii[j]]),
                **{k: text_or_none(v) for k, v in nm[j].items()},
            })
        return out

    def prefetch(self, rows: Iterable[int], columns: list[str]) -> None:
        """Read the heavy ``columns`` of these sorted rows in one scan of the stored files,
        kept for the :meth:`take` calls that follow (the appendix of the observations and
        that of the status changes: the provenance of each cited row, read once)."""
        heavy = [c for c in columns if c not in self.LIGHT]
        keys = np.unique(self.key[np.fromiter(rows, dtype=np.int64)])
        self._fetched = _rows_with_keys(self.store.files("observations"), keys, heavy) if heavy else None

    def used(self, refs: Iterable[str]) -> dict[str, int]:
        """Those of the references remembered with :meth:`use`, with their sorted rows."""
        return {r: self._used[r] for r in refs if r in self._used}

    def appendix(self, refs: Iterable[str]) -> list[dict[str, Any]]:
        """Appendix rows (``appendix_row``'s shape) of the cited observations, sorted,
        built from Arrow columns (times formatted in one vectorised pass)."""
        rows = sorted({self._used[r] for r in refs if r in self._used})
        if not rows:
            return []
        tbl = self.take(rows, APPENDIX_COLUMNS)
        at = iso_arrow(tbl["observed_at"])
        got = iso_arrow(tbl["retrieved_at"])
        d = tbl.to_pydict()
        out = []
        for j in range(tbl.num_rows):
            f = d["followers_count"][j]
            out.append({
                "ref": "o-" + key_hex(d["record_key"][j]), "table": "observations",
                "platform": d["platform"][j], "account_id": d["account_id"][j], "at": at[j],
                "status": d["status"][j], "followers_count": None if f is None else int(f),
                "source": text_or_none(d["source"][j]), "source_ref": text_or_none(d["source_ref"][j]), "retrieved_at": got[j],
                "tool_version": text_or_none(d["tool_version"][j]), "payload_hash": text_or_none(d["payload_hash"][j]),
                "batch_id": text_or_none(d["batch_id"][j]),
            })
        return out

    def span_frame(self) -> pd.DataFrame:
        """First and last observation time (all the summary needs of every row)."""
        if not len(self.t):
            return pd.DataFrame({"observed_at": pd.Series([], dtype="datetime64[us, UTC]")})
        return pd.DataFrame({"observed_at": pd.to_datetime([int(self.t.min()), int(self.t.max())], unit="us", utc=True)})

    def transition_rows(self) -> pd.DataFrame:
        """The observation rows status changes can come from (light columns, and ``row``:
        the sorted position; the provenance of those a finding cites is read with the
        appendix): for an account whose statuses come from observations only, its first
        known status and every row whose status differs from the previous known one;
        every row of accounts that also have profiles or status events (their rows
        interleave)."""
        if not len(self.code):
            return pd.DataFrame(columns=[*TRANSITION_COLUMNS, "row"])
        import pyarrow.compute as pc

        # statuses as codes of their few words (no Python string per reading)
        enc = pc.dictionary_encode(self.sorted["status"]).combine_chunks()
        status = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        words = enc.dictionary.to_pylist()
        idx = np.flatnonzero(status != words.index("unknown")) if "unknown" in words else np.arange(len(status))
        st, cd = status[idx], self.code[idx]
        keep = np.ones(len(idx), dtype=bool)
        if len(idx) > 1:
            keep[1:] = (cd[1:] != cd[:-1]) | (st[1:] != st[:-1])
        other = self._accounts_elsewhere()
        if other.any():
            keep |= other[cd]
        rows = idx[keep]
        out = self.take(rows, TRANSITION_COLUMNS).to_pandas()
        out["row"] = rows
        return out

    def _accounts_elsewhere(self) -> np.ndarray:
        """Accounts (codes) that also have rows in profiles or status_events."""
        out = np.zeros(len(self.names), dtype=bool)
        index = {k: i for i, k in enumerate(self.names)}
        for table in ("profiles", "status_events"):
            tbl = self.store.read(table, columns=["platform", "account_id"])
            if tbl.num_rows == 0:
                continue
            for r in tbl.group_by(["platform", "account_id"]).aggregate([]).to_pylist():
                i = index.get((str(r["platform"]), str(r["account_id"])))
                if i is not None:
                    out[i] = True
        return out


def dictionary_codes(col: pa.ChunkedArray) -> tuple[pa.Array, list[Any]]:
    """A string column, dictionary-encoded or plain (chunks unified), as (int32 indices,
    nulls kept; its words): readers count and sort the few words, not the rows."""
    import pyarrow.compute as pc

    if col.num_chunks == 0:
        return pa.array([], pa.int32()), []
    arr = col.unify_dictionaries().combine_chunks() if col.num_chunks > 1 else col.chunk(0)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    return arr.indices.cast(pa.int32()), arr.dictionary.to_pylist()


def _ranks(col: pa.ChunkedArray) -> np.ndarray:
    """Per row of a dictionary-encoded string column, the rank of its word among the
    column's distinct words in ascending code point (= UTF-8 byte) order, the order Arrow
    sorts strings in; a null ranks after every word."""
    indices, words = dictionary_codes(col)
    rank = np.empty(len(words) + 1, dtype=np.int64)
    if words:
        _, rank[:-1] = np.unique(np.array(words, dtype=object), return_inverse=True)
    rank[-1] = len(words)
    return rank[np.asarray(indices.fill_null(len(words)).to_numpy(zero_copy_only=False), dtype=np.int64)]


_BATCH = 1 << 16  # rows decoded at a time when picking cited rows out of a file


def _dictionary_columns(pf: pq.ParquetFile, columns: list[str]) -> list[str]:
    """Those of ``columns`` every row group of the file stores dictionary-encoded."""
    md = pf.metadata
    at = {md.schema.column(i).name: i for i in range(md.num_columns)}
    out = []
    for c in columns:
        if c in at and all({"RLE_DICTIONARY", "PLAIN_DICTIONARY"} & set(md.row_group(g).column(at[c]).encodings)
                           for g in range(md.num_row_groups)):
            out.append(c)
    return out


def _rows_with_keys(files: list[str], keys: np.ndarray, columns: list[str]) -> pa.Table:
    """``record_key`` and ``columns`` of the stored rows whose key is in ``keys`` (unique
    uint64), in file then row order. Read a file at a time, its keys first (the other
    columns only of files holding wanted rows), with the dictionary-encoded columns kept
    encoded (provenance strings repeat: decoding every stored row's used to cost seconds
    and most of a report's memory); only the rows kept are decoded."""
    import pyarrow.compute as pc

    schema = TABLE_SCHEMAS["observations"]
    target = pa.schema([schema.field("record_key"), *(schema.field(c) for c in columns)])
    parts = []
    if not len(keys):
        return target.empty_table()
    value_set = pa.array(keys, pa.uint64())
    for path in files:
        pf = pq.ParquetFile(path)
        mask = pc.is_in(pf.read(columns=["record_key"]).column(0), value_set=value_set)
        rows = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
        if not len(rows):
            continue
        have = set(pf.schema_arrow.names)
        # Columns stored dictionary-encoded are read so (their strings repeat); others
        # (source_ref: a string per row) plainly, since encoding them costs a hash per row.
        # Read in batches: only the wanted rows of each batch are kept.
        coded = _dictionary_columns(pf, [c for c in columns if c in have and pa.types.is_string(schema.field(c).type)])
        pf = pq.ParquetFile(path, read_dictionary=coded or None)
        pieces, start = [], 0
        for batch in pf.iter_batches(batch_size=_BATCH, columns=[c for c in target.names if c in have]):
            lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
            if hi > lo:
                pieces.append(pa.Table.from_batches([batch]).take(pa.array(rows[lo:hi] - start)))
            start += batch.num_rows
        picked = pa.concat_tables(pieces, promote_options="permissive")
        del pieces
        for f in target:  # columns the file predates read as nulls
            if f.name not in have:
                picked = picked.append_column(f.name, pa.nulls(picked.num_rows, f.type))
        parts.append(picked.select(target.names).cast(target))
    return pa.concat_tables(parts) if parts else target.empty_table()


def account_observations(store: Store, platform: str, account_id: str, limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """One account's observations with provenance (oldest first), for a page about it;
    thinned to ``limit`` points keeping every status change."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    files = store.files("observations")
    if not files:
        return []
    cols = ["observed_at", "status", "followers_count", "source", "source_ref", "retrieved_at", "payload_hash", "record_key"]
    flt = (pc.field("platform") == platform) & (pc.field("account_id") == account_id) & store.visible_filter()
    tbl = pads.dataset(files, format="parquet").to_table(columns=cols, filter=flt)
    df = tbl.to_pandas().sort_values(["observed_at", "record_key"], kind="stable")
    if not len(df):
        return []
    change = df["status"].ne(df["status"].shift()).to_numpy()
    df = df.iloc[downsample(np.arange(len(df)), change, limit)]
    out = []
    r: Any
    for r, t_iso, got in zip(df.itertuples(index=False), iso_series(df["observed_at"]), iso_series(df["retrieved_at"]), strict=True):
        out.append({
            "t": t_iso, "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
            "status": r.status, "ref": ref("o", r.record_key), "source": text_or_none(r.source),
            "source_ref": text_or_none(r.source_ref), "retrieved_at": got, "payload_hash": text_or_none(r.payload_hash),
        })
    return out
