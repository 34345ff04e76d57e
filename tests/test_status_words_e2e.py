"""Status words end to end: a Mastodon mass self-deletion is no suspension wave, a
moderator sweep of the same accounts is one.

Both runs watch the same accounts through the real connector against the emulator (which
keeps suspended and deleted records as Mastodon does), store what was read, and run the
detector over the store. Only the platform's answer differs: ``suspended: true`` with
every count zero after a self-deletion (stored ``suspended_or_deleted``), ``suspended:
true`` with its counts after a moderator's suspension (stored ``suspended``)."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from purgewatch.analysis.detect import detect
from purgewatch.analysis.detect._waves import transitions
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector
from purgewatch.model import carry_enforcement
from purgewatch.sim import load_scenario, truth, watchlist_rows
from purgewatch.sim._scenario import Scenario
from purgewatch.sim.testing import emulator_factory  # noqa: F401  (fixture)
from purgewatch.store import Store

SMALL = Path(__file__).parent.parent / "src" / "purgewatch" / "sim" / "scenarios" / "small.toml"
WAVE_AT = datetime(2026, 3, 7, 14, tzinfo=UTC)
READINGS = [WAVE_AT - timedelta(hours=h) for h in (30, 20, 10, 1)] + [WAVE_AT + timedelta(hours=2)]


def _scenario(tmp_path: Path, status: str) -> Scenario:
    """The small scenario plus a wave over 40 followers of the government's Mastodon
    accounts: ``deleted`` (their owners leave) or ``suspended`` (a moderator sweep)."""
    text = SMALL.read_text() + f"""

[[waves]]
name = "mastodon-exit"
platform = "mastodon"
at = "{WAVE_AT.isoformat().replace('+00:00', 'Z')}"
duration_minutes = 30
status = "{status}"
accounts = []
followers_of = ["government"]
follower_count = 40
"""
    path = tmp_path / f"{status}.toml"
    path.write_text(text)
    return load_scenario(path)


def _watch(tmp_path: Path, emu: Any, sc: Scenario) -> tuple[Store, set[str]]:
    """Every Mastodon account the wave touched, plus the watched ones, read at each of
    READINGS (the emulator's clock set to it), into one store."""
    doc = truth(sc)
    rows = [r for r in watchlist_rows(sc) if r["platform"] == "mastodon"]
    seen = {r["account"] for r in rows}
    for ch in doc["status_changes"]:
        if ch["platform"] == "mastodon" and ch["account_id"] not in seen and ch["at"].startswith("2026-03-07"):
            seen.add(ch["account_id"])
            rows.append({"platform": "mastodon", "account": ch["account_id"], "group": "followers", "label": ""})
    with open(tmp_path / "wl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(rows)
    cfg = config_from_dict({
        "collect": {"detect": False, "sim_clock_url": f"{emu.base_url}/_sim/clock"},
        "http": {"timeout": 2, "retries": 2, "backoff_base": 0.05},
        "watchlists": [{"name": "m", "file": "wl.csv"}],
        "platforms": {"mastodon": {"instances": emu.urls()["mastodon"]}},
    }, base_dir=tmp_path)
    store = Store.init(tmp_path / "store")
    for when in READINGS:
        emu.clock.set(when)
        asyncio.run(Collector(store, cfg).collect_once())
    return store, {r["account"] for r in rows if r["group"] == "followers"}


def _last(store: Store, hit: set[str]) -> Counter[str]:
    """Statuses of the wave's accounts at the last reading."""
    return Counter(o["status"] for o in store.read("observations").to_pylist()
                   if o["observed_at"] == READINGS[-1] and o["account_id"] in hit)


def _waves(store: Store) -> list[Any]:
    return [e for e in detect(store, kinds=["suspension_wave"], platform="mastodon")
            if e.start <= (WAVE_AT + timedelta(hours=3)).timestamp() and e.end >= (WAVE_AT - timedelta(hours=1)).timestamp()]


def test_self_deletions_are_no_suspension_wave_and_a_sweep_is_one(emulator_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "exit").mkdir()
    (tmp_path / "sweep").mkdir()
    exit_sc = _scenario(tmp_path / "exit", "deleted")
    emu = emulator_factory(exit_sc, faults=False, limits=False)
    store, hit = _watch(tmp_path / "exit", emu, exit_sc)
    assert len(hit) == 40
    last = _last(store, hit)
    assert last["suspended_or_deleted"] == 40, last
    assert last["suspended"] == 0, "a self-deleted account is never stored as suspended"
    assert _waves(store) == [], "no suspension wave from accounts that deleted themselves"

    sweep_sc = _scenario(tmp_path / "sweep", "suspended")
    emu2 = emulator_factory(sweep_sc, faults=False, limits=False)
    store2, hit2 = _watch(tmp_path / "sweep", emu2, sweep_sc)
    assert hit2 == hit, "the same accounts"
    last2 = _last(store2, hit2)
    assert last2["suspended"] == 40, last2
    waves = _waves(store2)
    assert waves, "the moderator sweep of the same accounts is a suspension wave"
    assert max(e.magnitude for e in waves) >= 30


def test_a_suspension_purged_to_zero_counts_stays_a_suspension() -> None:
    """Readings sorted by (account, time): seen suspended with counts, then the purged
    record (suspended_or_deleted) -- one suspension, no second one, no reinstatement."""
    key = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    time = np.array([0.0, 10.0, 40 * 86400.0, 0.0, 10.0, 0.0, 10.0, 20.0])
    status = np.array(["active", "suspended", "suspended_or_deleted",
                       "active", "suspended_or_deleted",
                       "suspended", "active", "suspended_or_deleted"], dtype=object)
    assert carry_enforcement(key, status).tolist() == [
        "active", "suspended", "suspended",
        "active", "suspended_or_deleted",
        "suspended", "active", "suspended_or_deleted"]
    tr = transitions(key, time, status, np.zeros(len(key), bool))
    # account 0: one suspension; account 1: none (owner or moderator, unknown); account 2:
    # a reinstatement, then nothing (the carry ends at the active reading).
    assert sorted(zip(tr.key.tolist(), tr.kind.tolist(), strict=True)) == [
        (0, "suspension_wave"), (2, "reinstatement_wave")]


def test_compare_counts_suspended_or_deleted_as_suspended_only_after_a_suspension(tmp_path: Path) -> None:
    import pyarrow as pa

    from purgewatch.analysis.compare import account_frame

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    store = Store.init(tmp_path / "s")

    def obs(acc: str, at: datetime, status: str) -> dict[str, Any]:
        return {"platform": "mastodon", "account_id": acc, "observed_at": at, "status": status,
                "source": "test", "source_ref": f"test:{acc}:{at.isoformat()}"}

    rows = [obs("a@m", t0, "suspended"), obs("a@m", t0 + timedelta(days=40), "suspended_or_deleted"),
            obs("b@m", t0, "active"), obs("b@m", t0 + timedelta(days=40), "suspended_or_deleted"),
            obs("c@m", t0, "active"), obs("c@m", t0 + timedelta(days=40), "active")]
    wl = [{"platform": "mastodon", "account": a, "account_id": a, "group": "g", "action": "add",
           "at": t0 - timedelta(days=1)} for a in ("a@m", "b@m", "c@m")]
    with store.writer(command="test", source="test") as w:
        w.add("observations", pa.Table.from_pylist(rows))
        w.add("watchlist", pa.Table.from_pylist(wl))
    window = {"start": t0 + timedelta(days=30), "end": t0 + timedelta(days=50)}
    frame = account_frame(store, outcome="suspended", **window).set_index("account_id")
    # a: seen suspended before the window, purged inside it: still the suspension.
    assert frame.loc["a@m", "outcome"] == 1.0
    assert frame.loc["b@m", "outcome"] == 0.0, "gone, but never said to be enforcement"
    assert frame.loc["c@m", "outcome"] == 0.0
    gone = account_frame(store, outcome="gone", **window).set_index("account_id")
    assert gone.loc["b@m", "outcome"] == 1.0
