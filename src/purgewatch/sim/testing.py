"""pytest fixtures for the emulator.

Enable with ``pytest_plugins = ["purgewatch.sim.testing"]`` in a conftest, or import the
fixtures into a test module (``from purgewatch.sim.testing import emulator, emulator_factory``).

- ``emulator``: the packaged ``small`` scenario, manual clock at its start, faults off,
  rate limits on; a fresh server per test.
- ``emulator_factory(scenario="small", faults=True, limits=True, speed=None, start=None,
  budgets=None)``: any other configuration; every emulator it made is stopped after the test.

Truth helpers (``truth_status_at``, ``truth_statuses_at``, ``truth_followers_at``) answer
from the exported ground truth alone, for end-to-end checks of what PurgeWatch stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from purgewatch.sim._clock import SimClock
from purgewatch.sim._scenario import Scenario, load_scenario
from purgewatch.sim._server import Emulator
from purgewatch.sim._truth import truth_followers_at, truth_status_at, truth_statuses_at

__all__ = ["emulator", "emulator_factory", "truth_followers_at", "truth_status_at", "truth_statuses_at"]

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    made: list[Emulator] = []

    def make(
        scenario: str | Path | Scenario = "small",
        *,
        faults: bool = True,
        limits: bool = True,
        speed: float | None = None,
        start: datetime | int | None = None,
        budgets: dict[str, tuple[int, float]] | None = None,
        **kwargs: Any,
    ) -> Emulator:
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        origin = sc.start_us if start is None else start
        clock = SimClock.manual(origin) if speed is None else SimClock.accelerated(origin, speed)
        emu = Emulator(sc, clock=clock, faults=faults, limits=limits, budgets=budgets, **kwargs)
        made.append(emu.start())
        return emu

    yield make
    for emu in made:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory("small", faults=False)
