"""Findings computed once per store change and kept across restarts.

A computation is keyed by the store's content version (``Store.content_version()``:
its generation and committed batches), the tool version and the scope; its result is
written as gzip'ed JSON to ``STORE/derived/findings/`` (docs/store.md: apart from the
evidence, never read as evidence, safe to delete). A file that cannot be read, is not a
findings document of this version, or was written for another key is ignored and the
findings are recomputed. A store on read-only media still works: nothing is persisted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from purgewatch.errors import PurgeWatchError
from purgewatch.findings._gather import gather_findings
from purgewatch.findings._types import FORMAT_VERSION, Findings
from purgewatch.model import TOOL_VERSION
from purgewatch.store import Store

KEEP_PER_SCOPE = 2  # persisted results kept per scope (the current one and the one before)


class FindingsCache:
    """The persisted findings of one store (``directory``: default ``STORE/derived/findings``)."""

    def __init__(self, store: Store, directory: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self.directory = Path(directory) if directory is not None else store.derived_dir / "findings"
        self._lock = threading.Lock()

    @staticmethod
    def scope_key(start: str | datetime | None = None, end: str | datetime | None = None,
                  groups: Iterable[str] | None = None) -> str:
        scope = json.dumps([str(start) if start else None, str(end) if end else None,
                            sorted(set(groups)) if groups else None])
        return hashlib.sha256(scope.encode()).hexdigest()[:16]

    def version_key(self, content_version: str | None = None) -> str:
        """The store's content, the tool and the document version: what a result is valid for."""
        v = content_version or self.store.content_version()
        return hashlib.sha256(f"{v}\0{TOOL_VERSION}\0{FORMAT_VERSION}".encode()).hexdigest()[:24]

    def _path(self, scope: str, version: str) -> Path:
        return self.directory / f"{scope}-{version}.json.gz"

    def load(self, scope: str, version: str) -> Findings | None:
        """The persisted findings for this scope and version, or None (absent, corrupt,
        old format, or written for another key: all recomputed, never trusted)."""
        return _read(self._path(scope, version), scope, version)

    def has(self, scope: str, version: str) -> bool:
        return self._path(scope, version).is_file()

    def latest(self, scope: str) -> tuple[str, Findings] | None:
        """(version, findings) of the newest readable persisted result of this scope,
        whatever store state it was computed for (shown labelled as earlier)."""
        try:
            files = sorted(self.directory.glob(f"{scope}-*.json.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return None
        for p in files:
            version = p.name[len(scope) + 1:-len(".json.gz")]
            found = _read(p, scope, version)
            if found is not None:
                return version, found
        return None

    def save(self, scope: str, version: str, findings: Findings) -> bool:
        """Persist atomically (a reader never sees half a file); False when the directory
        cannot be written (the findings are then only kept in memory)."""
        doc = {"cache": {"scope": scope, "version": version}, "findings": findings.to_json()}
        path = self._path(scope, version)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as fh:
                json.dump(doc, fh, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return False
        self._prune(scope, keep=path)
        return True

    def _prune(self, scope: str, keep: Path) -> None:
        with self._lock:
            try:
                files = sorted(self.directory.glob(f"{scope}-*.json.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
                for p in [f for f in files if f != keep][KEEP_PER_SCOPE - 1:]:
                    p.unlink(missing_ok=True)
            except OSError:
                pass

    def get(self, *, start: str | datetime | None = None, end: str | datetime | None = None,
            groups: Iterable[str] | None = None,
            compute: Callable[[], Findings] | None = None) -> Findings:
        """The findings of the current store state: persisted ones when valid, else
        computed (``compute``, default :func:`gather_findings` of the scope) and persisted."""
        scope, version = self.scope_key(start, end, groups), self.version_key()
        found = self.load(scope, version)
        if found is not None:
            return found
        found = compute() if compute is not None else gather_findings(self.store, start=start, end=end, groups=groups)
        if self.version_key() == version:  # not when the store changed during the computation
            self.save(scope, version, found)
        return found


def _read(path: Path, scope: str, version: str) -> Findings | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc: Any = json.load(fh)
    except (OSError, EOFError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("cache") != {"scope": scope, "version": version}:
        return None
    try:
        return Findings.from_json(doc["findings"])
    except (PurgeWatchError, KeyError):
        return None


def cached_findings(store: Store, *, start: str | datetime | None = None, end: str | datetime | None = None,
                    groups: Iterable[str] | None = None) -> Findings:
    """:func:`gather_findings`, computed once per store change and persisted under
    ``STORE/derived/findings/`` (see :class:`FindingsCache`)."""
    return FindingsCache(store).get(start=start, end=end, groups=groups)
