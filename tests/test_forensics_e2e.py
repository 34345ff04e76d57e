"""Regain forensics end to end against the platform emulator: leader_x's follower list
collected around the Thursday wave (a drop) and after the scenario's comeback campaign
(bursts of freshly created accounts), judged by `regain_for_account`."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from purgewatch.analysis import forensics as fx
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector
from purgewatch.sim import load_scenario, truth, watchlist_rows
from purgewatch.sim.testing import emulator_factory, truth_followers_at  # noqa: F401
from purgewatch.store import Store

TIMES = [
    datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 4, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 5, 12, 0, tzinfo=UTC),   # wave at 14:00
    datetime(2026, 3, 5, 16, 0, tzinfo=UTC),
    datetime(2026, 3, 9, 12, 0, tzinfo=UTC),   # comeback bursts from 8 March 10:00
]


def test_regain_campaign_after_the_wave(emulator_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    emu = emulator_factory("small", faults=False, start=TIMES[0])
    rows = [r for r in watchlist_rows(load_scenario("small")) if r["platform"] == "x" and r["label"] == "The Leader (X)"]
    with open(tmp_path / "wl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(rows)
    cfg = config_from_dict({
        "collect": {"detect": False, "sim_clock_url": f"{emu.base_url}/_sim/clock"},
        "http": {"timeout": 2, "retries": 2, "backoff_base": 0.05},
        "watchlists": [{"name": "e2e", "file": "wl.csv"}],
        "platforms": {"x": {"base_url": emu.url("x"), "bearer_token": "e2e-regain-token-0123456789"}},
    }, base_dir=tmp_path)
    store = Store.init(tmp_path / "store")
    for i, t in enumerate(TIMES):
        if i:
            emu.clock.advance((t - TIMES[i - 1]).total_seconds())
        asyncio.run(Collector(store, cfg).collect_once(followers=True))
    acc = store.read("observations").to_pandas()["account_id"].iloc[0]
    rep = fx.regain_for_account(store, "x", acc, start=TIMES[2], end=TIMES[3], until=TIMES[4])
    doc = truth(load_scenario("small"))
    gained_truth = truth_followers_at(doc, "x", acc, TIMES[4]) - truth_followers_at(doc, "x", acc, TIMES[3])
    assert rep["gained"] == len(gained_truth)
    assert rep["drop"]["lost"] > 0
    assert rep["verdict"] == "regain_campaign", rep["reasons"]
    assert rep["young_share"] > 0.5 and rep["young_p_value"] < 0.01
