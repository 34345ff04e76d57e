"""The demo end to end: its report's findings must match the scenario's ground truth.

One run (about three minutes on this 2-core machine) feeds every check below.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from purgewatch.demo import DemoResult, run_demo
from purgewatch.queries import latest_accounts
from purgewatch.store import Store

pytestmark = pytest.mark.slow

WAVE_START = datetime.fromisoformat("2026-05-21T14:00:00+00:00")
REGAIN_START = datetime.fromisoformat("2026-05-25T08:00:00+00:00")


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, dict[str, Any], dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo") / "run"
    result = run_demo(out, generated_at="2026-06-01T00:00:00Z")
    truth = json.loads(result.truth.read_text())
    findings = json.loads(result.report_json.read_text())
    return result, truth, findings


def _leader(truth: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in truth["accounts"] if a["key"] == "x:PresidentLeader")


def test_demo_writes_a_report_and_stays_offline(demo: tuple[DemoResult, dict[str, Any], dict[str, Any]]) -> None:
    result, _, _ = demo
    html = result.report_html.read_text()
    assert "<html" in html.lower()
    assert "http://" not in html.split("</head>")[0] and "https://" not in html.split("</head>")[0]
    assert result.seconds["total"] < 600


def test_store_holds_every_suspension_of_a_watched_account(
    demo: tuple[DemoResult, dict[str, Any], dict[str, Any]],
) -> None:
    result, truth, _ = demo
    suspended = {
        (c["platform"], c["account_id"]): c["status"]
        for c in truth["status_changes"]
        if c["watched"] and _t(c["at"]) < _t("2026-05-27T00:00:00Z")
    }
    assert len(suspended) == 5
    latest = {(r["platform"], r["account_id"]): r for r in latest_accounts(Store(result.store)).to_pylist()}
    for key, status in suspended.items():
        assert latest[key]["status"] == status, (key, latest[key]["status"], status)
    # and no other observed account is recorded as suspended or taken down (the lost
    # followers whose fates were resolved are accounts too, known from profiles)
    others = {k for k, r in latest.items()
              if r["n_observations"] and r["status"] in ("suspended", "takendown")} - set(suspended)
    assert others == set()


def test_leader_drop_detected_in_the_wave_window_with_the_right_size(
    demo: tuple[DemoResult, dict[str, Any], dict[str, Any]],
) -> None:
    result, truth, _ = demo
    leader = _leader(truth)
    lost_truth = sum(d["lost"] for d in truth["drops"] if d["key"] == "x:PresidentLeader")
    drops = [e for e in result.events if e["kind"] == "follower_drop" and e["account_id"] == leader["account_id"]]
    assert len(drops) == 1
    drop = drops[0]
    assert _t(drop["start"]) <= WAVE_START + (_t(drop["end"]) - _t(drop["start"]))
    assert _t(drop["start"]) < _t("2026-05-21T15:00:00Z") and _t(drop["end"]) > WAVE_START
    # counts also move with organic growth and unfollows: within 15% of the truth
    assert abs(drop["magnitude"] - lost_truth) <= 0.15 * lost_truth, (drop["magnitude"], lost_truth)
    assert drop["group"] == "government"


def test_only_the_government_camp_is_hit(demo: tuple[DemoResult, dict[str, Any], dict[str, Any]]) -> None:
    result, truth, findings = demo
    group = {(a["platform"], a["account_id"]): a["group"] for a in truth["accounts"]}
    for e in result.events:
        if e["kind"] == "follower_drop":
            assert group[(e["platform"], e["account_id"])] == "government", e
    # the sweep of followers is named as concentrated on the government camp
    purges = [e for e in result.events if e["kind"] == "purge"]
    assert purges and all(e["group"] == "government" for e in purges), purges
    waves = [e for e in result.events if e["kind"] == "suspension_wave"]
    assert waves, "no suspension wave detected"
    assert all(e["group"] in (None, "government") for e in waves)
    cmp_suspended = next(c for c in findings["compare"] if "suspend" in json.dumps(c.get("outcome", c)).lower())
    rates = {g["group"]: g for g in cmp_suspended["groups"]}
    assert rates["government"]["outcome_count"] == 5
    assert rates["opposition"]["outcome_count"] == 0


def test_explain_verdict_is_platform_enforcement(demo: tuple[DemoResult, dict[str, Any], dict[str, Any]]) -> None:
    _, truth, findings = demo
    leader = _leader(truth)
    lost_truth = sum(d["lost"] for d in truth["drops"] if d["key"] == "x:PresidentLeader")
    ex = next(x for x in findings["explain"] if x["account_id"] == leader["account_id"])["result"]
    assert ex["verdict"] == "platform_enforcement"
    # the snapshot diff also counts organic unfollows between the two lists
    assert abs(ex["lost"] - lost_truth) <= 0.1 * lost_truth, (ex["lost"], lost_truth)
    assert ex["lost_breakdown"]["suspended"] >= 0.9 * lost_truth


def test_regain_campaign_is_found(demo: tuple[DemoResult, dict[str, Any], dict[str, Any]]) -> None:
    result, truth, findings = demo
    leader = _leader(truth)
    surges = [
        e
        for e in result.events
        if e["kind"] == "follower_surge" and e["account_id"] == leader["account_id"] and _t(e["start"]) >= REGAIN_START - (_t(e["end"]) - _t(e["start"]))
    ]
    regain = next(
        (f.get("regain") for f in findings["forensics"] if f["account_id"] == leader["account_id"]), None
    )
    assert surges, "no follower surge of the leader after the campaign started"
    assert regain is not None and regain["verdict"] == "regain_campaign", regain


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    from purgewatch.errors import ConfigError

    with pytest.raises(ConfigError, match="not empty"):
        run_demo(tmp_path)
    assert (tmp_path / "x").read_text() == "keep me"
