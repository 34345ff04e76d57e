"""Analyses the web UI runs on request (explain a window, compare camps), cached per
store state like the findings."""

from __future__ import annotations

from typing import Any

from purgewatch.analysis.compare import OUTCOMES, compare_store
from purgewatch.analysis.explain import explain
from purgewatch.errors import InputError
from purgewatch.findings import plain
from purgewatch.store import Store
from purgewatch.web._cache import ResultCache


class Analyses:
    def __init__(self, store: Store, cache: ResultCache) -> None:
        self.store, self.cache = store, cache

    def explain(self, account: str, platform: str | None, start: str | None, end: str | None) -> dict[str, Any]:
        return self.cache.get(  # type: ignore[no-any-return]
            ("explain", account, platform, start, end),
            lambda: plain(explain(self.store, account, platform=platform, start=start, end=end)),
        )

    def compare(self, outcome: str, start: str | None, end: str | None, by: str = "group") -> dict[str, Any]:
        if outcome not in OUTCOMES:
            raise InputError(f"unknown outcome {outcome!r}", hint=f"one of: {', '.join(OUTCOMES)}")
        if by not in ("group", "label"):
            raise InputError(f"unknown grouping {by!r}", hint="group or label")
        return self.cache.get(  # type: ignore[no-any-return]
            ("compare", outcome, start, end, by),
            lambda: plain(compare_store(self.store, by=by, outcome=outcome, start=start, end=end)),
        )
