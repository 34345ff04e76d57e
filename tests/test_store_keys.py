"""The writer's set of stored content keys: a sorted base plus merged runs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.store._store import _KeySet

keys = st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=40)


@settings(max_examples=60, deadline=None)
@given(base=keys, batches=st.lists(keys, max_size=30), probe=keys)
def test_keyset_answers_like_a_python_set(base: list[int], batches: list[list[int]], probe: list[int]) -> None:
    ks = _KeySet(np.array(base, dtype=np.uint64))
    model = set(base)
    for b in batches:
        ks.add_sorted(np.unique(np.array(b, dtype=np.uint64)))
        model |= set(b)
        # runs stay few: each is bigger than the next newer one (so O(log n) of them)
        assert all(len(a) > len(b_) for a, b_ in zip(ks.runs[:-1], ks.runs[1:], strict=True))
    q = np.sort(np.array(probe + sorted(model)[:10], dtype=np.uint64))
    assert ks.contains_sorted(q).tolist() == [int(x) in model for x in q]
