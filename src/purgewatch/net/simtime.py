"""Stamping records with the emulator's scenario clock.

Against ``purgewatch sim serve`` the platforms' world runs on an accelerated (or manual)
scenario clock. Records stamped with wall time would not line up with the scenario's
ground truth, so with ``[collect] sim_clock_url`` set the collector asks the emulator's
``/_sim/clock`` for scenario time (at start and at every cycle) and stamps records with
it, while rate limits and sleeps keep running on the wall clock (the emulator's limits
are on wall time too). Never set this against a real platform.

A paced emulator clock (the demo's: it waits for the collector's cycles, docs/demo.md)
may stand still at a hold it reports as ``held_until_us``: stamps extrapolated at speed
stop there too, until the next reading (every cycle start reads the clock again).
"""

from __future__ import annotations

import time

from purgewatch.errors import ConfigError, TransportError
from purgewatch.net.http import HttpClient


class ScenarioTime:
    def __init__(self, url: str) -> None:
        self.url = url
        self._now_us: int | None = None
        self._speed: float | None = None
        self._held_until_us: int | None = None
        self._wall_at = 0.0

    async def sync(self, http: HttpClient) -> None:
        try:
            resp = await http.get(self.url)
            data = resp.json()
        except TransportError as exc:
            if self._now_us is None:
                raise ConfigError(f"cannot read the emulator clock at {self.url}: {exc}") from None
            return  # keep extrapolating from the last reading
        if resp.status_code != 200 or not isinstance(data, dict) or not isinstance(data.get("now_us"), int):
            raise ConfigError(f"{self.url} does not answer like the emulator's /_sim/clock")
        self._now_us = data["now_us"]
        speed = data.get("speed")
        self._speed = float(speed) if isinstance(speed, int | float) and not data.get("manual") else None
        held = data.get("held_until_us")
        self._held_until_us = held if isinstance(held, int) else None
        self._wall_at = time.time()

    def stamp(self) -> float:
        if self._now_us is None:
            return time.time()
        base = self._now_us / 1_000_000
        if self._speed is None:
            return base
        ahead = base + (time.time() - self._wall_at) * self._speed
        if self._held_until_us is not None:
            return min(ahead, max(base, self._held_until_us / 1_000_000))
        return ahead
