"""Running the emulator: uvicorn in a background thread (tests, demo) or in the foreground
(``purgewatch sim serve``). Loopback only."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from purgewatch.errors import ConfigError
from purgewatch.sim._app import EmulatorState, build_app
from purgewatch.sim._clock import SimClock
from purgewatch.sim._scenario import Scenario
from purgewatch.sim._world import build_world

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PREFIX = {"bluesky": "bsky", "mastodon": "mastodon", "x": "x"}


class _QuietResetFilter(logging.Filter):
    """Injected resets are on purpose: keep uvicorn from logging them as app errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def check_host(host: str) -> str:
    if host not in LOOPBACK:
        raise ConfigError(
            f"the emulator binds loopback only, not {host!r}",
            hint="use 127.0.0.1; the emulator is a test fixture, not a public service",
        )
    return "127.0.0.1" if host == "localhost" else host


class Emulator:
    """A running emulator for one scenario.

    Use as a context manager: the server starts in a background thread on entry (port 0
    picks a free port) and stops on exit.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: SimClock | None = None,
        faults: bool = True,
        limits: bool = True,
        budgets: dict[str, tuple[int, float]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.scenario = scenario
        self.host = check_host(host)
        self.clock = clock or SimClock.manual(scenario.start_us)
        budgets_all = dict(scenario.limits)
        budgets_all.update(budgets or {})
        self.state = EmulatorState(build_world(scenario), self.clock, faults=faults, limits=limits,
                                   budgets=budgets_all, wall=wall, scenario=scenario)
        self.app = build_app(self.state)
        self._requested_port = port
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ addresses
    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, platform: str, instance: str | None = None) -> str:
        """Base URL to give a connector for ``platform`` (``bluesky``, ``mastodon``, ``x``)."""
        if platform not in PREFIX:
            raise ConfigError(f"unknown platform {platform!r}", hint=f"one of {sorted(PREFIX)}")
        if platform == "mastodon":
            instances = self.state.world["mastodon"].instances if "mastodon" in self.state.world.platforms else ()
            inst = instance or (instances[0] if instances else "mastodon.social")
            return f"{self.base_url}/mastodon/{inst}"
        return f"{self.base_url}/{PREFIX[platform]}"

    @property
    def jetstream_url(self) -> str:
        """The full Jetstream v1 subscribe URL (like ``wss://jetstream2.../subscribe``)."""
        return self.base_url.replace("http://", "ws://", 1) + "/bsky/jetstream/subscribe"

    def urls(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base": self.base_url, "control": f"{self.base_url}/_sim"}
        for p in self.state.world.platforms:
            if p == "mastodon":
                out["mastodon"] = {i: self.url("mastodon", i) for i in self.state.world["mastodon"].instances}
            else:
                out[p] = self.url(p)
        if "bluesky" in self.state.world.platforms:
            out["jetstream"] = self.jetstream_url
        return out

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    # ------------------------------------------------------------ lifecycle
    def _config(self, log_level: str) -> uvicorn.Config:
        return uvicorn.Config(
            self.app, host=self.host, port=self._requested_port, log_level=log_level,
            access_log=False, lifespan="off", timeout_graceful_shutdown=1, ws_ping_interval=None,
        )

    def start(self) -> Emulator:
        if self._thread is not None:
            return self
        _check_port_free(self.host, self._requested_port)
        logging.getLogger("uvicorn.error").addFilter(_QuietResetFilter())
        self._server = uvicorn.Server(self._config("warning"))
        # uvicorn installs signal handlers only in the main thread, so none here
        self._thread = threading.Thread(target=self._server.run, name="purgewatch-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the emulator did not start on {self.host}:{self._requested_port}")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self.state.closing.set()  # held answers and open streams end now (see _app)
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[Emulator], None] | None = None) -> None:
        """Run in the foreground until interrupted (Ctrl-C)."""
        _check_port_free(self.host, self._requested_port)
        logging.getLogger("uvicorn.error").addFilter(_QuietResetFilter())
        server = _ClosingServer(self._config("warning"), self.state.closing)

        async def main() -> None:
            task = asyncio.ensure_future(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            if server.started:
                self.port = server.servers[0].sockets[0].getsockname()[1]
                if on_ready is not None:
                    on_ready(self)
            await task

        asyncio.run(main())


class _ClosingServer(uvicorn.Server):
    """A foreground server that, on Ctrl-C, first ends held answers and open streams."""

    def __init__(self, config: uvicorn.Config, closing: threading.Event) -> None:
        super().__init__(config)
        self._closing = closing

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._closing.set()
        super().handle_exit(sig, frame)


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"port {port} on {host} is not free ({exc.strerror})",
                              hint="choose another --port, or --port 0 for any free port") from exc
