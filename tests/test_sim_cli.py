"""`purgewatch sim` verbs: serve (a real process on loopback), truth, watchlist, scenarios."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
from click.testing import CliRunner

from purgewatch.cli import cli


def test_sim_serve_runs_and_answers(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", "from purgewatch.cli import main; main()", "sim", "serve", "--scenario", "small",
         "--port", "0", "--speed", "0", "--no-faults", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        info = json.loads(line)
        assert info["scenario"] == "small" and info["urls"]["base"].startswith("http://127.0.0.1:")
        assert set(info["urls"]["mastodon"]) == {"gov.social", "mastodon.social"}
        r = httpx.get(f"{info['urls']['bluesky']}/xrpc/app.bsky.actor.getProfile",
                      params={"actor": "leader.bsky.social"}, timeout=5)
        assert r.status_code == 200 and r.json()["handle"] == "leader.bsky.social"
        clock = httpx.get(f"{info['urls']['control']}/clock", timeout=5).json()
        assert clock["manual"] is True and clock["now"] == "2026-03-02T00:00:00.000Z"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_sim_serve_refuses_public_bind():
    res = CliRunner().invoke(cli, ["sim", "serve", "--scenario", "small", "--host", "0.0.0.0"])
    assert res.exit_code != 0 and "loopback" in str(res.exception)


def test_sim_truth_and_watchlist_files(tmp_path):
    runner = CliRunner()
    out = tmp_path / "truth.json"
    res = runner.invoke(cli, ["sim", "truth", "--scenario", "small", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    doc = json.loads(out.read_text())
    assert summary["accounts"] == len(doc["accounts"]) == 11
    assert summary["status_changes"] == len(doc["status_changes"]) > 100
    assert {"scenario", "seed", "start", "end", "accounts", "status_changes", "follows", "drops"} <= set(doc)
    wl = tmp_path / "wl.csv"
    res = runner.invoke(cli, ["sim", "watchlist", "--scenario", "small", "--out", str(wl)])
    assert res.exit_code == 0 and wl.read_text().splitlines()[0] == "platform,account,group,label"
    res = runner.invoke(cli, ["sim", "scenarios", "--json"])
    names = {s["name"] for s in json.loads(res.output)["scenarios"]}
    assert {"small", "demo"} <= names
    res = runner.invoke(cli, ["sim", "truth", "--scenario", "nope", "--out", str(out)])
    assert res.exit_code != 0 and "no scenario named" in str(res.exception)


def test_docs_examples_are_valid():
    """The scenario and collector-config examples in docs/emulator.md are accepted as written."""
    import re
    import tomllib
    from pathlib import Path

    from purgewatch.collect.config import config_from_dict
    from purgewatch.sim import parse_scenario
    from purgewatch.sim._world import World

    root = Path(__file__).resolve().parents[1]
    scenario_toml, collect_toml = re.findall(r"```toml\n(.*?)```", (root / "docs/emulator.md").read_text(), re.S)
    sc = parse_scenario(scenario_toml.encode(), source="docs/emulator.md")
    world = World(sc)
    assert set(world.platforms) == {"bluesky", "x"} and sc.waves and sc.purges and sc.regains and sc.farms
    cfg = config_from_dict(tomllib.loads(collect_toml), base_dir=root)
    assert cfg.platforms["bluesky"].jetstream_url.endswith("/bsky/jetstream/subscribe")
    assert set(cfg.platforms["mastodon"].instances) == {"gov.social", "mastodon.social"}
