"""`accounts` and `history`: the latest state per account and one account's series."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from click.testing import CliRunner

from purgewatch.cli import cli
from purgewatch.store import Store

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _seed(store: Store) -> None:
    times = [T0 + timedelta(hours=h) for h in range(4)]
    obs = pa.table(
        {
            "platform": ["x"] * 4 + ["bluesky"] * 2,
            "account_id": ["111"] * 4 + ["did:plc:abc", "did:plc:abc"],
            "observed_at": pa.array(times + times[:2], pa.timestamp("us", tz="UTC")),
            "status": ["active", "active", "active", "suspended", "active", "active"],
            "followers_count": [1000, 1010, 400, None, 50, 52],
            "handle": ["leader", "leader", "leader", "leader", "media.bsky.social", "media.bsky.social"],
            "source_ref": [f"obs.csv:{i + 2}" for i in range(6)],
        }
    )
    store.append("observations", obs, command="test", source="test")
    wl = pa.table(
        {
            "platform": ["x", "bluesky"],
            "account": ["leader", "did:plc:abc"],
            "account_id": [None, "did:plc:abc"],
            "group": ["government", "media"],
            "label": ["The Leader", None],
            "action": ["add", "add"],
            "at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        }
    )
    store.append("watchlist", wl, command="test", source="test")


def test_accounts_json_latest_state_and_group(store: Store) -> None:
    _seed(store)
    res = CliRunner().invoke(cli, ["accounts", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["account_id"]: r for r in json.loads(res.output)["accounts"]}
    assert rows["111"]["status"] == "suspended"
    assert rows["111"]["followers_count"] is None
    assert rows["111"]["n_observations"] == 4
    assert rows["111"]["group"] == "government"  # matched through the handle
    assert rows["did:plc:abc"]["followers_count"] == 52
    assert rows["did:plc:abc"]["group"] == "media"


def test_accounts_group_filter(store: Store) -> None:
    _seed(store)
    res = CliRunner().invoke(cli, ["accounts", "--store", str(store.path), "--group", "media", "--json"])
    assert [r["account_id"] for r in json.loads(res.output)["accounts"]] == ["did:plc:abc"]


def test_history_by_handle_with_window_and_provenance(store: Store) -> None:
    _seed(store)
    res = CliRunner().invoke(
        cli,
        ["history", "leader", "--store", str(store.path), "--from", "2026-05-01T13:00:00Z", "--json"],
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["account_id"] == "111"
    counts = [o["followers_count"] for o in body["observations"]]
    assert counts == [1010, 400, None]
    assert body["observations"][0]["source_ref"] == "obs.csv:3"
    assert body["observations"][0]["observed_at"].endswith("Z")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "nobody"], "no account 'nobody'"),
        (["history", "leader", "--from", "2026-05-01T13:00:00"], "has no time zone"),
    ],
)
def test_history_errors_are_clear(store: Store, args: list[str], message: str) -> None:
    _seed(store)
    from purgewatch.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*args, "--store", str(store.path)])
    assert exc.value.code == 2


def test_stats_counts_accounts_and_rows(store: Store) -> None:
    _seed(store)
    res = CliRunner().invoke(cli, ["stats", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["accounts"] == {"known": 2, "observed": 2, "profiles": 0, "status_events": 0, "watched": 2,
                                "catalogue": 0}
    assert body["tables"]["observations"]["rows"] == 6
    assert body["tables"]["observations"]["bytes"] > 0


def _seed_profiles_and_events(store: Store) -> None:
    """Accounts known only from a profile (a cresci-like population) or only from status
    events (a tracker's feed), and one account in all three tables."""
    ts = pa.timestamp("us", tz="UTC")
    prof = pa.table({
        "platform": ["x", "x"],
        "account_id": ["222", "111"],
        "observed_at": pa.array([T0, T0 - timedelta(days=1)], ts),
        "status": ["active", "active"],
        "followers_count": [77, 990],
        "handle": ["onlyprofile", "leader"],
        "label": ["genuine", None],
        "source_ref": ["users.csv:2", "users.csv:3"],
    })
    store.append("profiles", prof, command="test", source="test")
    ev = pa.table({
        "platform": ["x", "x", "x"],
        "account_id": ["333", "333", "111"],
        "at": pa.array([T0, T0 + timedelta(days=2), T0 + timedelta(days=3)], ts),
        "status": ["suspended", "active", "suspended"],
        "source_ref": ["timestamps.csv:1", "timestamps.csv:1", "timestamps.csv:2"],
    })
    store.append("status_events", ev, command="test", source="test")


def test_accounts_known_only_from_profiles_or_status_events(store: Store) -> None:
    _seed(store)
    _seed_profiles_and_events(store)
    res = CliRunner().invoke(cli, ["accounts", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["account_id"]: r for r in json.loads(res.output)["accounts"]}
    assert set(rows) == {"111", "did:plc:abc", "222", "333"}
    only_p, only_e, both = rows["222"], rows["333"], rows["111"]
    assert (only_p["sources"], only_p["source"], only_p["handle"], only_p["followers_count"]) == (
        "profiles", "profiles", "onlyprofile", 77)
    assert (only_p["n_observations"], only_p["n_profiles"], only_p["n_status_events"]) == (0, 1, 0)
    # The latest of the two events decides; no handle or count is invented.
    assert (only_e["sources"], only_e["status"], only_e["handle"], only_e["followers_count"]) == (
        "status_events", "active", None, None)
    assert only_e["last_observed"].startswith("2026-05-03") and only_e["n_status_events"] == 2
    # In all three tables: the status event three days later is the latest status; counts
    # stay those of the latest observation (status only, so none).
    assert (both["sources"], both["source"], both["status"]) == ("observations,profiles,status_events",
                                                                 "status_events", "suspended")
    assert both["first_observed"].startswith("2026-04-30") and both["group"] == "government"
    text = CliRunner().invoke(cli, ["accounts", "--store", str(store.path), "--format", "table"])
    assert text.exit_code == 0 and "4 accounts" in text.output

    stats = json.loads(CliRunner().invoke(cli, ["stats", "--store", str(store.path), "--json"]).output)
    assert stats["accounts"] == {"known": 4, "observed": 2, "profiles": 2, "status_events": 2, "watched": 2,
                                      "catalogue": 0}


def test_history_includes_profiles_and_status_events(store: Store) -> None:
    _seed(store)
    _seed_profiles_and_events(store)
    body = json.loads(CliRunner().invoke(cli, ["history", "leader", "--store", str(store.path), "--json"]).output)
    assert [(r["table"], r["status"]) for r in body["observations"]] == [
        ("profiles", "active"), ("observations", "active"), ("observations", "active"), ("observations", "active"),
        ("observations", "suspended"), ("status_events", "suspended")]
    assert body["observations"][-1]["source_ref"] == "timestamps.csv:2"
    # An id known only from status events resolves too (there is no handle to match).
    only_e = json.loads(CliRunner().invoke(cli, ["history", "333", "--store", str(store.path), "--json"]).output)
    assert [r["status"] for r in only_e["observations"]] == ["suspended", "active"]


def test_report_and_ui_list_accounts_known_only_from_profiles_or_events(store: Store) -> None:
    """A population file (profiles) and a tracker feed (status events), no observation and
    no watchlist: the report's accounts and the UI's accounts page list them, with source."""
    from starlette.testclient import TestClient

    from purgewatch.findings import gather_findings
    from purgewatch.web import create_app

    _seed_profiles_and_events(store)
    f = gather_findings(store)
    accs = {a["account_id"]: a for a in f.accounts}
    assert set(accs) == {"111", "222", "333"}
    assert (accs["222"]["latest"]["source"], accs["222"]["latest"]["followers"], accs["222"]["sources"]) == (
        "profiles", 77, ["profiles"])
    assert (accs["333"]["latest"]["source"], accs["333"]["latest"]["status"]) == ("status_events", "active")
    assert accs["111"]["sources"] == ["profiles", "status_events"]
    first = " ".join(p if isinstance(p, str) else p["text"] for p in f.summary.sentences[0])
    assert first.startswith("3 accounts are known only from profiles or status events")
    with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
        page = c.get("/accounts")
        assert page.status_code == 200 and "/accounts/x/222" in page.text and "/accounts/x/333" in page.text
