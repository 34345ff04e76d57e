"""CLI habits: --format table|csv|tsv|json, errors as JSON, one import summary, and
`export` writing the interchange shapes back out (export -> import gives the same rows)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from purgewatch.cli import cli, main
from purgewatch.export import EXTRA_COLUMNS, INTERCHANGE_COLUMNS
from purgewatch.sources.files import import_files
from purgewatch.store import Store
from purgewatch.store.snapshots import list_snapshots, load_followers, load_order, sids_to_ids
from purgewatch.watchlist import current_watchlist

OBS = '''platform,account_id,observed_at,status,followers_count,following_count,posts_count,handle,display_name,created_at,verified,default_profile_image,description,source,detail
x,111,2026-05-21T13:00:00Z,active,52000,10,900,PresidentLeader,The Leader,2011-01-02T03:04:05Z,true,false,"Head of state, ""official""",x,
x,111,2026-05-21T15:00:00.250Z,active,46000,10,901,PresidentLeader,The Leader,2011-01-02T03:04:05Z,true,false,"Head of state, ""official""",x,
x,222,2026-05-21T13:00:00Z,suspended,,,,MinInterior,,,,,,x,User has been suspended: [222].
x,333,2026-05-21T13:00:00Z,active,800,20,30,OppositionLead,,,,,,x,
bluesky,did:plc:abc,2026-05-21T13:00:00+02:00,takendown,1500,3,40,leader.gov.example,"Tab\there",,,,"line one
line two",bluesky,
'''

PROFILES = """platform,account_id,observed_at,status,followers_count,created_at
x,900,2026-05-22T00:00:00Z,suspended,,2026-05-01T00:00:00Z
x,901,2026-05-22T00:00:00Z,active,12,2019-05-01T00:00:00Z
"""

FOLLOWERS = """platform,account_id,observed_at,follower_id,position,partial
x,111,2026-05-20T12:00:00Z,900,0,false
x,111,2026-05-20T12:00:00Z,901,1,false
x,111,2026-05-20T12:00:00Z,902,2,false
x,111,2026-05-22T12:00:00Z,903,0,false
x,111,2026-05-22T12:00:00Z,901,1,false
bluesky,did:plc:abc,2026-05-22T12:00:00Z,did:plc:f1,,true
bluesky,did:plc:abc,2026-05-22T12:00:00Z,did:plc:f2,,true
"""

STATUS_EVENTS = """platform,account_id,at,status,source
bluesky,did:plc:abc,2026-05-21T14:05:00Z,takendown,jetstream
x,222,2026-05-21T14:10:00Z,suspended,compliance
"""

WATCHLIST = """platform,account,group,label
x,111,government,The Leader
x,222,government,Ministry of the Interior
bluesky,did:plc:abc,government,"The Leader (Bluesky)"
x,333,opposition,
"""


@pytest.fixture
def seeded(tmp_path: Path) -> Store:
    store = Store.init(tmp_path / "store")
    for kind, text in (("observations", OBS), ("profiles", PROFILES), ("followers", FOLLOWERS),
                       ("status_events", STATUS_EVENTS), ("watchlist", WATCHLIST)):
        f = tmp_path / f"{kind}.csv"
        f.write_text(text, encoding="utf-8")
        import_files(store, kind, [f])
    return store


def _invoke(args: list[str]) -> Any:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


# ------------------------------------------------------------------ export -> import
def _rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    cols = [c for c in INTERCHANGE_COLUMNS[table] if c != "source"]
    data = store.read(table, columns=cols)
    return sorted(tuple(r.values()) for r in data.to_pylist())


def _snapshots(store: Store) -> list[tuple[Any, ...]]:
    out = []
    for s in list_snapshots(store).to_pylist():
        ids = sids_to_ids(store, s["platform"], load_followers(store, s["snapshot_id"])).to_pylist()
        order = load_order(store, s["snapshot_id"])
        ordered = None if order is None else sids_to_ids(store, s["platform"], order).to_pylist()
        out.append((s["platform"], s["account_id"], s["observed_at"], s["partial"], sorted(ids), ordered))
    return sorted(out, key=repr)


@pytest.mark.parametrize("fmt,suffix", [("csv", "csv"), ("jsonl", "jsonl.gz")])
def test_export_then_import_gives_the_same_rows(seeded: Store, tmp_path: Path, fmt: str, suffix: str) -> None:
    fresh = Store.init(tmp_path / "fresh")
    for table in ("watchlist", "observations", "profiles", "status_events", "followers"):
        out = tmp_path / f"{table}.{suffix}"
        res = _invoke(["export", table, "--store", str(seeded.path), "--format", fmt, "--out", str(out), "--json"])
        assert json.loads(res.output)["rows"] > 0
        rep = import_files(fresh, table, [out])
        assert rep.rejected == 0, (table, rep.as_dict())
    for table in ("observations", "profiles", "status_events"):
        assert _rows(fresh, table) == _rows(seeded, table), table
        assert len(_rows(fresh, table)) == seeded.read(table).num_rows
    assert _snapshots(fresh) == _snapshots(seeded)
    assert current_watchlist(fresh).to_pylist() == current_watchlist(seeded).to_pylist()
    # the status word's original text and the platform's own words survive too
    d = {r["account_id"]: r for r in fresh.read("observations", columns=["account_id", "detail"]).to_pylist()}
    assert d["222"]["detail"] == "User has been suspended: [222]."


def test_export_columns_are_the_interchange_shape_then_provenance(seeded: Store, tmp_path: Path) -> None:
    res = _invoke(["export", "observations", "--store", str(seeded.path)])
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert list(rows[0]) == INTERCHANGE_COLUMNS["observations"] + EXTRA_COLUMNS["observations"]
    leader = [r for r in rows if r["account_id"] == "111"]
    assert leader[1]["observed_at"] == "2026-05-21T15:00:00.250000Z"
    assert leader[0]["source_ref"].endswith("observations.csv:2") and len(leader[0]["payload_hash"]) == 64
    assert leader[0]["verified"] == "true" and leader[0]["tool_version"]
    bsky = next(r for r in rows if r["account_id"] == "did:plc:abc")
    assert bsky["observed_at"] == "2026-05-21T11:00:00.000000Z" and bsky["description"] == "line one\nline two"

    out = tmp_path / "followers.jsonl"
    _invoke(["export", "followers", "--store", str(seeded.path), "--format", "jsonl", "--out", str(out)])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    newest = [x for x in lines if x["account_id"] == "111" and x["observed_at"].startswith("2026-05-22")]
    assert [(x["follower_id"], x["position"]) for x in newest] == [("903", 0), ("901", 1)]
    assert all(x["snapshot_id"] and x["source"] == "import:followers" for x in lines)
    assert {x["partial"] for x in lines if x["platform"] == "bluesky"} == {True}

    pq_out = tmp_path / "obs.parquet"
    _invoke(["export", "observations", "--store", str(seeded.path), "--format", "parquet", "--out", str(pq_out)])
    t = pq.read_table(pq_out)
    assert t.num_rows == 5 and t.schema.field("observed_at").type == pa.timestamp("us", tz="UTC")


def test_export_parquet_needs_a_file(seeded: Store) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "followers", "--format", "parquet", "--store", str(seeded.path)])
    assert exc.value.code == 2


# ------------------------------------------------------------------ --format
def test_format_csv_tsv_json_and_table(seeded: Store) -> None:
    s = ["--store", str(seeded.path)]
    as_json = json.loads(_invoke(["accounts", *s, "--json"]).output)["accounts"]
    assert json.loads(_invoke(["accounts", *s, "--format", "json"]).output)["accounts"] == as_json
    rows = list(csv.DictReader(io.StringIO(_invoke(["accounts", *s, "--format", "csv"]).output)))
    assert [r["account_id"] for r in rows] == [r["account_id"] for r in as_json]
    assert {r["followers_count"] for r in rows} >= {"46000", "1500"}  # raw numbers, no separators
    # not a terminal (CliRunner): tsv by default, one header line, tabs, no squeezing
    tsv = _invoke(["accounts", *s]).output.splitlines()
    assert tsv[0].split("\t")[:4] == ["platform", "label", "handle", "account_id"]
    assert len(tsv) == len(as_json) + 1 and all(line.count("\t") == tsv[0].count("\t") for line in tsv)
    # a table asked for while piped keeps its columns whole
    table = _invoke(["watchlist", "list", *s, "--format", "table"]).output
    assert "Ministry of the Interior" in table and "…" not in table
    assert max(len(line) for line in table.splitlines()) > 80 or "did:plc:abc" in table
    events = _invoke(["detect", *s, "--format", "tsv"]).output.splitlines()
    assert events[0].startswith("kind\tplatform\taccount_id")


def test_nested_answers_print_their_main_table(seeded: Store) -> None:
    s = ["--store", str(seeded.path)]
    rows = list(csv.DictReader(io.StringIO(_invoke(["compare", *s, "--permutations", "0", "--format", "csv"]).output)))
    full = json.loads(_invoke(["compare", *s, "--permutations", "0", "--json"]).output)
    assert [(r["group"], int(r["accounts"]), int(r["outcome_count"])) for r in rows] == [
        (g["group"], g["accounts"], g["outcome_count"]) for g in full["groups"]]


def test_json_and_format_json_errors_are_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for flag in (["--json"], ["--format", "json"]):
        with pytest.raises(SystemExit) as exc:
            main(["accounts", "--store", str(tmp_path / "none"), *flag])
        assert exc.value.code == 3
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert doc["error"]["type"] == "StoreError" and doc["error"]["exit_code"] == 3
        assert "no PurgeWatch store" in doc["error"]["message"] and doc["error"]["hint"]
        assert err.startswith("error: ")
    bad = tmp_path / "obs.csv"
    bad.write_text("platform,account_id,observed_at,status\nx,1,2024-01-01,active\n")
    Store.init(tmp_path / "s")
    with pytest.raises(SystemExit) as exc:
        main(["import", "observations", str(bad), "--store", str(tmp_path / "s"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert exc.value.code == 2 and doc["error"]["location"] == {"file": str(bad), "line": 2, "column": "observed_at"}
    with pytest.raises(SystemExit):
        main(["accounts", "--json", "--no-such-option"])
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "UsageError"
    # without --json an error stays plain text on stderr, stdout empty
    with pytest.raises(SystemExit):
        main(["accounts", "--store", str(tmp_path / "none")])
    out, err = capsys.readouterr()
    assert out == "" and "error: no PurgeWatch store" in err


def test_watchlist_import_says_one_thing(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text(WATCHLIST)
    s = ["--store", str(tmp_path / "s")]
    _invoke(["init", *s])
    first = _invoke(["watchlist", "import", str(f), *s]).output
    again = _invoke(["watchlist", "import", str(f), *s]).output
    assert first.strip().splitlines() == [first.strip()]  # one line, no contradicting note
    assert "4 accounts added, 0 changed" in first and "0 already watched" in first
    assert "0 accounts added" in again and "4 already watched" in again
    assert "nothing new" not in first + again
    rep = json.loads(_invoke(["import", "watchlist", str(f), *s, "--json"]).output)
    assert rep["watchlist"] == {"added": 0, "changed": 0, "unchanged": 4}
    assert rep["imported"] == 0 and rep["duplicates"] == 4 and rep["tables"] == {}


def test_export_to_gzip_is_readable(seeded: Store, tmp_path: Path) -> None:
    out = tmp_path / "se.csv.gz"
    _invoke(["export", "status_events", "--store", str(seeded.path), "--out", str(out)])
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(out.read_bytes()).decode())))
    assert {(r["account_id"], r["status"]) for r in rows} == {("did:plc:abc", "takendown"), ("222", "suspended")}
