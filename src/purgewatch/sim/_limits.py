"""Fixed-window rate limits and fault draws, on wall time.

Windows run on the wall clock (not the scenario clock) because the collector sleeps on
the wall clock until the reset its headers announce.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from purgewatch.sim._ids import unit
from purgewatch.sim._scenario import FAULT_KINDS, Scenario

# kinds drawn per HTTP request, in the order of the cumulative draw
REQUEST_FAULTS = ("timeout", "reset", "http_5xx", "malformed_json", "truncated_json")


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: float
    window: float


class FixedWindowLimiter:
    """``requests`` per ``window`` seconds per bucket, windows aligned on the epoch."""

    def __init__(self, budgets: dict[str, tuple[int, float]], wall: Callable[[], float] = time.time) -> None:
        self.budgets = budgets
        self.wall = wall
        self._state: dict[str, tuple[float, int]] = {}

    def hit(self, bucket: str) -> Verdict:
        limit, window = self.budgets[bucket]
        now = self.wall()
        start = math.floor(now / window) * window
        w_start, used = self._state.get(bucket, (start, 0))
        if w_start != start:
            used = 0
        allowed = used < limit
        if allowed:
            used += 1
        self._state[bucket] = (start, used)
        return Verdict(allowed, limit, max(0, limit - used), start + window, window)


@dataclass
class FaultPlan:
    """Which fault, if any, spoils request number ``n`` of a platform."""

    scenario: Scenario
    enabled: bool = True
    counters: dict[str, int] = field(default_factory=dict)

    def next_request(self, platform: str, scenario_us: int) -> tuple[int, str | None]:
        """(request number on this platform, fault kind or None)."""
        n = self.counters.get(platform, 0)
        self.counters[platform] = n + 1
        if not self.enabled:
            return n, None
        for wdw in self.scenario.fault_windows:
            if wdw.platform == platform and wdw.from_us <= scenario_us < wdw.to_us and wdw.kind in REQUEST_FAULTS:
                return n, wdw.kind
        probs = self.scenario.faults.get(platform, {})
        u = unit(self.scenario.seed, platform, "fault", n)
        acc = 0.0
        for kind in REQUEST_FAULTS:
            acc += probs.get(kind, 0.0)
            if u < acc:
                return n, kind
        return n, None

    def side_fault(self, platform: str, kind: str, n: int, scenario_us: int) -> bool:
        """Faults that alter content rather than the request (unknown_status, disconnect)."""
        assert kind in FAULT_KINDS
        if not self.enabled:
            return False
        for wdw in self.scenario.fault_windows:
            if wdw.platform == platform and wdw.kind == kind and wdw.from_us <= scenario_us < wdw.to_us:
                return True
        p = self.scenario.faults.get(platform, {}).get(kind, 0.0)
        return p > 0 and unit(self.scenario.seed, platform, kind, n) < p

    def timeout_delay(self, platform: str) -> float:
        return self.scenario.timeout_delay.get(platform, 30.0)
