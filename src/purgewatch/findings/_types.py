"""The typed findings: what the report, the web UI, the alerts and the library read.

The top level and the parts every reader relies on (facts with their references,
the scope, the summary, the provenance) are dataclasses. Records inside the lists
(events, accounts, explained drops, comparisons, appendix rows) are the JSON objects
documented in docs/report.md, kept as dicts so the JSON bundle is exactly them.

``Findings.to_json()`` is the ``purgewatch-findings`` document (FORMAT_VERSION 1);
``Findings.from_json()`` reads it back (the persisted cache, docs/web.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from purgewatch.errors import PurgeWatchError

FORMAT_NAME = "purgewatch-findings"
FORMAT_VERSION = 1

Record = dict[str, Any]
# A sentence is a list of parts: plain text, {"fact": id, "text": shown number},
# {"when": [iso, ...]} (a time or a span) or {"who": name, "anchor": ..., ...}.
Sentence = list[Any]


@dataclass(frozen=True)
class Fact:
    """A published number and the stored rows it rests on (DESIGN rule 3).

    ``refs`` are ``o-``/``p-``/``s-<record key>`` (observations, profiles, status
    events) or ``n-<snapshot id>``; at most MAX_REFS are listed, ``n_refs`` counts all."""

    id: str
    label: str
    value: Any
    refs: list[str]
    n_refs: int


@dataclass(frozen=True)
class Scope:
    """The window and the groups the findings cover (None: everything)."""

    start: str | None = None
    end: str | None = None
    groups: list[str] | None = None

    def to_json(self) -> Record:
        return {"from": self.start, "to": self.end, "groups": self.groups}


@dataclass(frozen=True)
class StatusCounts:
    """Status changes in scope, by direction (:func:`purgewatch.model.status_changes`)."""

    suspended: int = 0
    reinstated: int = 0
    suspended_or_deleted: int = 0


@dataclass
class Summary:
    """Headline numbers and the prose built from them (every number is a fact)."""

    lede: Sentence
    key_figures: list[Record]
    accounts_watched: int
    accounts_observed: int
    groups: list[str]
    platforms: list[str]
    observations: int
    first_observation: str | None
    last_observation: str | None
    events_by_kind: dict[str, int]
    status_changes: StatusCounts
    sentences: list[Sentence]


@dataclass
class Provenance:
    """Every batch (run) of the store, and per table and source the rows and retrievals."""

    runs: list[Record]
    sources: list[Record]


@dataclass
class Findings:
    """Everything known about a store within a scope, with the evidence behind it."""

    scope: Scope
    availability: dict[str, str]
    notes: list[str]
    summary: Summary
    events: list[Record]
    outliers: list[Record]
    waves: list[str]
    accounts: list[Record]
    transitions: list[Record]
    timeline: list[Record]
    explain: list[Record]
    compare: list[Record]
    forensics: list[Record]
    facts: list[Fact]
    observations: list[Record]   # the appendix: every stored row a number or chart cites
    snapshots: list[Record]      # follower snapshots cited
    provenance: Provenance
    sections: dict[str, Any] = field(default_factory=dict)  # extra sections (see _sections.py)
    tool_version: str = ""

    def fact(self, fact_id: str) -> Fact:
        for f in self.facts:
            if f.id == fact_id:
                return f
        raise KeyError(fact_id)

    def account(self, platform: str, account_id: str) -> Record | None:
        return next((a for a in self.accounts if a["platform"] == platform and a["account_id"] == account_id), None)

    def event(self, event_id: str) -> Record | None:
        return next((e for e in self.events if e["id"] == event_id), None)

    def to_json(self) -> Record:
        """The ``purgewatch-findings`` document (JSON types only)."""
        doc: Record = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tool_version": self.tool_version,
                       "scope": self.scope.to_json()}
        for f in dataclasses.fields(self):
            if f.name in ("scope", "sections", "tool_version"):
                continue
            value = getattr(self, f.name)
            if f.name == "facts":
                value = [dataclasses.asdict(x) for x in value]
            elif isinstance(value, Summary | Provenance):
                value = dataclasses.asdict(value)
            doc[f.name] = value
        doc.update(self.sections)
        return doc

    @classmethod
    def from_json(cls, doc: Record) -> Findings:
        """Read a document written by :meth:`to_json` (raises PurgeWatchError when it is
        not one of this version)."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME or doc.get("version") != FORMAT_VERSION:
            raise PurgeWatchError("not a purgewatch-findings document of version "
                                  f"{FORMAT_VERSION}", hint="recompute the findings")
        try:
            s = dict(doc["summary"])
            s["status_changes"] = StatusCounts(**s["status_changes"])
            scope = doc["scope"]
            known = {f.name for f in dataclasses.fields(cls)} | {"format", "version"}
            return cls(
                scope=Scope(scope["from"], scope["to"], scope["groups"]),
                availability=doc["availability"], notes=doc["notes"], summary=Summary(**s),
                events=doc["events"], outliers=doc["outliers"], waves=doc["waves"], accounts=doc["accounts"],
                transitions=doc["transitions"], timeline=doc["timeline"], explain=doc["explain"],
                compare=doc["compare"], forensics=doc["forensics"], facts=[Fact(**x) for x in doc["facts"]],
                observations=doc["observations"], snapshots=doc["snapshots"],
                provenance=Provenance(**doc["provenance"]),
                sections={k: v for k, v in doc.items() if k not in known},
                tool_version=str(doc["tool_version"]),
            )
        except (KeyError, TypeError) as exc:
            raise PurgeWatchError(f"findings document is incomplete ({type(exc).__name__}: {exc})",
                                  hint="recompute the findings") from None
