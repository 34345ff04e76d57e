"""List orders stored as APPEND orders (format 4), and the writer's hash-table catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.store import Store, _catalogue, _codec
from purgewatch.store import snapshots as snap

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def order_ids(store: Store, snapshot_id: str) -> list[str] | None:
    order = snap.load_order(store, snapshot_id)
    return None if order is None else snap.sids_to_ids(store, "x", order).to_pylist()


def order_kind(store: Store, snapshot_id: str) -> int:
    reader = snap._Reader(store)
    data = reader.payload(reader.get(snapshot_id), "order_payload")
    assert data is not None
    return int(data[4])


def daily_lists(days: int, seed: int, *, n: int = 3000, moves: int = 4) -> list[list[str]]:
    """Newest-first lists: each day 1% leave, ``moves`` refollow (move to the newest
    end), 1% arrive (some of them followers who left earlier)."""
    rng = np.random.default_rng(seed)
    pool = [str(10**15 + int(x)) for x in rng.choice(10**9, n * 3, replace=False)]
    cur, fresh, left = pool[:n], pool[n:], []
    out = [list(cur)]
    for _ in range(days - 1):
        gone = set(rng.choice(cur, n // 100, replace=False).tolist())
        moved = [x for x in rng.choice(cur, moves, replace=False).tolist() if x not in gone] if moves else []
        back = left[: n // 300]
        left = left[n // 300 :] + sorted(gone)
        new = [fresh.pop() for _ in range(n // 100 - len(back))] + back
        rng.shuffle(new)
        cur = new + moved + [x for x in cur if x not in gone and x not in moved]
        out.append(list(cur))
    return out


@pytest.mark.parametrize("per_writer", [1, 40])
def test_long_chain_orders_read_back_exactly(store: Store, per_writer: int) -> None:
    lists = daily_lists(40, seed=per_writer)  # past MAX_CHAIN: a second chain starts
    ids: list[str] = []
    for start in range(0, len(lists), per_writer):
        with store.writer(command="test", source="test") as w:
            for day in range(start, min(start + per_writer, len(lists))):
                sid = snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0 + timedelta(days=day),
                                        follower_ids=lists[day])
                assert sid is not None
                ids.append(sid)
    # (small dense sets are cheaper stored in full: the first days may all be full)
    encoding = dict(zip(snap.list_snapshots(store)["snapshot_id"].to_pylist(),
                        snap.list_snapshots(store)["encoding"].to_pylist(), strict=True))
    kinds = [order_kind(store, s) for s in ids]
    full = [encoding[s] == snap.ENCODING_FULL for s in ids]
    assert sum(not f for f in full) >= 25
    assert kinds == [_codec.ORDER_REF_SORTED if f else _codec.ORDER_REF_APPEND for f in full]
    for sid, lst in zip(ids, lists, strict=True):
        assert order_ids(store, sid) == lst
    assert json.loads((store.path / "STORE.json").read_text())["version"] == 4


def test_reading_an_order_deep_in_a_chain_rebuilds_one_order_only(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-day cost must not grow with the chain: the order of the last day is one
    reference order (the chain's full snapshot) plus small steps, not one rebuilt order
    per day of the chain."""
    lists = daily_lists(30, seed=3)
    ids = []
    for day, lst in enumerate(lists):
        with store.writer(command="test", source="test") as w:
            ids.append(snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0 + timedelta(days=day),
                                         follower_ids=lst))
    calls = []
    real = snap._Reader._order_from_reference

    def counting(self: snap._Reader, m: snap._Meta, data: memoryview) -> np.ndarray:
        calls.append(m.snapshot_id)
        return real(self, m, data)

    monkeypatch.setattr(snap._Reader, "_order_from_reference", counting)
    chain = snap._Reader(store).chain(ids[-1])
    assert len(chain) >= 20
    assert order_ids(store, ids[-1]) == lists[-1]
    assert calls == [chain[0].snapshot_id]


def test_reshuffled_order_falls_back_to_a_permutation(store: Store) -> None:
    rng = np.random.default_rng(5)
    known = [str(10**12 + i) for i in range(60_000)]
    with store.writer(command="test", source="test") as w:
        w.sids("x", known)  # followers seen before: their sids are scattered, so changes pay
    first = rng.choice(known, 2000, replace=False).tolist()
    second = list(rng.permutation(first[5:]).tolist()) + [str(10**13 + i) for i in range(5)]
    third = [str(10**14)] + second[:-1]
    ids = []
    for day, lst in enumerate((first, second, third)):
        with store.writer(command="test", source="test") as w:
            ids.append(snap.add_snapshot(w, platform="x", account_id="a", observed_at=T0 + timedelta(days=day),
                                         follower_ids=lst))
    assert [order_kind(store, s) for s in ids] == [_codec.ORDER_REF_SORTED, _codec.ORDER_REF_BASE,
                                                   _codec.ORDER_REF_APPEND]
    assert [order_ids(store, s) for s in ids] == [first, second, third]


def test_damaged_append_order_is_a_store_error() -> None:
    blob = _codec.encode_order_append(np.array([3], dtype=np.int64), np.array([9, 3, 7], dtype=np.int64))
    moved, tail = _codec.decode_order_append(memoryview(blob), np.array([7, 9], dtype=np.int64))
    assert moved.tolist() == [3] and tail.tolist() == [9, 3, 7]
    with pytest.raises(Exception, match="damaged"):
        _codec.decode_order_append(memoryview(blob), np.array([7], dtype=np.int64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=10**19 - 1), max_size=300), max_size=5),
       st.lists(st.integers(min_value=0, max_value=2**64 - 2), max_size=200))
def test_u64map_matches_a_dict(batches: list[list[int]], probes: list[int]) -> None:
    table = _catalogue.U64Map()
    truth: dict[int, int] = {}
    for batch in batches:
        new = [k for k in dict.fromkeys(batch) if k not in truth]
        vals = np.arange(len(truth), len(truth) + len(new), dtype=np.int64)
        table.insert(np.array(new, dtype=np.uint64), vals)
        truth.update(zip(new, vals.tolist(), strict=True))
    keys = list(truth) + probes
    got = table.find(np.array(keys, dtype=np.uint64)).tolist()
    assert got == [truth.get(k, -1) for k in keys]
    assert table.size == len(truth)


def test_u64map_grows_and_keeps_everything() -> None:
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**63, 50_000, dtype=np.int64)).astype(np.uint64)
    table = _catalogue.U64Map()
    for chunk in np.array_split(keys, 7):
        table.insert(chunk, chunk.view(np.int64) // 3)
    assert table.size == len(keys) and 2 * table.size <= len(table.keys)
    assert np.array_equal(table.find(keys[::-1]), (keys[::-1].view(np.int64) // 3))
    assert (table.find(keys + np.uint64(1))[np.isin(keys + np.uint64(1), keys, invert=True)] == -1).all()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 2), max_size=300), st.integers(min_value=0, max_value=63))
def test_argsort_u64_sorts_like_numpy(values: list[int], spread: int) -> None:
    v = np.array(values, dtype=np.uint64) >> np.uint64(spread)  # many ties for a large spread
    order = _catalogue.argsort_u64(v)
    assert np.array_equal(np.sort(order), np.arange(len(v)))
    assert np.array_equal(v[order], np.sort(v))


def test_argsort_u64_orders_values_that_tie_in_their_kept_bits() -> None:
    rng = np.random.default_rng(4)
    # a 64-bit span with 10,000 ids: only the top 50 bits are packed, so ids that differ
    # in their low 14 bits tie in the packed words and are ordered afterwards
    v = np.concatenate([np.uint64(2**63) + rng.integers(0, 2**14, 5000).astype(np.uint64),
                        rng.integers(0, 2**14, 5000).astype(np.uint64), np.array([2**64 - 2], dtype=np.uint64)])
    v = rng.permutation(v)
    order = _catalogue.argsort_u64(v)
    assert np.array_equal(v[order], np.sort(v)) and np.array_equal(np.sort(order), np.arange(len(v)))


def test_u64map_values_widen_past_int32() -> None:
    # Values are kept as int32 while they fit; a larger one widens the table in place
    # (no growth) or while it grows, and every value reads back exactly.
    table = _catalogue.U64Map(capacity=1 << 12)
    table.insert(np.arange(1, 11, dtype=np.uint64), np.arange(10, dtype=np.int64))
    assert table.vals.dtype == np.int32
    table.insert(np.array([100], dtype=np.uint64), np.array([2**40], dtype=np.int64))
    assert table.vals.dtype == np.int64 and len(table.keys) == 1 << 12
    grow = np.arange(1000, 4000, dtype=np.uint64)
    table.insert(grow, grow.astype(np.int64) + 2**33)
    assert len(table.keys) > 1 << 12
    assert table.find(np.array([1, 10, 100, 3999, 5], dtype=np.uint64)).tolist() == [0, 9, 2**40, 3999 + 2**33, 4]
    small = _catalogue.U64Map()
    small.insert(np.arange(1, 5000, dtype=np.uint64), np.arange(4999, dtype=np.int64))  # grows, stays int32
    assert small.vals.dtype == np.int32 and small.find(np.array([4999], dtype=np.uint64)).tolist() == [4998]
