"""The scenario clock: wall time mapped onto scenario time, or moved by hand in tests;
or paced by a collector (:class:`CyclePacer`), so that scenario time never runs ahead of
the cycles it has to watch however slow the machine is."""

from __future__ import annotations

import asyncio
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

    A paced clock (:meth:`paced`) runs like an accelerated one but never past a *hold*:
    a scenario instant someone still has work due at (:meth:`hold`). At a hold it stops,
    and it resumes from there, without a jump, once the hold moves on or is released. It
    stands at its origin until the first hold is placed (the emulator's start-up takes
    no scenario time).
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
        self._paced = False
        self._started = True  # a paced clock stands at its origin until its first hold
        self._holds: dict[str, int] = {}

    @classmethod
    def manual(cls, origin: datetime | int) -> SimClock:
        return cls(origin, speed=None)

    @classmethod
    def accelerated(cls, origin: datetime | int, speed: float) -> SimClock:
        return cls(origin, speed=speed)

    @classmethod
    def paced(cls, origin: datetime | int, speed: float) -> SimClock:
        """An accelerated clock that waits at its holds (see :class:`CyclePacer`)."""
        clock = cls(origin, speed=speed)
        clock._paced = True
        clock._started = False
        return clock

    @property
    def manual_mode(self) -> bool:
        return self.speed is None

    @property
    def paced_mode(self) -> bool:
        return self._paced

    def now_us(self) -> int:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> int:
        if self.speed is None:
            return self._origin_us
        wall = self._wall()
        if not self._started:
            self._wall_t0 = wall
            return self._origin_us
        free = self._origin_us + int((wall - self._wall_t0) * self.speed * US)
        limit = min(self._holds.values(), default=None)
        if limit is not None and free > limit:
            # Held: time stops here and later runs on from here (rebased), not from
            # where the wall clock would have taken it (never back: advance() may jump).
            stop = max(limit, self._origin_us)
            self._origin_us, self._wall_t0 = stop, wall
            return stop
        return free

    def hold(self, key: str, until_us: int) -> int:
        """Let scenario time run no further than ``until_us`` for ``key`` (replacing the
        key's earlier hold; an instant already past holds at the present). Returns the
        hold placed."""
        if not self._paced:
            raise ValueError("only a paced clock (SimClock.paced) takes holds")
        with self._lock:
            now = self._now_locked()  # settle time under the old holds first
            self._started = True
            self._holds[key] = max(until_us, now)
            return self._holds[key]

    def release(self, key: str | None = None) -> None:
        """Drop ``key``'s hold (every hold when None): time runs on from where it stands."""
        with self._lock:
            self._now_locked()
            if key is None:
                self._holds.clear()
            else:
                self._holds.pop(key, None)

    def held_until_us(self) -> int | None:
        """The lowest hold: scenario time will not pass it (None when nothing holds)."""
        with self._lock:
            return min(self._holds.values(), default=None)

    def now(self) -> datetime:
        return from_us(self.now_us())

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0,
                days: float = 0.0) -> datetime:
        """Move scenario time forward (both modes); returns the new scenario time."""
        step = int((seconds + 60 * minutes + 3600 * hours + 86400 * days) * US)
        if step < 0:
            raise ValueError("the scenario clock only moves forward")
        with self._lock:
            self._now_locked()
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


class CyclePacer:
    """Scenario time in lock step with a collector's cycles.

    The collector's watch loop asks :meth:`due` before each cycle (``Collector(...,
    pacer=...)``). The first cycle of a kind is due at once; each next one one cadence
    step (``every`` collector seconds, ``every * speed`` scenario seconds) after the
    previous one began. While a cycle runs, scenario time runs on at the clock's speed,
    but it is held just short of the next cycle's due instant until the cycle has
    finished and the next one is asked for. So every cycle begins at its scheduled
    scenario instant and its reads fall within its own cadence step, however slow the
    machine: a slow collector slows scenario time instead of missing reads.
    """

    def __init__(self, clock: SimClock) -> None:
        if not clock.paced_mode or clock.speed is None:
            raise ValueError("CyclePacer needs a paced clock (SimClock.paced)")
        self.clock = clock
        self.speed: float = clock.speed
        self._next: dict[str, int] = {}
        self.started: dict[str, list[int]] = {}  # key -> the scenario µs each cycle began

    async def due(self, key: str, every: float) -> None:
        clock = self.clock
        due_us = self._next.get(key)
        if due_us is None:
            due_us = clock.hold(key, clock.now_us())
            # Loops started together begin together: held here, time cannot move while
            # the others' first calls (already scheduled) place their holds too.
            for _ in range(3):
                await asyncio.sleep(0)
        else:
            clock.hold(key, due_us)
        while (now := clock.now_us()) < due_us:
            # The clock's own forecast is exact unless another key holds it back.
            await asyncio.sleep(min(0.05, max(0.0005, (due_us - now) / US / self.speed)))
        self.started.setdefault(key, []).append(due_us)
        self._next[key] = due_us + max(2, round(every * self.speed * US))
        # 1 µs short of the next cycle: a late cycle's last reads still fall within its
        # own step, not at the instant the next cycle begins.
        clock.hold(key, self._next[key] - 1)

    def close(self) -> None:
        """The watch is over: scenario time runs free again."""
        self.clock.release()
