"""The append-only store: idempotent appends, stable surrogate ids, compaction, staging
sweep, the writer lock, the generation grace rule, and reading with plain DuckDB."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from purgewatch.errors import StoreError
from purgewatch.store import Store, _catalogue, _layout
from purgewatch.store import snapshots as snap

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def obs(n: int, start: int = 0, platform: str = "x") -> pa.Table:
    return pa.table(
        {
            "platform": [platform] * n,
            "account_id": [str(100 + (start + i) % 37) for i in range(n)],
            "observed_at": pa.array([T0 + timedelta(minutes=start + i) for i in range(n)], pa.timestamp("us", tz="UTC")),
            "status": ["active" if (start + i) % 5 else "suspended" for i in range(n)],
            "followers_count": pa.array([1000 - start - i for i in range(n)], pa.int64()),
            "source_ref": [f"f.csv:{start + i + 2}" for i in range(n)],
        }
    )


def sorted_rows(t: pa.Table) -> list[dict[str, object]]:
    cols = [c for c in t.column_names if c not in ("batch_id", "retrieved_at")]
    return sorted(t.select(cols).to_pylist(), key=lambda r: (str(r.get("account_id")), str(r.get("observed_at"))))


def test_append_is_idempotent(store: Store) -> None:
    first = store.append("observations", obs(40), command="t", source="t")
    assert first.committed and first.rows["observations"] == 40
    again = store.append("observations", obs(40), command="t", source="t")
    assert not again.committed and again.duplicates["observations"] == 40
    overlap = store.append("observations", obs(40, start=20), command="t", source="t")
    assert overlap.rows["observations"] == 20 and overlap.duplicates["observations"] == 20
    t = store.read("observations")
    assert t.num_rows == 60
    keys = t["record_key"].to_numpy()
    assert len(np.unique(keys)) == 60
    # Provenance is filled where the caller did not.
    assert t["tool_version"].null_count == 0 and t["retrieved_at"].null_count == 0
    assert set(t["source"].to_pylist()) == {"t"}
    # Repeats inside one input are dropped too.
    doubled = pa.concat_tables([obs(5, start=100), obs(5, start=100)])
    assert store.append("observations", doubled, command="t", source="t").rows["observations"] == 5


def test_sids_are_stable_across_writers(store: Store) -> None:
    with store.writer(command="t", source="t") as w:
        a = w.sids("x", ["a", "b", "c"])
    with store.writer(command="t", source="t") as w:
        b = w.sids("x", ["c", "d", "a"])
        other = w.sids("bluesky", ["a"])
    assert a.tolist() == [0, 1, 2]
    assert b.tolist() == [2, 3, 0]
    assert other[0] not in (a.tolist() + b.tolist())  # sids are unique across platforms
    cat = store.read("accounts")
    assert cat.num_rows == 5 and len(set(cat["sid"].to_pylist())) == 5
    store.compact()
    with store.writer(command="t", source="t") as w:
        assert w.sids("x", ["d", "e"]).tolist() == [3, 5]


def test_sid_lookup_paths_agree_small_and_large_queries(store: Store) -> None:
    base = [f"u{i:04d}" for i in range(2000)]
    with store.writer(command="t", source="t") as w:
        assert w.sids("x", base[::-1]).tolist() == list(range(2000))[::-1]  # ascending ids
    with store.writer(command="t", source="t") as w:
        # small query against a large catalogue: the catalogue-scan path
        small = w.sids("x", ["u0007", "new2", "u1999", "new1", "new2", "u0007"])
        assert small.tolist() == [7, 2001, 1999, 2000, 2001, 7]
        # large query: the hash-the-catalogue path; new ids get sids in ascending order
        big_ids = [f"u{i:04d}" for i in range(1500, 2000)] + [f"v{i:04d}" for i in range(3000)][::-1] + ["new2"]
        big = w.sids("x", big_ids)
        assert big[:500].tolist() == list(range(1500, 2000))
        assert big[500:3500].tolist() == list(range(2002, 5002))[::-1]
        assert big[-1] == 2001
    assert snap.sids_to_ids(store, "x", np.array([2001, 7, 5001, 99999])).to_pylist() == ["new2", "u0007", "v2999", None]
    cat = store.read("accounts")
    assert cat.num_rows == 5002 and len(set(cat["account_id"].to_pylist())) == 5002
    with store.writer(command="t", source="t") as w, pytest.raises(StoreError, match="null"):
        w.sids("x", pa.array(["u1", None]))


def test_numeric_ids_map_alike_through_sorted_runs_and_the_hash_table(store: Store) -> None:
    """Numeric ids against a catalogue of several files (a dense X file whose sids are
    kept as one number, a file mixing platforms): a query smaller than the catalogue goes
    through the sorted runs (one argsort of the query), a larger one through the hash
    table; both give every known id its sid, and new ids (repeated ones once) new sids
    in ascending id order."""
    rng = np.random.default_rng(7)
    first = np.unique(rng.integers(1, 2**62, 3000, dtype=np.uint64))
    with store.writer(command="t", source="t") as w:
        s_first = w.sids("x", pa.array(first))
    with store.writer(command="t", source="t") as w:  # one batch, two platforms interleaved
        mixed = np.arange(10_000, 10_050, dtype=np.uint64)
        s_x = w.sids("x", pa.array(mixed[::2]))
        s_b = w.sids("bluesky", pa.array(mixed[1::2]))
    truth = dict(zip(first.tolist(), s_first.tolist(), strict=True)) | dict(zip(mixed[::2].tolist(), s_x.tolist(), strict=True))
    files = store.files("accounts")
    nums, nsids, _, _ = _catalogue.read_platform(files[:1], "x")
    assert isinstance(nsids, int) and nsids == 0 and nums.tolist() == first.tolist()  # dense: no sid array
    nums, nsids, _, _ = _catalogue.read_platform(files, "x")
    assert dict(zip(nums.tolist(), _catalogue.sids_array(nsids, len(nums)).tolist(), strict=True)) == truth
    assert _catalogue.read_platform(files, "bluesky")[0].tolist() == mixed[1::2].tolist()
    assert snap.sids_to_ids(store, "x", s_b).to_pylist() == [None] * len(s_b)

    known = rng.choice(np.array(sorted(truth), dtype=np.uint64), 400)  # with repeats
    new = np.unique(rng.integers(2**62, 2**63, 300, dtype=np.uint64))
    query = np.concatenate([known, new, new[:50], mixed[1::2][:5]])  # bluesky ids are new to x
    rng.shuffle(query)
    top = max(s_b.max(), s_x.max()) + 1
    fresh_ids = np.unique(np.concatenate([new, mixed[1::2][:5]]))
    expect = [truth.get(int(v), top + int(np.searchsorted(fresh_ids, v))) for v in query]
    for extra in (0, 20_000):  # a small query (sorted runs), then one that hashes the catalogue
        try:
            with store.writer(command="t", source="t") as w:
                if extra:
                    w.sids("bluesky", pa.array(np.arange(1, extra, dtype=np.uint64)))  # another platform: no effect on x
                    idx = w._index("x")
                    idx.count_lookups(extra)  # as if this writer had looked up many ids
                    assert not idx.runs and idx.numbers.size == len(truth)
                w._index("x")
                top_now = int(w._next_sid or 0)  # (the bluesky ids above took sids too)
                got = w.sids("x", pa.array(query.astype(str)))
                shift = top_now - top
                assert got.tolist() == [e if e < top else e + shift for e in expect]
                raise RuntimeError("roll back")
        except RuntimeError:
            pass


def test_numeric_ids_are_stored_as_integers_and_read_back_exactly(store: Store) -> None:
    """Canonical decimal ids (X, Mastodon) are kept as uint64; anything else (a leading
    zero, a sign, 20 digits, a DID) stays a string, so every id reads back as given."""
    odd = ["007", "+5", "18446744073709551615", "did:plc:abc", "0", "9223372036854775808", "12"]
    with store.writer(command="t", source="t") as w:
        sids = w.sids("x", odd)
        assert w.sids("x", pa.array([12, 0], pa.int64())).tolist() == [sids[6], sids[4]]
    cat = store.read("accounts")
    numeric = {r["account_num"] for r in cat.to_pylist() if r["account_num"] is not None}
    assert numeric == {0, 12, 9223372036854775808}
    assert set(cat.filter(pc.is_valid(cat["account_id"]))["account_id"].to_pylist()) == {
        "007", "+5", "18446744073709551615", "did:plc:abc"}
    assert snap.sids_to_ids(store, "x", sids).to_pylist() == odd
    assert snap.ids_to_sids(store, "x", odd).tolist() == sids.tolist()
    assert snap.sids_to_ids(store, "bluesky", sids).to_pylist() == [None] * len(odd)
    # numbers first (by value), then strings bytewise
    assert [odd[i] for i in np.argsort(sids)] == ["0", "12", "9223372036854775808", "+5", "007",
                                                   "18446744073709551615", "did:plc:abc"]


def test_a_store_with_an_old_form_catalogue_still_maps_and_migrates(store: Store) -> None:
    """Stores made before 0.3 keep every id as a string, in first-appearance order. They
    must keep their sids, map new ids after them, and compaction rewrites them compactly."""
    old_ids = ["500", "did:plc:zz", "42", "0042", "7"]
    with store.writer(command="old", source="t") as w:
        w.add("observations", obs(1))
    gen = _layout.current_generation(store.path)
    batch = _layout.committed_batches(gen)[-1]
    pq.write_table(pa.table({"sid": pa.array([0, 1, 2, 3, 4], pa.int64()), "platform": ["x"] * 5,
                             "account_id": old_ids}), batch / "accounts.parquet")
    assert snap.sids_to_ids(store, "x", np.array([4, 0, 2, 3, 1, 9])).to_pylist() == ["7", "500", "42", "0042", "did:plc:zz", None]
    with store.writer(command="new", source="t") as w:
        assert w.sids("x", ["42", "7", "0042", "8", "did:plc:zz", "1"]).tolist() == [2, 4, 3, 6, 1, 5]
    assert snap.ids_to_sids(store, "x", ["500", "8", "1", "nope"]).tolist() == [0, 6, 5, -1]
    store.compact()
    cat = store.read("accounts")
    assert cat["sid"].to_pylist() == list(range(7))
    assert cat["account_num"].to_pylist() == [500, None, 42, None, 7, 1, 8]
    assert snap.sids_to_ids(store, None, np.arange(7)).to_pylist() == ["500", "did:plc:zz", "42", "0042", "7", "1", "8"]
    with store.writer(command="after", source="t") as w:
        assert w.sids("x", ["8", "500", "9"]).tolist() == [6, 0, 7]


def test_uncommitted_writer_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.writer(command="t", source="t") as w:
        w.add("observations", obs(10))
        w.sids("x", ["zz"])
        raise RuntimeError("boom")
    assert store.read("observations").num_rows == 0
    assert store.read("accounts").num_rows == 0
    assert store.read("runs").num_rows == 0


def test_compaction_keeps_rows_and_runs(store: Store) -> None:
    for k in range(6):
        with store.writer(command=f"t{k}", source="t") as w:
            w.add("observations", obs(15, start=k * 15))
            w.sids("x", [f"f{k}-{i}" for i in range(7)])
    before = {t: store.read(t) for t in ("observations", "accounts", "runs")}
    gen_before = _layout.current_generation(store.path)
    result = store.compact()
    assert result["batches_before"] == 6 and result["batches_after"] == 1
    assert _layout.current_generation(store.path) != gen_before
    for table, t in before.items():
        after = store.read(table)
        assert after.num_rows == t.num_rows
        if table == "observations":
            assert sorted_rows(after) == sorted_rows(t)
            # batch provenance survives: each row still names the batch that committed it
            assert sorted(after["batch_id"].to_pylist()) == sorted(t["batch_id"].to_pylist())
        else:
            assert sorted(map(str, after.to_pylist())) == sorted(map(str, t.to_pylist()))
    runs = store.read("runs")
    per_run = {r["batch_id"]: json.loads(r["rows"]) for r in runs.to_pylist()}
    assert all(v["observations"] == 15 and v["accounts"] == 7 for v in per_run.values())
    # Appending after compaction continues the sequence; a re-import is still a no-op.
    assert not store.append("observations", obs(15), command="t", source="t").committed
    store.append("observations", obs(3, start=500), command="t", source="t")
    names = [b.name for b in _layout.committed_batches(_layout.current_generation(store.path))]
    assert len(names) == 2 and names == sorted(names)
    assert store.compact()["batches_after"] == 1
    assert store.read("observations").num_rows == 93


def test_compaction_merges_runs_of_small_batches_and_links_big_ones(store: Store) -> None:
    """What a long watch leaves: many small batches around an occasional big one. Only
    the small ones are rewritten (in order), the big one is hard-linked unchanged, and a
    second compaction with nothing new does nothing."""
    sizes = [5, 5, 5, 2000, 5, 5]
    for k, n in enumerate(sizes):
        store.append("observations", obs(n, start=10_000 * k), command=f"t{k}", source="t")
    gen = _layout.current_generation(store.path)
    batches = _layout.committed_batches(gen)
    big = batches[3] / "observations.parquet"
    target = 2 * big.stat().st_size - 1  # the big batch is just above half the target
    before = store.read("observations")
    result = store.compact(target_bytes=target)
    assert (result["batches_before"], result["batches_after"], result["batches_rewritten"]) == (6, 3, 5)
    after_batches = _layout.committed_batches(_layout.current_generation(store.path))
    assert [b.name[:9] for b in after_batches] == [batches[2].name[:9], batches[3].name[:9], batches[5].name[:9]]
    linked = after_batches[1] / "observations.parquet"
    assert linked.stat().st_ino == big.stat().st_ino  # not rewritten
    after = store.read("observations")
    assert sorted_rows(after) == sorted_rows(before)
    # commit order is kept: the rows come back in the order they were committed
    assert after["account_id"].to_pylist() == before["account_id"].to_pylist()
    assert len(store.read("runs")) == 6
    again = store.compact(target_bytes=target)
    assert (again["batches_before"], again["batches_after"], again["batches_rewritten"]) == (3, 3, 0)
    assert _layout.current_generation(store.path) == after_batches[0].parent


def test_replaced_generations_outlive_their_grace_period_only(store: Store) -> None:
    for k in range(3):
        store.append("observations", obs(4, start=10 * k), command="t", source="t")
    store.compact()
    old = sorted((store.path / "gens").iterdir())
    assert len(old) == 2 and (old[0] / _layout.RETIRED).exists()
    store.append("observations", obs(4, start=99), command="t", source="t")
    store.compact()  # default grace: the first generation is kept for readers in flight
    assert len(list((store.path / "gens").iterdir())) == 3
    store.append("observations", obs(4, start=199), command="t", source="t")
    assert store.compact(grace_seconds=0)["generations_dropped"] == 3  # g1, g2 and the one it replaced
    gens = list((store.path / "gens").iterdir())
    assert gens == [_layout.current_generation(store.path)]
    assert store.read("observations").num_rows == 20


def test_orphaned_staging_dirs_are_swept(store: Store) -> None:
    orphan = _layout.new_staging_dir(store.path)
    (orphan / "observations.parquet").write_bytes(b"half a file")
    (store.path / ".current.deadbeef").symlink_to("gens/nowhere")
    assert store.read("observations").num_rows == 0  # readers never look at staging
    store.append("observations", obs(3), command="t", source="t")
    assert not orphan.exists()
    assert not list(store.path.glob(".current.*"))
    assert store.read("observations").num_rows == 3


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with Store(path).writer(command="hold", source="t"):
        ready.set()
        release.wait(30)


def test_second_writer_gets_a_clear_lock_error(store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(store.path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        t = time.monotonic()
        with pytest.raises(StoreError) as err, store.writer(command="t", source="t", lock_timeout=0.3):
            pass
        assert time.monotonic() - t < 5
        assert "locked by another writer" in str(err.value)
        assert err.value.hint and "wait" in err.value.hint
        with pytest.raises(StoreError, match="locked by another writer"):
            store.compact(lock_timeout=0.2)
    finally:
        release.set()
        holder.join(30)
    assert store.append("observations", obs(2), command="t", source="t").committed  # free again


def test_init_killed_midway_is_finished_by_the_next_open(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / "gens" / "g000001").mkdir(parents=True)
    (root / "staging").mkdir()
    (root / "LOCK").touch()  # killed here: no `current`, no STORE.json
    with pytest.raises(StoreError, match="no PurgeWatch store"):
        Store(root)
    store = Store.open(root, create=True)
    assert store.append("observations", obs(2), command="t", source="t").committed
    (tmp_path / "t" / "gens" / "g000001" / "b00000001-x").mkdir(parents=True)
    with pytest.raises(StoreError, match="not a PurgeWatch store"):  # data: never touched
        Store.init(tmp_path / "t")


def test_not_a_store_and_unknown_table(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError, match="no PurgeWatch store"):
        Store(tmp_path / "nothing")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a PurgeWatch store"):
        Store.init(tmp_path / "busy")
    with pytest.raises(StoreError, match="unknown table"):
        store.read("nope")


def test_plain_duckdb_reads_the_same_rows(store: Store) -> None:
    store.append("observations", obs(30), command="t", source="t")
    store.append("observations", obs(30, start=30, platform="bluesky"), command="t", source="t")
    store.compact()
    store.append("observations", obs(10, start=70), command="t", source="t")
    ours = store.read("observations")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = os.path.join(str(store.path), "current", "*", "observations.parquet")
    theirs = con.sql("SELECT * FROM read_parquet(?, union_by_name = true)", params=[glob]).to_arrow_table()
    assert theirs.num_rows == ours.num_rows == 70
    assert sorted(theirs.column_names) == sorted(ours.column_names)
    theirs = theirs.select(ours.column_names).cast(ours.schema)
    assert sorted_rows(theirs) == sorted_rows(ours)
    assert sorted(theirs["batch_id"].to_pylist()) == sorted(ours["batch_id"].to_pylist())


def test_background_write_errors_surface_and_never_hide_the_callers_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from purgewatch.store import BatchWriter

    def disk_full(self: BatchWriter, job: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BatchWriter, "_write", disk_full)
    with pytest.raises(OSError, match="No space"), store.writer(command="t", source="t") as w:
        w.add("observations", obs(3))
        w.commit_in_background()
    with pytest.raises(RuntimeError, match="boom"), store.writer(command="t", source="t") as w:
        w.add("observations", obs(3))
        w.commit_in_background()
        raise RuntimeError("boom")
    monkeypatch.undo()
    # the lock was released both times and nothing half-written is visible
    assert store.read("observations").num_rows == 0
    assert store.append("observations", obs(3), command="t", source="t").committed


def test_rows_added_with_and_without_dictionary_columns_commit_together(store: Store) -> None:
    """Review finding: one part with constant (dictionary) provenance, one plain."""
    from purgewatch.store._store import constant_strings

    def events(n: int, start: int, source: pa.Array) -> pa.Table:
        return pa.table({
            "platform": ["x"] * n, "account_id": [str(start + i) for i in range(n)],
            "at": pa.array([datetime(2024, 5, 1, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
            "status": ["suspended"] * n, "source": source,
        })

    with store.writer(command="t", source="t") as w:
        w.add("status_events", events(3, 0, constant_strings("stream", 3)))
        w.add("status_events", events(2, 10, pa.array(["feed", "feed"])))
    got = store.read("status_events")
    assert got.num_rows == 5 and sorted(got["source"].to_pylist()) == ["feed", "feed", "stream", "stream", "stream"]


def test_a_null_where_every_row_needs_a_value_is_refused_when_added(store: Store) -> None:
    """Review finding: refused at add(), not at commit (which would take the batch down)."""
    bad = obs(2).set_column(1, "account_id", pa.array(["1", None]))
    with store.writer(command="t", source="t") as w:
        w.add("observations", obs(3))
        with pytest.raises(StoreError, match="account_id"):
            w.add("observations", bad)
    assert store.read("observations").num_rows == 3


def test_sql_view_of_the_catalogue_shows_every_id_as_text(store: Store) -> None:
    with store.writer(command="t", source="t") as w:
        sids = w.sids("x", ["1234567890123", "did:plc:q"])
    con = store.duckdb()
    rows = con.execute("SELECT sid, account_id FROM accounts ORDER BY sid").fetchall()
    assert rows == [(int(sids[0]), "1234567890123"), (int(sids[1]), "did:plc:q")]


def test_sid_lookup_reads_sparse_and_unsorted_catalogue_files(store: Store) -> None:
    """The footer shortcut (dense row groups) must not hide rows of a file whose sids
    have gaps or are out of order (hand-made or damaged stores)."""
    with store.writer(command="t", source="t") as w:
        w.add("observations", obs(1))
    batch = _layout.committed_batches(_layout.current_generation(store.path))[-1]
    pq.write_table(pa.table({"sid": pa.array([10, 2, 7], pa.int64()), "platform": ["x", "x", "bluesky"],
                             "account_id": [None, "did:plc:a", None],
                             "account_num": pa.array([5, None, 9], pa.uint64())}), batch / "accounts.parquet")
    asked = np.array([7, 10, 3, 2, 10])
    assert snap.sids_to_ids(store, None, asked).to_pylist() == ["9", "5", None, "did:plc:a", "5"]
    assert snap.sids_to_ids(store, "x", asked).to_pylist() == [None, "5", None, "did:plc:a", "5"]


def test_catalogue_files_without_statistics_still_give_the_next_sid(store: Store) -> None:
    with store.writer(command="t", source="t") as w:
        w.add("observations", obs(1))
    batch = _layout.committed_batches(_layout.current_generation(store.path))[-1]
    pq.write_table(pa.table({"sid": pa.array([0, 1, 2], pa.int64()), "platform": ["x"] * 3,
                             "account_id": ["a", "b", "c"]}), batch / "accounts.parquet", write_statistics=False)
    assert snap.sids_to_ids(store, "x", np.array([2, 0])).to_pylist() == ["c", "a"]
    with store.writer(command="t", source="t") as w:
        assert w.sids("x", ["b", "d"]).tolist() == [1, 3]


def test_read_with_dictionary_columns_gives_the_same_rows_encoded(store: Store) -> None:
    """Store.read(dictionary=...): string columns come dictionary-encoded (a dictionary per
    file), the same values, rows of retracted batches still hidden, and a column a file
    predates still reads as nulls."""
    store.append("observations", obs(30), command="t", source="t")
    gone = store.append("observations", obs(10, start=500, platform="bluesky"), command="t", source="t")
    store.append("observations", obs(20, start=1000, platform="bluesky"), command="t", source="t")
    assert gone.batch_id is not None
    store.retract([gone.batch_id], reason="test")
    cols = ["platform", "account_id", "status", "followers_count", "label"]
    plain = store.read("observations", columns=cols)
    enc = store.read("observations", columns=cols, dictionary=["platform", "account_id", "status", "label"])
    assert plain.num_rows == enc.num_rows == 50
    for c in ("platform", "account_id", "status", "label"):
        assert pa.types.is_dictionary(enc[c].type) and enc[c].num_chunks == 2
        assert enc[c].cast(pa.string()).to_pylist() == plain[c].to_pylist()
    assert enc["label"].null_count == 50  # no file has a label: nulls, encoded
    assert enc["followers_count"].type == pa.int64()  # only string columns are encoded
    assert enc["followers_count"].to_pylist() == plain["followers_count"].to_pylist()
