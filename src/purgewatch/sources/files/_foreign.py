"""Formats written by other tools, mapped onto account facts and status events.

- ``twarc2``: X API v2 user objects as twarc2 writes them: each line either a whole API
  response (``{"data": [...], "includes": {...}, "errors": [...], "__twarc": {...}}``) or
  one flattened object (``twarc2 flatten``: a user, or a tweet with its ``author``).
  Observation time = ``__twarc.retrieved_at``. Users come from ``data`` and
  ``includes.users``; lookup ``errors`` naming a user id become observations with the
  platform's verdict (``suspended`` when the detail says so, ``not_found`` for "Not Found
  Error", else ``unknown`` with the platform's words kept in ``detail``). Tweets (in
  ``data``, ``includes.tweets``, or flattened) are kept as posts too (``posts``: text,
  time, language, retweet / quote / reply references, entities), each (author, moment)
  logged as an incomplete read (``post_reads``), as ``import posts`` does: a file shows
  which tweets existed, never that one was deleted.
- ``v1-users``: Twitter v1.1 user objects: a JSON array, JSONL, or a CSV with the v1.1
  field names (as in cresci-2017 ``users_*.csv``; the literal ``NULL`` is an empty cell).
  v1.1 objects do not say when they were read: the time comes from a per-record
  ``retrieved_at``/``observed_at``/``updated`` value with a zone, or ``--observed-at``.
- ``x-compliance``: X batch-compliance job results for *user* jobs (one JSON object per
  line: ``id``, ``action``, ``created_at``, ``redacted_at``, ``reason``) -> status events
  at ``redacted_at`` with the reason as status (unknown reasons kept verbatim in
  ``status_raw``; ``scrub_geo`` is not an account status and is skipped).

JSON formats are parsed line by line in Python (nested objects need it); their files are
small next to interchange files. Typing and validation then go through the same
vectorised path as the interchange formats.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError, Location
from purgewatch.sources.files._interchange import (
    _FACTS,
    DEFAULT_BATCH_ROWS,
    ImportReport,
    Progress,
    _Rejects,
    check_validated,
    default_rejects_path,
    to_store_rows,
    write_batches,
)
from purgewatch.sources.files._read import (
    BAD_PREFIX,
    LINE_COL,
    RAW_COL,
    RawFile,
    read_bytes,
    read_csv,
    read_jsonl,
    read_jsonl_lines,
    sniff_format,
)
from purgewatch.sources.files._validate import Column, validate
from purgewatch.store import Store

FACT_NAMES = [c.name for c in _FACTS]
_V1_FIELDS = {  # v1.1 field -> fact column
    "screen_name": "handle",
    "name": "display_name",
    "statuses_count": "posts_count",
    "followers_count": "followers_count",
    "friends_count": "following_count",
    "created_at": "created_at",
    "verified": "verified",
    "default_profile_image": "default_profile_image",
    "description": "description",
    "favourites_count": "favourites_count",
    "listed_count": "listed_count",
    "default_profile": "default_profile",
}
_V1_TIME_KEYS = ("retrieved_at", "observed_at", "updated")


class _NonScalar(str):
    """A JSON object or array where one value belongs (kept as JSON text, refused by
    validation with the column it was in)."""

    __slots__ = ()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return _NonScalar(json.dumps(value, ensure_ascii=False))
    return str(value)


def _iter_json_records(path: str, data: bytes) -> Iterator[tuple[int, str, Any]]:
    """(line, raw text, parsed value or an Exception) per JSONL line; a whole-file JSON
    array yields its elements (line = the line where the array starts)."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}", location=Location(path)) from None
        line = data[: len(data) - len(stripped)].count(b"\n") + 1
        for item in items if isinstance(items, list) else [items]:
            yield line, json.dumps(item, ensure_ascii=False, sort_keys=True), item
        return
    arr, lines = read_jsonl_lines(path, data)
    for line, text in zip(lines.tolist(), arr.to_pylist(), strict=True):
        try:
            yield line, text, json.loads(text)
        except ValueError as exc:
            yield line, text, exc


class _Cells:
    """Accumulates string cells per fact column, one row per account fact."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.cols: dict[str, list[str | None]] = {n: [] for n in names}
        self.lines: list[int] = []
        self.raw: list[str] = []
        self.broken: list[tuple[int, str]] = []
        self.nonscalar: dict[str, set[int]] = {}  # column -> rows holding an object/array

    def add(self, line: int, raw: str, row: dict[str, str | None]) -> None:
        for n in self.names:
            value = row.get(n)
            self.cols[n].append(value)
            if isinstance(value, _NonScalar):
                self.nonscalar.setdefault(n, set()).add(len(self.lines))
        self.lines.append(line)
        self.raw.append(raw)

    def raw_file(self, path: str) -> RawFile:
        bad = {BAD_PREFIX + n: pa.array(["nonscalar" if i in rows else None for i in range(len(self.lines))],
                                        pa.string()) for n, rows in self.nonscalar.items()}
        table = pa.table({**{n: pa.array(v, pa.string()) for n, v in self.cols.items()},
                          RAW_COL: pa.array(self.raw, pa.string()),
                          LINE_COL: pa.array(self.lines, pa.int64()), **bad})
        return RawFile(path, "jsonl", table, list(self.names), sorted(self.broken))


# --------------------------------------------------------------------------- twarc2
def _v2_user(user: dict[str, Any], observed: str | None) -> dict[str, str | None]:
    metrics = user.get("public_metrics") or {}
    posts = metrics.get("tweet_count", metrics.get("post_count"))
    image = str(user.get("profile_image_url") or "")
    status = "protected" if user.get("protected") is True else "active"
    return {
        "platform": "x",
        "account_id": _text(user.get("id")),
        "observed_at": observed,
        "status": status,
        "followers_count": _text(metrics.get("followers_count")),
        "following_count": _text(metrics.get("following_count")),
        "posts_count": _text(posts),
        "handle": _text(user.get("username")),
        "display_name": _text(user.get("name")),
        "created_at": _text(user.get("created_at")),
        "verified": _text(user.get("verified")),
        "default_profile_image": ("true" if "default_profile_images" in image else "false") if image else None,
        "description": _text(user.get("description")),
        # v2 public_metrics: listed_count always; like_count only in newer answers.
        "favourites_count": _text(metrics.get("like_count")),
        "listed_count": _text(metrics.get("listed_count")),
    }


def _v2_error(err: dict[str, Any], observed: str | None) -> dict[str, str | None] | None:
    """A lookup error about one user id -> the platform's verdict on that account."""
    if err.get("resource_type") not in (None, "user") or err.get("parameter") not in (None, "ids", "id"):
        return None
    uid = _text(err.get("resource_id") or err.get("value"))
    if not uid or not uid.isdigit():
        return None
    words = f"{err.get('title', '')}: {err.get('detail', '')}".strip(": ")
    if "suspended" in words.lower():
        status = "suspended"
    elif err.get("title") == "Not Found Error":
        status = "not_found"
    else:
        status = "unknown"
    return {"platform": "x", "account_id": uid, "observed_at": observed, "status": status,
            "detail": words or None}


def _twarc_time(obj: dict[str, Any], fallback: str | None) -> str | None:
    meta = obj.get("__twarc")
    if isinstance(meta, dict) and meta.get("retrieved_at"):
        return str(meta["retrieved_at"])
    return fallback


def parse_twarc2(path: str, data: bytes, observed_at: str | None) -> tuple[RawFile, int]:
    cells = _Cells(FACT_NAMES)
    skipped = 0
    for line, raw, obj in _iter_json_records(path, data):
        if isinstance(obj, Exception) or not isinstance(obj, dict):
            cells.broken.append((line, "not a JSON object"))
            continue
        when = _twarc_time(obj, observed_at)
        if "data" in obj or "errors" in obj:
            items = obj.get("data") or []
            items = items if isinstance(items, list) else [items]
            includes = obj.get("includes") or {}
            users = [u for u in items if isinstance(u, dict) and "username" in u]
            users += [u for u in includes.get("users", []) if isinstance(u, dict)]
            seen: set[Any] = set()
            for u in users:
                if u.get("id") in seen:
                    continue
                seen.add(u.get("id"))
                cells.add(line, raw, _v2_user(u, when))
            for err in obj.get("errors") or []:
                row = _v2_error(err, when) if isinstance(err, dict) else None
                if row is None:
                    skipped += 1
                else:
                    cells.add(line, raw, row)
        elif "username" in obj:
            cells.add(line, raw, _v2_user(obj, when))
        elif isinstance(obj.get("author"), dict) and "username" in obj["author"]:
            cells.add(line, raw, _v2_user(obj["author"], when))
        else:
            cells.broken.append((line, "neither a twarc2 API response nor a user object"))
    return cells.raw_file(path), skipped


def _is_tweet(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("id"), str) and "text" in obj and "username" not in obj


def twarc2_tweets(path: str, data: bytes,
                  observed_at: str | None) -> tuple[list[tuple[int, str, str, dict[str, Any]]], int]:
    """((line, raw line, observation time, tweet) for every tweet of a twarc2 file; how
    many tweets had no observation time)."""
    out: list[tuple[int, str, str, dict[str, Any]]] = []
    untimed = 0
    for line, raw, obj in _iter_json_records(path, data):
        if not isinstance(obj, dict):
            continue
        when = _twarc_time(obj, observed_at)
        if "data" in obj or "errors" in obj:
            items = obj.get("data") or []
            items = items if isinstance(items, list) else [items]
            includes = obj.get("includes") or {}
            tweets = [t for t in items if _is_tweet(t)]
            tweets += [t for t in (includes.get("tweets") or []) if _is_tweet(t)]
        elif _is_tweet(obj):
            tweets = [obj]
        else:
            continue
        for tw in tweets:
            if when is None:
                untimed += 1
            else:
                out.append((line, raw, when, tw))
    return out, untimed


def _twarc2_posts(writer: Any, path: str, data: bytes, observed_at: str | None, source: str,
                  report: ImportReport) -> None:
    """Queue the file's tweets as posts, and their (author, moment) groups as incomplete
    reads; the caller commits."""
    import hashlib

    from purgewatch.sources._common import parse_time
    from purgewatch.sources.files._posts import read_rows
    from purgewatch.sources.x import tweet_post

    found, untimed = twarc2_tweets(path, data, observed_at)
    if untimed:
        report.notes.append(f"{path}: {untimed} tweets without an observation time (pass --observed-at): not kept")
    cols: dict[str, list[Any]] = {c: [] for c in (
        "platform", "account_id", "post_id", "created_at", "observed_at", "text", "text_sha256", "url", "lang",
        "reply_to", "repost_of", "quote_of", "links", "hashtags", "mentions", "source", "source_ref",
        "payload_hash")}
    no_author = 0
    for line, raw, when, tw in found:
        post = tweet_post(tw)
        author = tw.get("author_id") or (tw.get("author") or {}).get("id")
        seen_at = parse_time(when)
        if post is None or not isinstance(author, str) or seen_at is None:
            no_author += 1
            continue
        values = {
            "platform": "x", "account_id": author, "post_id": post.post_id, "created_at": post.created_at,
            "observed_at": seen_at, "text": post.text,
            "text_sha256": hashlib.sha256(post.text.encode()).hexdigest() if post.text is not None else None,
            "url": post.url, "lang": post.lang, "reply_to": post.reply_to, "repost_of": post.repost_of,
            "quote_of": post.quote_of,
            "links": json.dumps(post.links, separators=(",", ":")) if post.links else None,
            "hashtags": json.dumps(post.hashtags, ensure_ascii=False, separators=(",", ":")) if post.hashtags else None,
            "mentions": json.dumps(post.mentions, separators=(",", ":")) if post.mentions else None,
            # as for the users: the hash of the raw line (the whole response it came in)
            "source": source, "source_ref": f"{path}:{line}",
            "payload_hash": hashlib.sha256(raw.encode()).hexdigest(),
        }
        for c, v in values.items():
            cols[c].append(v)
    if no_author:
        report.notes.append(f"{path}: {no_author} tweets without author_id or a readable time: not kept as posts")
    if not cols["post_id"]:
        return
    from purgewatch.model import TABLE_SCHEMAS

    schema = pa.schema([TABLE_SCHEMAS["posts"].field(c) for c in cols])
    posts = pa.table(cols, schema=schema)
    reads = read_rows(posts)
    reads = reads.set_column(reads.schema.get_field_index("source"), "source",
                             pa.repeat(pa.scalar(source, pa.string()), reads.num_rows))
    report.imported += writer.add("posts", posts)
    report.imported += writer.add("post_reads", reads)
    res = writer.commit(note=f"{len(cols['post_id'])} tweets as posts")
    if res.committed:
        report.batches += 1
        report.batch_ids.append(str(res.batch_id))
        for t, n in res.rows.items():
            report.tables[t] = report.tables.get(t, 0) + n


# --------------------------------------------------------------------------- v1.1
def _v1_status(obj: dict[str, Any]) -> str:
    if str(obj.get("suspended", "")).lower() in ("true", "1"):
        return "suspended"
    if str(obj.get("protected", "")).lower() in ("true", "1"):
        return "protected"
    return "active"


def parse_v1_json(path: str, data: bytes, observed_at: str | None) -> RawFile:
    cells = _Cells(FACT_NAMES)
    for line, raw, obj in _iter_json_records(path, data):
        if isinstance(obj, Exception) or not isinstance(obj, dict):
            cells.broken.append((line, "not a JSON object"))
            continue
        row: dict[str, str | None] = {"platform": "x",
                                      "account_id": _text(obj.get("id_str") or obj.get("id")),
                                      "status": _v1_status(obj)}
        for src, dst in _V1_FIELDS.items():
            row[dst] = _text(obj.get(src))
        own = next((obj[k] for k in _V1_TIME_KEYS if obj.get(k)), None)
        row["observed_at"] = _text(own) if own is not None else observed_at
        cells.add(line, raw, row)
    return cells.raw_file(path)


def parse_v1_csv(path: str, data: bytes, observed_at: str | None) -> RawFile:
    wanted = ["id", "protected", "suspended", *_V1_FIELDS, *_V1_TIME_KEYS]
    raw = read_csv(path, data, wanted, ["id"])
    t = raw.table
    n = t.num_rows

    def col(name: str) -> pa.Array:
        if name not in t.column_names:
            return pa.nulls(n, pa.string())
        c = t.column(name).combine_chunks()
        return pc.if_else(pc.equal(c, "NULL"), pa.scalar(None, pa.string()), c)  # cresci's NULL

    def truthy(name: str) -> np.ndarray:
        return pc.fill_null(pc.is_in(pc.utf8_lower(col(name)), pa.array(["true", "1"])), False).to_numpy(zero_copy_only=False)

    status = np.where(truthy("suspended"), "suspended", np.where(truthy("protected"), "protected", "active"))
    out: dict[str, pa.Array] = {
        "platform": pa.repeat(pa.scalar("x", pa.string()), n),
        "account_id": col("id"),
        "status": pa.array(status, pa.string()),
    }
    for src, dst in _V1_FIELDS.items():
        out[dst] = col(src)
    aliases = {dst: src for src, dst in _V1_FIELDS.items()} | {"account_id": "id"}
    if observed_at is not None:
        out["observed_at"] = pa.repeat(pa.scalar(observed_at, pa.string()), n)
    else:
        own = next((k for k in _V1_TIME_KEYS if k in t.column_names), None)
        if own is None:
            raise InputError(
                "no observation time: v1.1 user objects do not say when they were read",
                location=Location(path, 1),
                hint="pass --observed-at 2024-05-01T12:00:00Z (when the file was collected)",
            )
        out["observed_at"] = col(own)
        aliases["observed_at"] = own
    table = pa.table({**out, LINE_COL: t.column(LINE_COL)})
    header_map = {v: k for k, v in _V1_FIELDS.items()} | {"account_id": "id"}
    found = [header_map.get(c, c) for c in raw.columns_found]
    return RawFile(path, "csv", table, found, raw.broken, aliases, file_sha256=raw.file_sha256)


# --------------------------------------------------------------------------- compliance
_COMPLIANCE_SPEC = [
    Column("id", "id", required=True, nonempty=True),
    Column("redacted_at", "ts", required=True, nonempty=True),
    Column("reason", "status", required=True, nonempty=True),
    Column("action", "text"),
    Column("created_at", "text"),
]
_NOT_A_STATUS = {"scrub_geo"}


def _import_compliance(store: Store, path: str, skip_bad_rows: bool, rejects: _Rejects,
                       batch_rows: int, report: ImportReport, progress: Progress | None) -> None:
    data = read_bytes(path)
    raw = read_jsonl(path, data, [c.name for c in _COMPLIANCE_SPEC], ["id", "reason"])
    report.rows_read += raw.table.num_rows + len(raw.broken)
    reason = pc.utf8_lower(pc.utf8_trim_whitespace(raw.table.column("reason")))
    geo = pc.fill_null(pc.is_in(reason, pa.array(sorted(_NOT_A_STATUS))), False)
    n_geo = int(pc.sum(geo).as_py() or 0)
    if n_geo:
        raw.table = raw.table.filter(pc.invert(geo))
        report.notes.append(f"{path}: skipped {n_geo} scrub_geo rows (not an account status)")
    v = validate(raw, _COMPLIANCE_SPEC)
    check_validated(v, skip_bad_rows, rejects)
    g = v.good
    v.good = pa.table({
        "platform": pa.repeat(pa.scalar("x", pa.string()), g.num_rows),
        "account_id": g.column("id"),
        "at": g.column("redacted_at"),
        "status": g.column("reason"),
        "status_raw": g.column("reason_raw"),
        LINE_COL: g.column(LINE_COL),
        "__payload_hash": g.column("__payload_hash"),
        "__source_ref": g.column("__source_ref"),
    })
    rows = to_store_rows("status_events", v)
    rows = rows.set_column(rows.schema.get_field_index("source"), "source",
                           pa.repeat(pa.scalar("import:x-compliance", pa.string()), rows.num_rows))
    with store.writer(command="import x-compliance", source="import:x-compliance", source_ref=path) as w:
        write_batches(w, "status_events", rows, batch_rows, report, progress)
        report.duplicates += w.duplicates.get("status_events", 0)


# --------------------------------------------------------------------------- driver
def parse_foreign(kind: str, path: str, observed_at: str | None) -> tuple[RawFile, int]:
    data = read_bytes(path)
    if kind == "twarc2":
        return parse_twarc2(path, data, observed_at)
    if sniff_format(path, data) == "csv":
        return parse_v1_csv(path, data, observed_at), 0
    return parse_v1_json(path, data, observed_at), 0


def import_foreign(
    store: Store,
    kind: str,
    paths: Sequence[str | Path],
    *,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    observed_at: datetime | None = None,
    table: str = "profiles",
    label: str | None = None,
    naive_utc: bool = False,
    source: str | None = None,
    transform: Callable[[RawFile], RawFile] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import twarc2 / v1-users / x-compliance files (see module docs). ``label``,
    ``naive_utc`` (zone-less times are UTC), ``source`` and ``transform`` (applied to the
    cells before validation) serve the dataset loaders, which know their files."""
    source = source or f"import:{kind}"
    if table not in ("profiles", "observations"):
        raise InputError(f"cannot import {kind} into {table!r}", hint="use profiles or observations")
    if observed_at is not None and observed_at.tzinfo is None:
        raise InputError("--observed-at needs a time zone (e.g. 2024-05-01T12:00:00Z)")
    when = observed_at.isoformat() if observed_at is not None else None
    report = ImportReport(kind=kind)
    rejects = _Rejects()
    t0 = time.perf_counter()
    for path in paths:
        p = str(path)
        report.files.append(p)
        if kind == "x-compliance":
            _import_compliance(store, p, skip_bad_rows, rejects, batch_rows, report, progress)
            continue
        raw, skipped = parse_foreign(kind, p, when)
        if transform is not None:
            raw = transform(raw)
        if skipped:
            report.notes.append(f"{p}: skipped {skipped} API errors that name no user id")
        report.rows_read += raw.table.num_rows + len(raw.broken)
        v = validate(raw, _FACTS, naive_utc=naive_utc)
        if v.n_bad and not skip_bad_rows:
            first = v.rejects.slice(0, 1).to_pylist()[0]
            if first["column"] == "observed_at" and first["code"] == "empty":
                raise InputError(
                    "no observation time for this record",
                    location=Location(p, first["line"], "observed_at"),
                    hint="pass --observed-at 2024-05-01T12:00:00Z (when the file was collected)",
                )
        check_validated(v, skip_bad_rows, rejects)
        if label is not None:
            v.good = v.good.set_column(v.good.schema.get_field_index("label"), "label",
                                       pa.repeat(pa.scalar(label, pa.string()), v.good.num_rows))
        rows = to_store_rows(table, v)
        rows = rows.set_column(rows.schema.get_field_index("source"), "source",
                               pa.repeat(pa.scalar(source, pa.string()), rows.num_rows))
        with store.writer(command=f"import {kind}", source=source, source_ref=p) as w:
            write_batches(w, table, rows, batch_rows, report, progress)
            report.duplicates += w.duplicates.get(table, 0)
            if kind == "twarc2":
                _twarc2_posts(w, p, read_bytes(p), when, source, report)
                report.duplicates += w.duplicates.get("posts", 0)
    report.rejected = rejects.count
    if rejects.count:
        target = Path(rejects_path) if rejects_path else default_rejects_path(store, kind)
        rejects.write(target)
        report.rejects_path = str(target)
    report.seconds = time.perf_counter() - t0
    return report
