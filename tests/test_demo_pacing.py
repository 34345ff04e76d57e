"""The demo's scenario clock waits for the collector: a slow machine makes the demo slower,
never thinner.

The clock's holds are checked on a fake wall clock; then a shortened demo runs with every
connector call of the watch delayed beyond its cadence (the slow machine, made
repeatable), and the store must still hold every scheduled read at its scenario time.
"""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from purgewatch.sim import CyclePacer, SimClock
from purgewatch.sim._clock import US


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _paced(speed: float = 100.0) -> tuple[SimClock, Wall]:
    wall = Wall()
    clock = SimClock(0, speed=speed, wall=wall)
    clock._paced, clock._started = True, False  # SimClock.paced, on the fake wall
    return clock, wall


def test_a_paced_clock_stands_until_its_first_hold_then_stops_at_the_lowest() -> None:
    clock, wall = _paced()
    wall.t += 5
    assert clock.now_us() == 0  # start-up takes no scenario time
    clock.hold("a", 300 * US)
    clock.hold("b", 1000 * US)
    wall.t += 1
    assert clock.now_us() == 100 * US
    wall.t += 10  # free running would be at 1,100 s
    assert clock.now_us() == 300 * US and clock.held_until_us() == 300 * US
    # moving the hold on resumes from where time stood: no jump to the wall's idea
    clock.hold("a", 2000 * US)
    assert clock.now_us() == 300 * US
    wall.t += 1
    assert clock.now_us() == 400 * US
    wall.t += 100
    assert clock.now_us() == 1000 * US  # "b" holds now
    clock.release()
    wall.t += 1
    assert clock.now_us() == 1100 * US
    # a hold in the past holds at the present; time never goes back
    assert clock.hold("a", 5 * US) == 1100 * US


def test_the_pacer_begins_each_cycle_at_its_due_instant() -> None:
    clock = SimClock.paced(0, 100_000.0)
    pacer = CyclePacer(clock)

    async def loop(key: str, every: float, work: float, n: int) -> None:
        for _ in range(n):
            await pacer.due(key, every)
            await asyncio.sleep(work)  # a cycle far slower than its cadence

    async def main() -> None:
        # cadences of 1 and 3 scenario hours, cycles taking 2-5 scenario hours of wall time
        await asyncio.gather(loop("fast", 0.036, 0.07, 7), loop("slow", 0.108, 0.18, 3))

    asyncio.run(main())
    pacer.close()
    assert pacer.started["fast"] == [h * 3600 * US for h in range(7)]
    assert pacer.started["slow"] == [h * 3 * 3600 * US for h in range(3)]


def test_a_plain_clock_takes_no_holds() -> None:
    with pytest.raises(ValueError, match="paced"):
        SimClock.accelerated(0, 10.0).hold("a", 5)
    with pytest.raises(ValueError, match="paced"):
        CyclePacer(SimClock.accelerated(0, 10.0))


def test_stamps_stop_where_the_paced_clock_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    from purgewatch.net import simtime

    class Resp:
        status_code = 200

        def __init__(self, doc: dict[str, Any]) -> None:
            self.doc = doc

        def json(self) -> dict[str, Any]:
            return self.doc

    class Http:
        doc: dict[str, Any] = {}

        async def get(self, url: str) -> Resp:
            return Resp(self.doc)

    wall = [5000.0]
    monkeypatch.setattr(simtime.time, "time", lambda: wall[0])
    st, http = simtime.ScenarioTime("http://emu/_sim/clock"), Http()
    http.doc = {"now_us": 100 * US, "speed": 1000.0, "manual": False, "paced": True, "held_until_us": 160 * US}
    asyncio.run(st.sync(http))  # type: ignore[arg-type]
    wall[0] += 0.05
    assert st.stamp() == pytest.approx(150.0)
    wall[0] += 1.0  # free running would say 1,150 s; the clock stands at its hold
    assert st.stamp() == 160.0
    http.doc = {"now_us": 100 * US, "speed": 1000.0, "manual": False}  # an unpaced clock
    asyncio.run(st.sync(http))  # type: ignore[arg-type]
    wall[0] += 1.0
    assert st.stamp() == pytest.approx(1100.0)


# ------------------------------------------------------------------ the slow demo
# A day and a half around the Thursday wave (the regain campaign, days later, is
# test_demo.py's: the whole demo runs on this same paced clock).
FROM = datetime(2026, 5, 21, 0, 0, tzinfo=UTC)
TO = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)
HOURS, STEPS = 36, 3
LOOKUP_DELAY = 0.5     # wall s per status lookup; a status cycle is due every 0.36 s
FOLLOWERS_DELAY = 1.2  # wall s per follower list; 20 lists, 4 at a time: 6 s per 4.32 s


@pytest.mark.slow
@pytest.mark.timeout(900)  # the point: a slow collector makes the run longer
def test_a_slow_collector_still_reads_everything_on_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from purgewatch import demo
    from purgewatch.sources.bluesky import BlueskyConnector
    from purgewatch.sources.x import XConnector
    from purgewatch.store import Store

    watching = [False]  # the delays slow the watch only, not explain's look-ups after it

    def slowed(fn: Any, delay: float) -> Any:
        async def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
            if watching[0]:
                await asyncio.sleep(delay)
            return await fn(self, *args, **kwargs)
        return slow

    for conn in (XConnector, BlueskyConnector):
        monkeypatch.setattr(conn, "lookup", slowed(conn.lookup, LOOKUP_DELAY))
        monkeypatch.setattr(conn, "followers", slowed(conn.followers, FOLLOWERS_DELAY))
    watch_until = demo._watch_until

    async def watch_slowly(*args: Any) -> None:
        watching[0] = True
        try:
            await watch_until(*args)
        finally:
            watching[0] = False

    monkeypatch.setattr(demo, "_watch_until", watch_slowly)
    result = demo.run_demo(tmp_path / "demo", watch_from=FROM, watch_to=TO)

    hour, half_day = 3600 * US, 12 * 3600 * US
    origin = int(FROM.timestamp()) * US
    status, followers = result.cycles["demo/status"], result.cycles["demo/followers"]
    # every cycle began at its scheduled scenario instant, none skipped
    assert status[:HOURS] == [origin + k * hour for k in range(HOURS)]
    assert followers[:STEPS] == [origin + k * half_day for k in range(STEPS)]

    store = Store(result.store)
    obs = store.read("observations", columns=["platform", "account_id", "observed_at"]).to_pylist()
    accounts = {(o["platform"], o["account_id"]) for o in obs}
    assert len(accounts) == 20
    # 24 status reads per account per scenario day, one in each scenario hour
    per_hour = collections.Counter((o["platform"], o["account_id"], o["observed_at"].replace(minute=0, second=0, microsecond=0))
                                   for o in obs if o["observed_at"] < TO)
    hours = [FROM + timedelta(hours=k) for k in range(HOURS)]
    for a in accounts:
        assert [per_hour[(*a, h)] for h in hours] == [1] * len(hours), a
    # a follower list of each account in each 12-hour step (an account the wave suspends
    # has no list to read after it: from 14:00, in the second step)
    import json

    truth = json.loads(result.truth.read_text())
    gone = {(c["platform"], c["account_id"]) for c in truth["status_changes"]
            if c["watched"] and FROM <= datetime.fromisoformat(c["at"].replace("Z", "+00:00")) < TO}
    snaps = store.read("snapshots", columns=["platform", "account_id", "observed_at"]).to_pylist()
    per_step = collections.Counter((s["platform"], s["account_id"], (int(s["observed_at"].timestamp() * US) - origin) // half_day)
                                   for s in snaps if s["observed_at"] < TO)
    for a in accounts - gone:
        assert [per_step[(*a, k)] for k in range(STEPS)] == [1] * STEPS, a
    for a in accounts & gone:
        assert per_step[(*a, 0)] == 1 and per_step[(*a, 2)] == 0, a
    assert len(accounts - gone) >= 13

    # and so the findings: the Leader's drop in the wave, and its explanation
    leader = next(a for a in truth["accounts"] if a["key"] == "x:PresidentLeader")["account_id"]
    findings = json.loads(result.report_json.read_text())
    drops = [e for e in findings["events"] if e["kind"] == "follower_drop" and e["account_id"] == leader]
    assert len(drops) == 1 and datetime.fromisoformat(drops[0]["end"].replace("Z", "+00:00")) > datetime(2026, 5, 21, 14, tzinfo=UTC)
    ex = next(x for x in findings["explain"] if x["account_id"] == leader)["result"]
    assert ex["verdict"] == "platform_enforcement"
