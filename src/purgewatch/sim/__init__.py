"""The platform emulator: Bluesky-, Mastodon- and X-shaped endpoints on loopback, driven by
a deterministic scenario on an accelerated clock, with ground truth. See docs/emulator.md.

    from purgewatch.sim import Emulator, SimClock, load_scenario, truth
"""

from __future__ import annotations

from purgewatch.sim._clock import CyclePacer, SimClock, iso_ms, to_us
from purgewatch.sim._scenario import Scenario, load_scenario, packaged_scenarios, parse_scenario
from purgewatch.sim._server import Emulator
from purgewatch.sim._truth import (
    truth,
    truth_followers_at,
    truth_status_at,
    truth_statuses_at,
    watchlist_rows,
    write_watchlist,
)

__all__ = [
    "CyclePacer",
    "Emulator",
    "Scenario",
    "SimClock",
    "iso_ms",
    "load_scenario",
    "packaged_scenarios",
    "parse_scenario",
    "truth",
    "truth_followers_at",
    "truth_status_at",
    "truth_statuses_at",
    "to_us",
    "watchlist_rows",
    "write_watchlist",
]
