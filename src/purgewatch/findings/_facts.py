"""The registry of published numbers (facts) and the stored rows behind each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from purgewatch.findings._jsonable import plain
from purgewatch.findings._types import Fact

MAX_REFS = 200  # references listed per fact (the count says how many exist)


class FactRegistry:
    """Numbers get ids ``f-1``, ``f-2``... in the order they are registered (deterministic:
    the gathering order is fixed); every listed reference goes to the appendix."""

    def __init__(self) -> None:
        self.items: list[Fact] = []
        self.referenced: set[str] = set()

    def add(self, label: str, value: Any, refs: Iterable[str]) -> str:
        refs_sorted = sorted(set(refs))
        fid = f"f-{len(self.items) + 1}"
        shown = refs_sorted[:MAX_REFS]
        self.referenced.update(shown)
        self.items.append(Fact(fid, label, plain(value), shown, len(refs_sorted)))
        return fid
