"""The findings layer (purgewatch.findings): one definition of a status transition shared
with the wave detector, the typed document and its round trip, the persisted cache, the
extra-section hook, and the web UI's one computation per store change across restarts."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

import purgewatch.findings._sections as sections_mod
from purgewatch.analysis.detect._load import load_status
from purgewatch.analysis.detect._waves import transitions
from purgewatch.findings import (
    Findings,
    FindingsCache,
    Section,
    StatusCounts,
    gather_findings,
)
from purgewatch.model import status_changes
from purgewatch.report import csv_bundle, render_html
from purgewatch.store import Store
from purgewatch.web import create_app

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _transitions_store(path: Path) -> Store:
    """Every kind of change the two definitions used to disagree on:

    x:1  active -> deleted -> suspended          (deleted -> suspended: a suspension)
    x:2  active -> suspended -> suspended_or_deleted -> active
         (the purge after a suspension is that suspension; then reinstated)
    x:3  active -> suspended_or_deleted          (gone, unattributed: never a suspension)
    x:4  stream event suspended, nothing before  (stream-only suspension)
    x:5  stream event active, nothing before     (stream-only reinstatement)
    x:6  stream events suspended then active
    x:7  active -> unknown -> active             (a failed look-up is no change)
    """
    store = Store.init(path)
    day = timedelta(days=1)
    obs = [("1", 0, "active"), ("1", 1, "deleted"), ("1", 2, "suspended"),
           ("2", 0, "active"), ("2", 1, "suspended"), ("2", 2, "suspended_or_deleted"), ("2", 3, "active"),
           ("3", 0, "active"), ("3", 1, "suspended_or_deleted"),
           ("7", 0, "active"), ("7", 1, "unknown"), ("7", 2, "active")]
    store.append("observations", pa.table({
        "platform": ["x"] * len(obs), "account_id": [a for a, _, _ in obs],
        "observed_at": pa.array([T0 + d * day for _, d, _ in obs], TS), "status": [s for _, _, s in obs],
        "followers_count": [None if s != "active" else 100 for _, _, s in obs],
    }), command="test", source="test")
    ev = [("4", 1, "suspended"), ("5", 2, "active"), ("6", 0, "suspended"), ("6", 3, "active")]
    store.append("status_events", pa.table({
        "platform": ["x"] * len(ev), "account_id": [a for a, _, _ in ev],
        "at": pa.array([T0 + d * day for _, d, _ in ev], TS), "status": [s for _, _, s in ev],
        "source_ref": [f"feed.csv:{i}" for i in range(len(ev))],
    }), command="test", source="test")
    return store


def test_report_counts_and_detected_waves_share_one_transition_definition(tmp_path: Path) -> None:
    store = _transitions_store(tmp_path / "s")
    f = gather_findings(store)
    assert f.summary.status_changes == StatusCounts(suspended=4, reinstated=3, suspended_or_deleted=1)
    listed = {(t["account_id"], t["at"], t["direction"]) for t in f.transitions}
    st = load_status(store)
    tr = transitions(st.key, st.time, st.status, st.is_event)
    seen = {(st.accounts[k][1], datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "suspended" if kind == "suspension_wave" else "reinstated")
            for k, t, kind in zip(tr.key.tolist(), tr.time.tolist(), tr.kind.tolist(), strict=True)}
    # the same changes, one by one: what the report counts is what the wave detector scans
    assert seen == {x for x in listed if x[2] in ("suspended", "reinstated")}
    assert {(a, d) for a, _, d in seen} == {("1", "suspended"), ("2", "suspended"), ("4", "suspended"),
                                            ("6", "suspended"), ("2", "reinstated"), ("5", "reinstated"),
                                            ("6", "reinstated")}
    assert not any(t["account_id"] == "7" for t in f.transitions)  # unknown is not a status
    assert sum(d["suspended"] for d in f.timeline) == 4 and sum(d["reinstated"] for d in f.timeline) == 3


def test_status_changes_directions() -> None:
    key = np.array([0, 0, 0, 1, 1, 2])
    status = np.array(["active", "takendown", "suspended", "suspended_or_deleted", "deleted", "active"], dtype=object)
    ch = status_changes(key, status, np.array([False, False, False, False, False, True]))
    # takendown -> suspended is not a new suspension; gone -> gone is no unattributed loss
    assert ch.direction.tolist() == ["", "suspended", "other", "", "other", "reinstated"]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Findings]:
    store = _transitions_store(tmp_path_factory.mktemp("small") / "s")
    return store, gather_findings(store)


def test_findings_document_round_trips(small: tuple[Store, Findings]) -> None:
    _, f = small
    doc = f.to_json()
    again = Findings.from_json(json.loads(json.dumps(doc, allow_nan=False)))
    assert again == f and again.to_json() == doc
    assert doc["format"] == "purgewatch-findings" and doc["version"] == 1
    for fact in f.facts:  # every number's rows are in the appendix
        assert set(fact.refs) <= {r["ref"] for r in f.observations} | {r["ref"] for r in f.snapshots}


def test_persisted_findings_are_reused_and_bad_files_ignored(small: tuple[Store, Findings], tmp_path: Path) -> None:
    store, f = small
    cache = FindingsCache(store, tmp_path / "cache")
    calls: list[int] = []

    def compute() -> Findings:
        calls.append(1)
        return f

    assert cache.get(compute=compute) == f and cache.get(compute=compute) == f and calls == [1]
    assert FindingsCache(store, tmp_path / "cache").get(compute=compute) == f and calls == [1]  # a new process
    [path] = (tmp_path / "cache").glob("*.json.gz")
    path.write_bytes(b"\x1f\x8b not gzip")                       # corrupt: ignored, recomputed
    assert cache.get(compute=compute) == f and calls == [1, 1]
    doc = json.loads(gzip.decompress(path.read_bytes()))
    doc["findings"]["version"] = 0                               # an older format: ignored
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert cache.get(compute=compute) == f and calls == [1, 1, 1]
    other = sorted((tmp_path / "cache").glob("*.json.gz"))
    store.append("watchlist", pa.table({"platform": ["x"], "account": ["1"], "account_id": ["1"], "group": ["g"],
                                        "action": ["add"], "at": pa.array([T0], TS)}), command="test", source="test")
    assert cache.get(compute=compute) == f and calls == [1, 1, 1, 1]  # a store change: a new key
    assert len(sorted((tmp_path / "cache").glob("*.json.gz"))) == len(other) + 1
    assert not any(p.name == "derived" for p in (store.path / "current").iterdir())  # never among the evidence


def test_an_extra_section_is_one_entry(small: tuple[Store, Findings], monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = small
    probe = Section("probe", "Probe section", lambda ctx: {"availability": "ok", "rows": [
        {"platform": p, "account_id": a} for p, a in sorted(ctx.accounts)]})
    monkeypatch.setattr(sections_mod, "SECTIONS", (probe,))
    f = gather_findings(store)
    doc = f.to_json()
    assert doc["probe"]["rows"][0] == {"platform": "x", "account_id": "1"}
    assert Findings.from_json(doc).sections == {"probe": doc["probe"]}
    assert csv_bundle(f)["probe.csv"].splitlines()[:2] == ["platform,account_id", "x,1"]
    html = render_html(f, generated_at="2026-11-29T10:00:00Z")
    assert re.search(r'<section id="probe">\s*<h2>Probe section</h2>', html)
    with TestClient(create_app(store, page_wait=None, persist=False), base_url="http://127.0.0.1") as client:
        page = client.get("/").text
    assert re.search(r'<section id="probe">\s*<h2>Probe section</h2>', page) and "account id" in page


def test_web_computes_once_per_store_change_and_keeps_it_across_restarts(tmp_path: Path) -> None:
    store = _transitions_store(tmp_path / "s")
    app = create_app(store, page_wait=None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for path in ("/", "/accounts", "/events", "/api/findings", "/"):
            assert client.get(path).status_code == 200
    assert app.state.findings.gathered == 1
    persisted = list((store.derived_dir / "findings").glob("*.json.gz"))
    assert len(persisted) == 1
    restarted = create_app(Store.open(store.path), page_wait=None)
    with TestClient(restarted, base_url="http://127.0.0.1") as client:
        body = client.get("/api/findings").json()
        assert body["summary"]["status_changes"]["suspended"] == 4
        assert client.get("/").status_code == 200
    assert restarted.state.findings.gathered == 0  # read back, not recomputed


def test_a_large_store_shows_what_it_holds_while_the_findings_compute(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import purgewatch.web._findings as web_findings
    import purgewatch.web._pages as pages

    store = _transitions_store(tmp_path / "s")
    gate = threading.Event()
    real = web_findings.gather_findings

    def slow(st: Store) -> Findings:
        gate.wait(30)
        return real(st)

    monkeypatch.setattr(web_findings, "gather_findings", slow)
    monkeypatch.setattr(pages, "SMALL_STORE_ROWS", 1)  # treat the store as large
    monkeypatch.setattr(pages, "PREVIEW_AFTER", 0.05)
    app = create_app(store, persist=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.get("/")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "being computed" in r.text and "Latest observations" in r.text
        assert "suspended_or_deleted" in r.text and "Watchlist: 0 accounts" in r.text  # real rows, real counts
        gate.set()
        assert client.get("/api/findings").status_code == 200
        assert client.get("/").status_code == 200


def test_provenance_per_source_counts_as_plain_python_does() -> None:
    """The per-source provenance aggregated over dictionary codes (chunks with different
    dictionaries, null sources counted with a stored "(none)", null hashes and versions)
    equals a count over the decoded rows."""
    from purgewatch.findings._appendix import per_source

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {"source": s, "retrieved_at": t0 + timedelta(hours=i), "payload_hash": h, "tool_version": v}
        for i, (s, h, v) in enumerate([
            ("a.csv", "h1", "1.0"), (None, "h1", None), ("(none)", None, "1.1"), ("a.csv", "h2", "1.1"),
            ("b.json", "h1", "1.0"), ("a.csv", "h1", None), (None, "h3", "1.0"), ("b.json", None, None),
        ])
    ]
    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema([("source", pa.string()), ("retrieved_at", ts), ("payload_hash", pa.string()),
                        ("tool_version", pa.string())])
    chunks = [pa.Table.from_pylist(rows[:3], schema), pa.Table.from_pylist(rows[3:], schema)]
    enc = pa.concat_tables([
        pa.table({c: (t[c].combine_chunks().dictionary_encode() if c != "retrieved_at" else t[c].combine_chunks())
                  for c in schema.names}) for t in chunks])
    got = {r["source"]: (r["rows"], r["retrieved_at_min"], r["retrieved_at_max"], r["payload_hash_count_distinct"],
                         sorted(v for v in r["tool_version_distinct"] if v is not None)) for r in per_source(enc)}
    want: dict[str, object] = {}
    for src in {r["source"] or "(none)" for r in rows}:
        mine = [r for r in rows if (r["source"] or "(none)") == src]
        want[src] = (len(mine), min(r["retrieved_at"] for r in mine), max(r["retrieved_at"] for r in mine),
                     len({r["payload_hash"] for r in mine} - {None}), sorted({r["tool_version"] for r in mine} - {None}))
    assert got == want and got["(none)"][0] == 3
    assert per_source(pa.concat_tables(chunks)) == per_source(enc)  # plain strings: the same


def test_word_ranks_sort_as_arrow_sorts_the_strings() -> None:
    """_observations._ranks: dictionary-encoded words (a dictionary per chunk) ranked in
    the order Arrow sorts the decoded strings (code points: "Z" < "z" < "é" < "😀")."""
    import pyarrow.compute as pc

    from purgewatch.findings._observations import _ranks

    chunks = [["z", "é", "Z", "z"], ["😀", "a", "é", "10", "9"]]
    enc = pa.chunked_array([pa.array(c).dictionary_encode() for c in chunks])
    plain = pa.chunked_array([pa.array(c) for c in chunks])
    ranks = _ranks(enc)
    want = pc.sort_indices(plain).to_numpy()
    assert np.argsort(ranks, kind="stable").tolist() == want.tolist()
    assert ranks.tolist() == [4, 5, 2, 4, 6, 3, 5, 0, 1]


def test_cited_rows_are_picked_from_every_batch_of_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """_rows_with_keys reads files in batches (provenance dictionary-encoded where stored
    so, plainly where not): the rows of the wanted keys, with their values, whichever
    batch and file they are in."""
    import purgewatch.findings._observations as obs_mod

    store = Store.init(tmp_path / "s")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for part in range(3):
        n = 50
        store.append("observations", pa.table({
            "platform": ["x"] * n, "account_id": [str(i % 7) for i in range(n)],
            "observed_at": pa.array([t0 + timedelta(hours=part * 100 + i) for i in range(n)], pa.timestamp("us", tz="UTC")),
            "status": ["active"] * n, "followers_count": pa.array(range(n), pa.int64()),
            "source_ref": [f"file{part}.csv:{i}" for i in range(n)],
        }), command="t", source=f"src{part}")
    monkeypatch.setattr(obs_mod, "_BATCH", 16)
    everything = store.read("observations", columns=["record_key", "source", "source_ref", "followers_count"])
    keys = everything["record_key"].to_numpy()
    wanted = np.unique(keys[[0, 15, 16, 17, 49, 50, 99, 120, 149]])
    got = obs_mod._rows_with_keys(store.files("observations"), wanted, ["source", "source_ref", "followers_count"])
    want = [r for r in everything.to_pylist() if r["record_key"] in set(wanted.tolist())]
    assert sorted(got.to_pylist(), key=lambda r: r["record_key"]) == sorted(want, key=lambda r: r["record_key"])
    assert got.num_rows == len(wanted) == 9 and got.schema.field("source_ref").type == pa.string()


def test_thinned_charts_are_one_note_naming_the_most_thinned(tmp_path: Path) -> None:
    """Three accounts with 2,000, 1,500 and 300 hourly readings: the two long series are
    thinned for their charts, told in one note (not one note per account), the most
    thinned first; the short series is drawn whole."""
    store = Store.init(tmp_path / "s")
    hour = timedelta(hours=1)
    rows = [(acc, h) for acc, n in (("long", 2000), ("mid", 1500), ("short", 300)) for h in range(n)]
    store.append("observations", pa.table({
        "platform": ["x"] * len(rows), "account_id": [a for a, _ in rows],
        "observed_at": pa.array([T0 + h * hour for _, h in rows], TS), "status": ["active"] * len(rows),
        "followers_count": [1000 + h % 7 for _, h in rows],
    }), command="test", source="test")
    f = gather_findings(store)
    notes = [n for n in f.notes if "thinned" in n]
    assert len(notes) == 1, f.notes
    assert notes[0].startswith("The follower series of 2 accounts are thinned for display")
    assert notes[0].index("x:long 2,000 →") < notes[0].index("x:mid 1,500 →")
    assert "x:short" not in notes[0]
    shown = {a["account_id"]: len(a["series"]) for a in f.accounts}
    assert shown["short"] == 300 and shown["long"] < 2000 and shown["mid"] < 1500
