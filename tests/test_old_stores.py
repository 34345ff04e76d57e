"""Stores written by earlier versions still open, read and take new evidence
(tests/fixtures/stores/README.md says how each was made)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import purgewatch
from purgewatch.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stores"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    # A copy: the fixture itself is never written to (a writer upgrades a store's marker).
    target = tmp_path / "store"
    shutil.copytree(FIXTURES / "v0.1.0-37c1531", target, symlinks=True)
    return target


def test_every_table_reads(old_store: Path) -> None:
    store = Store.open(old_store)
    counts = {t: store.read(t).num_rows for t in ("observations", "profiles", "status_events", "watchlist",
                                                    "snapshots")}
    assert counts == {"observations": 120, "profiles": 60, "status_events": 2, "watchlist": 4, "snapshots": 2}
    # Tables this version added read as empty, not as errors.
    assert store.read("posts").num_rows == 0 and store.read("post_reads").num_rows == 0


def test_the_analyses_answer_as_they_did(old_store: Path) -> None:
    ev = purgewatch.open_store(old_store)
    drops = ev.detect(kinds=["follower_drop"])
    assert [(d["account_id"], d["start"][:10], d["end"][:10]) for d in drops] == [("1001", "2026-03-20", "2026-03-21")]
    why = ev.explain("1001", platform="x")
    assert why["lost"] == 60 and why["gained"] == 0
    assert why["lost_breakdown"]["suspended"] == 50 and why["lost_breakdown"]["unfollowed"] == 10
    assert why["verdict"] == "platform_enforcement"
    accounts = {a["account_id"] for a in ev.accounts()}
    assert {"1001", "1002", "2001", "did:plc:abcdefghijklmnopqrstuvwx"} <= accounts


def test_it_takes_new_evidence(old_store: Path, tmp_path: Path) -> None:
    ev = purgewatch.open_store(old_store)
    extra = tmp_path / "more.csv"
    extra.write_text("platform,account_id,observed_at,status,followers_count,following_count,posts_count,"
                     "handle,created_at\n"
                     "x,1001,2026-03-31T12:00:00Z,active,4310,100,31,leader,2015-01-01T00:00:00Z\n"
                     # the old version stored this very reading: its content key must match
                     "x,1001,2026-03-30T12:00:00Z,active,4300,100,30,leader,2015-01-01T00:00:00Z\n")
    summary = ev.import_file("observations", extra)
    assert summary["imported"] == 1 and summary["duplicates"] == 1
    assert Store.open(old_store).read("observations").num_rows == 121


def _newest_first_hash(store: Store, snapshot_id: str) -> str | None:
    import hashlib

    from purgewatch.store import snapshots as snap

    order = snap.load_order(store, snapshot_id)
    if order is None:
        return None
    ids = snap.sids_to_ids(store, "x", order).to_pylist()
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_format3_ordered_chain_reads_and_takes_append_orders(tmp_path: Path) -> None:
    """Format 3 wrote list orders as permutations of the base order (reference 1); this
    version reads them, and a snapshot it adds on top (an APPEND order) marks the store 4
    without changing how the old snapshots read."""
    import json
    from datetime import UTC, datetime

    from purgewatch.store import snapshots as snap

    target = tmp_path / "store"
    shutil.copytree(FIXTURES / "format3-orders-92a4e4b", target, symlinks=True)
    expected = json.loads((FIXTURES / "format3-orders-92a4e4b.expected.json").read_text())
    store = Store.open(target)
    assert json.loads((target / "STORE.json").read_text())["version"] == 3
    meta = snap.list_snapshots(store)
    assert meta["encoding"].to_pylist().count(snap.ENCODING_CHANGE) == 10
    for sid, digest in expected.items():
        assert _newest_first_hash(store, sid) == digest
    last_id = [s for s, a in zip(meta["snapshot_id"].to_pylist(), meta["account_id"].to_pylist(), strict=True)
               if a == "900"][-1]
    ids = snap.sids_to_ids(store, "x", snap.load_order(store, last_id)).to_pylist()  # type: ignore[arg-type]
    newest = ["1999999999999", ids[3], *ids[:3], *ids[4:-2]]  # one arrival, one refollow, two left
    with store.writer(command="test", source="test") as w:
        new_id = snap.add_snapshot(w, platform="x", account_id="900", observed_at=datetime(2026, 4, 1, tzinfo=UTC),
                                   follower_ids=newest)
    assert new_id is not None
    assert json.loads((target / "STORE.json").read_text())["version"] == 4
    assert snap.sids_to_ids(store, "x", snap.load_order(store, new_id)).to_pylist() == newest  # type: ignore[arg-type]
    for sid, digest in expected.items():
        assert _newest_first_hash(Store.open(target), sid) == digest
