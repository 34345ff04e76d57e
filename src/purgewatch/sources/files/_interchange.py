"""Importing the interchange formats of FORMATS.md into the store.

Pipeline per file: read cells as text (``_read``) -> type and validate vectorised
(``_validate``) -> refuse the file at its first bad cell, or with ``skip_bad_rows`` set the
bad rows aside -> write the good rows in batches of ``batch_rows`` (each batch one atomic
commit, so a killed import loses at most the batch in flight; re-running it is safe
because the store drops rows whose content is already stored).

Provenance per row: ``source`` = ``import:<kind>`` (``import:<kind>:<value>`` when the row
has its own ``source`` cell), ``source_ref`` = ``<file>:<line>``, ``payload_hash`` = sha256 of the whole file (after gunzip; see
``_read.RawFile.file_sha256``). Together with ``source_ref`` it pins each record to its
exact origin; a hash per row cost more than the rest of the import.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from purgewatch.errors import InputError
from purgewatch.model import STATUS_COUNT_KINDS, TABLE_SCHEMAS
from purgewatch.sources.files._read import (
    RawFile,
    check_lookalikes,
    is_gzip,
    read_cells,
    stream_cells,
)
from purgewatch.sources.files._validate import HASH_COL, REF_COL, Column, Validated, validate
from purgewatch.store import BatchWriter, CommitResult, Store, constant_strings

DEFAULT_BATCH_ROWS = 500_000

_FACTS = [
    Column("platform", "token", required=True, nonempty=True),
    Column("account_id", "id", required=True, nonempty=True),
    Column("observed_at", "ts", required=True, nonempty=True),
    Column("status", "status", required=True),
    Column("followers_count", "int"),
    Column("following_count", "int"),
    Column("posts_count", "int"),
    Column("handle", "id"),
    Column("display_name", "text"),
    Column("created_at", "ts"),
    Column("verified", "bool"),
    Column("default_profile_image", "bool"),
    Column("description", "text"),
    Column("source", "id"),
    Column("detail", "text"),
    Column("label", "text"),
    # Optional counts and flags the bot-likeness model reads (model.LATE_FACT_FIELDS).
    Column("favourites_count", "int"),
    Column("listed_count", "int"),
    Column("default_profile", "bool"),
]

SPECS: dict[str, list[Column]] = {
    "observations": _FACTS,
    "profiles": _FACTS,
    "followers": [
        Column("platform", "token", required=True, nonempty=True),
        Column("account_id", "id", required=True, nonempty=True),
        Column("observed_at", "ts", required=True, nonempty=True),
        Column("follower_id", "id", required=True, nonempty=True),
        Column("position", "int"),
        Column("partial", "bool"),
    ],
    "watchlist": [
        Column("platform", "token", required=True, nonempty=True),
        Column("account", "id", required=True, nonempty=True),
        Column("group", "id", required=True, nonempty=True),
        Column("label", "text"),
    ],
    "status_events": [
        Column("platform", "token", required=True, nonempty=True),
        Column("account_id", "id", required=True, nonempty=True),
        Column("at", "ts", required=True, nonempty=True),
        Column("status", "status", required=True, nonempty=True),
        Column("source", "id"),
    ],
    "posts": [
        Column("platform", "token", required=True, nonempty=True),
        Column("account_id", "id", required=True, nonempty=True),
        Column("post_id", "id", required=True, nonempty=True),
        Column("created_at", "ts", required=True),
        Column("observed_at", "ts", required=True, nonempty=True),
        Column("text", "text", required=True),
        Column("url", "id"),
        Column("lang", "id"),
        Column("reply_to", "id"),
        Column("repost_of", "id"),
        Column("quote_of", "id"),
        Column("links", "json"),
        Column("hashtags", "json"),
        Column("mentions", "json"),
        Column("source", "id"),
    ],
    "status_counts": [
        Column("platform", "token", required=True, nonempty=True),
        Column("period_start", "ts", required=True, nonempty=True),
        Column("period_end", "ts", required=True, nonempty=True),
        Column("kind", "token", required=True, nonempty=True, choices=STATUS_COUNT_KINDS),
        Column("count", "int", required=True, nonempty=True),
        Column("source", "id", required=True, nonempty=True),
        Column("group", "id"),
        Column("category", "text"),
        Column("note", "text"),
    ],
}


@dataclass
class ImportReport:
    """What an import did. ``rows_read`` counts data rows seen; ``imported`` the new rows
    stored (or snapshots / watchlist changes); ``duplicates`` rows already stored."""

    kind: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    batches: int = 0
    seconds: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    watchlist: dict[str, int] = field(default_factory=dict)  # kind watchlist: added, changed, unchanged
    batch_ids: list[str] = field(default_factory=list)  # what `purgewatch retract` takes

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "files": self.files, "rows_read": self.rows_read,
            "imported": self.imported, "duplicates": self.duplicates, "rejected": self.rejected,
            "rejects_path": self.rejects_path, "batches": self.batches,
            "seconds": round(self.seconds, 3), "tables": self.tables, "notes": self.notes,
            **({"watchlist": self.watchlist} if self.watchlist else {}),
            "batch_ids": self.batch_ids,
        }


Progress = Callable[[int], None]


class _Rejects:
    """Collects rejected rows across files; written once at the end."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def add(self, path: str, rejects: pa.Table) -> None:
        if rejects.num_rows:
            self.parts.append(rejects.add_column(0, "file", pa.repeat(pa.scalar(path, pa.string()), rejects.num_rows)))

    @property
    def count(self) -> int:
        return sum(p.num_rows for p in self.parts)

    def write(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.concat_tables(self.parts).select(["file", "line", "column", "reason", "value"])
        pacsv.write_csv(table, target)


def default_rejects_path(store: Store, kind: str) -> Path:
    """Next to the store (never inside it: the store holds only evidence)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return store.path.resolve().parent / f"{store.path.resolve().name}-rejects-{kind}-{stamp}.csv"


def check_validated(v: Validated, skip_bad_rows: bool, rejects: _Rejects) -> None:
    if v.n_bad and not skip_bad_rows:
        raise v.first_error()
    rejects.add(v.path, v.rejects)


def _row_sources(kind: str, good: pa.Table) -> pa.Array:
    base = f"import:{kind}"
    n = good.num_rows
    if "source" not in good.column_names or good.column("source").null_count == n:
        return constant_strings(base, n)
    own = good.column("source")
    joined = pc.binary_join_element_wise(pa.scalar(base), own, ":")
    out = pc.if_else(pc.is_null(own), pa.scalar(base), joined)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def to_store_rows(table: str, v: Validated) -> pa.Table:
    """Typed good rows -> rows of store ``table`` (observations, profiles, status_events),
    with ``source`` = ``import:<table>`` (callers importing other formats override it)."""
    good = v.good
    schema = TABLE_SCHEMAS[table]
    cols: dict[str, Any] = {}
    for f in schema:
        if f.name in ("source", "source_ref", "payload_hash", "retrieved_at", "tool_version",
                      "batch_id", "record_key"):
            continue
        if f.name == "status_raw":
            cols[f.name] = good.column("status_raw")
        elif f.name in good.column_names:
            cols[f.name] = good.column(f.name)
    if table == "status_counts":  # the file's source cell is content: who published it
        cols["publisher"] = good.column("source")
    cols["source"] = _row_sources(table, good)
    cols["source_ref"] = good.column(REF_COL)
    cols["payload_hash"] = good.column(HASH_COL)
    return pa.table(cols)


def write_batches(writer: BatchWriter, table_name: str, rows: pa.Table, batch_rows: int,
                  report: ImportReport, progress: Progress | None = None) -> None:
    # Each batch is written in the background while the next one is keyed and checked
    # against the store; they still become visible one at a time, in order.
    done: list[Future[CommitResult]] = []
    for start in range(0, max(rows.num_rows, 1), batch_rows):
        chunk = rows.slice(start, batch_rows)
        if chunk.num_rows == 0:
            break
        report.imported += writer.add(table_name, chunk)
        done.append(writer.commit_in_background(note=f"rows {start}..{start + chunk.num_rows - 1}"))
        if progress:
            progress(chunk.num_rows)
    writer.wait()
    for future in done:
        res = future.result()
        if res.committed:
            report.batches += 1
            report.batch_ids.append(str(res.batch_id))
            for t, n in res.rows.items():
                report.tables[t] = report.tables.get(t, 0) + n


def import_interchange(
    store: Store,
    kind: str,
    paths: Sequence[str | Path],
    *,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
) -> ImportReport:
    """Import interchange files of ``kind`` (observations, profiles, followers, watchlist,
    status_events). Files are taken in order; a file with a bad cell raises
    :class:`~purgewatch.errors.InputError` before any of *its* rows is written."""
    if kind not in SPECS:
        raise InputError(f"unknown import kind {kind!r}", hint=f"one of: {', '.join(SPECS)}")
    spec = SPECS[kind]
    wanted = [c.name for c in spec]
    required = [c.name for c in spec if c.required]
    report = ImportReport(kind=kind)
    rejects = _Rejects()
    t0 = time.perf_counter()
    for path in paths:
        p = str(path)
        report.files.append(p)
        if is_gzip(p) and kind not in ("watchlist", "followers", "posts"):
            _import_stream(store, kind, p, spec, skip_bad_rows, rejects, batch_rows, report, progress)
            continue
        raw = read_cells(p, wanted, required, json_ok=frozenset(c.name for c in spec if c.type == "json"))
        check_lookalikes(p, raw, wanted)
        v = _validated(kind, raw, spec)
        report.rows_read += raw.table.num_rows + len(raw.broken)
        del raw  # the text cells: their memory is reused by what follows
        check_validated(v, skip_bad_rows, rejects)
        if kind == "watchlist":
            _import_watchlist_rows(store, v, report)
        elif kind == "posts":
            from purgewatch.sources.files._posts import write_posts

            with store.writer(command="import posts", source="import:posts", source_ref=p) as w:
                added, _ = write_posts(w, v)
                report.imported += added
                report.duplicates += w.duplicates.get("posts", 0)
            report.batches += 1
            report.tables["posts"] = report.tables.get("posts", 0) + added
            if progress:
                progress(v.good.num_rows)
        elif kind == "followers":
            from purgewatch.sources.files._followers import import_follower_rows

            with store.writer(command="import followers", source="import:followers", source_ref=p) as w:
                import_follower_rows(w, v, batch_rows, report, progress)
        else:
            rows = to_store_rows(kind, v)
            with store.writer(command=f"import {kind}", source=f"import:{kind}", source_ref=p) as w:
                write_batches(w, kind, rows, batch_rows, report, progress)
                report.duplicates += w.duplicates.get(kind, 0)
    report.rejected = rejects.count
    if rejects.count:
        target = Path(rejects_path) if rejects_path else default_rejects_path(store, kind)
        rejects.write(target)
        report.rejects_path = str(target)
    report.seconds = time.perf_counter() - t0
    return report


def _import_stream(store: Store, kind: str, path: str, spec: list[Column], skip_bad_rows: bool,
                   rejects: _Rejects, batch_rows: int, report: ImportReport,
                   progress: Progress | None) -> None:
    """A gzip'd file, a chunk at a time: memory is bounded by the chunk, not the file.
    Each chunk's batches are written to disk as they come but published only once the
    whole file has passed (``all_or_nothing``), so a bad row near the end still refuses
    the whole file, as with a file read at once."""
    wanted = [c.name for c in spec]
    required = [c.name for c in spec if c.required]
    with store.writer(command=f"import {kind}", source=f"import:{kind}", source_ref=path,
                      all_or_nothing=True) as w:
        for i, raw in enumerate(stream_cells(path, wanted, required)):
            if i == 0:
                check_lookalikes(path, raw, wanted)
            v = _validated(kind, raw, spec)
            report.rows_read += raw.table.num_rows + len(raw.broken)
            del raw
            check_validated(v, skip_bad_rows, rejects)
            write_batches(w, kind, to_store_rows(kind, v), batch_rows, report, progress)
        report.duplicates += w.duplicates.get(kind, 0)


def _validated(kind: str, raw: RawFile, spec: list[Column]) -> Validated:
    v = validate(raw, spec)
    if kind == "status_counts":
        v = _check_periods(v)
    return v


def _check_periods(v: Validated) -> Validated:
    """A period must end after it starts (rows failing it join the rejects)."""
    g = v.good
    if not g.num_rows:
        return v
    bad = pc.fill_null(pc.less_equal(g.column("period_end"), g.column("period_start")), False)
    if not pc.any(bad).as_py():
        return v
    from purgewatch.sources.files._read import LINE_COL

    sub = g.filter(bad)
    extra = pa.table({
        "line": sub.column(LINE_COL).cast(pa.int64()),
        "column": pa.repeat(pa.scalar("period_end", pa.string()), sub.num_rows),
        "code": pa.repeat(pa.scalar("period_order", pa.string()), sub.num_rows),
        "reason": pa.repeat(pa.scalar("period_end: not after period_start", pa.string()), sub.num_rows),
        "value": pc.cast(sub.column("period_end"), pa.string()),
    }, schema=v.rejects.schema)
    rejects = pa.concat_tables([v.rejects, extra])
    rejects = rejects.take(pc.sort_indices(rejects, [("line", "ascending")]))
    return Validated(v.path, g.filter(pc.invert(bad)), rejects, v.columns_found, v.aliases)


def _import_watchlist_rows(store: Store, v: Validated, report: ImportReport) -> None:
    from purgewatch.watchlist import import_watchlist

    good = v.good
    entries = pa.table({
        "platform": good.column("platform"),
        "account": good.column("account"),
        "group": good.column("group"),
        "label": good.column("label"),
        "source_ref": good.column(REF_COL),
        "payload_hash": good.column(HASH_COL),
    })
    change = import_watchlist(store, entries, source="import:watchlist", command="import watchlist")
    # One account: the summary counts watchlist entries (added, changed, already watched),
    # in ``tables`` as in ``imported``/``duplicates``, and nothing else says otherwise.
    written = change.added + change.changed
    report.imported += written
    report.duplicates += change.unchanged
    if written:
        report.tables["watchlist"] = report.tables.get("watchlist", 0) + written
    for k in ("added", "changed", "unchanged"):
        report.watchlist[k] = report.watchlist.get(k, 0) + getattr(change, k)

