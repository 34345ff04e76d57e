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
    assert body["accounts"] == {"observed": 2, "watched": 2, "catalogue": 0}
    assert body["tables"]["observations"]["rows"] == 6
    assert body["tables"]["observations"]["bytes"] > 0
