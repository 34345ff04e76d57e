"""The evidence report: a renderer of :class:`purgewatch.findings.Findings` into
self-contained HTML, plus JSON and CSV bundles of the same findings.

    from purgewatch.report import write_report
    write_report(store, "out/report.html", start="2026-01-01T00:00:00Z")

The web UI renders the same findings with the same filters and charts (``register_filters``,
``stylesheet``, the ``*_chart`` functions below). See docs/report.md.
"""

from purgewatch.findings import gather_findings
from purgewatch.report._render import (
    ReportFiles,
    account_display_names,
    build_charts,
    compare_chart,
    csp_hash,
    csv_bundle,
    findings_json,
    register_filters,
    render_html,
    stylesheet,
    write_report,
)
from purgewatch.report._svg import series_chart, stacked_bar, timeline_chart

__all__ = [
    "ReportFiles", "account_display_names", "build_charts", "compare_chart", "csp_hash", "csv_bundle",
    "findings_json", "gather_findings", "register_filters", "render_html", "series_chart", "stacked_bar",
    "stylesheet", "timeline_chart", "write_report",
]
