"""Snapshot changes v2 (removals as ranks in the chain's full set, Rice coded): codec
round-trips, chains whose mid-chain arrivals leave again, and stores holding v1 changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.errors import StoreError
from purgewatch.store import Store, _codec
from purgewatch.store import snapshots as snap

T0 = datetime(2025, 2, 1, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "store.md"


def as_ids(store: Store, sids: np.ndarray) -> list[str]:
    return snap.sids_to_ids(store, "x", sids).to_pylist()


def rows(store: Store) -> dict[str, dict[str, Any]]:
    return {
        r["snapshot_id"]: r
        for f in store.files("snapshots")
        for r in pq.read_table(f).to_pylist()
    }


# ------------------------------------------------------------------ Rice and rank blocks


def _rice_roundtrip(values: np.ndarray, k: int | None) -> bytes:
    blob = _codec.encode_rice(values, k)
    out, end = _codec.decode_rice(memoryview(blob))
    assert end == len(blob)
    assert out.dtype == np.int64 and np.array_equal(out, values)
    return blob


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=2**62), max_size=200),
    st.one_of(st.none(), st.integers(0, 62)),
)
def test_rice_roundtrip_any_values(values: list[int], k: int | None) -> None:
    arr = np.array(values, dtype=np.int64)
    if k is not None and len(arr) + sum(v >> k for v in values) > 64 * len(arr) + (1 << 24):
        with pytest.raises(ValueError, match="too small"):
            _codec.encode_rice(arr, k)
        return
    _rice_roundtrip(arr, k)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), max_size=300), st.integers(0, 10))
def test_rice_roundtrip_small_values_any_k(values: list[int], k: int) -> None:
    _rice_roundtrip(np.array(values, dtype=np.int64), k)


def test_rice_edge_cases() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert len(_rice_roundtrip(empty, None)) == 17  # header only
    assert len(_rice_roundtrip(empty, 0)) == 17
    _rice_roundtrip(np.array([0]), 0)  # one element, gap 0: one bit
    _rice_roundtrip(np.array([0, 0, 0, 0, 0, 0, 0, 0, 0]), 0)  # 9 bits: a second byte
    _rice_roundtrip(np.array([7]), 0)
    _rice_roundtrip(np.array([2**62]), None)  # huge: k chosen large
    _rice_roundtrip(np.array([0, 2**40, 1, 2**62]), None)
    _rice_roundtrip(np.array([5, 0, 3], dtype=np.int64), 62)
    with pytest.raises(ValueError, match="non-negative"):
        _codec.encode_rice(np.array([-1]))
    with pytest.raises(ValueError, match="too small"):
        _codec.encode_rice(np.array([2**40]), 0)


def test_rice_parameter_near_the_entropy_of_random_removals() -> None:
    rng = np.random.default_rng(1)
    n, r = 200_000, 2_000
    ranks = np.sort(rng.choice(n, r, replace=False)).astype(np.int64)
    gaps = np.diff(ranks, prepend=-1) - 1
    k = _codec.rice_k(gaps)
    assert all(_codec.rice_size(gaps, k) <= _codec.rice_size(gaps, j) for j in range(0, 12))
    blob = _codec.encode_ranks(ranks)
    bound = sum(np.log2(np.arange(n - r + 1, n + 1))) - sum(np.log2(np.arange(1, r + 1)))
    assert blob[0] == _codec.RANKS_RICE
    assert 8 * len(blob) < 1.01 * bound + 8 * 32  # within 1% of log2 C(n, r), plus header


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**62), unique=True, max_size=200))
def test_rank_block_roundtrip_both_modes(values: list[int]) -> None:
    ranks = np.array(sorted(values), dtype=np.int64)
    for blob in (
        _codec.encode_ranks(ranks),  # the smaller mode
        bytes([_codec.RANKS_SORTED]) + _codec.encode_sorted(ranks),
    ):
        out, end = _codec.decode_ranks(memoryview(blob + b"tail"))
        assert end == len(blob) and np.array_equal(out, ranks)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), unique=True, max_size=200), st.randoms())
def test_sorted_block_lookup_at_positions(values: list[int], rnd: object) -> None:
    arr = np.array(sorted(values), dtype=np.int64)
    blob = memoryview(b"xx" + _codec.encode_sorted(arr))
    pos = np.array(sorted(rnd.sample(range(len(arr)), rnd.randint(0, len(arr)))), dtype=np.int64)  # type: ignore[attr-defined]
    assert np.array_equal(_codec.decode_sorted_at(blob, 2, pos), arr[pos])
    with pytest.raises(ValueError, match="outside"):
        _codec.decode_sorted_at(blob, 2, np.array([len(arr)]))


def test_v2_payload_roundtrip_and_damage() -> None:
    ranks, other, added = np.array([0, 5, 6]), np.array([100, 200]), np.array([300])
    blob = _codec.encode_change_ranks(ranks, other, added)
    kind, arrays = _codec.decode_set_payload(blob)
    assert kind == _codec.KIND_CHANGE_RANKS
    for got, want in zip(arrays, (ranks, other, added), strict=True):
        assert np.array_equal(got, want)
    with pytest.raises(StoreError, match="damaged"):
        _codec.decode_set_payload(blob[:12])
    with pytest.raises(StoreError, match="unknown kind"):
        _codec.decode_set_payload(b"PWS1\x07")


# ------------------------------------------------------------------ chains


def _add(w: object, when: datetime, ids: list[str], **kw: object) -> str:
    sid = snap.add_snapshot(w, platform="x", account_id="a", observed_at=when, follower_ids=ids, **kw)  # type: ignore[arg-type]
    assert sid is not None
    return sid


POOL = [str(10**15 + i) for i in np.random.default_rng(0).choice(10**6, 5000, replace=False)]


def _seed_pool(store: Store) -> None:
    """Another account's list holds every follower first: their sids are scattered, so a
    change is far smaller than a full set (as for real lists)."""
    with store.writer(command="t", source="t") as w:
        snap.add_snapshot(w, platform="x", account_id="pool", observed_at=T0, follower_ids=POOL)


def _chain_lists(seed: int, days: int) -> list[list[str]]:
    """Follower lists (newest first): each day some leave (old or recent arrivals), some
    arrive; every other day an arrival of the previous day leaves again."""
    rng = np.random.default_rng(seed)
    pool = list(rng.permutation(POOL))
    current = pool[:800]
    nxt = 800
    out = [list(current)]
    for day in range(1, days):
        arrive = pool[nxt : nxt + 15]
        nxt += 15
        leave = set(rng.choice(current, 6, replace=False))
        if day % 2 == 0:
            leave |= set(out[-1][:3])  # yesterday's newest followers leave again
        current = arrive + [c for c in current if c not in leave]
        out.append(list(current))
    return out


def _documented_decoder() -> dict[str, object]:
    m = re.search(r"<!-- decoder:start -->\s*```python\n(.*?)```\s*<!-- decoder:end -->", DOCS.read_text(), re.S)
    assert m, "docs/store.md lost its stand-alone decoder snippet"
    ns: dict[str, object] = {}
    exec(compile(m.group(1), str(DOCS), "exec"), ns)  # noqa: S102 - our own docs
    return ns


def _check_store(store: Store, lists: dict[str, list[str]]) -> None:
    ids = list(lists)
    doc = _documented_decoder()
    for sid, expected in lists.items():  # the decoder in the docs agrees, v1 and v2
        assert np.array_equal(doc["followers"](str(store.path), sid), snap.load_followers(store, sid))  # type: ignore[operator]
        assert as_ids(store, doc["newest_first"](str(store.path), sid)) == expected  # type: ignore[operator]
    for sid, expected in lists.items():
        assert sorted(as_ids(store, snap.load_followers(store, sid))) == sorted(expected)
        assert as_ids(store, snap.load_order(store, sid)) == expected  # type: ignore[arg-type]
    for old, new in [*zip(ids, ids[1:], strict=False), (ids[0], ids[-1]), (ids[-1], ids[2])]:
        d = snap.diff_snapshots(store, old, new)
        assert sorted(as_ids(store, d.removed)) == sorted(set(lists[old]) - set(lists[new]))
        assert sorted(as_ids(store, d.added)) == sorted(set(lists[new]) - set(lists[old]))


@pytest.mark.parametrize("commit_every", [1, 3, 100])
def test_v2_chain_with_mid_chain_arrivals_leaving(store: Store, commit_every: int) -> None:
    _seed_pool(store)
    days = _chain_lists(12, 9)
    lists: dict[str, list[str]] = {}
    w_ctx = store.writer(command="t", source="t")
    w = w_ctx.__enter__()
    for day, ids in enumerate(days):
        lists[_add(w, T0 + timedelta(days=day), ids)] = ids
        if day % commit_every == commit_every - 1:  # a new writer: chain state from disk
            w_ctx.__exit__(None, None, None)
            w_ctx = store.writer(command="t", source="t")
            w = w_ctx.__enter__()
    w_ctx.__exit__(None, None, None)
    stored = rows(store)
    first = next(iter(lists))
    others_seen = 0
    for sid in list(lists)[1:]:
        r = stored[sid]
        assert r["encoding"] == snap.ENCODING_CHANGE
        kind, (ranks, other, _added) = _codec.decode_set_payload(r["payload"])  # type: ignore[arg-type]
        assert kind == _codec.KIND_CHANGE_RANKS and len(ranks) >= 1 and len(ranks) + len(other) >= 6
        others_seen += len(other)
    assert stored[first]["base_snapshot_id"] is None
    assert others_seen >= 3 * 3  # days 2, 4, 6, 8: arrivals within the chain left again
    _check_store(store, lists)


def test_v2_chain_when_the_full_set_is_evicted_from_the_writer(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # The full snapshot is queued in this writer and evicted: its removals fall back to sids.
    monkeypatch.setattr(snap, "_CACHE_BYTES", 1)
    _seed_pool(store)
    days = _chain_lists(13, 5)
    lists: dict[str, list[str]] = {}
    with store.writer(command="t", source="t") as w:
        for day, ids in enumerate(days):
            lists[_add(w, T0 + timedelta(days=day), ids)] = ids
    stored = rows(store)
    payloads = [_codec.decode_set_payload(stored[s]["payload"]) for s in list(lists)[2:]]  # type: ignore[arg-type]
    assert all(kind == _codec.KIND_CHANGE_RANKS and len(a[0]) == 0 and len(a[1]) for kind, a in payloads)
    _check_store(store, lists)


def test_partial_snapshot_in_a_chain_is_never_the_base(store: Store) -> None:
    _seed_pool(store)
    days = _chain_lists(14, 4)
    lists: dict[str, list[str]] = {}
    with store.writer(command="t", source="t") as w:
        lists[_add(w, T0, days[0])] = days[0]
        p = _add(w, T0 + timedelta(hours=1), days[1][:100], partial=True)
        lists[_add(w, T0 + timedelta(days=1), days[1])] = days[1]
        p2 = _add(w, T0 + timedelta(days=1, hours=1), days[2][:50], partial=True)
        lists[_add(w, T0 + timedelta(days=2), days[2])] = days[2]
    stored = rows(store)
    ids = list(lists)
    assert stored[p]["base_snapshot_id"] is None and stored[p2]["base_snapshot_id"] is None
    assert stored[ids[1]]["base_snapshot_id"] == ids[0]
    assert stored[ids[2]]["base_snapshot_id"] == ids[1]
    _check_store(store, lists)
    assert sorted(as_ids(store, snap.load_followers(store, p2))) == sorted(days[2][:50])


# ------------------------------------------------------------------ v1 stores


def _write_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make add_snapshot write changes the way the v1 code did."""

    def v1(ranks: np.ndarray, other: np.ndarray, added: np.ndarray) -> bytes:
        assert len(ranks) == 0
        return _codec.encode_change(other, added)

    monkeypatch.setattr(snap, "_ranks", lambda root, removed: (np.zeros(0, dtype=np.int64), removed))
    monkeypatch.setattr(snap._codec, "encode_change_ranks", v1)
    monkeypatch.setattr(snap, "ENCODING_CHANGE", snap.ENCODING_CHANGE_V1)


def test_store_with_v1_changes_reads_and_diffs_like_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    days = _chain_lists(15, 6)
    stores: dict[str, tuple[Store, dict[str, list[str]]]] = {}
    for version in ("v1", "v2"):
        with monkeypatch.context() as m:
            if version == "v1":
                _write_v1(m)
            store = Store.init(tmp_path / version)
            _seed_pool(store)
            lists: dict[str, list[str]] = {}
            with store.writer(command="t", source="t") as w:
                for day, ids in enumerate(days[:4]):
                    lists[_add(w, T0 + timedelta(days=day), ids)] = ids
            stores[version] = (store, lists)
    v1_store, v1_lists = stores["v1"]
    v2_store, v2_lists = stores["v2"]
    assert list(v1_lists) == list(v2_lists)  # same ids: the snapshot id does not depend on the encoding
    enc = {s: r["encoding"] for s, r in rows(v1_store).items()}
    assert sorted(enc.values()) == ["sidset-change-v1"] * 3 + ["sidset-full-v1"] * 2  # with the pool
    assert sorted(r["encoding"] for r in rows(v2_store).values()) == ["sidset-change-v2"] * 3 + ["sidset-full-v1"] * 2
    assert all(rows(v1_store)[s]["payload"][4] == _codec.KIND_CHANGE for s in list(v1_lists)[1:])  # type: ignore[index]
    _check_store(v1_store, v1_lists)
    ids = list(v1_lists)
    for old in ids:
        for new in ids:
            a = snap.diff_snapshots(v1_store, old, new)
            b = snap.diff_snapshots(v2_store, old, new)
            assert np.array_equal(a.removed, b.removed) and np.array_equal(a.added, b.added)
    # The current code continues a v1 chain with v2 changes: a mixed chain reads back.
    with v1_store.writer(command="t", source="t") as w:
        for day, ids_ in enumerate(days[4:], start=4):
            v1_lists[_add(w, T0 + timedelta(days=day), ids_)] = ids_
    enc = {s: r["encoding"] for s, r in rows(v1_store).items()}
    assert [enc[s] for s in list(v1_lists)[4:]] == ["sidset-change-v2"] * 2
    _check_store(v1_store, v1_lists)


def test_v2_rank_past_the_full_set_is_a_store_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed_pool(store)
    days = _chain_lists(16, 2)
    real = _codec.encode_change_ranks

    def bad(ranks: np.ndarray, other: np.ndarray, added: np.ndarray) -> bytes:
        return real(np.append(ranks, 10**6), other, added)

    with store.writer(command="t", source="t") as w:
        _add(w, T0, days[0])
        monkeypatch.setattr(snap._codec, "encode_change_ranks", bad)
        s2 = _add(w, T0 + timedelta(days=1), days[1])
    with pytest.raises(StoreError, match="full set of 800"):
        snap.load_followers(store, s2)


# ------------------------------------------------------------------ a long-running writer


def test_long_running_writer_diffs_each_day_from_its_cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A writer held across days (watch) keeps each account's latest list and its chain's
    # full set: a day's lists are diffed without reading yesterday's back from the store,
    # and today's set is not encoded in full when its change is far smaller.
    _seed_pool(store)
    days = _chain_lists(21, 6)
    lists: dict[str, list[str]] = {}
    encoded_full = []
    real_full = snap._codec.encode_full

    def counting_full(sids: np.ndarray) -> bytes:
        encoded_full.append(len(sids))
        return real_full(sids)

    def no_read(*_a: object) -> None:
        raise AssertionError("read back from the store")

    monkeypatch.setattr(snap._codec, "encode_full", counting_full)
    full_encoded_on: list[bool] = []
    with store.writer(command="t", source="t") as w:
        for day, ids in enumerate(days):
            before = len(encoded_full)
            lists[_add(w, T0 + timedelta(days=day), ids)] = ids
            full_encoded_on.append(len(encoded_full) > before)
            w.commit()
            if day == 0:
                monkeypatch.setattr(snap._Reader, "followers", no_read)
                monkeypatch.setattr(snap._Reader, "order_oldest_first", no_read)
                monkeypatch.setattr(snap._Reader, "full_set", no_read)
        st = snap._STATES[w]
        kept = st.by_account[("x", "a")]
        assert kept == {next(iter(lists)), list(lists)[-1]}  # the chain's full set and the latest
        assert st.cache_bytes == sum(c.values.nbytes for c in st.cache.values())
        assert all(c.values.dtype == np.int32 for c in st.cache.values())
        root_bytes = st.full_bytes[next(iter(lists))]
    monkeypatch.undo()
    stored = rows(store)
    assert all(stored[s]["encoding"] == snap.ENCODING_CHANGE for s in list(lists)[1:])
    # today's set was encoded in full exactly when its change was not under a quarter
    # of the root's full encoding (day 0 is the root itself)
    small = [len(stored[s]["payload"]) < 0.25 * root_bytes for s in lists]
    assert full_encoded_on == [True] + [not x for x in small[1:]]
    assert any(small[1:])
    _check_store(store, lists)


def test_change_near_the_full_size_is_still_compared_with_it(store: Store) -> None:
    # A first list into an empty store gets consecutive sids: its full set encodes to
    # almost nothing, so a later change is compared with today's full encoding and the
    # smaller is stored.
    ids = [str(10**12 + i) for i in range(4000)]
    with store.writer(command="t", source="t") as w:
        first = _add(w, T0, ids)
        w.commit()
        rng = np.random.default_rng(3)
        gone = set(rng.choice(ids, 400, replace=False).tolist())
        later = [str(10**13 + i) for i in range(400)] + [i for i in ids if i not in gone]
        second = _add(w, T0 + timedelta(days=1), later)
        third = _add(w, T0 + timedelta(days=2), later[5:])
        st = snap._STATES[w]
        assert st.full_bytes[first] < 200
    stored = rows(store)
    change = _codec.encode_change_ranks(
        np.sort(np.array([ids.index(g) for g in gone])), np.zeros(0, np.int64), np.arange(4000, 4400)
    )
    full = stored[second]["payload"]
    assert len(change) >= snap._CHANGE_MAX_RATIO * len(full)  # so the change was refused
    assert stored[second]["encoding"] == snap.ENCODING_FULL
    _check_store(store, {first: ids, second: later, third: later[5:]})


def test_snapshot_rows_are_queued_as_one_table_per_commit(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    added: list[tuple[str, int]] = []
    real_add = snap.BatchWriter.add

    def spy(self: snap.BatchWriter, table: str, rows_: object) -> int:
        added.append((table, rows_.num_rows))  # type: ignore[attr-defined]
        return real_add(self, table, rows_)  # type: ignore[arg-type]

    monkeypatch.setattr(snap.BatchWriter, "add", spy)
    with store.writer(command="t", source="t") as w:
        for i in range(5):
            snap.add_snapshot(w, platform="x", account_id=f"a{i}", observed_at=T0, follower_ids=[str(100 + i), "7"])
        assert w.pending_rows() == 5  # counting pending rows hands the buffered ones over
        snap.add_snapshot(w, platform="x", account_id="b", observed_at=T0, follower_ids=[str(10**6 + i) for i in range(500)])
        big = w.pending_bytes()  # the sixth row and the 500 new catalogue ids
        assert big > 500 * 8 and len(added) == 2
        w.commit()
        assert w.pending_bytes() == 0
    assert added == [("snapshots", 5), ("snapshots", 1)]
    assert snap.list_snapshots(store).num_rows == 6


def test_a_closed_writer_frees_its_snapshot_state_without_a_gc_pass(store: Store) -> None:
    # A writer's lists and catalogue are gigabytes at scale: a daily job opening one
    # writer a day must not keep yesterday's alive in a reference cycle.
    import gc
    import weakref

    gc.disable()
    try:
        with store.writer(command="t", source="t") as w:
            snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0, follower_ids=["1", "2"])
            refs = [weakref.ref(w), weakref.ref(snap._STATES[w])]
        del w
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()
