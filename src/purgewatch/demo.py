"""`purgewatch demo`: the whole tool, end to end, offline, in a few minutes.

It starts the platform emulator with the packaged ``demo`` scenario (two camps on X and
Bluesky; a Thursday-afternoon suspension wave in the government camp's audience; a regain
campaign days later) on an accelerated clock, runs the real connectors and the real watch
loop against it, then detects, explains, compares and writes the evidence report.

Nothing here analyses anything itself: it only wires the library's parts together, the
same parts a user runs one by one (see docs/demo.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector, Progress
from purgewatch.errors import ConfigError
from purgewatch.sim import Emulator, SimClock, load_scenario, write_watchlist
from purgewatch.sources.files import import_files
from purgewatch.store import Store

# The part of the scenario the demo watches: three days of ordinary life before the
# Thursday wave, the wave, and the regain campaign's bursts that follow.
WATCH_FROM = datetime(2026, 5, 18, 0, 0, tzinfo=UTC)
WATCH_TO = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)

# Scenario seconds per wall second: 10.5 scenario days in roughly 90 wall seconds.
DEFAULT_SPEED = 10_000.0


@dataclass
class DemoResult:
    out_dir: Path
    store: Path
    report_html: Path
    report_json: Path
    truth: Path
    watchlist: Path
    seconds: dict[str, float] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)


def _accelerated_budgets(limits: dict[str, tuple[int, float]], speed: float) -> dict[str, tuple[int, float]]:
    """The scenario's budgets on windows short enough for an accelerated clock.

    Scaling a window exactly by ``speed`` (a 15-minute window at 10,000x is 0.09 wall s)
    is below what wall-clock rate limiting resolves, so windows are shrunk by
    ``speed / 60`` (at least 1 s): the same request counts per window, which at 10,000x is
    1/60 of the real budget per scenario hour. The collector still has to budget."""
    return {k: (n, max(window * 60.0 / speed, 1.0)) for k, (n, window) in limits.items()}


def _config(emu: Emulator, out: Path, watchlist: Path, speed: float) -> dict[str, Any]:
    # Cadences are wall seconds: one status pass per scenario hour, one follower-list
    # pass per 12 scenario hours.
    return {
        "collect": {
            "status_every": 3600.0 / speed,
            "followers_every": 12 * 3600.0 / speed,
            "batch": 100,
            "detect": False,  # detection runs once at the end, on the whole record
            "sim_clock_url": f"{emu.base_url}/_sim/clock",
        },
        "http": {"timeout": 3.0, "retries": 4, "backoff_base": 0.05, "max_rate_wait": 30.0, "concurrency": 4},
        "watchlists": [{"name": "demo", "file": str(watchlist), "followers": True}],
        "platforms": {
            "bluesky": {
                "appview_url": emu.url("bluesky"),
                "relay_url": emu.url("bluesky"),
                "jetstream_url": emu.jetstream_url,
                "stream": True,
            },
            "x": {"base_url": emu.url("x"), "bearer_token": "demo-token-not-a-secret"},
        },
    }


def run_demo(
    out_dir: str | Path,
    *,
    speed: float = DEFAULT_SPEED,
    watch_from: datetime = WATCH_FROM,
    watch_to: datetime = WATCH_TO,
    faults: bool = True,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _msg: None,
    generated_at: str | datetime | None = None,
) -> DemoResult:
    """Run the demo into ``out_dir`` (created; must be empty or absent)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out} is not empty", hint="give --out a new directory, or add --force to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t_all = time.monotonic()

    scenario = load_scenario("demo")
    watchlist = out / "watchlist.csv"
    write_watchlist(scenario, watchlist)
    store = Store.init(out / "store")
    import_files(store, "watchlist", [watchlist])

    origin_us = int(watch_from.timestamp() * 1_000_000)
    clock = SimClock.accelerated(origin_us, speed)
    emu = Emulator(
        scenario, clock=clock, faults=faults, limits=True, budgets=_accelerated_budgets(scenario.limits, speed)
    )
    with emu:
        say(f"emulator on {emu.base_url} (scenario clock x{speed:,.0f}, faults {'on' if faults else 'off'})")
        cfg = config_from_dict(_config(emu, out, watchlist, speed), base_dir=out)
        collector = Collector(store, cfg, progress=progress)
        t0 = time.monotonic()
        asyncio.run(_watch_until(collector, emu, watch_to))
        seconds["watch"] = time.monotonic() - t0

        from purgewatch.analysis.detect import detect
        from purgewatch.queries import AccountName

        t0 = time.monotonic()
        events = [e.to_json() for e in detect(store)]
        seconds["detect"] = time.monotonic() - t0

        # Explaining a drop needs the fate of each lost follower: look them up live
        # (stored as profiles evidence), as `purgewatch explain --resolve` does.
        t0 = time.monotonic()
        drops = [e for e in events if e["kind"] == "follower_drop"]
        for e in drops:
            name = AccountName(e.get("handle"), e.get("label")).text(e["account_id"])
            say(f"explaining the drop of {name} on {e['platform']} (looking up lost followers)")
            _explain_with_lookups(store, cfg, e)
        seconds["explain"] = time.monotonic() - t0
        requests = emu.stats()

    truth_path = out / "truth.json"
    _write_truth(scenario, truth_path)

    from purgewatch.report import write_report

    t0 = time.monotonic()
    files = write_report(
        store, out / "report", title="PurgeWatch demo: the Thursday wave", generated_at=generated_at
    )
    seconds["report"] = time.monotonic() - t0
    seconds["total"] = time.monotonic() - t_all
    return DemoResult(
        out_dir=out,
        store=store.path,
        report_html=files.html,
        report_json=files.json,
        truth=truth_path,
        watchlist=watchlist,
        seconds=seconds,
        events=events,
        requests=requests,
    )


async def _watch_until(collector: Collector, emu: Emulator, until: datetime) -> None:
    """Run the watch loop until the scenario clock passes ``until``."""
    stop = asyncio.Event()
    until_us = int(until.timestamp() * 1_000_000)

    async def stopper() -> None:
        while emu.clock.now_us() < until_us:
            await asyncio.sleep(0.2)
        stop.set()

    task = asyncio.create_task(stopper())
    try:
        await collector.watch(stop=stop)
    finally:
        task.cancel()


def _explain_with_lookups(store: Store, cfg: Any, event: dict[str, Any]) -> None:
    from purgewatch.analysis.explain import explain

    # The drop's own window, as the report will explain it (the lists wholly read before
    # it and the first read after it); look-ups go through the collector's connector, so
    # they share its rate budgets and are stamped with the emulator's scenario time.
    explain(store, event["account_id"], platform=event["platform"], start=event["start"],
            end=event["end"], resolve=True, config=cfg)


def _write_truth(scenario: Any, path: Path) -> None:
    import json

    from purgewatch.sim import truth

    path.write_text(json.dumps(truth(scenario), sort_keys=True) + "\n")


__all__ = ["DEFAULT_SPEED", "WATCH_FROM", "WATCH_TO", "DemoResult", "run_demo"]
