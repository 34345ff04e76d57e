"""The evidence appendix: every stored row a number cites, the follower snapshots cited,
and the provenance of the store (its runs, and per table and source what was read)."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from purgewatch.findings._jsonable import iso, plain
from purgewatch.findings._observations import APPENDIX_COLUMNS, ObservationIndex
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
        tbl = store.read(table, columns=["source", "retrieved_at", "payload_hash", "tool_version"])
        if tbl.num_rows == 0:
            continue
        # aggregated in Arrow: one row per source, no Python object per stored row
        tbl = tbl.set_column(0, "source", pc.fill_null(tbl["source"], "(none)"))
        agg = tbl.group_by("source").aggregate([
            ("source", "count"), ("retrieved_at", "min"), ("retrieved_at", "max"),
            ("payload_hash", "count_distinct", pc.CountOptions(mode="only_valid")),
            ("tool_version", "distinct", pc.CountOptions(mode="only_valid")),
        ])
        for r in agg.to_pylist():
            src = str(r["source"])
            sources[(table, src)] = {
                "table": table,
                "source": src,
                "rows": int(r["source_count"]),
                "first_retrieved": iso(r["retrieved_at_min"]),
                "last_retrieved": iso(r["retrieved_at_max"]),
                "payload_hashes": int(r["payload_hash_count_distinct"]),
                "tool_versions": sorted(str(v) for v in r["tool_version_distinct"] if v is not None),
            }
    return Provenance(runs, [sources[k] for k in sorted(sources)])
