"""Importing the FORMATS.md ``posts`` input: rows of posts as seen at one moment.

Each version of a post is stored once (``posts``; the store's content key leaves
``observed_at`` out), with a SHA-256 of its text as published. Each (account, moment)
group of the file is also logged as a read in ``post_reads`` with ``complete = false``:
a file says which posts it saw, never that it listed everything, so an imported file is
evidence that a post existed and that an account was read, never that a post is gone.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError, Location
from purgewatch.sources.files._validate import HASH_COL, REF_COL, Validated
from purgewatch.store import BatchWriter

_LIST_COLUMNS = ("links", "hashtags", "mentions")


def _text_hashes(text: pa.Array) -> pa.Array:
    return pa.array(
        [None if t is None else hashlib.sha256(t.encode("utf-8")).hexdigest() for t in text.to_pylist()],
        pa.string(),
    )


def _json_lists(v: Validated, name: str, *, lower: bool = False) -> pa.Array:
    """A list column (a JSON array in CSV cells and JSONL alike) re-serialised canonically;
    a cell that is not a JSON array of strings refuses the file with its line."""
    col = v.good.column(name).combine_chunks() if name in v.good.column_names else None
    if col is None or col.null_count == len(col):
        return pa.nulls(v.good.num_rows, pa.string())
    out: list[str | None] = []
    refs = v.good.column(REF_COL).to_pylist()
    for cell, ref in zip(col.to_pylist(), refs, strict=True):
        if cell is None or cell.strip() == "":
            out.append(None)
            continue
        try:
            items = json.loads(cell)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            file, _, line = str(ref).rpartition(":")
            raise InputError(
                f"{name}: not a JSON array of strings: {cell[:80]!r}",
                location=Location(file or v.path, int(line) if line.isdigit() else None, name),
                hint='write lists as JSON arrays, e.g. ["#tag1", "#tag2"] (an empty cell for none)',
            )
        if lower:
            items = [i.lstrip("#").lower() for i in items]
        out.append(json.dumps(items, ensure_ascii=False))
    return pa.array(out, pa.string())


def post_rows(v: Validated) -> pa.Table:
    """Validated ``posts`` cells -> rows of the store's ``posts`` table."""
    good = v.good
    text = good.column("text").combine_chunks()
    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        name: good.column(name)
        for name in ("platform", "account_id", "post_id", "created_at", "observed_at", "text",
                     "url", "lang", "reply_to", "repost_of", "quote_of")
    }
    cols["text_sha256"] = _text_hashes(text)
    cols["links"] = _json_lists(v, "links")
    cols["hashtags"] = _json_lists(v, "hashtags", lower=True)
    cols["mentions"] = _json_lists(v, "mentions")
    cols["source"] = pc.if_else(pc.is_null(good.column("source")), pa.scalar("import:posts"),
                                pc.binary_join_element_wise(pa.scalar("import:posts"),
                                                            good.column("source"), ":"))
    cols["source_ref"] = good.column(REF_COL)
    cols["payload_hash"] = good.column(HASH_COL)
    return pa.table(cols)


def read_rows(posts: pa.Table) -> pa.Table:
    """One incomplete read per (platform, account, observed_at) of the file: the window
    it covers runs from its oldest post to the moment of reading."""
    if posts.num_rows == 0:
        return pa.table({})
    keyed = posts.select(["platform", "account_id", "observed_at", "created_at", "post_id",
                          "source_ref", "payload_hash"])
    # The file hash arrives dictionary-encoded (one value per file); group-by kernels
    # want plain strings.
    keyed = keyed.set_column(6, "payload_hash", keyed.column("payload_hash").cast(pa.string()))
    grouped = keyed.group_by(["platform", "account_id", "observed_at"], use_threads=False).aggregate([
        ("created_at", "min"), ("post_id", "list"), ("source_ref", "min"), ("payload_hash", "min"),
    ])
    n = grouped.num_rows
    return pa.table({
        "platform": grouped.column("platform"),
        "account_id": grouped.column("account_id"),
        "read_at": grouped.column("observed_at"),
        "window_start": grouped.column("created_at_min"),
        "window_end": grouped.column("observed_at"),
        "complete": pa.array(np.zeros(n, dtype=bool)),
        "answer": pa.array(["ok"] * n, pa.string()),
        "post_id": pa.nulls(n, pa.string()),
        "post_ids": grouped.column("post_id_list"),
        "source": pa.array(["import:posts"] * n, pa.string()),
        "source_ref": grouped.column("source_ref_min"),
        "payload_hash": grouped.column("payload_hash_min"),
    })


def write_posts(writer: BatchWriter, v: Validated) -> tuple[int, int]:
    """Queue the file's posts and its reads; returns (new post versions, new reads)."""
    rows = post_rows(v)
    added = writer.add("posts", rows)
    reads = read_rows(rows)
    logged = writer.add("post_reads", reads) if reads.num_rows else 0
    return added, logged
