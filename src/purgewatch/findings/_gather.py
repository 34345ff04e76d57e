"""gather_findings: call every analysis over a scope of the store and assemble the typed
Findings. Each stage is a function of its own module; this one only orders them.

Determinism: the same store and options give equal findings (sorted everywhere, no clock
reads; facts are numbered in the order the stages register them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa

from purgewatch.findings._accounts import (
    SeriesRefs,
    accounts_in_scope,
    add_known_elsewhere,
    charted_accounts,
    observed_accounts,
    shown_events_by_account,
)
from purgewatch.findings._analyses import (
    MAX_EXPLAIN,
    compare_groups_of,
    explain_drops,
    forensics_of,
)
from purgewatch.findings._appendix import cited_rows, provenance_of, snapshot_appendix
from purgewatch.findings._events import (
    WAVE_KINDS,
    detected_events,
    events_in_scope,
    number_and_rank,
    outliers_in_scope,
    wave_refs,
)
from purgewatch.findings._facts import FactRegistry
from purgewatch.findings._jsonable import iso
from purgewatch.findings._observations import ObservationIndex
from purgewatch.findings._sections import SectionContext, gather_sections
from purgewatch.findings._summary import SummaryInputs, build_summary
from purgewatch.findings._transitions import StatusChangeTable
from purgewatch.findings._types import Findings, Record, Scope
from purgewatch.findings._watched import display_name, key_of, snapshot_anchor, watched_accounts
from purgewatch.model import TOOL_VERSION
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned

MAX_TRANSITIONS = 5000  # status changes listed in the findings (all are counted)


@dataclass
class _Run:
    """What the stages share while gathering one scope."""

    store: Store
    t0: pd.Timestamp | None
    t1: pd.Timestamp | None
    group_filter: list[str] | None
    facts: FactRegistry = field(default_factory=FactRegistry)
    availability: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def gather_findings(
    store: Store,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    groups: Iterable[str] | None = None,
    explain_limit: int = MAX_EXPLAIN,
    progress: Callable[[str], None] | None = None,
) -> Findings:
    """All findings for ``store`` within [start, end] and the chosen groups.

    Deterministic: calling it twice on the same store gives equal findings. ``progress``
    is told the name of each stage as it starts (for a progress display)."""
    told = progress or (lambda _stage: None)

    def step(stage: str) -> None:
        # What a stage freed goes back to the system before the next one allocates (the
        # Arrow pool keeps freed pages otherwise: the stages' peaks would stack).
        pa.default_memory_pool().release_unused()
        told(stage)

    run = _Run(store, parse_zoned(start), parse_zoned(end), sorted(set(groups)) if groups else None)

    watch, run.availability["watchlist"] = watched_accounts(store)
    if run.group_filter is not None:
        watch = [w for w in watch if w["group"] in run.group_filter]
    group_of = {key_of(w): w["group"] for w in watch}

    # The store's provenance first, while little else is held: it scans every stored
    # row's provenance columns, and at the end it was the report's peak of memory.
    provenance = provenance_of(store)

    # Detection first: its arrays are freed before the observations are read, so the
    # two peaks of memory do not stack.
    step("detecting events")
    found, outliers, run.availability["detect"] = detected_events(store)
    # The camp comparison reads every account's facts: computed before the observations
    # are indexed so that its memory and theirs do not stack (cited further down, in the
    # order its facts always had).
    step("comparing groups")
    compared = compare_groups_of(store, run.t0, run.t1)

    step("reading observations")
    ob = ObservationIndex(store, run.t0, run.t1)
    keys = accounts_in_scope(ob, watch, run.group_filter, run.notes)
    events = events_in_scope(found, run.t0, run.t1, run.group_filter, keys)
    outliers = outliers_in_scope(outliers, keys, run.t0, run.t1, run.notes)
    number_and_rank(events, run.notes)

    step("building account series")
    events_of = shown_events_by_account(events)
    refs = SeriesRefs(run.facts)
    accounts = observed_accounts(ob, keys, events_of, charted_accounts(keys, events_of, group_of, run.notes),
                                 watch, run.facts, refs, run.notes)

    step("counting status changes")
    transitions = StatusChangeTable(store, ob.transition_rows(), run.t0, run.t1, group_of)
    elsewhere = transitions.known_elsewhere()
    add_known_elsewhere(accounts, elsewhere, not watch and run.group_filter is None, run.notes)
    _cite_events(events, transitions, run.facts)

    step("explaining drops")
    explains, run.availability["explain"] = explain_drops(
        store, [e for e in events if e["shown"]], explain_limit, run.availability["detect"] == "ok", keys)
    _cite_explains(explains, run.facts)

    compare, run.availability["compare"] = compared
    _scope_and_cite_compare(compare, accounts, run)

    step("forensics")
    forensics, run.availability["forensics"] = forensics_of(store, explains)
    _cite_regains(forensics, run.facts)

    times = ob.span_frame()["observed_at"]
    span = (iso(times.min()), iso(times.max())) if len(times) else (None, None)
    summary = build_summary(SummaryInputs(
        accounts, events, transitions, explains, compare, forensics, watch, span, run.facts,
        n_known=len({key_of(a) for a in accounts} | set(elsewhere))))
    sections = gather_sections(SectionContext(store, run.t0, run.t1, run.group_filter, keys, run.facts,
                                              events=events, account_rows=accounts))

    step("collecting the evidence rows")
    found_all = Findings(
        scope=Scope(iso(run.t0), iso(run.t1), run.group_filter),
        availability=run.availability, notes=run.notes, summary=summary, events=events, outliers=outliers,
        waves=[e["id"] for e in events if e["kind"] in WAVE_KINDS], accounts=accounts,
        transitions=transitions.rows(MAX_TRANSITIONS), timeline=transitions.daily(), explain=explains,
        compare=compare, forensics=forensics, facts=run.facts.items,
        observations=cited_rows(ob, transitions, run.facts.referenced, refs.drawn),
        snapshots=snapshot_appendix(store, run.facts.referenced), provenance=provenance,
        sections=sections, tool_version=TOOL_VERSION,
    )
    pa.default_memory_pool().release_unused()
    return found_all


def _cite_events(events: list[Record], transitions: StatusChangeTable, facts: FactRegistry) -> None:
    """Each shown event's size becomes a fact citing its rows (waves: the status changes
    in its window); events beyond the shown ones are listed without refs."""
    for e in events:
        if not e["shown"]:
            e["refs"], e["fact"] = [], None
            continue
        if e["kind"] in WAVE_KINDS or e.get("account_id") is None:
            e.setdefault("refs", wave_refs(e, transitions))
        e.setdefault("refs", [])
        e["fact"] = facts.add(
            f"{e['kind'].replace('_', ' ')} {e['id']}" + (f" of {display_name(e)}" if e.get("account_id") else "")
            + (": followers" if e["kind"].startswith("follower_") else ": accounts"),
            e.get("magnitude"), e["refs"])


def _cite_explains(explains: list[Record], facts: FactRegistry) -> None:
    """The followers lost in each explained drop, citing the two follower snapshots."""
    for x in explains:
        if x.get("result") is not None:
            snaps = ((x["result"] or {}).get("evidence") or {}).get("snapshots") or []
            x["refs"] = sorted(snapshot_anchor(sn["snapshot_id"]) for sn in snaps if sn.get("snapshot_id"))
            x["fact"] = facts.add(f"followers of {display_name(x)} lost between two follower lists",
                                  (x["result"] or {}).get("lost"), x["refs"])


def _scope_and_cite_compare(compare: list[Record], accounts: list[Record], run: _Run) -> None:
    """Keep the groups in scope; each group's account count cites their latest readings."""
    if run.group_filter is not None:
        for c in compare:
            c["groups"] = [g for g in c.get("groups") or [] if g.get("group") in run.group_filter]
    latest_refs = {
        str(g): [a["latest"]["ref"] for a in accounts if a["group"] == g and a["latest"]]
        for g in sorted({str(a["group"]) for a in accounts})
    }
    for c in compare:
        c["facts"] = {
            g: run.facts.add(f"{c['outcome']}: accounts of group {g} (latest observation each)", len(r), r)
            for g, r in latest_refs.items()
        }


def _cite_regains(forensics: list[Record], facts: FactRegistry) -> None:
    """Followers gained after each explained drop, citing the snapshots after it."""
    for fx in forensics:
        rg = fx.get("regain") or {}
        if rg.get("snapshots"):
            fx["regain_fact"] = facts.add(
                f"followers gained after the drop of {display_name(fx)}", rg.get("gained"),
                [snapshot_anchor(s) for s in rg["snapshots"][1:]],
            )
