"""Per-host request budgeting from the platforms' own rate-limit headers.

Each host gets a :class:`HostLimiter`: a bound on concurrent requests, an optional
minimum spacing (for hosts that publish a polite rate but send no headers, like the
Wayback Machine's 24 requests/minute), and one :class:`Budget` per bucket (a platform
may meter some requests separately: Mastodon's unauthenticated paging budget).

The budget is spent greedily and never overdrawn: every request sent decrements a local
``remaining`` before it leaves, answers can only lower it (``min`` of the local count
and what the server says, minus requests still in flight), and once it reaches zero the
limiter waits until the server's reset time. Spending down to zero then waiting for the
reset uses the whole budget in steady state (the ≥ 90% target) without a 429.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from purgewatch.net.clock import Clock
from purgewatch.timefmt import to_utc

# A window's reset may come slightly late on the server's clock; wait this much past it
# (at most 1% of the window, so short test windows are not wasted).
RESET_MARGIN = 0.25


def _margin(b: Budget) -> float:
    return min(RESET_MARGIN, 0.01 * b.window) if b.window else RESET_MARGIN


@dataclass
class RateHeaders:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None      # epoch seconds
    window: float | None = None        # seconds, from RateLimit-Policy "3000;w=300"


def parse_reset(value: str, now: float) -> float | None:
    """Epoch seconds (Bluesky, X), ISO 8601 (Mastodon), or small integers meaning
    seconds from now (some servers, e.g. ``Retry-After``)."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            reset = to_utc(value)  # a zone-less stamp is UTC, never the machine's local time
        except ValueError:
            return None
        return None if reset is None else reset.timestamp()
    if number > 1e9:
        return number / 1000.0 if number > 1e12 else number
    return now + max(number, 0.0)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def parse_rate_headers(headers: Mapping[str, str], now: float) -> RateHeaders:
    """Read whichever family of rate-limit headers the host sends (case-insensitive)."""
    lower = {k.lower(): v for k, v in headers.items()}
    out = RateHeaders()
    for prefix in ("ratelimit-", "x-ratelimit-", "x-rate-limit-"):
        if prefix + "remaining" in lower or prefix + "limit" in lower:
            out.limit = _int(lower.get(prefix + "limit"))
            out.remaining = _int(lower.get(prefix + "remaining"))
            reset = lower.get(prefix + "reset")
            out.reset_at = parse_reset(reset, now) if reset else None
            break
    policy = lower.get("ratelimit-policy")
    if policy:
        m = re.search(r"w=(\d+)", policy)
        if m:
            out.window = float(m.group(1))
    if out.reset_at is None and "retry-after" in lower:
        out.reset_at = parse_reset(lower["retry-after"], now)
    return out


@dataclass
class Budget:
    """What we know of one bucket's window. ``None`` = not metered / not known yet."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    window: float | None = None
    inflight: int = 0
    # Until a first answer arrives we don't know what is left of the current window (a
    # restarted collector may find it spent by its previous run): probe with one request.
    answered: bool = False
    # Accounting for the benchmark: requests sent, 429s received, windows seen.
    sent: int = 0
    throttled: int = 0
    windows: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=1000))  # (reset_at, limit)


class HostLimiter:
    """Concurrency, spacing and header budgets for one host."""

    def __init__(
        self,
        clock: Clock,
        *,
        concurrency: int = 4,
        min_interval: float = 0.0,
        prior: tuple[int, float] | None = None,
    ) -> None:
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.min_interval = min_interval
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self._next_slot = 0.0
        self._budgets: dict[str, Budget] = {}
        # A prior (requests, seconds) is a budget assumed until the server says otherwise.
        self._prior = prior
        self._changed = asyncio.Event()

    def budget(self, bucket: str = "default") -> Budget:
        b = self._budgets.get(bucket)
        if b is None:
            b = Budget()
            if self._prior is not None:
                limit, window = self._prior
                b.limit, b.remaining, b.window = limit, limit, window
            self._budgets[bucket] = b
        return b

    @property
    def budgets(self) -> dict[str, Budget]:
        return self._budgets

    @asynccontextmanager
    async def slot(self, bucket: str = "default") -> AsyncIterator[Budget]:
        """Hold a permit for one request: budget first (a request waiting for its
        bucket's reset must not hold a connection slot another bucket could use), then
        a concurrency slot, then the spacing."""
        b = await self._take(bucket)
        try:
            async with self._sem:
                await self._space()
                yield b
        finally:
            b.inflight -= 1
            self._changed.set()

    async def _take(self, bucket: str) -> Budget:
        b = self.budget(bucket)
        while True:
            now = self.clock.time()
            if b.reset_at is not None and now >= b.reset_at + _margin(b):
                self._roll_window(b, now)
            if b.remaining is None and b.inflight < (self.concurrency if b.answered else 1):
                break  # not metered (yet): one probe, then no more than the connection slots
            if b.remaining is not None and b.remaining > 0:
                break
            if b.remaining is not None and b.reset_at is not None:
                await self.clock.sleep(b.reset_at + _margin(b) - now)
            elif b.inflight > 0:
                # An answer in flight will tell us the reset time.
                self._changed.clear()
                await self._changed.wait()
            else:
                # Exhausted with no reset known (a prior budget): wait one window.
                b.reset_at = now + (b.window or 60.0)
        if b.remaining is not None:
            b.remaining -= 1
        b.inflight += 1
        b.sent += 1
        return b

    async def _space(self) -> None:
        # Called with the concurrency slot held, so starts are at least min_interval apart.
        if self.min_interval > 0:
            now = self.clock.time()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self.min_interval
            if slot > now:
                await self.clock.sleep(slot - now)

    def _roll_window(self, b: Budget, now: float) -> None:
        if b.limit is not None:
            b.remaining = b.limit - b.inflight
            b.reset_at = now + b.window if b.window else None
        else:
            b.remaining, b.reset_at = None, None

    def observe(self, bucket: str, headers: Mapping[str, str], status_code: int) -> None:
        """Update the bucket from one answer's headers (call while holding the slot)."""
        b = self.budget(bucket)
        b.answered = True
        now = self.clock.time()
        h = parse_rate_headers(headers, now)
        others = max(b.inflight - 1, 0)
        if h.window:
            b.window = h.window
        if status_code == 429:
            b.throttled += 1
            b.remaining = 0
            if h.reset_at is not None:
                b.reset_at = max(h.reset_at, now)
            elif b.reset_at is None or b.reset_at <= now:
                b.reset_at = now + (b.window or 60.0)
            if h.limit is not None:
                b.limit = h.limit
            self._changed.set()
            return
        if h.remaining is None and h.limit is None:
            return
        if h.limit is not None:
            b.limit = h.limit
        if h.reset_at is not None and h.reset_at <= now:
            return  # an answer from a window that has already ended: says nothing now
        # Resets within this of ours are the same window (clock skew, rounding); on short
        # windows a full second would merge two windows and overspend the next one.
        same = min(1.0, 0.5 * b.window) if b.window else 1.0
        if h.reset_at is not None and (b.reset_at is None or h.reset_at > b.reset_at + same):
            # The server has started a window we were not counting yet.
            b.reset_at = h.reset_at
            b.windows.append((h.reset_at, b.limit or 0))
            if h.remaining is not None:
                b.remaining = h.remaining - others
        else:
            if h.reset_at is not None and b.reset_at is not None and h.reset_at < b.reset_at - same:
                b.reset_at = h.reset_at  # our guessed reset was later than the server's
            if h.remaining is not None:
                server = h.remaining - others
                b.remaining = server if b.remaining is None else min(b.remaining, server)
        if b.remaining is not None:
            b.remaining = max(b.remaining, 0)
        self._changed.set()
