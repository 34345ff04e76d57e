"""Small crash-safe state files under ``STORE/state/`` (cycle progress, follower paging
cursors, the Jetstream cursor). Each write goes to a temporary file, is fsync'd and
renamed over the old one, so a SIGKILL leaves the previous or the new version, never a
torn one; follower paging progress is the exception, an append-only journal per listing
(see :class:`PagingStore`). The evidence itself stays in the store; these files only say where to resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from purgewatch.sources.protocol import PagingState


def state_dir(store_path: Path) -> Path:
    return store_path / "state"


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class CycleState:
    """When each (watchlist, kind) cycle started and whether it finished."""

    def __init__(self, store_path: Path) -> None:
        self.path = state_dir(store_path) / "watch.json"
        data = read_json(self.path)
        self.data: dict[str, dict[str, Any]] = data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def start(self, key: str, started: float, started_wall: float) -> None:
        """``started``: on the records' clock (resume compares it with observed_at);
        ``started_wall``: on the wall clock (the next cycle is due one interval later)."""
        self.data[key] = {"started": started, "started_wall": started_wall, "finished": None}
        write_json_atomic(self.path, self.data)

    def finish(self, key: str, finished: float) -> None:
        self.data.setdefault(key, {"started": finished})["finished"] = finished
        write_json_atomic(self.path, self.data)


class PagingStore:
    """Follower paging progress per account, so a killed listing resumes mid-list.

    Kept as an append-only journal per account (``STORE/state/followers/<platform>/
    <digest>.jsonl``) so that saving after a page costs that page, not the list so far
    (rewriting the whole list after every page grew with the square of its length):

    * line 1, the header: ``{"journal": 1, "platform", "account_id", "started_at",
      "source_ref"}``;
    * then one line per save: ``{"c": cursor, "p": pages, "n": ids so far, "ids": [the
      ids added since the previous line]}``.

    The header and the ids known at that moment are written together, atomically (a
    temporary file, fsync, rename), when a listing is first saved by this store and
    whenever what is on disk cannot simply be extended (a resumed listing, a listing
    restarted, a failed write): that is also what compacts a resumed journal and drops
    a torn tail. Later saves append one line each and flush it to the kernel.

    Crash safety. A SIGKILL loses nothing the kernel already has, so every line written
    before the kill is there; a kill in the middle of a write leaves at most a torn last
    line, which :meth:`load` ignores (a line counts only when it ends with a newline,
    parses and its ``n`` matches the ids before it), and everything after the first bad
    line is ignored too. The appended lines are fsync'd only every
    ``SYNC_EVERY_PAGES`` saves or ``SYNC_EVERY_SECONDS`` seconds: only a machine crash
    can lose the unsynced tail, and then the journal ends at an earlier line whose
    cursor goes with exactly the ids before it, so the resumed listing re-reads those
    pages: nothing is missed and nothing counted twice (and ``listing_from`` keeps the
    first sight of an id anyway). State files of earlier versions (the whole state as
    one JSON object, ``<digest>.json``) are still read, and removed once the journal
    that replaces them is written.
    """

    def __init__(self, store_path: Path) -> None:
        self.dir = state_dir(store_path) / "followers"
        self._journals: dict[tuple[str, str], _Journal] = {}

    def _base(self, platform: str, account_id: str) -> Path:
        digest = hashlib.sha256(f"{platform}\0{account_id}".encode()).hexdigest()[:32]
        return self.dir / platform / digest

    def _path(self, platform: str, account_id: str) -> Path:
        """The journal (this version's form)."""
        return self._base(platform, account_id).with_suffix(".jsonl")

    def _old_path(self, platform: str, account_id: str) -> Path:
        """The whole-JSON state file of earlier versions."""
        return self._base(platform, account_id).with_suffix(".json")

    def load(self, platform: str, account_id: str) -> PagingState | None:
        state = _read_journal(self._path(platform, account_id))
        if state is None:
            data = read_json(self._old_path(platform, account_id))
            if not isinstance(data, dict):
                return None
            try:
                state = PagingState.from_json(data)
            except (KeyError, ValueError, TypeError):
                return None
        return state if state.account_id == account_id and state.platform == platform else None

    def save(self, state: PagingState) -> None:
        key = (state.platform, state.account_id)
        j = self._journals.get(key)
        if j is None or not j.extends(state):
            self._rewrite(state)
            return
        new = state.follower_ids[j.ids:]
        line = _line(state, new)
        now = time.monotonic()
        try:
            with open(self._path(*key), "ab") as f:
                f.write(line)
                f.flush()
                if j.unsynced + 1 >= SYNC_EVERY_PAGES or now - j.synced_at >= SYNC_EVERY_SECONDS:
                    os.fsync(f.fileno())
                    j.unsynced, j.synced_at = 0, now
                else:
                    j.unsynced += 1
        except BaseException:
            # What reached the file is unknown (maybe half a line): the next save
            # starts the journal afresh rather than append after a torn line.
            self._journals.pop(key, None)
            raise
        j.advance(state)

    def _rewrite(self, state: PagingState) -> None:
        key = (state.platform, state.account_id)
        self._journals.pop(key, None)
        header = {"journal": JOURNAL_VERSION, "platform": state.platform, "account_id": state.account_id,
                  "started_at": state.started_at.isoformat(), "source_ref": state.source_ref}
        body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n" + _line(state, state.follower_ids)
        path = self._path(*key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        # The journal now holds everything: an earlier version's file is superseded.
        with contextlib.suppress(FileNotFoundError):
            self._old_path(*key).unlink()
        j = _Journal(state, started_at=state.started_at, source_ref=state.source_ref, synced_at=time.monotonic())
        j.advance(state)
        self._journals[key] = j

    def clear(self, platform: str, account_id: str) -> None:
        self._journals.pop((platform, account_id), None)
        for path in (self._path(platform, account_id), self._old_path(platform, account_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


JOURNAL_VERSION = 1
# How many appended pages (or seconds) may go without fsync: a SIGKILL loses none of
# them, a machine crash at most these, which the resumed listing then reads again.
SYNC_EVERY_PAGES = 16
SYNC_EVERY_SECONDS = 5.0


@dataclass
class _Journal:
    """What this store last wrote for one listing, to tell whether a save only extends it."""

    state: PagingState
    started_at: datetime
    source_ref: str | None
    synced_at: float
    ids: int = 0
    last_id: str | None = None
    pages: int = 0
    unsynced: int = 0

    def extends(self, state: PagingState) -> bool:
        # The connectors extend one PagingState in place; anything else (another object,
        # a list that shrank or changed under us) is written afresh.
        ids = state.follower_ids
        return (
            state is self.state
            and state.started_at == self.started_at
            and state.source_ref == self.source_ref
            and state.pages >= self.pages
            and len(ids) >= self.ids
            and (self.ids == 0 or ids[self.ids - 1] == self.last_id)
        )

    def advance(self, state: PagingState) -> None:
        self.ids = len(state.follower_ids)
        self.last_id = state.follower_ids[-1] if state.follower_ids else None
        self.pages = state.pages


def _line(state: PagingState, ids: list[str]) -> bytes:
    entry = {"c": state.cursor, "p": state.pages, "n": len(state.follower_ids), "ids": ids}
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _read_journal(path: Path) -> PagingState | None:
    """The state as of the journal's last whole line; None when there is no usable
    journal (absent, or its header unreadable)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    lines = raw.split(b"\n")
    # The piece after the last newline is a line whose write was cut short (or nothing).
    lines.pop()
    if not lines:
        return None
    try:
        header = json.loads(lines[0])
        if not isinstance(header, dict) or header.get("journal") != JOURNAL_VERSION:
            return None
        ref = header.get("source_ref")
        state = PagingState(
            platform=str(header["platform"]), account_id=str(header["account_id"]),
            started_at=datetime.fromisoformat(str(header["started_at"])),
            source_ref=str(ref) if ref is not None else None,
        )
    except (KeyError, ValueError, TypeError):
        return None
    ids: list[str] = []
    saved = 0
    for raw_line in lines[1:]:
        try:
            entry = json.loads(raw_line)
            page = entry["ids"]
            if not isinstance(page, list) or int(entry["n"]) != len(ids) + len(page):
                break
            cursor = entry["c"]
            pages = int(entry["p"])
        except (KeyError, ValueError, TypeError):
            break
        ids.extend(str(x) for x in page)
        state.cursor = str(cursor) if cursor is not None else None
        state.pages = pages
        saved += 1
    if not saved:
        return None
    state.follower_ids = ids
    return state
