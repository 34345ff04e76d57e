"""Follower snapshots: encoding round-trips, changes against a base, order, partial
snapshots, idempotence, compaction, and the documented stand-alone decoder."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.errors import AnalysisError, InputError, StoreError
from purgewatch.store import Store, _codec
from purgewatch.store import snapshots as snap

T0 = datetime(2025, 2, 1, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "store.md"


def xids(rng: np.random.Generator, n: int, start: int = 10**17) -> list[str]:
    return [str(v) for v in rng.choice(np.arange(start, start + 50 * n), n, replace=False)]


def add(store: Store, account: str, when: datetime, ids: list[str], **kw: object) -> str | None:
    with store.writer(command="test", source="test") as w:
        return snap.add_snapshot(w, platform="x", account_id=account, observed_at=when, follower_ids=ids, **kw)  # type: ignore[arg-type]


def as_ids(store: Store, sids: np.ndarray) -> list[str]:
    return snap.sids_to_ids(store, "x", sids).to_pylist()


# ------------------------------------------------------------------ codec


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), unique=True, max_size=300))
def test_sorted_block_roundtrip(values: list[int]) -> None:
    arr = np.array(sorted(values), dtype=np.int64)
    blob = _codec.encode_sorted(arr)
    out, end = _codec.decode_sorted(memoryview(blob))
    assert end == len(blob)
    assert np.array_equal(out, arr)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), unique=True, max_size=200), st.randoms())
def test_order_roundtrip(values: list[int], rnd: object) -> None:
    ref = np.array(sorted(values), dtype=np.int64)
    order = ref.copy()
    rnd.shuffle(order)  # type: ignore[attr-defined]
    kind, perm = _codec.decode_order(_codec.encode_order(order, ref, _codec.ORDER_REF_SORTED))
    assert kind == _codec.ORDER_REF_SORTED
    assert np.array_equal(_codec.apply_order(ref, perm), order)


def test_order_split_mode_for_known_followers_among_new_ones() -> None:
    rng = np.random.default_rng(11)
    for n, k in ((100_000, 40_000), (500, 1), (500, 499), (300, 150)):
        ref = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
        known_slots = np.zeros(n, dtype=bool)
        known_slots[rng.choice(n, k, replace=False)] = True
        order = np.empty(n, dtype=np.int64)
        order[known_slots] = rng.permutation(ref[:k])  # older sids, their own order
        order[~known_slots] = ref[k:]  # new to the store: ascending
        blob = _codec.encode_order(order, ref, _codec.ORDER_REF_SORTED)
        _, perm = _codec.decode_order(blob)
        assert np.array_equal(_codec.apply_order(ref, perm), order)
        if n == 100_000:
            assert blob[5] == _codec.ORDER_SPLIT
            # ~1 bit of interleaving per follower + the known ones' own order
            assert 8 * len(blob) / n < 10


def test_set_arithmetic_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = np.unique(rng.integers(0, 3000, rng.integers(0, 400)))
        b = np.unique(rng.integers(0, 3000, rng.integers(0, 400)))
        assert np.array_equal(_codec.minus(a, b), np.setdiff1d(a, b))
        assert np.array_equal(_codec.intersect(a, b), np.intersect1d(a, b))
        only_b = np.setdiff1d(b, a)
        assert np.array_equal(_codec.union(a, only_b), np.union1d(a, only_b))
        r = np.setdiff1d(a, b)
        # remove r, add only_b; then remove 3 of the added and re-add 2 of the removed
        net_removed, net_added = _codec.compose((r, only_b), (only_b[:3], r[:2]))
        assert np.array_equal(net_removed, np.setdiff1d(r, r[:2]))
        assert np.array_equal(net_added, np.setdiff1d(only_b, only_b[:3]))


def test_bad_payload_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unknown format"):
        _codec.decode_set_payload(b"XXXX\x00")


# ------------------------------------------------------------------ snapshots


def test_first_snapshot_roundtrip_ids_and_order(store: Store) -> None:
    ids = xids(np.random.default_rng(1), 3000)
    sid = add(store, "a", T0, ids)
    assert sid is not None
    assert sorted(as_ids(store, snap.load_followers(store, sid))) == sorted(ids)
    order = snap.load_order(store, sid)
    assert order is not None and as_ids(store, order) == ids
    meta = snap.list_snapshots(store).to_pylist()[0]
    assert meta["n_followers"] == 3000 and meta["encoding"] == snap.ENCODING_FULL
    assert meta["base_snapshot_id"] is None and meta["partial"] is False
    assert "payload" not in snap.list_snapshots(store).column_names


def test_new_followers_get_a_dense_run_of_sids_in_id_order(store: Store) -> None:
    ids = xids(np.random.default_rng(2), 5000)
    sid = add(store, "a", T0, ids)
    assert sid is not None
    sids = snap.ids_to_sids(store, "x", ids)
    by_id = np.argsort(np.array(ids, dtype=np.uint64))
    assert sids[by_id].tolist() == list(range(5000)), "the smallest id must get the smallest sid"
    f = pq.read_table(store.files("snapshots")[0], columns=["order_payload", "payload"])
    assert len(f["payload"][0].as_py()) < 100  # a dense run of sids costs ~nothing
    # the list order lives in order_payload: a permutation of 5,000, ~13 bits each at most
    assert len(f["order_payload"][0].as_py()) < 5000 * 15 / 8
    order = snap.load_order(store, sid)
    assert order is not None and as_ids(store, order) == ids
    # the catalogue holds X ids as integers, sorted: far below their 18 digits as text
    cat = store.files("accounts")[0]
    assert os.path.getsize(cat) * 8 / 5000 < 40


def test_later_snapshot_is_stored_as_change_and_diffs(store: Store) -> None:
    rng = np.random.default_rng(4)
    # Followers already known from another list get scattered sids: not a dense run.
    other = xids(rng, 20000)
    add(store, "other", T0, other)
    ids1 = list(rng.choice(other, 4000, replace=False)) + xids(rng, 1000, start=2 * 10**17)
    s1 = add(store, "a", T0, ids1)
    gone = set(rng.choice(ids1, 40, replace=False))
    new = [f"9{i:017d}" for i in range(30)]
    ids2 = new + [i for i in ids1 if i not in gone]
    s2 = add(store, "a", T0 + timedelta(days=1), ids2)
    assert s1 and s2
    meta = {m["snapshot_id"]: m for m in snap.list_snapshots(store, "x", "a").to_pylist()}
    assert meta[s2]["base_snapshot_id"] == s1 and meta[s2]["encoding"] == snap.ENCODING_CHANGE
    assert sorted(as_ids(store, snap.load_followers(store, s2))) == sorted(ids2)
    order = snap.load_order(store, s2)
    assert order is not None and as_ids(store, order) == ids2
    d = snap.diff_snapshots(store, s1, s2, complete=True)
    assert sorted(as_ids(store, d.removed)) == sorted(gone)
    assert sorted(as_ids(store, d.added)) == sorted(new)
    assert d.complete
    back = snap.diff_snapshots(store, s2, s1)
    assert np.array_equal(back.removed, d.added) and np.array_equal(back.added, d.removed)
    # The change is far smaller than the full set.
    sizes = {r["snapshot_id"]: len(r["payload"]) for f in store.files("snapshots")
             for r in pq.read_table(f, columns=["snapshot_id", "payload"]).to_pylist()}
    assert sizes[s2] < sizes[s1] / 5


def test_chain_stays_short_and_every_link_decodes(store: Store) -> None:
    rng = np.random.default_rng(5)
    pool = xids(rng, 6000)
    add(store, "pool", T0, pool)  # scatter the sids
    current = list(rng.choice(pool, 2000, replace=False))
    expected: dict[str, list[str]] = {}
    with store.writer(command="test", source="test") as w:
        for day in range(snap.MAX_CHAIN + 8):
            leave = set(rng.choice(current, 5, replace=False))
            arrive = [p for p in rng.choice(pool, 8, replace=False) if p not in current]
            current = arrive + [c for c in current if c not in leave]
            sid = snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0 + timedelta(days=day), follower_ids=current)
            assert sid is not None
            expected[sid] = list(current)
            if day % 10 == 9:
                w.commit()  # chains span batches
    meta = snap.list_snapshots(store, "x", "a").to_pylist()
    by_id = {m["snapshot_id"]: m for m in meta}

    def depth(s: str) -> int:
        base = by_id[s]["base_snapshot_id"]
        return 0 if base is None else 1 + depth(base)

    assert max(depth(m["snapshot_id"]) for m in meta) == snap.MAX_CHAIN
    assert sum(m["base_snapshot_id"] is None for m in meta) == 2
    for sid, ids in expected.items():
        assert as_ids(store, snap.load_order(store, sid)) == ids  # type: ignore[arg-type]
    first, last = meta[0]["snapshot_id"], meta[-1]["snapshot_id"]
    d = snap.diff_snapshots(store, first, last)  # across a full re-base: general path
    assert sorted(as_ids(store, d.removed)) == sorted(set(expected[first]) - set(expected[last]))
    assert sorted(as_ids(store, d.added)) == sorted(set(expected[last]) - set(expected[first]))
    mid = meta[5]["snapshot_id"]  # ancestor path: composed changes
    d = snap.diff_snapshots(store, first, mid)
    assert sorted(as_ids(store, d.added)) == sorted(set(expected[mid]) - set(expected[first]))


def test_partial_snapshot_is_flagged_never_a_base_never_complete(store: Store) -> None:
    ids = xids(np.random.default_rng(6), 500)
    s1 = add(store, "a", T0, ids)
    p = add(store, "a", T0 + timedelta(hours=1), ids[:200], partial=True)
    s3 = add(store, "a", T0 + timedelta(hours=2), ids[1:])
    assert s1 and p and s3
    meta = {m["snapshot_id"]: m for m in snap.list_snapshots(store).to_pylist()}
    assert meta[p]["partial"] is True and meta[p]["base_snapshot_id"] is None
    assert meta[s3]["base_snapshot_id"] in (s1, None)
    with pytest.raises(AnalysisError, match="partial"):
        snap.diff_snapshots(store, s1, p, complete=True)
    d = snap.diff_snapshots(store, s1, p)
    assert d.new_partial and not d.old_partial and not d.complete
    assert len(d.removed) == 300


def test_identical_snapshot_is_not_stored_twice(store: Store) -> None:
    ids = xids(np.random.default_rng(7), 300)
    with store.writer(command="test", source="test") as w:
        s1 = snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0, follower_ids=ids)
        assert snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0, follower_ids=ids) is None
    assert s1 is not None
    assert add(store, "a", T0, ids) is None  # a new writer finds it stored
    assert add(store, "a", T0, pa.array(ids)) is None
    assert snap.list_snapshots(store).num_rows == 1
    assert store.read("accounts").num_rows == 300


def test_unordered_and_duplicate_ids(store: Store) -> None:
    ids = xids(np.random.default_rng(8), 100)
    s = add(store, "a", T0, ids, ordered=False)
    assert s is not None and snap.load_order(store, s) is None
    dup = ids[:10] + ids[5:20]  # pages shifted while reading: ids 5..9 twice
    s2 = add(store, "a", T0 + timedelta(days=1), dup)
    assert s2 is not None
    assert as_ids(store, snap.load_order(store, s2)) == ids[:20]  # type: ignore[arg-type]
    assert snap.list_snapshots(store).to_pylist()[1]["n_followers"] == 20


def test_bad_input_is_refused(store: Store) -> None:
    with store.writer(command="test", source="test") as w:
        with pytest.raises(InputError, match="time zone"):
            snap.add_snapshot(w, platform="x", account_id="a", observed_at=datetime(2025, 1, 1), follower_ids=["1"])
        with pytest.raises(InputError, match="null"):
            snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0, follower_ids=pa.array(["1", None]))
    with pytest.raises(StoreError, match="no snapshot"):
        snap.load_followers(store, "nope")


def test_id_mapping_helpers(store: Store) -> None:
    add(store, "a", T0, ["11", "22", "33"])
    sids = snap.ids_to_sids(store, "x", ["33", "44", "11"])
    assert sids[1] == -1 and sids[0] >= 0 and sids[2] >= 0
    assert snap.sids_to_ids(store, "x", np.array([sids[0], 10**9])).to_pylist() == ["33", None]
    assert snap.ids_to_sids(store, "bluesky", ["33"]).tolist() == [-1]


def test_snapshots_survive_compaction(store: Store) -> None:
    rng = np.random.default_rng(9)
    ids = xids(rng, 1000)
    s1 = add(store, "a", T0, ids)
    s2 = add(store, "a", T0 + timedelta(days=1), ["5"] + ids[3:])
    s3 = add(store, "b", T0, ids[:50])
    before = {s: snap.load_order(store, s) for s in (s1, s2, s3)}  # type: ignore[misc]
    store.compact()
    assert len(store.files("snapshots")) == 1
    for s, order in before.items():
        assert np.array_equal(snap.load_order(store, s), order)  # type: ignore[arg-type]
    assert add(store, "a", T0 + timedelta(days=1), ["5"] + ids[3:]) is None


# ------------------------------------------------------------------ docs


def _doc_snippet() -> str:
    text = DOCS.read_text()
    m = re.search(r"<!-- decoder:start -->\s*```python\n(.*?)```\s*<!-- decoder:end -->", text, re.S)
    assert m, "docs/store.md lost its stand-alone decoder snippet"
    return m.group(1)


def test_documented_decoder_reads_the_store_without_purgewatch(store: Store) -> None:
    rng = np.random.default_rng(10)
    other = xids(rng, 3000)
    add(store, "o", T0, other)
    # Known followers (scattered sids, own order) interleaved with new ones: split mode.
    known = list(rng.choice(other, 500, replace=False))
    # new followers whose ids ascend in follow order (young accounts following): their
    # sids ascend in list order too
    fresh = sorted(xids(rng, 700, start=3 * 10**17))
    ids1 = [known.pop() if rng.random() < 0.4 and known else fresh.pop() for _ in range(1100)]
    s1 = add(store, "a", T0, ids1)
    ids2 = ["777"] + ids1[:400] + ids1[410:700] + [ids1[5]] + ids1[700:]  # ids1[5] refollowed
    del ids2[6]
    s2 = add(store, "a", T0 + timedelta(days=1), ids2)
    modes = {r["snapshot_id"]: r["order_payload"][5] for f in store.files("snapshots")
             for r in pq.read_table(f, columns=["snapshot_id", "order_payload"]).to_pylist()}
    assert modes[s1] == _codec.ORDER_SPLIT and modes[s2] in (_codec.ORDER_PERMUTATION, _codec.ORDER_SPLIT)
    ns: dict[str, object] = {}
    exec(compile(_doc_snippet(), str(DOCS), "exec"), ns)  # noqa: S102 - our own docs
    followers = ns["followers"]
    newest_first = ns["newest_first"]
    root = str(store.path)
    for sid, ids in ((s1, ids1), (s2, ids2)):
        got = followers(root, sid)  # type: ignore[operator]
        assert np.array_equal(got, snap.load_followers(store, sid))
        order = newest_first(root, sid)  # type: ignore[operator]
        assert as_ids(store, order) == ids


# ------------------------------------------------------------------ model-based


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),  # account
            st.lists(st.integers(0, 60), max_size=40),  # follower ids, newest first
            st.booleans(),  # partial
            st.booleans(),  # ordered
            st.booleans(),  # commit after this one
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_any_sequence_of_snapshots_reads_back_exactly(
    steps: list[tuple[str, list[int], bool, bool, bool]], prefer_changes: bool
) -> None:

    saved = snap._CHANGE_MAX_RATIO
    # Tiny lists are often cheaper in full; half the runs force changes where allowed.
    snap._CHANGE_MAX_RATIO = 100.0 if prefer_changes else saved
    try:
        _check_sequence(steps)
    finally:
        snap._CHANGE_MAX_RATIO = saved


def _check_sequence(steps: list[tuple[str, list[int], bool, bool, bool]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "s")
        expected: dict[str, tuple[list[str], bool, bool]] = {}
        w_ctx = store.writer(command="t", source="t")
        w = w_ctx.__enter__()
        for i, (account, followers, partial, ordered, commit) in enumerate(steps):
            ids = [f"1{f:05d}" for f in followers]
            sid = snap.add_snapshot(
                w, platform="x", account_id=account, observed_at=T0 + timedelta(hours=i),
                follower_ids=ids, partial=partial, ordered=ordered,
            )
            assert sid is not None
            unique_newest_first = list(dict.fromkeys(ids))
            expected[sid] = (unique_newest_first, partial, ordered)
            if commit:  # a new writer session: state must be rebuilt from the store
                w_ctx.__exit__(None, None, None)
                w_ctx = store.writer(command="t", source="t")
                w = w_ctx.__enter__()
        w_ctx.__exit__(None, None, None)
        ids_of = {k: set(v[0]) for k, v in expected.items()}
        for sid, (ids, _partial, ordered) in expected.items():
            assert sorted(as_ids(store, snap.load_followers(store, sid))) == sorted(ids)
            order = snap.load_order(store, sid)
            if ordered:
                assert order is not None and as_ids(store, order) == ids
            else:
                assert order is None
        keys = list(expected)
        for old, new in zip(keys, keys[1:], strict=False):
            d = snap.diff_snapshots(store, old, new)
            assert set(as_ids(store, d.removed)) == ids_of[old] - ids_of[new]
            assert set(as_ids(store, d.added)) == ids_of[new] - ids_of[old]
        meta = snap.list_snapshots(store).to_pylist()
        for m in meta:
            if m["partial"]:
                assert m["base_snapshot_id"] is None
            if m["base_snapshot_id"] is not None:
                base = next(b for b in meta if b["snapshot_id"] == m["base_snapshot_id"])
                assert not base["partial"] and base["account_id"] == m["account_id"]


def test_a_writer_keeps_adding_snapshots_after_compacting_under_itself(store: Store) -> None:
    """Review finding: watch compacts with its writer open; once the old generation is
    deleted, the writer must read earlier snapshots from the new files."""
    rng = np.random.default_rng(11)
    ids = xids(rng, 400)
    first = add(store, "a", T0, ids)  # stored before the watch's writer exists
    with store.writer(command="watch", source="t") as w:
        snap.add_snapshot(w, platform="x", account_id="b", observed_at=T0, follower_ids=ids[:20])
        w.commit()
        assert w.compact(grace_seconds=0)["generations_dropped"] == 1  # the first one, gone
        later = snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0 + timedelta(days=1),
                                  follower_ids=ids[5:])
    assert later is not None
    d = snap.diff_snapshots(store, first, later, complete=True)  # type: ignore[arg-type]
    assert sorted(as_ids(store, d.removed)) == sorted(ids[:5]) and len(d.added) == 0


def test_diff_many_agrees_with_diff_snapshots(store: Store) -> None:
    rng = np.random.default_rng(21)
    snaps = {}
    for acct in ("a", "b", "c"):
        ids = xids(rng, 800)
        snaps[acct] = [add(store, acct, T0, ids)]
        for day in (1, 2):
            ids = xids(rng, 5, start=9 * 10**17 + day * 1000) + [i for i in ids if rng.random() > 0.02]
            snaps[acct].append(add(store, acct, T0 + timedelta(days=day), ids))
    pairs = [(s[0], s[2]) for s in snaps.values()] + [(s[2], s[1]) for s in snaps.values()]
    many = snap.diff_many(store, pairs, complete=True)  # type: ignore[arg-type]
    for (o, n), d in zip(pairs, many, strict=True):
        one = snap.diff_snapshots(store, o, n, complete=True)  # type: ignore[arg-type]
        assert np.array_equal(one.removed, d.removed) and np.array_equal(one.added, d.added)
        assert len(d.removed) > 0
