"""The web UI's findings: computed once per store change, persisted across restarts.

In memory, :class:`ResultCache` makes it one computation per store state however many
requests arrive. On disk, :class:`purgewatch.findings.FindingsCache` keeps the result in
``STORE/derived/findings/`` (docs/web.md): a restarted server reads it back instead of
recomputing, and shows the newest persisted result of an earlier state (labelled) while
the current one is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from purgewatch.findings import Findings, FindingsCache, gather_findings
from purgewatch.store import Store
from purgewatch.web._cache import ResultCache

KEY = "findings"


@dataclass(frozen=True)
class FindingsView:
    """Findings with their JSON document (what the templates and the API read), made once."""

    findings: Findings
    doc: dict[str, Any]
    from_disk: bool = False


class WebFindings:
    def __init__(self, store: Store, cache: ResultCache, persisted: FindingsCache | None) -> None:
        self.store, self.cache, self.persisted = store, cache, persisted
        self.scope = FindingsCache.scope_key()
        self.gathered = 0  # full computations (tests: a restart must not add one)
        # Run before a full computation (the web UI: the store's preview first, alone, so
        # the first visitor's page does not compete with minutes of analysis).
        self.before_gathering: Callable[[], Any] | None = None

    def persisted_now(self) -> bool:
        """Whether findings of the current store state are on disk (reading them back takes
        about a second, so a page waits for them rather than show the preview)."""
        if self.persisted is None:
            return False
        return self.persisted.has(self.scope, self.persisted.version_key())

    def _gather(self) -> Findings:
        if self.before_gathering is not None:
            self.before_gathering()
        self.gathered += 1
        return gather_findings(self.store)

    def compute(self) -> FindingsView:
        """The current findings: from disk when persisted for this store state, else gathered
        (and persisted unless the store changed meanwhile)."""
        if self.persisted is None:
            f = self._gather()
            return FindingsView(f, f.to_json())
        version = self.persisted.version_key()
        found = self.persisted.load(self.scope, version)
        if found is not None:
            return FindingsView(found, found.to_json(), from_disk=True)
        f = self._gather()
        if self.persisted.version_key() == version:
            self.persisted.save(self.scope, version, f)
        return FindingsView(f, f.to_json())

    def seed_from_disk(self) -> None:
        """Offer the newest persisted result of an earlier store state as the page's
        'earlier findings' until the current ones are ready."""
        if self.persisted is None:
            return
        latest = self.persisted.latest(self.scope)
        if latest is not None and latest[0] != self.persisted.version_key():
            f = latest[1]
            self.cache.seed_last(KEY, FindingsView(f, f.to_json(), from_disk=True), float("inf"))

    def start(self) -> None:
        self.cache.start(KEY, self.compute)

    def current(self) -> FindingsView:
        """The findings of the current store state (waits for the computation)."""
        return self.cache.get(KEY, self.compute)  # type: ignore[no-any-return]

    def for_page(self, wait: float, wait_if_nothing: float | None = None) -> tuple[FindingsView, bool]:
        """(findings, fresh) within ``wait`` seconds, else earlier ones; raises Pending."""
        return self.cache.get_or_stale(KEY, self.compute, wait, wait_if_nothing)  # type: ignore[no-any-return]
