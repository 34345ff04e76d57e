"""The writer's set of stored content keys: a sorted base plus merged runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purgewatch.store._store import _KeySet, record_keys

keys = st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=40)


@settings(max_examples=60, deadline=None)
@given(base=keys, batches=st.lists(keys, max_size=30), probe=keys)
def test_keyset_answers_like_a_python_set(base: list[int], batches: list[list[int]], probe: list[int]) -> None:
    ks = _KeySet(np.array(base, dtype=np.uint64))
    model = set(base)
    for b in batches:
        ks.add_sorted(np.unique(np.array(b, dtype=np.uint64)))
        model |= set(b)
        ks.contains_sorted(np.zeros(0, dtype=np.uint64))  # a lookup merges the runs
        # runs stay few: each is bigger than the next newer one (so O(log n) of them)
        assert all(len(a) > len(b_) for a, b_ in zip(ks.runs[:-1], ks.runs[1:], strict=True))
    q = np.sort(np.array(probe + sorted(model)[:10], dtype=np.uint64))
    assert ks.contains_sorted(q).tolist() == [int(x) in model for x in q]


# -- content keys ---------------------------------------------------------------------

def _sample() -> pa.Table:
    return pa.table({
        "platform": ["x", "x", "bluesky", None],
        "account_id": ["1", "2", "did:plc:a", "3"],
        "observed_at": pa.array([datetime(2024, 5, 1, 12, tzinfo=UTC)] * 3 + [None], pa.timestamp("us", tz="UTC")),
        "followers_count": pa.array([10, None, 0, 5], pa.int64()),
        "verified": pa.array([True, False, None, True]),
    })


def test_content_keys_v2_are_the_documented_function() -> None:
    """Golden values: a change to the key function would make every re-import of an
    existing store store its rows again, so it must be deliberate (a new version)."""
    keys = record_keys(_sample(), _sample().column_names)
    assert [hex(k) for k in keys] == ["0xa6f887f4fe186245", "0x3c6c10fc8226701a",
                                      "0xcf65f23fedfbbab3", "0x679a71bccd62e1e3"]
    # version 1 (stores made before 0.2) is pandas' hash_pandas_object, unchanged
    assert [hex(k) for k in record_keys(_sample(), _sample().column_names, version=1)] == [
        "0xd4a7a90976816a8e", "0x65e5f710c2c0b1fe", "0x214c2c2815fd0088", "0xf4c7e01dd18c76d2"]


def test_content_keys_v2_follow_content_not_representation() -> None:
    t = _sample()
    cols = t.column_names
    base = record_keys(t, cols)
    # dictionary-encoded and chunked columns key like plain ones
    d = t.set_column(1, "account_id", t["account_id"].combine_chunks().dictionary_encode())
    assert np.array_equal(record_keys(d, cols), base)
    assert np.array_equal(record_keys(pa.concat_tables([t.slice(0, 1), t.slice(1)]), cols), base)
    # null, empty string, 0 and False are all different contents
    e = t.set_column(0, "platform", pa.array(["x", "x", "bluesky", ""]))
    assert record_keys(e, cols)[3] != base[3]
    z = t.set_column(3, "followers_count", pa.array([10, 0, 0, 5], pa.int64()))
    assert record_keys(z, cols)[1] != base[1]
    # the same values in two columns swapped give another key (columns are weighted)
    s = pa.table({"a": ["p", "q"], "b": ["q", "p"]})
    k = record_keys(s, ["a", "b"])
    assert k[0] != k[1]
    # a row's key does not depend on its neighbours (constant columns are folded)
    one = record_keys(t.slice(2, 1), cols)
    assert one[0] == base[2]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=6)),
                          st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))), min_size=1, max_size=30))
def test_content_keys_v2_equal_exactly_for_equal_rows(rows: list[tuple[str | None, int | None]]) -> None:
    t = pa.table({"s": pa.array([r[0] for r in rows], pa.string()),
                  "i": pa.array([r[1] for r in rows], pa.int64())})
    keys = record_keys(t, ["s", "i"]).tolist()
    by_row: dict[tuple[str | None, int | None], int] = {}
    for row, key in zip(rows, keys, strict=True):
        assert by_row.setdefault(row, key) == key
    assert len(set(keys)) == len(set(rows))  # no collision among these few distinct rows


def test_a_format_1_store_keeps_its_version_1_keys(tmp_path: Path) -> None:
    """Stores made before 0.2 hold version-1 keys: re-imports into them must still find
    their rows, so the writer keys new rows with version 1 there."""
    from purgewatch.sources.files import import_files
    from purgewatch.store import Store

    store = Store.init(tmp_path / "s")
    marker = store.path / "STORE.json"
    marker.write_text(json.dumps({"format": "purgewatch-store", "version": 1}))
    csv = tmp_path / "obs.csv"
    csv.write_text("platform,account_id,observed_at,status,followers_count\n"
                   "x,1,2024-05-01T12:00:00Z,active,10\nx,2,2024-05-01T12:00:00Z,suspended,\n")
    store = Store(store.path)
    assert store.key_version == 1
    assert import_files(store, "observations", [str(csv)]).imported == 2
    stored = store.read("observations")
    from purgewatch.store._store import content_columns

    assert stored["record_key"].to_pylist() == record_keys(
        stored, content_columns("observations"), version=1).tolist()
    again = import_files(store, "observations", [str(csv)])
    assert (again.imported, again.duplicates) == (0, 2)
    # the first writer marked it with the current format (0.1 cannot read v2 snapshot
    # changes, 0.2 integer catalogue ids) but kept its key function
    assert json.loads(marker.read_text()) == {"format": "purgewatch-store", "version": 3, "keys": 1}
    assert Store(store.path).key_version == 1
    assert Store.init(tmp_path / "new").key_version == 2


def test_keys_follow_values_whatever_the_dictionary_encoding() -> None:
    """Review finding: a categorical (dictionary) column of ints, timestamps or strings with
    a null in its dictionary must key like its plain twin, in both key versions."""
    t = _sample()
    cols = t.column_names
    for version in (1, 2):
        base = record_keys(t, cols, version=version)
        for i in (1, 2, 3, 4):  # account_id, observed_at, followers_count, verified
            enc = t.set_column(i, cols[i], t.column(i).combine_chunks().dictionary_encode())
            assert np.array_equal(record_keys(enc, cols, version=version), base), (version, cols[i])
    # a null inside the dictionary's values is a null, not a value
    nullish = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1, 1], pa.int32()), pa.array(["x", None]))
    d = t.set_column(0, "platform", nullish)
    p = t.set_column(0, "platform", pa.array(["x", "x", None, None]))
    assert np.array_equal(record_keys(d, cols), record_keys(p, cols))


def test_nearly_unique_text_is_keyed_as_through_its_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large column of mostly distinct strings (post ids, texts) is hashed row by row
    from its bytes; the keys must equal those of the dictionary route, which smaller or
    repetitive columns take (non-ASCII text and nulls included)."""
    from purgewatch.store import _store

    n = 20_000
    text = pa.array([None if i % 97 == 0 else f"pöst {i} — ✓" for i in range(n)])
    table = pa.table({"platform": ["x"] * n, "text": text, "large": text.cast(pa.large_string())})
    assert _store._mostly_distinct(text) and not _store._mostly_distinct(table["platform"].combine_chunks())
    by_rows = record_keys(table, table.column_names)
    monkeypatch.setattr(_store, "_mostly_distinct", lambda col: False)
    by_dictionary = record_keys(table, table.column_names)
    assert np.array_equal(by_rows, by_dictionary)
    # and a row keeps its key whatever else is in the column
    assert record_keys(table.slice(5, 1), table.column_names)[0] == by_rows[5]
