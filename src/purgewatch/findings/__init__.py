"""Findings: the layer between the analyses and their readers (report, web UI, alerts,
CLI, library). One call gathers every analysis over a scope of the store into one typed
object; the readers render it and never call an analysis for it themselves.

    from purgewatch.findings import gather_findings
    f = gather_findings(store, start="2026-03-01T00:00:00Z")
    f.summary.status_changes.suspended, f.facts[0].refs, f.to_json()

Traceability (DESIGN rule 3): every number is a :class:`Fact` with the references of the
stored rows it rests on: ``o-<record_key>`` (a row of ``observations``), ``s-``
(``status_events``), ``p-`` (``profiles``) or ``n-<snapshot_id>`` (a follower snapshot).
Record keys are content hashes, so references are stable for the same store; the
appendix (``Findings.observations``/``snapshots``) lists every referenced row with its
provenance. See docs/report.md for the document and docs/web.md for the cache.
"""

from purgewatch.findings._cache import FindingsCache, cached_findings
from purgewatch.findings._gather import gather_findings
from purgewatch.findings._jsonable import iso, plain
from purgewatch.findings._observations import account_observations
from purgewatch.findings._posts import call_lines, deleted_lines, wave_lines
from purgewatch.findings._sections import (
    SECTIONS,
    Section,
    SectionContext,
    extra_sections,
    sections_of,
)
from purgewatch.findings._types import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Fact,
    Findings,
    Provenance,
    Scope,
    StatusCounts,
    Summary,
)
from purgewatch.findings._watched import display_name

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "SECTIONS", "Fact", "Findings", "FindingsCache", "Provenance", "Scope",
    "Section", "SectionContext", "StatusCounts", "Summary", "account_observations", "cached_findings",
    "call_lines", "deleted_lines", "display_name", "extra_sections", "gather_findings", "iso", "plain",
    "sections_of", "wave_lines",
]
