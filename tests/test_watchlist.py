"""The watchlist: an append-only log whose latest action per account is the state."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from _cli import run
from purgewatch.errors import InputError
from purgewatch.store import Store
from purgewatch.watchlist import (
    add_to_watchlist,
    current_watchlist,
    import_watchlist,
    known_account_ids,
    remove_from_watchlist,
)


def test_known_ids_only() -> None:
    plat = pa.array(["x", "x", "bluesky", "mastodon", "mastodon", "telegram", "bluesky"])
    acc = pa.array(["783214", "@jack", "did:plc:z72i7hdynmk6r22z27h6tvur", "109302@mastodon.social",
                    "alice@mastodon.social", "12345", "bsky.app"])
    assert known_account_ids(plat, acc).to_pylist() == [
        "783214", None, "did:plc:z72i7hdynmk6r22z27h6tvur", "109302@mastodon.social", None, None, None,
    ]


def test_add_list_regroup_remove(store: Store) -> None:
    add_to_watchlist(store, "x", "783214", "media", "Twitter")
    add_to_watchlist(store, "X", "@jack", "founders")
    cur = current_watchlist(store)
    assert cur.column_names == ["platform", "account", "account_id", "group", "label"]
    assert cur.num_rows == 2
    # the same add again writes nothing
    change = add_to_watchlist(store, "x", "783214", "media", "Twitter")
    assert change.unchanged == 1 and store.read("watchlist").num_rows == 2
    # regroup: a new add wins
    change = add_to_watchlist(store, "x", "783214", "government")
    assert change.changed == 1
    rows = {r["account"]: r for r in current_watchlist(store).to_pylist()}
    assert rows["783214"]["group"] == "government" and rows["783214"]["label"] is None
    assert current_watchlist(store, group="founders")["account"].to_pylist() == ["@jack"]
    remove_from_watchlist(store, "x", "@jack")
    assert current_watchlist(store)["account"].to_pylist() == ["783214"]
    log = store.read("watchlist")
    assert log["action"].to_pylist() == ["add", "add", "add", "remove"]  # history kept
    with pytest.raises(InputError, match="not on the watchlist"):
        remove_from_watchlist(store, "x", "@jack")
    add_to_watchlist(store, "x", "@jack", "founders")  # back again
    assert current_watchlist(store).num_rows == 2


def test_import_last_entry_wins(store: Store) -> None:
    entries = pa.table({"platform": ["x", "x", "x"], "account": ["1", "2", "1"],
                        "group": ["a", "b", "c"], "label": [None, None, "one"]})
    change = import_watchlist(store, entries)
    assert change.added == 2
    rows = {r["account"]: r for r in current_watchlist(store).to_pylist()}
    assert rows["1"]["group"] == "c" and rows["1"]["label"] == "one"


def test_cli_watchlist(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = ["--store", str(store.path)]
    f = tmp_path / "w.csv"
    f.write_text("platform,account,group,label\nx,783214,media,[bold]Twitter[/bold]\nx,@jack,founders,\n")
    assert run(["watchlist", "import", str(f), *s, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 2
    assert run(["watchlist", "add", "bluesky", "did:plc:abc", "--group", "media", *s]) == 0
    assert "watching" in capsys.readouterr().out
    assert run(["watchlist", "list", "--group", "media", *s, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["watchlist"]
    assert {r["account"] for r in listed} == {"783214", "did:plc:abc"}
    assert run(["watchlist", "list", *s]) == 0
    assert "[bold]Twitter[/bold]" in capsys.readouterr().out  # shown as text, not markup
    assert run(["watchlist", "remove", "x", "@jack", *s]) == 0
    assert run(["watchlist", "remove", "x", "@jack", *s]) == 2
    err = capsys.readouterr().err
    assert "not on the watchlist" in err and "Traceback" not in err
    assert run(["watchlist", "add", "x", "1", *s]) == 2  # --group is required
