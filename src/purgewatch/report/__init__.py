"""The evidence report: self-contained HTML, plus JSON and CSV bundles of the same findings.

    from purgewatch.report import write_report
    write_report(store, "out/report.html", start="2026-01-01T00:00:00Z")

See docs/report.md.
"""

from purgewatch.report._findings import gather_findings
from purgewatch.report._render import (
    ReportFiles,
    csv_bundle,
    findings_json,
    render_html,
    write_report,
)

__all__ = ["ReportFiles", "csv_bundle", "findings_json", "gather_findings", "render_html", "write_report"]
