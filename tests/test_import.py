"""Interchange imports (FORMATS.md): observations, profiles, followers, watchlist,
status_events from CSV, JSONL and .gz; errors with exact locations; skip-bad-rows;
idempotence; CLI exit codes."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from _cli import run
from purgewatch.errors import InputError, SchemaError
from purgewatch.sources.files import import_files
from purgewatch.store import Store

OBS_CSV = """\
platform,account_id,observed_at,status,followers_count,following_count,posts_count,handle,display_name,verified,notes
x,783214,2024-05-01T12:00:00Z,active,6500000,300,15000,Twitter,"Twitter, Inc.",true,ignored
X,783214,2024-05-02T12:00:00+02:00,Active,6499000,300,15001,Twitter,"multi
line name",1,
bluesky,did:plc:z72i7hdynmk6r22z27h6tvur,1714564800,suspended,,,,bsky.app,,,
mastodon,109302@mastodon.social,Tue Jun 11 11:20:35 +0000 2013,shadowbanned,10,2,3,alice,Alice,false,
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def to_jsonl(csv_text: str) -> str:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_text)))
    out = []
    for r in rows:
        obj = {k: v for k, v in r.items() if v != ""}
        if "followers_count" in obj:
            obj["followers_count"] = int(obj["followers_count"])  # JSON numbers are fine
        out.append(json.dumps(obj))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", ["obs.csv", "obs.csv.gz", "obs.jsonl", "obs.jsonl.gz"])
def test_observations_all_encodings(store: Store, tmp_path: Path, name: str) -> None:
    text = OBS_CSV if ".csv" in name else to_jsonl(OBS_CSV)
    path = write(tmp_path, name, text)
    report = import_files(store, "observations", [path])
    assert report.rows_read == 4
    assert report.imported == 4
    obs = store.read("observations")
    rows = sorted(obs.to_pylist(), key=lambda r: r["observed_at"])
    masto = rows[0]
    assert masto["platform"] == "mastodon"
    assert masto["observed_at"] == datetime(2013, 6, 11, 11, 20, 35, tzinfo=UTC)
    # Unknown status words are kept verbatim and mapped to unknown, never guessed.
    assert masto["status"] == "unknown"
    assert masto["status_raw"] == "shadowbanned"
    assert masto["verified"] is False
    x1 = next(r for r in rows if r["observed_at"] == datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert x1["followers_count"] == 6500000 and x1["display_name"] == "Twitter, Inc."
    assert x1["verified"] is True
    assert x1["source"] == "import:observations"
    assert x1["payload_hash"] and len(x1["payload_hash"]) == 64
    x2 = next(r for r in rows if r["observed_at"] == datetime(2024, 5, 2, 10, tzinfo=UTC))
    assert x2["platform"] == "x" and x2["status"] == "active" and x2["status_raw"] is None
    bsky = next(r for r in rows if r["platform"] == "bluesky")
    assert bsky["observed_at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert bsky["followers_count"] is None
    # source_ref names the physical line (the quoted newline makes the CSV's last row line 6)
    refs = {r["platform"]: r["source_ref"] for r in rows}
    if ".csv" in name:
        assert refs["mastodon"] == f"{path}:6"
        assert refs["bluesky"] == f"{path}:5"
    else:
        assert refs["mastodon"] == f"{path}:4"


def test_reimport_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", OBS_CSV)
    first = import_files(store, "observations", [path])
    second = import_files(store, "observations", [path])
    assert first.imported == 4
    assert second.imported == 0 and second.duplicates == 4
    assert store.read("observations").num_rows == 4
    # the same facts in another encoding are the same facts
    jpath = write(tmp_path, "obs.jsonl.gz", to_jsonl(OBS_CSV))
    assert import_files(store, "observations", [jpath]).imported == 0


def test_profiles_and_status_events(store: Store, tmp_path: Path) -> None:
    prof = write(tmp_path, "p.csv", OBS_CSV)
    assert import_files(store, "profiles", [prof]).imported == 4
    assert store.read("profiles").num_rows == 4
    ev = write(tmp_path, "ev.csv", "platform,account_id,at,status,source\n"
               "x,1,2022-11-01T00:00:00Z,suspended,firehose\nx,1,2022-11-20T00:00:00Z,reinstated,\n")
    rep = import_files(store, "status_events", [ev])
    assert rep.imported == 2
    events = sorted(store.read("status_events").to_pylist(), key=lambda r: r["at"])
    assert events[0]["status"] == "suspended" and events[0]["source"] == "import:status_events:firehose"
    assert events[1]["status"] == "unknown" and events[1]["status_raw"] == "reinstated"
    assert events[1]["source"] == "import:status_events"


def test_zone_less_timestamp_refused(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status\n"
                 "x,1,2024-05-01T12:00:00Z,active\nx,2,2024-05-01 12:00:00,active\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    err = info.value
    assert err.location is not None
    assert (err.location.file, err.location.line, err.location.column) == (str(path), 3, "observed_at")
    assert "time zone" in str(err) and "'2024-05-01 12:00:00'" in str(err)
    assert store.read("observations").num_rows == 0  # nothing from a refused file


def test_bad_integer_reports_first_bad_cell(store: Store, tmp_path: Path) -> None:
    rows = "".join(f"x,{i},2024-05-01T12:00:00Z,active,{i}\n" for i in range(50))
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status,followers_count\n"
                 + rows + "x,99,2024-05-01T12:00:00Z,active,12k\nx,98,nope,active,1.5\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    err = info.value
    assert err.location is not None and err.location.line == 52
    assert err.location.column == "followers_count"
    assert "'12k'" in str(err) and "whole number" in str(err)
    assert store.read("observations").num_rows == 0


def test_long_bad_value_is_truncated(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status,posts_count\n"
                 f"x,1,2024-05-01T12:00:00Z,active,{'9' * 30}{'a' * 500}\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    assert len(str(info.value)) < 300 and "…" in str(info.value)


def test_missing_columns_schema_error(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,id,when,status\nx,1,2024-05-01T12:00:00Z,active\n")
    with pytest.raises(SchemaError) as info:
        import_files(store, "observations", [path])
    msg = str(info.value)
    assert "account_id" in msg and "observed_at" in msg  # what is missing
    assert "found: platform, id, when, status" in msg  # what was found
    jpath = write(tmp_path, "obs.jsonl", '{"platform": "x", "id": "1"}\n')
    with pytest.raises(SchemaError, match="account_id"):
        import_files(store, "observations", [jpath])


def test_broken_rows_and_bad_json(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status\n"
                 "x,1,2024-05-01T12:00:00Z,active\nx,2\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    assert info.value.location is not None and info.value.location.line == 3
    assert "fields" in str(info.value)
    jpath = write(tmp_path, "obs.jsonl", '{"platform":"x","account_id":"1","observed_at":"2024-05-01T12:00:00Z","status":"active"}\n\n{oops\n')
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [jpath])
    assert info.value.location is not None and info.value.location.line == 3


def test_invalid_utf8_located(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_bytes(b"platform,account_id,observed_at,status,display_name\n"
                     b"x,1,2024-05-01T12:00:00Z,active,ok\nx,2,2024-05-01T12:00:00Z,active,\xff\xfe\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    assert "UTF-8" in str(info.value)
    assert info.value.location is not None and info.value.location.line == 3


def test_skip_bad_rows_writes_rejects(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status,followers_count\n"
                 "x,1,2024-05-01T12:00:00Z,active,5\n"
                 "x,2,2024-05-01 12:00:00,active,5\n"
                 "x,3,2024-05-01T12:00:00Z,active,five\n"
                 "x,4,2024-05-01T12:00:00Z,active,7\n"
                 "x,5\n")
    rejects = tmp_path / "rejects.csv"
    rep = import_files(store, "observations", [path], skip_bad_rows=True, rejects_path=rejects)
    assert (rep.imported, rep.rejected) == (2, 3)
    assert sorted(store.read("observations")["account_id"].to_pylist()) == ["1", "4"]
    import csv

    rows = list(csv.DictReader(rejects.open()))
    assert [r["line"] for r in rows] == ["3", "4", "6"]
    assert "time zone" in rows[0]["reason"] and rows[0]["column"] == "observed_at"
    assert "not an integer" in rows[1]["reason"] and rows[1]["value"] == "five"
    assert "fields" in rows[2]["reason"]


def test_skip_bad_rows_default_rejects_next_to_store(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status\n"
                 "x,1,2024-05-01T12:00:00Z,active\n,2,2024-05-01T12:00:00Z,active\n")
    rep = import_files(store, "observations", [path], skip_bad_rows=True)
    assert rep.rejects_path is not None
    target = Path(rep.rejects_path)
    assert target.parent == store.path.resolve().parent and target.exists()
    assert "platform" in target.read_text()


def test_batches_commit_separately(store: Store, tmp_path: Path) -> None:
    rows = "".join(f"x,{i},2024-05-01T12:00:00Z,active,{i}\n" for i in range(25))
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status,followers_count\n" + rows)
    rep = import_files(store, "observations", [path], batch_rows=10)
    assert rep.batches == 3 and rep.imported == 25
    assert len(store.files("observations")) == 3


def test_followers_snapshots(store: Store, tmp_path: Path) -> None:
    from purgewatch.store.snapshots import diff_snapshots, list_snapshots, load_order, sids_to_ids

    path = write(tmp_path, "f.csv", "platform,account_id,observed_at,follower_id,position,partial\n"
                 "x,100,2024-05-01T00:00:00Z,7,2,\n"
                 "x,100,2024-05-01T00:00:00Z,9,0,\n"
                 "x,100,2024-05-01T00:00:00Z,8,1,\n"
                 "x,100,2024-05-02T00:00:00Z,9,0,false\n"
                 "x,100,2024-05-02T00:00:00Z,7,1,false\n"
                 "bluesky,did:plc:a,2024-05-02T00:00:00Z,did:plc:b,,true\n")
    rep = import_files(store, "followers", [path])
    assert rep.imported == 3
    snaps = list_snapshots(store)
    assert snaps.num_rows == 3
    x = snaps.filter(pc.equal(snaps["platform"], "x"))
    first, second = x["snapshot_id"].to_pylist()
    assert sids_to_ids(store, "x", load_order(store, first)).to_pylist() == ["9", "8", "7"]
    diff = diff_snapshots(store, first, second)
    assert sids_to_ids(store, "x", diff.removed).to_pylist() == ["8"]
    assert len(diff.added) == 0
    bsky = snaps.filter(pc.equal(snaps["platform"], "bluesky")).to_pylist()[0]
    assert bsky["partial"] is True
    assert x["source_ref"].to_pylist() == [f"{path}:2-4", f"{path}:5-6"]
    again = import_files(store, "followers", [path])
    assert again.imported == 0 and again.duplicates == 3
    assert list_snapshots(store).num_rows == 3


def test_watchlist_kind(store: Store, tmp_path: Path) -> None:
    from purgewatch.watchlist import current_watchlist

    path = write(tmp_path, "w.csv", "platform,account,group,label\n"
                 "x,783214,media,Twitter\nx,@jack,founders,\nbluesky,did:plc:abc,media,\n")
    rep = import_files(store, "watchlist", [path])
    assert rep.imported == 3
    cur = {r["account"]: r for r in current_watchlist(store).to_pylist()}
    assert cur["783214"]["account_id"] == "783214"
    assert cur["@jack"]["account_id"] is None  # handles are kept, resolved later
    assert cur["did:plc:abc"]["account_id"] == "did:plc:abc"
    assert import_files(store, "watchlist", [path]).imported == 0
    assert store.read("watchlist").num_rows == 3


# --------------------------------------------------------------------------- CLI
def test_cli_import_json_and_exit_codes(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "obs.csv", OBS_CSV)
    assert run(["import", "observations", str(good), "--store", str(store.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["imported"] == 4 and out["rejected"] == 0 and out["kind"] == "observations"

    bad = write(tmp_path, "bad.csv", "platform,account_id,observed_at,status\nx,1,2024-05-01 12:00,active\n")
    assert run(["import", "observations", str(bad), "--store", str(store.path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert f"{bad}:2 column 'observed_at'" in captured.err

    missing = write(tmp_path, "m.csv", "platform,account\nx,1\n")
    assert run(["import", "observations", str(missing), "--store", str(store.path)]) == 2
    assert "missing required column" in capsys.readouterr().err

    assert run(["import", "observations", str(tmp_path / "nope.csv"), "--store", str(store.path)]) == 2
    assert "not found" in capsys.readouterr().err

    rej = tmp_path / "rej.csv"
    assert run(["import", "observations", str(bad), "--store", str(store.path), "--skip-bad-rows",
                "--rejects", str(rej), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rejected"] == 1 and rej.exists()


def test_cli_human_output(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "obs.csv", OBS_CSV)
    assert run(["import", "profiles", str(good), "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "stored 4 profiles" in out and "0 rejected" in out


@pytest.mark.parametrize(("cell", "column", "needle"), [
    ("1714564800000", "observed_at", "milliseconds"),
    ("yesno", "verified", "not a boolean"),
    ("2024-05-01", "observed_at", "time zone"),
    ("May 1st", "observed_at", "not a timestamp"),
    ("99999999999999999999", "followers_count", "not an integer"),
])
def test_reason_per_type(store: Store, tmp_path: Path, cell: str, column: str, needle: str) -> None:
    row = {"platform": "x", "account_id": "1", "observed_at": "2024-05-01T12:00:00Z",
           "status": "active", "followers_count": "1", "verified": "true"}
    row[column] = cell
    path = write(tmp_path, "obs.csv", ",".join(row) + "\n" + ",".join(row.values()) + "\n")
    with pytest.raises(InputError) as info:
        import_files(store, "observations", [path])
    assert needle in str(info.value)
    assert info.value.location is not None and info.value.location.column == column


def test_bad_platform_and_empty_required(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status\n"
                 "x,1,2024-05-01T12:00:00Z,active\nTwit ter!,2,2024-05-01T12:00:00Z,active\n")
    with pytest.raises(InputError, match="platform token"):
        import_files(store, "observations", [path])
    path = write(tmp_path, "obs2.csv", "platform,account_id,observed_at,status\nx,  ,2024-05-01T12:00:00Z,active\n")
    with pytest.raises(InputError, match="empty cell in a required column") as info:
        import_files(store, "observations", [path])
    assert info.value.location is not None and info.value.location.column == "account_id"


def test_killed_import_resumes(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the first batch keeps that batch only; re-running completes the
    import without duplicating anything."""
    from purgewatch.store import BatchWriter

    rows = "".join(f"x,{i},2024-05-01T12:00:00Z,active,{i}\n" for i in range(30))
    path = write(tmp_path, "obs.csv", "platform,account_id,observed_at,status,followers_count\n" + rows)
    real_write = BatchWriter._write
    calls = {"n": 0}

    def dying_write(self: BatchWriter, job):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is stopped while writing batch 2
        return real_write(self, job)

    monkeypatch.setattr(BatchWriter, "_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        import_files(store, "observations", [path], batch_rows=10)
    monkeypatch.setattr(BatchWriter, "_write", real_write)
    assert store.read("observations").num_rows == 10
    rep = import_files(store, "observations", [path], batch_rows=10)
    assert rep.imported == 20 and rep.duplicates == 10
    assert sorted(map(int, store.read("observations")["account_id"].to_pylist())) == list(range(30))


def test_a_row_repeated_inside_one_file_is_stored_once_from_its_first_line(store: Store, tmp_path: Path) -> None:
    head = "platform,account_id,observed_at,status,followers_count\n"
    rows = ["x,1,2024-05-01T12:00:00Z,active,10\n", "x,2,2024-05-01T12:00:00Z,active,20\n"]
    path = write(tmp_path, "obs.csv", head + rows[0] + rows[1] + rows[0] + rows[1] + rows[0])
    rep = import_files(store, "observations", [path], batch_rows=4)
    assert (rep.imported, rep.duplicates) == (2, 3)
    stored = store.read("observations")
    refs = sorted(r.rsplit(":", 1)[1] for r in stored["source_ref"].to_pylist())
    assert refs == ["2", "3"]  # the first physical lines of each content
