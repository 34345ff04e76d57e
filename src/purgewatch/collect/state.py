"""Small crash-safe state files under ``STORE/state/`` (cycle progress, follower paging
cursors, the Jetstream cursor). Each write goes to a temporary file, is fsync'd and
renamed over the old one, so a SIGKILL leaves the previous or the new version, never a
torn one. The evidence itself stays in the store; these files only say where to resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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
    """Follower paging progress per account, so a killed listing resumes mid-list."""

    def __init__(self, store_path: Path) -> None:
        self.dir = state_dir(store_path) / "followers"

    def _path(self, platform: str, account_id: str) -> Path:
        digest = hashlib.sha256(f"{platform}\0{account_id}".encode()).hexdigest()[:32]
        return self.dir / platform / f"{digest}.json"

    def load(self, platform: str, account_id: str) -> PagingState | None:
        data = read_json(self._path(platform, account_id))
        if not isinstance(data, dict):
            return None
        try:
            state = PagingState.from_json(data)
        except (KeyError, ValueError, TypeError):
            return None
        return state if state.account_id == account_id and state.platform == platform else None

    def save(self, state: PagingState) -> None:
        write_json_atomic(self._path(state.platform, state.account_id), state.to_json())

    def clear(self, platform: str, account_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(platform, account_id).unlink()
