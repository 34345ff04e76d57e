"""The scenario clock: wall time mapped onto scenario time, or moved by hand in tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

US = 1_000_000


def to_us(dt: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: scenario times must carry a zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // US, UTC).replace(microsecond=us % US)


def iso_ms(us: int) -> str:
    """ISO 8601 with milliseconds and Z, the way the platforms write times."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.") + f"{(us // 1000) % 1000:03d}Z"


class SimClock:
    """Scenario time as a function of wall time.

    ``scenario_now = origin + (wall_now - wall_t0) * speed``. A manual clock (speed None)
    stands still until ``advance`` or ``set`` moves it, which is what tests want: the
    platform state they check against cannot move under them.
    """

    def __init__(
        self,
        origin: datetime | int,
        *,
        speed: float | None = 1.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._lock = threading.Lock()
        self._wall = wall
        self._origin_us = origin if isinstance(origin, int) else to_us(origin)
        self._wall_t0 = wall()
        self.speed = speed

    @classmethod
    def manual(cls, origin: datetime | int) -> SimClock:
        return cls(origin, speed=None)

    @classmethod
    def accelerated(cls, origin: datetime | int, speed: float) -> SimClock:
        return cls(origin, speed=speed)

    @property
    def manual_mode(self) -> bool:
        return self.speed is None

    def now_us(self) -> int:
        with self._lock:
            if self.speed is None:
                return self._origin_us
            return self._origin_us + int((self._wall() - self._wall_t0) * self.speed * US)

    def now(self) -> datetime:
        return from_us(self.now_us())

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0,
                days: float = 0.0) -> datetime:
        """Move scenario time forward (both modes); returns the new scenario time."""
        step = int((seconds + 60 * minutes + 3600 * hours + 86400 * days) * US)
        if step < 0:
            raise ValueError("the scenario clock only moves forward")
        with self._lock:
            self._origin_us += step
        return self.now()

    def set(self, when: datetime | int) -> datetime:
        """Jump to a scenario instant (tests may go back to replay a moment)."""
        target = when if isinstance(when, int) else to_us(when)
        with self._lock:
            self._origin_us = target
            self._wall_t0 = self._wall()
        return self.now()

    def wall_seconds_until(self, scenario_us: int) -> float | None:
        """Wall seconds until the clock reaches ``scenario_us`` (None when manual)."""
        if self.speed is None:
            return None
        return max(0.0, (scenario_us - self.now_us()) / US / self.speed)
