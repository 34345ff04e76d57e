"""In-memory results of the web UI, keyed by the store's content version, single-flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from purgewatch.store import Store


class Pending(Exception):
    """The findings are being computed and there is no earlier result to show."""

    def __init__(self, started: float) -> None:
        super().__init__("computing")
        self.started = started


class Flight:
    """One computation in progress; requests wait on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.started = time.time()

    def wait(self, timeout: float | None) -> Any:
        self.done.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.value


class ResultCache:
    """Results keyed by the store's content version (``Store.content_version()``); a new
    committed batch invalidates. Single-flight: however many requests arrive while a
    result is being computed, it is computed once and every request waits for that one
    computation (50 cold requests used to start 50 computations and gigabytes of memory).
    The last complete result of each key is kept across store changes so a page can show
    it (labelled) while the new one is computed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._items: dict[Any, Any] = {}
        self._flight: dict[Any, Flight] = {}
        self._last: dict[Any, tuple[tuple[str, ...] | None, Any, float]] = {}  # key -> (fingerprint, value, seconds)
        self.computations = 0  # how many computations ran (tests, diagnostics)

    def fingerprint(self) -> tuple[str, ...]:
        return (self.store.content_version(),)

    def start(self, key: Any, compute: Callable[[], Any]) -> tuple[tuple[str, ...], Flight | None, Any]:
        """(fingerprint, flight to wait on or None, ready value); starts the computation
        on its own thread when none is running for this key and store state."""
        fp = self.fingerprint()
        with self._lock:
            if fp != self._key:
                self._key, self._items, self._flight = fp, {}, {}
            if key in self._items:
                return fp, None, self._items[key]
            flight = self._flight.get(key)
            if flight is None:
                flight = self._flight[key] = Flight()
                self.computations += 1
                threading.Thread(target=self._run, args=(fp, key, compute, flight), daemon=True,
                                 name="purgewatch-web-compute").start()
        return fp, flight, None

    def _run(self, fp: tuple[str, ...], key: Any, compute: Callable[[], Any], flight: Flight) -> None:
        t0 = time.perf_counter()
        try:
            value = compute()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            flight.error = exc
        else:
            flight.value = value
            with self._lock:
                if fp == self._key:
                    self._items[key] = value
                self._last[key] = (fp, value, time.perf_counter() - t0)
        finally:
            with self._lock:
                if self._flight.get(key) is flight:
                    del self._flight[key]
            flight.done.set()

    def seed_last(self, key: Any, value: Any, seconds: float) -> None:
        """An earlier complete result (say, persisted by a previous server) to show, labelled
        as earlier, until the current one is computed."""
        with self._lock:
            self._last.setdefault(key, (None, value, seconds))

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value for the current store (waits for the one computation in flight)."""
        _, flight, value = self.start(key, compute)
        if flight is None:
            return value
        return flight.wait(None)

    def get_or_stale(self, key: Any, compute: Callable[[], Any], wait: float,
                     wait_if_nothing: float | None = None) -> tuple[Any, bool]:
        """(value, fresh): the current value when it is ready within ``wait`` seconds
        (``wait_if_nothing`` when there is no earlier value either), else the last complete
        value of an earlier store state (fresh = False), else raises :class:`Pending`."""
        _, flight, value = self.start(key, compute)
        if flight is None:
            return value, True
        with self._lock:
            has_last = key in self._last
        if flight.done.wait(wait if has_last or wait_if_nothing is None else min(wait, wait_if_nothing)):
            return flight.wait(0), True
        with self._lock:
            last = self._last.get(key)
        if last is not None:
            return last[1], False
        raise Pending(flight.started)

    def last_seconds(self, key: Any) -> float | None:
        with self._lock:
            last = self._last.get(key)
        return None if last is None else last[2]
