"""Importing the FORMATS.md ``posts`` input: rows of posts as seen at one moment.

Each version of a post is stored once (``posts``; the store's content key leaves
``observed_at`` out), with a SHA-256 of its text as published. Each (account, moment)
group of the file is also logged as a read in ``post_reads`` with ``complete = false``:
a file says which posts it saw, never that it listed everything, so an imported file is
evidence that a post existed and that an account was read, never that a post is gone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError, Location
from purgewatch.sources.files._interchange import _row_sources
from purgewatch.sources.files._validate import HASH_COL, REF_COL, Validated
from purgewatch.store import BatchWriter, constant_strings

_LIST_COLUMNS = ("links", "hashtags", "mentions")

# One DuckDB pass over the validated cells: the text hash, and each list column checked
# to be a JSON array of strings and re-serialised canonically (hashtags lowercased,
# without '#'). Only this module's constants reach the SQL; the cells are data.
_ROWS_SQL = """
SELECT *,
  CASE WHEN text IS NOT NULL THEN sha256(text) END AS text_sha256,
  {lists}
FROM cells
"""
# ``{j}`` is the cell when it is valid JSON, else NULL: DuckDB evaluates CASE branches
# over whole vectors, so every JSON function must see only valid JSON.
_LIST_SQL = """
  CASE WHEN {ok} THEN to_json({items})::VARCHAR END AS {c}__list,
  nullif(trim({c}), '') IS NOT NULL AND NOT coalesce({ok}, false) AS {c}__bad"""
_LIST_OK = ("(json_type({j}) = 'ARRAY' AND "
            "list_bool_and([t = 'VARCHAR' FOR t IN json_type({j}, '$[*]')]) IS NOT FALSE)")


def post_rows(v: Validated) -> pa.Table:
    """Validated ``posts`` cells -> rows of the store's ``posts`` table. A list cell that
    is not a JSON array of strings refuses the file, naming its line."""
    import duckdb

    good = v.good
    cells = pa.table({name: good.column(name) if name in good.column_names else pa.nulls(good.num_rows, pa.string())
                      for name in ("text", *_LIST_COLUMNS)}).append_column(
        "__ref", good.column(REF_COL).cast(pa.string()))
    parts = []
    for c in _LIST_COLUMNS:
        j = f"(CASE WHEN json_valid({c}) THEN {c} END)"
        ok = _LIST_OK.format(j=j)
        items = f"CAST(CASE WHEN {ok} THEN {j} END::JSON AS VARCHAR[])"
        if c == "hashtags":
            items = f"[lower(ltrim(x, '#')) FOR x IN {items}]"
        parts.append(_LIST_SQL.format(c=c, ok=ok, items=items))
    lists = ",".join(parts)
    con = duckdb.connect()
    con.register("cells", cells)
    typed = con.sql(_ROWS_SQL.format(lists=lists)).fetch_arrow_table()  # noqa: S608 -- constants only
    for c in _LIST_COLUMNS:
        bad = typed.column(f"{c}__bad")
        if pc.any(bad).as_py():
            i = pc.index(bad, True).as_py()
            ref = str(typed.column("__ref")[i].as_py())
            file, _, line = ref.rpartition(":")
            cell = typed.column(c)[i].as_py() or ""
            raise InputError(
                f"{c}: not a JSON array of strings: {cell[:80]!r}",
                location=Location(file or v.path, int(line) if line.isdigit() else None, c),
                hint='write lists as JSON arrays, e.g. ["#tag1", "#tag2"] (an empty cell for none)',
            )
    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        name: good.column(name)
        for name in ("platform", "account_id", "post_id", "created_at", "observed_at", "text",
                     "url", "lang", "reply_to", "repost_of", "quote_of")
    }
    cols["text_sha256"] = typed.column("text_sha256")
    for c in _LIST_COLUMNS:
        cols[c] = typed.column(f"{c}__list")
    cols["source"] = _row_sources("posts", good)
    cols["source_ref"] = good.column(REF_COL)
    cols["payload_hash"] = good.column(HASH_COL)
    return pa.table(cols)


def read_rows(posts: pa.Table) -> pa.Table:
    """One incomplete read per (platform, account, observed_at) of the file: the window
    it covers runs from its oldest post to the moment of reading; its ``source_ref`` and
    ``payload_hash`` are those of its first row in the file, ``post_ids`` in file order.

    A stable sort and numpy over the group boundaries: a generated file reads nearly
    every post at its own moment, and DuckDB's grouping with ``list()`` and ``ORDER BY``
    over a million such groups took longer than the rest of the import together."""
    n = posts.num_rows
    order, starts = _read_groups(posts)
    firsts = order[starts]
    first_rows = pa.array(firsts)
    created = posts.column("created_at").combine_chunks().cast(pa.int64())
    # min(created_at) per read, nulls left out (a read of only undated posts: null).
    big = np.iinfo(np.int64).max
    values = created.fill_null(big).to_numpy()[order] if created.null_count else created.to_numpy()[order]
    lowest = np.minimum.reduceat(values, starts) if n else values
    window_start = pa.array(lowest, pa.int64(), mask=lowest == big).cast(posts.schema.field("created_at").type)
    offsets = pa.array(np.append(starts, n).astype(np.int32))
    post_ids = pa.ListArray.from_arrays(offsets, posts.column("post_id").combine_chunks().take(pa.array(order)))
    m = len(starts)
    return pa.table({
        "platform": posts.column("platform").take(first_rows),
        "account_id": posts.column("account_id").take(first_rows),
        "read_at": posts.column("observed_at").take(first_rows),
        "window_start": window_start,
        "window_end": posts.column("observed_at").take(first_rows),
        "complete": pa.array(np.zeros(m, dtype=bool)),
        "answer": constant_strings("ok", m),
        "post_id": pa.nulls(m, pa.string()),
        "post_ids": post_ids,
        "source": constant_strings("import:posts", m),
        "source_ref": posts.column("source_ref").take(first_rows),
        "payload_hash": posts.column("payload_hash").take(first_rows),  # stays dictionary-encoded
    })


def _read_groups(posts: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Row order by (platform, account_id, observed_at), ties in file order, and where
    each (platform, account_id, observed_at) group starts in it."""
    def ranks(col: pa.ChunkedArray) -> np.ndarray:
        enc = col.combine_chunks()
        if not pa.types.is_dictionary(enc.type):
            enc = pc.dictionary_encode(enc)
        rank = np.empty(len(enc.dictionary), dtype=np.int64)
        rank[pc.sort_indices(enc.dictionary).to_numpy()] = np.arange(len(enc.dictionary))
        return rank[enc.indices.to_numpy()]

    accounts = ranks(posts.column("account_id"))
    account = ranks(posts.column("platform")) * (int(accounts.max(initial=0)) + 1) + accounts
    at = posts.column("observed_at").combine_chunks().cast(pa.int64()).to_numpy()
    low = int(at.min()) if len(at) else 0
    shift = (int(at.max()) - low).bit_length() if len(at) else 0
    if int(account.max(initial=0)).bit_length() + shift <= 63:
        # Account and time fit one 63-bit key: one stable sort instead of two.
        order = np.argsort((account << shift) | (at - low), kind="stable")
    else:
        order = np.lexsort((at, account))  # stable: equal keys keep their file order
    account, at = account[order], at[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = (account[1:] != account[:-1]) | (at[1:] != at[:-1])
    return order, np.flatnonzero(head)


def write_posts(writer: BatchWriter, v: Validated) -> tuple[int, int]:
    """Queue the file's posts and its reads; returns (new post versions, new reads)."""
    rows = post_rows(v)
    added = writer.add("posts", rows)
    reads = read_rows(rows) if rows.num_rows else None
    logged = writer.add("post_reads", reads) if reads is not None else 0
    return added, logged
