"""explain end to end against the platform emulator (loopback, real connectors): follower
lists collected before and after the scenario's X spam purge, the lost followers' fates
looked up live with --resolve, everything checked against the scenario's ground truth."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from purgewatch.analysis import explain as ex
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector
from purgewatch.collect.resolve import fate_resolver
from purgewatch.sim import load_scenario, truth, watchlist_rows
from purgewatch.sim.testing import emulator_factory, truth_followers_at, truth_status_at  # noqa: F401
from purgewatch.store import Store

BEFORE = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)   # the X purge is at 09:00
TOKEN = "e2e-explain-token-0123456789"


def test_explain_the_x_spam_purge(emulator_factory: Any, tmp_path: Path) -> None:  # noqa: F811
    emu = emulator_factory("small", faults=False, start=BEFORE)
    rows = watchlist_rows(load_scenario("small"))
    with open(tmp_path / "wl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(rows)
    cfg = config_from_dict({
        "collect": {"detect": False, "sim_clock_url": f"{emu.base_url}/_sim/clock"},
        "http": {"timeout": 2, "retries": 2, "backoff_base": 0.05},
        "watchlists": [{"name": "e2e", "file": "wl.csv"}],
        "platforms": {
            "bluesky": {"appview_url": emu.url("bluesky"), "relay_url": emu.url("bluesky"),
                        "jetstream_url": emu.jetstream_url},
            "x": {"base_url": emu.url("x"), "bearer_token": TOKEN},
            "mastodon": {"instances": emu.urls()["mastodon"]},
        },
    }, base_dir=tmp_path)
    store = Store.init(tmp_path / "store")
    asyncio.run(Collector(store, cfg).collect_once(followers=True))
    after = emu.clock.advance(hours=6)
    asyncio.run(Collector(store, cfg).collect_once(followers=True))

    res = ex.explain(store, "leader_x", platform="x", resolve=fate_resolver(store, config=cfg), include_ids=True)
    doc = truth(load_scenario("small"))
    acc = res["account_id"]
    lost_truth = truth_followers_at(doc, "x", acc, BEFORE) - truth_followers_at(doc, "x", acc, after)
    lost = {d["account_id"] for d in res["lost_followers"]}
    assert lost == lost_truth and res["lost"] > 20
    # Every fate agrees with the truth as X can show it (deleted/deactivated read "not found").
    visible = {"deactivated": "deleted", "deleted": "deleted", "active": "unfollowed"}
    for d in res["lost_followers"]:
        true = truth_status_at(doc, "x", d["account_id"], after)
        assert d["fate"] == visible.get(true, true), (d, true)
    assert res["verdict"] == "platform_enforcement"
    assert res["evidence"]["resolve"]["answered"] > 0
    # Overlap with the other watched X accounts whose lists were read, as the truth says.
    from purgewatch.store.snapshots import list_snapshots

    others = set(list_snapshots(store, "x").to_pandas()["account_id"]) - {acc}
    expected = {}
    for o in others:
        theirs = truth_followers_at(doc, "x", o, BEFORE) - truth_followers_at(doc, "x", o, after)
        if theirs & lost_truth:
            expected[o] = len(theirs & lost_truth)
    assert {o["account_id"]: o["shared_lost"] for o in res["overlap"]} == expected
    assert res["evidence"]["overlap_checked"] >= len(others)
