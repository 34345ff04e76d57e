"""Follower paging progress (``PagingStore``): an append-only journal per listing whose
saves cost the new page, a torn last line ignored on load, and the whole-JSON state
files of earlier versions still read."""

from __future__ import annotations

import copy
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import purgewatch.collect.state as state_mod
from purgewatch.collect.state import PagingStore, write_json_atomic
from purgewatch.sources.protocol import PagingState

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "state" / "followers").rglob("*") if p.is_file())


def _page(k: int, n: int) -> list[str]:
    return [f"{k:06d}{i:013d}" for i in range(n)]


def _listing(store: PagingStore, pages: int, per_page: int = 3) -> list[PagingState]:
    """Save ``pages`` pages the way a connector does (one state extended in place);
    returns a copy of the state as of each save."""
    state = PagingState("x", "42", T0, source_ref="https://api.x.com/2/users/42/followers")
    seen = []
    for k in range(pages):
        state.follower_ids.extend(_page(k, per_page))
        state.pages += 1
        state.cursor = f"tok{k + 1}"
        store.save(state)
        seen.append(copy.deepcopy(state))
    return seen


def test_saves_round_trip_and_clear_removes_the_journal(tmp_path: Path) -> None:
    store = PagingStore(tmp_path)
    seen = _listing(store, 7)
    assert PagingStore(tmp_path).load("x", "42") == seen[-1]
    assert PagingStore(tmp_path).load("x", "43") is None and PagingStore(tmp_path).load("bluesky", "42") is None
    store.clear("x", "42")
    assert _files(tmp_path) == [] and store.load("x", "42") is None


def test_a_journal_cut_at_any_byte_loads_as_some_earlier_save_never_torn(tmp_path: Path) -> None:
    """A SIGKILL can stop a write at any byte: whatever is left must load as exactly the
    state of one save (the last one whose line is whole), or nothing before the first."""
    seen = _listing(PagingStore(tmp_path), 6)
    (journal,) = _files(tmp_path)
    raw = journal.read_bytes()
    ends = [i + 1 for i, b in enumerate(raw) if b == ord("\n")]  # header, then one per save
    assert len(ends) == 1 + len(seen)
    for cut in range(len(raw) + 1):
        journal.write_bytes(raw[:cut])
        got = PagingStore(tmp_path).load("x", "42")
        whole = sum(1 for e in ends[1:] if e <= cut)
        assert got == (seen[whole - 1] if whole else None), f"cut at byte {cut}"


def test_resume_after_a_kill_mid_line_compacts_and_carries_on(tmp_path: Path) -> None:
    seen = _listing(PagingStore(tmp_path), 5)
    (journal,) = _files(tmp_path)
    raw = journal.read_bytes()
    journal.write_bytes(raw[:-9])  # the 5th page's line was being written
    # A new process: loads, the connector extends the loaded state, the collector saves.
    store = PagingStore(tmp_path)
    state = store.load("x", "42")
    assert state == seen[3]
    for k in range(4, 8):  # the 5th page is read again, then three more
        state.follower_ids.extend(_page(k, 3))
        state.pages += 1
        state.cursor = f"tok{k + 1}"
        store.save(state)
    back = PagingStore(tmp_path).load("x", "42")
    assert back is not None and back.follower_ids == [i for k in range(8) for i in _page(k, 3)]
    assert (back.cursor, back.pages) == ("tok8", 8)
    # The first save after the resume rewrote the journal: no torn bytes left inside.
    lines = journal.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2 + 1 + 3, "header, the resumed state, three pages"


def test_a_damaged_line_inside_drops_it_and_everything_after(tmp_path: Path) -> None:
    seen = _listing(PagingStore(tmp_path), 5)
    (journal,) = _files(tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"n":9,', b'"n":8,')  # the 3rd save's line, miscounted
    journal.write_bytes(b"\n".join(lines))
    assert PagingStore(tmp_path).load("x", "42") == seen[1]
    lines[3] = b"\0" * 20  # what a machine crash can leave in an unsynced tail
    journal.write_bytes(b"\n".join(lines))
    assert PagingStore(tmp_path).load("x", "42") == seen[1]


def test_state_file_of_the_earlier_whole_json_form_loads_and_is_replaced(tmp_path: Path) -> None:
    # Written exactly as the earlier version did: STORE/state/followers/<platform>/
    # <sha256(platform NUL id)[:32]>.json, the whole state through write_json_atomic.
    old = PagingState("mastodon", "7@mastodon.social", T0, cursor="1234", follower_ids=["1@m", "2@m"], pages=1,
                      source_ref="https://mastodon.social/api/v1/accounts/7/followers")
    digest = hashlib.sha256(b"mastodon\x007@mastodon.social").hexdigest()[:32]
    old_path = tmp_path / "state" / "followers" / "mastodon" / f"{digest}.json"
    write_json_atomic(old_path, old.to_json())
    store = PagingStore(tmp_path)
    state = store.load("mastodon", "7@mastodon.social")
    assert state == old
    assert state is not None
    state.follower_ids.append("3@m")
    state.pages, state.cursor = 2, "1200"
    store.save(state)
    assert not old_path.exists(), "superseded by the journal"
    assert PagingStore(tmp_path).load("mastodon", "7@mastodon.social") == state
    store.clear("mastodon", "7@mastodon.social")
    assert _files(tmp_path) == []


def test_bytes_written_per_save_do_not_grow_with_the_list(tmp_path: Path) -> None:
    """Each save appends its own page only: the 400th costs what the 2nd did (the whole
    JSON form wrote the whole list every time: 400 times as much by then)."""
    store = PagingStore(tmp_path)
    state = PagingState("x", "42", T0, source_ref="https://api.x.com/2/users/42/followers")
    per_save = []
    size = 0
    for k in range(400):
        state.follower_ids.extend(_page(k, 100))
        state.pages += 1
        state.cursor = f"tok{k + 1:05d}"
        store.save(state)
        (journal,) = _files(tmp_path)
        per_save.append(journal.stat().st_size - size)
        size = journal.stat().st_size
    page_bytes = len(",".join(f'"{i}"' for i in _page(0, 100)))
    assert all(page_bytes < b < page_bytes + 80 for b in per_save[1:]), (min(per_save[1:]), max(per_save[1:]))
    assert PagingStore(tmp_path).load("x", "42") == state


def test_fsync_every_n_pages_or_t_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(state_mod.os, "fsync", lambda fd: (syncs.append(fd), real(fd))[1])
    clock = [0.0]
    monkeypatch.setattr(state_mod.time, "monotonic", lambda: clock[0])
    store = PagingStore(tmp_path)
    state = PagingState("x", "42", T0)
    for k in range(1 + 3 * state_mod.SYNC_EVERY_PAGES):
        state.follower_ids.extend(_page(k, 2))
        state.pages += 1
        store.save(state)
    # The first save writes the journal afresh (fsync'd); then one fsync per N appends.
    assert len(syncs) == 1 + 3
    syncs.clear()
    for k in range(3):
        clock[0] += state_mod.SYNC_EVERY_SECONDS  # a slow listing: every page is T seconds apart
        state.follower_ids.extend(_page(100 + k, 2))
        state.pages += 1
        store.save(state)
    assert len(syncs) == 3


def test_a_new_listing_of_the_same_account_replaces_the_journal(tmp_path: Path) -> None:
    store = PagingStore(tmp_path)
    _listing(store, 3)
    fresh = PagingState("x", "42", datetime(2026, 6, 2, tzinfo=UTC), cursor="a", follower_ids=["9"], pages=1)
    store.save(fresh)
    assert PagingStore(tmp_path).load("x", "42") == fresh
    # The same object changed under the store (not a pure extension): written afresh too.
    fresh.follower_ids[0] = "8"
    fresh.follower_ids.append("7")
    fresh.pages, fresh.cursor = 2, "b"
    store.save(fresh)
    assert PagingStore(tmp_path).load("x", "42") == fresh
