"""Exporting stored evidence in the interchange shapes it was imported in (docs/formats.md).

``purgewatch export TABLE`` writes ``observations``, ``profiles``, ``status_events``,
``followers`` (one row per follower of each stored snapshot) or ``watchlist`` (the accounts
watched now) with the columns ``purgewatch import`` reads, first, then the provenance
columns every stored row carries (where it came from, when it was read, by which version,
in which batch). Importing an export into another store gives the same rows: the
interchange columns are the ones import reads, and it ignores the rest.

CSV and JSONL carry times as ISO 8601 UTC with ``Z`` and microseconds; Parquet keeps the
store's types (timestamps in UTC, integers, booleans).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError
from purgewatch.store import Store

EXPORT_TABLES = ("observations", "profiles", "status_events", "followers", "watchlist")
EXPORT_FORMATS = ("csv", "jsonl", "parquet")

_FACTS = ["platform", "account_id", "observed_at", "status", "followers_count", "following_count",
          "posts_count", "handle", "display_name", "created_at", "verified", "default_profile_image",
          "description", "source", "detail", "label"]
_PROVENANCE = ["source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"]

#: The interchange columns of each table, in order (what ``purgewatch import`` reads).
INTERCHANGE_COLUMNS: dict[str, list[str]] = {
    "observations": _FACTS,
    "profiles": _FACTS,
    "status_events": ["platform", "account_id", "at", "status", "source"],
    "followers": ["platform", "account_id", "observed_at", "follower_id", "position", "partial"],
    "watchlist": ["platform", "account", "group", "label"],
}

#: What follows them: the platform's own status word, then provenance.
EXTRA_COLUMNS: dict[str, list[str]] = {
    "observations": ["status_raw", *_PROVENANCE],
    "profiles": ["status_raw", *_PROVENANCE],
    "status_events": ["status_raw", *_PROVENANCE],
    "followers": ["snapshot_id", "completed_at", "n_followers", "source", *_PROVENANCE],
    "watchlist": ["account_id", "at", "source", *_PROVENANCE],
}


@dataclass
class ExportReport:
    table: str
    format: str
    rows: int
    out: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "format": self.format, "rows": self.rows, "out": self.out}


def export_table(store: Store, table: str, fmt: str, out: str | Path | None = None) -> ExportReport:
    """Write ``table`` of ``store`` as ``fmt`` to ``out`` (a file; ``.gz`` compresses CSV
    and JSONL) or, when ``out`` is None, to stdout (not for Parquet)."""
    if table not in EXPORT_TABLES:
        raise InputError(f"cannot export {table!r}", hint=f"one of: {', '.join(EXPORT_TABLES)}")
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}", hint=f"one of: {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise InputError("Parquet is binary: give --out FILE.parquet", hint="or use --format csv/jsonl on stdout")
    parts = _parts(store, table)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = _schema(store, table)
        n = 0
        with pq.ParquetWriter(str(out), schema, compression="zstd") as w:
            for part in parts:
                w.write_table(part.cast(schema))
                n += part.num_rows
        return ExportReport(table, fmt, n, str(out))
    with _open_binary(out) as fh:
        n = 0
        first = True
        for part in parts:
            if fmt == "csv":
                _write_csv(fh, part, header=first)
            else:
                _write_jsonl(fh, part)
            first = False
            n += part.num_rows
        if first and fmt == "csv":  # nothing stored: still the header
            fh.write((",".join(_order(table)) + "\n").encode())
    return ExportReport(table, fmt, n, None if out is None else str(out))


class _open_binary:
    """A binary handle on ``out`` (gzip for ``.gz``), or on stdout for None."""

    def __init__(self, out: str | Path | None) -> None:
        self.out = out
        self.fh: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        import sys

        if self.out is None:
            sys.stdout.flush()
            self.fh = sys.stdout.buffer
        elif str(self.out).endswith(".gz"):
            self.fh = cast(IO[bytes], gzip.open(str(self.out), "wb"))
        else:
            self.fh = open(self.out, "wb")
        assert self.fh is not None
        return self.fh

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.flush()
            if self.out is not None:
                self.fh.close()


# ------------------------------------------------------------------ rows
def _order(table: str) -> list[str]:
    return INTERCHANGE_COLUMNS[table] + EXTRA_COLUMNS[table]


def _parts(store: Store, table: str) -> Iterator[pa.Table]:
    if table == "followers":
        yield from _follower_parts(store)
        return
    if table == "watchlist":
        yield _watchlist(store)
        return
    data = store.read(table)
    keys = ["platform", "account_id", "at" if table == "status_events" else "observed_at"]
    if data.num_rows:
        data = data.sort_by([(k, "ascending") for k in keys])
    yield data.select(_order(table))


def _watchlist(store: Store) -> pa.Table:
    log = store.read("watchlist")
    if log.num_rows == 0:
        return log.select(_order("watchlist"))
    idx = pa.array(np.arange(log.num_rows, dtype=np.int64))
    last = log.append_column("__i", idx).group_by(["platform", "account"], use_threads=False).aggregate(
        [("__i", "max")])
    latest = log.take(pa.array(np.sort(last.column("__i_max").to_numpy())))
    latest = latest.filter(pc.equal(latest["action"], "add"))
    latest = latest.sort_by([("group", "ascending"), ("platform", "ascending"), ("account", "ascending")])
    return latest.select(_order("watchlist"))


def _follower_parts(store: Store) -> Iterator[pa.Table]:
    """One table per snapshot: its followers, newest first when the list order is known."""
    from purgewatch.store.snapshots import list_snapshots, load_followers, load_order, sids_to_ids

    snaps = list_snapshots(store)
    prov = {r["snapshot_id"]: r for r in store.read("snapshots", columns=["snapshot_id", "source", *_PROVENANCE])
            .to_pylist()}
    for s in snaps.to_pylist():
        order = load_order(store, s["snapshot_id"])
        if order is not None:
            sids, position = order, pa.array(np.arange(len(order), dtype=np.int64))
        else:
            sids, position = load_followers(store, s["snapshot_id"]), pa.nulls(0, pa.int64())
        n = len(sids)
        if order is None:
            position = pa.nulls(n, pa.int64())
        ids = sids_to_ids(store, s["platform"], sids)
        p = prov.get(s["snapshot_id"], {})

        def const(value: Any, typ: pa.DataType, n: int = n) -> pa.Array:
            return pa.array([value] * n, typ) if n else pa.array([], typ)

        ts = pa.timestamp("us", tz="UTC")
        yield pa.table({
            "platform": const(s["platform"], pa.string()),
            "account_id": const(s["account_id"], pa.string()),
            "observed_at": const(s["observed_at"], ts),
            "follower_id": ids,
            "position": position,
            "partial": const(bool(s["partial"]), pa.bool_()),
            "snapshot_id": const(s["snapshot_id"], pa.string()),
            "completed_at": const(s.get("completed_at"), ts),
            "n_followers": const(int(s["n_followers"]), pa.int64()),
            "source": const(p.get("source"), pa.string()),
            **{c: const(p.get(c), ts if c == "retrieved_at" else pa.string()) for c in _PROVENANCE},
        })


def _schema(store: Store, table: str) -> pa.Schema:
    from purgewatch.model import TABLE_SCHEMAS

    ts = pa.timestamp("us", tz="UTC")
    if table == "followers":
        types = {"observed_at": ts, "completed_at": ts, "retrieved_at": ts, "position": pa.int64(),
                 "n_followers": pa.int64(), "partial": pa.bool_()}
        return pa.schema([pa.field(c, types.get(c, pa.string())) for c in _order(table)])
    schema = TABLE_SCHEMAS[table]
    return pa.schema([schema.field(c).with_nullable(True) for c in _order(table)])


# ------------------------------------------------------------------ writers
def _times_as_text(part: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 UTC with Z (what import reads back exactly)."""
    for i, name in enumerate(part.column_names):
        col = part.column(i)
        if pa.types.is_timestamp(col.type):
            part = part.set_column(i, name, pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ"))
    return part


def _write_csv(fh: IO[bytes], part: pa.Table, *, header: bool) -> None:
    import pyarrow.csv as pacsv

    # quoting only where needed; booleans as true/false; nulls as empty cells
    opts = pacsv.WriteOptions(include_header=header, quoting_style="needed")
    pacsv.write_csv(_times_as_text(part), fh, opts)


def _write_jsonl(fh: IO[bytes], part: pa.Table) -> None:
    text = _times_as_text(part)
    for batch in text.to_batches(max_chunksize=65_536):
        names = batch.schema.names
        cols = [c.to_pylist() for c in batch.columns]
        fh.write("".join(
            json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, separators=(",", ":")) + "\n"
            for row in zip(*cols, strict=True)
        ).encode("utf-8"))


__all__ = ["EXPORT_FORMATS", "EXPORT_TABLES", "EXTRA_COLUMNS", "INTERCHANGE_COLUMNS", "ExportReport",
           "export_table"]
