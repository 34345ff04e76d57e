"""Follower-list snapshots from the ``followers`` interchange format.

All rows sharing (platform, account_id, observed_at) are one snapshot. Followers are
ordered by ``position`` (0 = newest) when the column is filled, else by file order; the
snapshot is ``partial`` when any of its rows says so. Encoding and storage are the
snapshot store's job (``purgewatch.store.snapshots.add_snapshot``), which also skips a
snapshot identical to one already stored, so re-imports add nothing.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.sources.files._interchange import ImportReport, Progress
from purgewatch.sources.files._read import LINE_COL
from purgewatch.sources.files._validate import HASH_COL, Validated
from purgewatch.store import BatchWriter


def import_follower_rows(writer: BatchWriter, v: Validated, batch_rows: int,
                         report: ImportReport, progress: Progress | None = None) -> None:
    from purgewatch.store.snapshots import add_snapshot

    good = v.good
    if good.num_rows == 0:
        return
    has_pos = good.column("position").null_count < good.num_rows
    # Rows without a position keep file order after the positioned ones (nulls sort last).
    order = pc.sort_indices(good.select(["platform", "account_id", "observed_at", "position", LINE_COL]),
                            sort_keys=[("platform", "ascending"), ("account_id", "ascending"),
                                       ("observed_at", "ascending"), ("position", "ascending"),
                                       (LINE_COL, "ascending")])
    good = good.take(order)
    keys = [good.column(c).combine_chunks() for c in ("platform", "account_id", "observed_at")]
    n = good.num_rows
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        kk = k.cast(pa.int64()) if pa.types.is_timestamp(k.type) else k
        same = pc.equal(kk.slice(1), kk.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        change[1:] |= ~same
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], n)
    lines = good.column(LINE_COL).to_numpy()
    partial_col = good.column("partial").combine_chunks()
    hashes = good.column(HASH_COL).combine_chunks()
    pending = 0
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        part = good.slice(s, e - s)
        ids = pc.unique(part.column("follower_id").combine_chunks())  # first occurrence wins
        ordered = bool(has_pos and part.column("position").null_count == 0)
        partial = bool(pc.any(pc.fill_null(partial_col.slice(s, e - s), False)).as_py())
        row_hashes = pc.unique(hashes.slice(s, e - s)).to_pylist()
        # One file hash for all rows (the usual case) is the snapshot's payload hash.
        digest = row_hashes[0] if len(row_hashes) == 1 else hashlib.sha256("\n".join(row_hashes).encode()).hexdigest()
        sid = add_snapshot(
            writer,
            platform=keys[0][s].as_py(),
            account_id=keys[1][s].as_py(),
            observed_at=keys[2][s].as_py(),
            follower_ids=ids,
            partial=partial,
            ordered=ordered,
            source="import:followers",
            source_ref=f"{v.path}:{int(lines[s:e].min())}-{int(lines[s:e].max())}",
            payload_hash=digest,
        )
        if sid is None:
            report.duplicates += 1
        else:
            report.imported += 1
        pending += e - s
        if pending >= batch_rows:
            _commit(writer, report)
            pending = 0
        if progress:
            progress(e - s)
    _commit(writer, report)


def _commit(writer: BatchWriter, report: ImportReport) -> None:
    res = writer.commit()
    if res.committed:
        report.batches += 1
        report.batch_ids.append(str(res.batch_id))
        for t, n in res.rows.items():
            report.tables[t] = report.tables.get(t, 0) + n
