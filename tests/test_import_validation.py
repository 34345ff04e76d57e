"""Input validation (issue 11): implausible times and offsets, negative counts, JSON
objects in a cell, look-alike columns, over-long records, .gz read as a stream; the
analysis guard for out-of-range rows already stored; retractions; status_counts."""

from __future__ import annotations

import gzip
import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from _cli import run
from purgewatch.analysis.detect import detect
from purgewatch.errors import InputError, SchemaError, StoreError
from purgewatch.queries import latest_accounts
from purgewatch.sources.files import _read, import_files
from purgewatch.store import Store
from purgewatch.store._guard import ImplausibleTimeWarning

HEAD = "platform,account_id,observed_at,status,followers_count,created_at\n"


def _csv(tmp: Path, name: str, rows: list[str], head: str = HEAD) -> Path:
    p = tmp / name
    text = head + "".join(r + "\n" for r in rows)
    if name.endswith(".gz"):
        with gzip.open(p, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("cell", "column", "words"), [
    ("x,1,2300-01-01T00:00:00Z,active,5,", "observed_at", "more than a day after"),
    ("x,1,9999-12-31T00:00:00Z,active,5,", "observed_at", "more than a day after"),
    ("x,1,0001-01-01T00:00:00Z,active,5,", "observed_at", "before 2000-01-01"),
    ("x,1,1999-12-31T23:59:59Z,active,5,", "observed_at", "before 2000-01-01"),
    ("x,1,0,active,5,", "observed_at", "before 2000-01-01"),  # Unix 0: a placeholder
    (f"x,1,{_soon(30)},active,5,", "observed_at", "more than a day after"),
    ("x,1,2024-05-01T12:00:00+99:00,active,5,", "observed_at", "offset beyond"),
    ("x,1,2024-05-01T12:00:00+14:30,active,5,", "observed_at", "offset beyond"),
    ("x,1,2024-05-01T12:00:00-1500,active,5,", "observed_at", "offset beyond"),
    ("x,1,2024-05-01T12:00:00+05:75,active,5,", "observed_at", "offset beyond"),
    ("x,1,2024-05-01T12:00:00Z,active,-5,", "followers_count", "negative count"),
    ("x,1,2024-05-01T12:00:00Z,active,5,1990-01-01T00:00:00Z", "created_at", "before 2000-01-01"),
    ("x,1,2024-05-01T12:00:00Z,active,5,2300-01-01T00:00:00Z", "created_at", "more than a day after"),
])
def test_implausible_cells_refuse_the_file_with_line_and_column(
        store: Store, tmp_path: Path, cell: str, column: str, words: str) -> None:
    path = _csv(tmp_path, "obs.csv", ["x,1,2024-05-01T12:00:00Z,active,4,", cell])
    with pytest.raises(InputError) as exc:
        import_files(store, "observations", [path])
    assert exc.value.location is not None
    assert (exc.value.location.line, exc.value.location.column) == (3, column)
    assert words in exc.value.message
    assert store.read("observations").num_rows == 0  # nothing of the file stored


def test_plausible_edges_are_accepted(store: Store, tmp_path: Path) -> None:
    rows = ["x,1,2000-01-01T00:00:00Z,active,0,2000-01-01T00:00:00Z",
            "x,1,2024-05-01T12:00:00+14:00,active,1,",
            "x,1,2024-05-01T12:00:00-12:00,active,2,",
            "x,1,2024-05-01T12:00:00+0545,active,3,",  # Nepal
            f"x,1,{_soon(20)},active,4,"]
    report = import_files(store, "observations", [_csv(tmp_path, "ok.csv", rows)])
    assert report.imported == 5


def test_skip_bad_rows_keeps_the_good_and_lists_the_bad(store: Store, tmp_path: Path) -> None:
    rows = ["x,1,2024-05-01T12:00:00Z,active,4,", "x,2,2300-01-01T00:00:00Z,active,4,",
            "x,3,2024-05-01T12:00:00+99:00,active,4,", "x,4,2024-05-01T12:00:00Z,active,-1,"]
    rejects = tmp_path / "rejects.csv"
    report = import_files(store, "observations", [_csv(tmp_path, "obs.csv", rows)],
                          skip_bad_rows=True, rejects_path=rejects)
    assert (report.imported, report.rejected) == (1, 3)
    text = rejects.read_text()
    assert "implausible timestamp" in text and "offset beyond" in text and "negative count" in text


def test_every_timestamp_column_is_checked(store: Store, tmp_path: Path) -> None:
    ev = _csv(tmp_path, "ev.csv", ["x,1,2300-01-01T00:00:00Z,suspended"], head="platform,account_id,at,status\n")
    with pytest.raises(InputError, match="more than a day after") as exc:
        import_files(store, "status_events", [ev])
    assert exc.value.location is not None and exc.value.location.column == "at"
    fl = _csv(tmp_path, "fl.csv", ["x,1,2024-05-01T00:00:00Z,9,-3"],
              head="platform,account_id,observed_at,follower_id,position\n")
    with pytest.raises(InputError, match="negative count"):
        import_files(store, "followers", [fl])


def test_json_objects_and_arrays_in_a_cell_are_refused(store: Store, tmp_path: Path) -> None:
    good = {"platform": "x", "account_id": "1", "observed_at": "2024-05-01T12:00:00Z", "status": "active",
            "description": "[BOT] {not json} still a string"}
    bad = {**good, "account_id": "2", "followers_count": {"value": 10}}
    worse = {**good, "account_id": "3", "handle": ["a", "b"]}
    p = tmp_path / "obs.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in (good, bad, worse)) + "\n")
    with pytest.raises(InputError, match="JSON object or array") as exc:
        import_files(store, "observations", [p])
    assert exc.value.location is not None
    assert (exc.value.location.line, exc.value.location.column) == (2, "followers_count")
    report = import_files(store, "observations", [p], skip_bad_rows=True, rejects_path=tmp_path / "r.csv")
    assert (report.imported, report.rejected) == (1, 2)
    desc = store.read("observations", columns=["description"]).column(0).to_pylist()
    assert desc == [good["description"]]


def test_a_look_alike_column_is_named(store: Store, tmp_path: Path) -> None:
    p = _csv(tmp_path, "obs.csv", ["x,1,2024-05-01T12:00:00Z,active,10"],
             head="platform,account_id,observed_at,status,followers\n")
    with pytest.raises(SchemaError) as exc:
        import_files(store, "observations", [p])
    assert "'followers'" in exc.value.message and "followers_count" in exc.value.message
    assert run(["import", "observations", str(p), "--store", str(store.path)]) != 0
    # an extra column that merely starts like a known one is still ignored
    ok = _csv(tmp_path, "ok.csv", ["x,1,2024-05-01T12:00:00Z,active,10,f.csv"],
              head="platform,account_id,observed_at,status,followers_count,source_file\n")
    assert import_files(store, "observations", [ok]).imported == 1


@pytest.mark.parametrize("gz", [False, True])
def test_a_csv_record_over_16_mb_is_named_by_line(store: Store, tmp_path: Path, gz: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "MAX_RECORD_BYTES", 1 << 16)  # the same rule, smaller
    monkeypatch.setattr(_read, "STREAM_CHUNK_BYTES", 1 << 14)
    rows = ["x,1,2024-05-01T12:00:00Z,active,1,", "x,2,2024-05-01T12:00:00Z,active,1,",
            'x,3,2024-05-01T12:00:00Z,active,1,"' + "y" * 100_000]  # unbalanced quote
    rows += [f"x,{i},2024-05-01T12:00:00Z,active,1," for i in range(4, 40)]
    p = _csv(tmp_path, "obs.csv.gz" if gz else "obs.csv", rows)
    with pytest.raises(InputError, match="longer than") as exc:
        import_files(store, "observations", [p])
    assert exc.value.location is not None and exc.value.location.line == 4


def test_gz_is_streamed_and_imports_exactly_what_the_plain_file_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "STREAM_CHUNK_BYTES", 700)  # many chunks, cut mid-quote too
    rows = [f'x,{i},2024-05-{1 + i % 28:02d}T12:00:00Z,active,{i},' for i in range(300)]
    rows[7] = 'x,7,2024-05-08T12:00:00Z,active,7,'
    rows[100] = 'x,"1""00",2024-05-02T12:00:00Z,active,100,'
    head = "platform,account_id,observed_at,status,followers_count,created_at,display_name\n"
    rows = [r + (',"two\nlines"' if i % 50 == 3 else ",plain") for i, r in enumerate(rows)]
    plain = _csv(tmp_path, "obs.csv", rows, head)
    packed = _csv(tmp_path, "obs.csv.gz", rows, head)
    a, b = Store.init(tmp_path / "a"), Store.init(tmp_path / "b")
    ra = import_files(a, "observations", [plain])
    rb = import_files(b, "observations", [packed])
    assert ra.imported == rb.imported == 300 and rb.batches > 1
    cols = ["account_id", "observed_at", "display_name", "record_key", "payload_hash"]
    ta = a.read("observations", columns=[*cols, "source_ref"]).sort_by("record_key")
    tb = b.read("observations", columns=[*cols, "source_ref"]).sort_by("record_key")
    assert ta.select(cols).equals(tb.select(cols))  # same rows, same file hash
    lines = [r.rsplit(":", 1)[1] for r in ta.column("source_ref").to_pylist()]
    assert lines == [r.rsplit(":", 1)[1] for r in tb.column("source_ref").to_pylist()]


def test_a_bad_row_at_the_end_of_a_streamed_file_stores_nothing(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "STREAM_CHUNK_BYTES", 500)
    rows = [f"x,{i},2024-05-01T12:00:00Z,active,{i}," for i in range(200)] + ["x,9,2300-01-01T00:00:00Z,active,1,"]
    p = _csv(tmp_path, "obs.csv.gz", rows)
    with pytest.raises(InputError) as exc:
        import_files(store, "observations", [p], batch_rows=20)
    assert exc.value.location is not None and exc.value.location.line == 202
    assert store.read("observations").num_rows == 0
    assert not any((store.path / "staging").iterdir())  # written batches were removed
    jl = tmp_path / "obs.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        for i in range(100):
            fh.write(json.dumps({"platform": "x", "account_id": str(i), "observed_at": "2024-05-01T12:00:00Z",
                                 "status": "active"}) + "\n")
    assert import_files(store, "observations", [jl], batch_rows=20).imported == 100


# --------------------------------------------------------------------------- guard
def _old_store_with_a_row_in_2300(path: Path) -> Store:
    """Rows no import accepts now, written by the store API (as an older version did)."""
    s = Store.init(path)
    rows = [{"platform": "x", "account_id": "1", "observed_at": datetime(2024, 1, d, tzinfo=UTC),
             "status": "active", "followers_count": 1000 - d} for d in range(1, 29)]
    rows += [{"platform": "x", "account_id": "1", "observed_at": datetime(2300, 1, 1, tzinfo=UTC),
              "status": "suspended", "followers_count": None},
             {"platform": "x", "account_id": "2", "observed_at": datetime(1, 1, 1, tzinfo=UTC),
              "status": "active", "followers_count": 5}]
    s.append("observations", pa.Table.from_pylist(rows), command="test", source="test")
    return s


def test_analyses_clamp_stored_out_of_range_times_and_warn(tmp_path: Path) -> None:
    store = _old_store_with_a_row_in_2300(tmp_path / "old")
    with pytest.warns(ImplausibleTimeWarning, match="2 observations row"):
        t = store.read("observations", columns=["account_id", "observed_at"])
    hi = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert pc.max(t["observed_at"]).as_py() < hi
    assert pc.min(t["observed_at"]).as_py() == datetime(2000, 1, 1, tzinfo=UTC)
    assert store.read("observations", columns=["observed_at"]).num_rows == 30  # clamped, not dropped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImplausibleTimeWarning)
        accounts = latest_accounts(store)
        assert accounts.num_rows == 2
        events = detect(store)  # used to need GBs of hourly bins over three centuries
        assert all(e.end < hi.timestamp() for e in events)
    assert run(["report", "--store", str(store.path), "--out", str(tmp_path / "r.html")]) == 0
    from starlette.testclient import TestClient

    from purgewatch.web import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
            for page in ("/", "/accounts", "/api/findings"):
                assert c.get(page).status_code == 200, page


# --------------------------------------------------------------------------- retract
def test_retract_hides_a_batch_from_every_analysis_and_keeps_it(store: Store, tmp_path: Path) -> None:
    good = _csv(tmp_path, "good.csv", [f"x,{i},2024-05-0{d}T12:00:00Z,active,{100 - d}," for i in (1, 2)
                                       for d in (1, 2, 3)])
    bad = _csv(tmp_path, "bad.csv", ["x,9,2024-05-01T12:00:00Z,suspended,1,"])
    import_files(store, "observations", [good])
    rep = import_files(store, "observations", [bad])
    assert len(rep.batch_ids) == 1
    assert latest_accounts(store).num_rows == 3
    # every writer marks the store format 3 (the catalogue may hold integer ids; see
    # store/_layout.py), so an older PurgeWatch refuses it rather than misread it
    assert json.loads((store.path / "STORE.json").read_text())["version"] == 3
    assert run(["retract", rep.batch_ids[0][:10], "--reason", "wrong file", "--store", str(store.path)]) == 0
    assert store.retracted() == frozenset(rep.batch_ids)
    assert sorted(latest_accounts(store)["account_id"].to_pylist()) == ["1", "2"]
    assert store.read("observations").num_rows == 6
    assert store.read("observations", include_retracted=True).num_rows == 7  # still stored
    assert "9" not in store.ibis().table("observations").account_id.to_pyarrow().to_pylist()
    listing = store.batches().to_pylist()
    mine = [b for b in listing if b["batch_id"] == rep.batch_ids[0]][0]
    assert mine["retraction_reason"] == "wrong file" and mine["retracted_at"] is not None
    assert json.loads((store.path / "STORE.json").read_text())["version"] == 3
    assert run(["stats", "--store", str(store.path)]) == 0
    # again: nothing to do; a retraction cannot be retracted; unknown ids are errors
    assert store.retract(rep.batch_ids, "again") == []
    with pytest.raises(StoreError, match="itself a retraction"):
        store.retract([listing[-1]["batch_id"]], "undo")
    with pytest.raises(StoreError, match="no batch"):
        store.retract(["ffff0000"], "typo")
    # re-importing the file after its retraction stores its rows again, visibly
    again = import_files(store, "observations", [bad])
    assert again.imported == 1 and again.batch_ids != rep.batch_ids
    assert latest_accounts(store).num_rows == 3
    store.compact()  # retractions survive compaction (rows keep their batch_id)
    assert latest_accounts(store).num_rows == 3
    assert store.read("observations", include_retracted=True).num_rows == 8


def test_retract_needs_a_reason(store: Store) -> None:
    with pytest.raises(StoreError, match="reason"):
        store.retract(["x"], "  ")
    with pytest.raises(StoreError, match="no batch"):
        store.retract([], "why")


# --------------------------------------------------------------------------- status_counts
COUNTS_HEAD = "platform,period_start,period_end,kind,count,source,group,category,note\n"


def _day(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts_file(tmp: Path, series: list[int], *, source: str = "tracker", kind: str = "suspension",
                 skip: tuple[int, ...] = ()) -> Path:
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    rows = [f"x,{_day(t0 + timedelta(days=i))},{_day(t0 + timedelta(days=i + 1))},{kind},{c},{source},,,"
            for i, c in enumerate(series) if i not in skip]
    return _csv(tmp, f"counts-{source}-{kind}.csv", rows, COUNTS_HEAD)


def test_status_counts_import_with_provenance(store: Store, tmp_path: Path) -> None:
    a = _counts_file(tmp_path, [3, 4, 5])
    b = _counts_file(tmp_path, [3, 4, 5], source="platform-report")
    import_files(store, "status_counts", [a, b])
    t = store.read("status_counts")
    assert t.num_rows == 6  # equal totals from two publishers are two facts
    assert sorted(set(t["publisher"].to_pylist())) == ["platform-report", "tracker"]
    assert set(t["source"].to_pylist()) == {"import:status_counts:tracker", "import:status_counts:platform-report"}
    assert t["source_ref"][0].as_py().endswith(".csv:2")
    assert import_files(store, "status_counts", [a]).imported == 0  # idempotent


@pytest.mark.parametrize(("row", "column", "words"), [
    ("x,2023-01-01T00:00:00Z,2023-01-02T00:00:00Z,unsuspension,3,t,,,", "kind", "suspension, reinstatement"),
    ("x,2023-01-01T00:00:00Z,2023-01-02T00:00:00Z,suspension,-3,t,,,", "count", "negative"),
    ("x,2023-01-02T00:00:00Z,2023-01-01T00:00:00Z,suspension,3,t,,,", "period_end", "not after"),
    ("x,2023-01-01T00:00:00,2023-01-02T00:00:00Z,suspension,3,t,,,", "period_start", "time zone"),
    ("x,2023-01-01T00:00:00Z,2023-01-02T00:00:00Z,suspension,3,,,,", "source", "empty"),
])
def test_status_counts_bad_rows(store: Store, tmp_path: Path, row: str, column: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as exc:
        import_files(store, "status_counts", [_csv(tmp_path, "c.csv", [row], COUNTS_HEAD)])
    assert exc.value.location is not None
    assert (exc.value.location.line, exc.value.location.column) == (2, column)


def test_waves_are_found_in_published_totals(store: Store, tmp_path: Path) -> None:
    flat = [10, 12, 9, 11, 10, 8, 12, 11, 9, 10] * 6
    burst = list(flat)
    burst[45] = 160
    import_files(store, "status_counts", [_counts_file(tmp_path, flat, source="quiet"),
                                          _counts_file(tmp_path, burst, source="loud", kind="reinstatement")])
    events = [e for e in detect(store) if e.evidence.get("basis") == "published_totals"]
    assert len(events) == 1
    (e,) = events
    assert e.kind == "reinstatement_wave" and e.evidence["publisher"] == "loud"
    day45 = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=45)
    assert e.start <= day45.timestamp() < e.end and e.magnitude >= 160
    assert e.to_json()["account_id"] is None and e.evidence["source_refs"]


def test_unpublished_periods_are_not_zeros(store: Store, tmp_path: Path) -> None:
    # 30 quiet days, 20 days nobody published, then the usual rate again: no wave.
    series = [10] * 30 + [0] * 20 + [10] * 10
    import_files(store, "status_counts", [_counts_file(tmp_path, series, skip=tuple(range(30, 50)))])
    assert [e for e in detect(store) if e.evidence.get("basis") == "published_totals"] == []


def test_a_retracted_followers_import_is_not_listed(store: Store, tmp_path: Path) -> None:
    from purgewatch.store.snapshots import list_snapshots

    head = "platform,account_id,observed_at,follower_id\n"
    first = _csv(tmp_path, "f1.csv", ["x,1,2024-05-01T00:00:00Z,a", "x,1,2024-05-01T00:00:00Z,b"], head)
    second = _csv(tmp_path, "f2.csv", ["x,1,2024-05-02T00:00:00Z,a"], head)
    import_files(store, "followers", [first])
    rep = import_files(store, "followers", [second])
    assert list_snapshots(store).num_rows == 2
    store.retract(rep.batch_ids, "wrong account")
    listed = list_snapshots(store)
    assert listed.num_rows == 1 and listed["n_followers"].to_pylist() == [2]


def test_twarc2_objects_where_a_value_belongs_are_refused(store: Store, tmp_path: Path) -> None:
    user = {"id": "12", "username": "a", "name": "A", "created_at": "2010-01-01T00:00:00.000Z",
            "public_metrics": {"followers_count": 5, "following_count": 1, "tweet_count": 2},
            "__twarc": {"retrieved_at": "2024-05-01T00:00:00Z"}}
    odd = {**user, "id": "13", "description": {"text": "nested"}}
    old = {**user, "id": "14", "created_at": "1970-01-01T00:00:00Z"}
    p = tmp_path / "users.jsonl"
    p.write_text("\n".join(json.dumps(u) for u in (user, odd, old)) + "\n")
    with pytest.raises(InputError, match="JSON object or array") as exc:
        import_files(store, "twarc2", [p])
    assert exc.value.location is not None
    assert (exc.value.location.line, exc.value.location.column) == (2, "description")
    rep = import_files(store, "twarc2", [p], skip_bad_rows=True, rejects_path=tmp_path / "r.csv")
    assert (rep.imported, rep.rejected) == (1, 2)
    assert "before 2000-01-01" in (tmp_path / "r.csv").read_text()
