"""Extra sections of the findings: adding one is one entry in ``SECTIONS``.

A section is a name and a function from the gathering context to a JSON-ready value
(say ``{"rows": [...], "availability": "ok"}``). Its value is published under that name
at the top level of the findings document (``Findings.sections[name]``), in the JSON
bundle as is, in the CSV bundle as ``<name>.csv`` (its rows, flattened), and in the HTML
report and the web overview by the template ``section_<name>.html.j2`` when the report's
templates have one (else a generic table of its rows). See docs/report.md, "Sections".

The built-in sections (events, accounts, explain, compare, forensics) predate this hook
and stay fields of :class:`Findings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from purgewatch.errors import PurgeWatchError
from purgewatch.findings._facts import FactRegistry
from purgewatch.findings._posts import posts_findings, posts_tables
from purgewatch.store import Store


@dataclass(frozen=True)
class SectionContext:
    """What a section may read: the store, the scope, the accounts in scope, and the
    fact registry (a number shown in a section is registered as a fact with its refs)."""

    store: Store
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    groups: list[str] | None
    accounts: set[tuple[str, str]]
    facts: FactRegistry
    events: list[dict[str, Any]] = field(default_factory=list)  # the events in scope, with their report ids
    account_rows: list[dict[str, Any]] = field(default_factory=list)  # the accounts shown, with their names


@dataclass(frozen=True)
class Section:
    name: str  # the key in the findings document: lowercase, not a built-in field name
    title: str
    gather: Callable[[SectionContext], Any]
    # Optional: the section's CSV files (file name -> (rows, columns)) instead of one
    # ``<name>.csv`` of its rows; and a report template that renders the whole section
    # itself (its own <section>, or nothing when it has nothing to say).
    tables: Callable[[Any], dict[str, tuple[list[dict[str, Any]], list[str]]]] | None = None
    template: str | None = None


def _posts(ctx: SectionContext) -> Any:
    return posts_findings(ctx.store, ctx.events, ctx.account_rows, ctx.start, ctx.end, ctx.groups)


# One entry per extra section, in the order they are shown.
SECTIONS: tuple[Section, ...] = (
    Section("posts", "Words beside the numbers: posts", _posts, tables=posts_tables,
            template="_posts_section.html.j2"),
)


def extra_sections() -> tuple[Section, ...]:
    """The registered extra sections, in the order they are shown (read at call time)."""
    return SECTIONS


def sections_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"name", "title", "value"}`` of each registered section present in a findings
    document (what the report and the web UI render, and the CSV bundle writes)."""
    return [{"name": s.name, "title": s.title, "value": doc[s.name], "template": s.template}
            for s in extra_sections() if s.name in doc]


def gather_sections(ctx: SectionContext, sections: tuple[Section, ...] | None = None) -> dict[str, Any]:
    """Each section's value; one that cannot answer says why instead of failing the rest."""
    out: dict[str, Any] = {}
    for s in SECTIONS if sections is None else sections:
        try:
            out[s.name] = s.gather(ctx)
        except PurgeWatchError as exc:
            out[s.name] = {"availability": f"not available: {exc.message}"}
    return out
