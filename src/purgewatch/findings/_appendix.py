"""The evidence appendix: every stored row a number cites, the follower snapshots cited,
and the provenance of the store (its runs, and per table and source what was read)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.findings._jsonable import iso, plain
from purgewatch.findings._observations import APPENDIX_COLUMNS, ObservationIndex, dictionary_codes
from purgewatch.findings._transitions import StatusChangeTable
from purgewatch.findings._types import Provenance
from purgewatch.findings._watched import snapshot_anchor
from purgewatch.store import Store


def cited_rows(ob: ObservationIndex, transitions: StatusChangeTable, cited: set[str], drawn: set[str]) -> list[dict[str, Any]]:
    """Rows of observations, profiles and status events behind the findings: every row a
    number cites (``cited``: the HTML appendix lists them) and every reading drawn on a
    chart (the JSON and CSV bundles hold them with their provenance)."""
    rows: dict[str, dict[str, Any]] = {}
    listed = ob.used(cited | drawn)
    # the provenance of every row listed below, in one scan of the stored files
    ob.prefetch([*listed.values(), *transitions.observation_rows(cited - set(listed))], APPENDIX_COLUMNS)
    for row in ob.appendix(cited | drawn):
        rows[row["ref"]] = row
    for row in transitions.appendix(cited - set(rows), ob):
        rows[row["ref"]] = row
    for r, row in rows.items():
        row["cited"] = r in cited
    return sorted(rows.values(), key=lambda r: (r["table"], str(r["platform"]), str(r["account_id"]), str(r["at"]), r["ref"]))


def snapshot_appendix(store: Store, referenced: set[str]) -> list[dict[str, Any]]:
    wanted = {r for r in referenced if r.startswith("n-")}
    if not wanted:
        return []
    tbl = store.read(
        "snapshots",
        columns=["snapshot_id", "platform", "account_id", "observed_at", "partial", "n_followers", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"],
    )
    out = []
    for r in plain(tbl):
        ref = snapshot_anchor(r["snapshot_id"])
        if ref in wanted:
            r["ref"] = ref
            out.append(r)
    return sorted(out, key=lambda r: (r["platform"], r["account_id"], r["observed_at"], r["ref"]))


def provenance_of(store: Store) -> Provenance:
    runs = plain(store.read("runs"))
    runs.sort(key=lambda r: (str(r["committed_at"]), r["batch_id"]))
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    for table in ("observations", "profiles", "status_events", "snapshots", "watchlist"):
        # what the previous table (or the appendix before) freed goes back first: the
        # report's peak of memory is here otherwise
        pa.default_memory_pool().release_unused()
        for r in _per_source(store, table):
            src = str(r["source"])
            sources[(table, src)] = {
                "table": table,
                "source": src,
                "rows": int(r["rows"]),
                "first_retrieved": iso(r["retrieved_at_min"]),
                "last_retrieved": iso(r["retrieved_at_max"]),
                "payload_hashes": int(r["payload_hash_count_distinct"]),
                "tool_versions": sorted(str(v) for v in r["tool_version_distinct"] if v is not None),
            }
    return Provenance(runs, [sources[k] for k in sorted(sources)])


def _per_source(store: Store, table: str) -> list[dict[str, Any]]:
    """Per source of ``table`` (null as "(none)"): rows, first and last retrieval, distinct
    payload hashes and tool versions. Aggregated in Arrow over dictionary codes: the
    provenance strings repeat, so none is made per stored row (decoding them used to cost
    a second and half a gigabyte at 10^4 accounts x a year)."""
    cols = ["source", "retrieved_at", "payload_hash", "tool_version"]
    return per_source(store.read(table, columns=cols, dictionary=["source", "payload_hash", "tool_version"]))


def per_source(tbl: pa.Table) -> list[dict[str, Any]]:
    """:func:`_per_source` over rows read (string columns plain or dictionary-encoded)."""
    if tbl.num_rows == 0:
        return []
    src, src_words = dictionary_codes(tbl["source"])
    hashes, _ = dictionary_codes(tbl["payload_hash"])
    versions, version_words = dictionary_codes(tbl["tool_version"])
    if src.null_count:
        # null sources are counted with a stored "(none)", as one source
        none = src_words.index("(none)") if "(none)" in src_words else len(src_words)
        src_words = src_words if none < len(src_words) else [*src_words, "(none)"]
        src = pc.fill_null(src, pa.scalar(none, pa.int32()))
    agg = pa.table({"s": src, "retrieved_at": tbl["retrieved_at"].combine_chunks(), "payload_hash": hashes,
                    "tool_version": versions}).group_by("s").aggregate([
        ("s", "count"), ("retrieved_at", "min"), ("retrieved_at", "max"),
        ("payload_hash", "count_distinct", pc.CountOptions(mode="only_valid")),
        ("tool_version", "distinct", pc.CountOptions(mode="only_valid")),
    ])
    out = []
    for r in agg.to_pylist():
        r["source"] = src_words[r["s"]]
        r["rows"] = r["s_count"]
        r["tool_version_distinct"] = [None if v is None else version_words[v] for v in r["tool_version_distinct"]]
        out.append(r)
    return out
