"""Rows of the store's ``posts`` and ``post_reads`` tables from one read of an account's
posts (sources.protocol.PostRead), as the collector writes them.

Each post is written with ``observed_at`` = the read's time; the store's content key
leaves ``observed_at`` out, so a post read again unchanged adds nothing and an edit adds a
version. Every read is logged, whatever it found (an unavailable account, a failure), so
``last_seen`` and ``first_missing`` come from the reads (analysis/posts.py).
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from purgewatch.model import TABLE_SCHEMAS
from purgewatch.sources.protocol import PostRead

_POST_COLUMNS = [f.name for f in TABLE_SCHEMAS["posts"]
                 if f.name not in ("retrieved_at", "tool_version", "batch_id", "record_key")]
_READ_COLUMNS = [f.name for f in TABLE_SCHEMAS["post_reads"]
                 if f.name not in ("retrieved_at", "tool_version", "batch_id", "record_key")]


def _json_list(values: list[str] | None, *, tags: bool = False) -> str | None:
    if not values:
        return None
    if tags:
        values = [v.lower().lstrip("#") for v in values]
    # The same compact form as an imported file's lists (DuckDB's to_json).
    return json.dumps(list(dict.fromkeys(values)), ensure_ascii=False, separators=(",", ":"))


def post_tables(read: PostRead) -> tuple[pa.Table, pa.Table]:
    """(posts rows, the one post_reads row) of ``read``."""
    rows: dict[str, list[object]] = {c: [] for c in _POST_COLUMNS}
    # A direct look-up names the posts it saw; their words came with the listings.
    for p in ([] if read.lookup else read.posts):
        values = {
            "platform": read.platform, "account_id": read.account_id, "post_id": p.post_id,
            "created_at": p.created_at, "observed_at": read.read_at, "text": p.text,
            "text_sha256": hashlib.sha256(p.text.encode("utf-8")).hexdigest() if p.text is not None else None,
            "url": p.url, "lang": p.lang, "reply_to": p.reply_to, "repost_of": p.repost_of,
            "quote_of": p.quote_of, "links": _json_list(p.links), "hashtags": _json_list(p.hashtags, tags=True),
            "mentions": _json_list(p.mentions), "source": read.source, "source_ref": read.source_ref,
            "payload_hash": read.payload_hash,
        }
        for c in _POST_COLUMNS:
            rows[c].append(values[c])
    posts = pa.table(rows, schema=pa.schema([TABLE_SCHEMAS["posts"].field(c) for c in _POST_COLUMNS]))
    ids = [p.post_id for p in read.posts] if read.answer == "ok" else None
    one = {
        "platform": [read.platform], "account_id": [read.account_id], "read_at": [read.read_at],
        "window_start": [read.window_start], "window_end": [read.window_end], "complete": [read.complete],
        "answer": [read.answer], "post_id": [read.post_id], "post_ids": [ids], "source": [read.source],
        "source_ref": [read.source_ref], "payload_hash": [read.payload_hash],
    }
    reads = pa.table(one, schema=pa.schema([TABLE_SCHEMAS["post_reads"].field(c) for c in _READ_COLUMNS]))
    return posts, reads
