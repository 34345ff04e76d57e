"""On-disk layout of the evidence store, and the two atomic steps it rests on.

    STORE/
      STORE.json                 format marker and version
      LOCK                       flock'd by the one writer (imports, collect, compact)
      current -> gens/g000001    symlink to the live generation (swapped atomically)
      gens/g000001/
        b00000001-<uuid>/        one committed batch: a directory made visible by a
          observations.parquet   single rename, so a batch is all-or-nothing
          accounts.parquet
          runs.parquet
        b00000002-<uuid>/ ...
      staging/                   batches being written; never read; swept by writers

Why directories: a batch can touch several tables (observations plus new catalogue ids
plus its run record). Renaming one directory is atomic on POSIX, so a reader sees the
whole batch or none of it, and a SIGKILL at any instant leaves at most an orphan in
``staging/``.

Why generations: compaction replaces many batches by one. Readers resolve ``current``
once and read that generation's files; compaction builds the next generation (all
batches merged into one), then swaps the symlink. A reader never sees a record missing
or twice. A replaced generation is stamped ``RETIRED`` and deleted by a later compaction
only after a grace period (``Store.compact(grace_seconds=...)``, default one hour), so
readers in flight finish.

Plain DuckDB reads the live data with ``read_parquet('STORE/current/*/observations.parquet',
union_by_name=true)``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from purgewatch.errors import StoreError

FORMAT_NAME = "purgewatch-store"
# 2: snapshot changes may be sidset-change-v2, files carry no Arrow schema, and STORE.json
# names its content-key function ("keys"; absent in format 1, which used keys 1).
# 3: the id catalogue (accounts) may keep numeric ids as integers (account_num, with
# account_id null), which a format-2 reader would take for missing ids and re-assign; and
# the store may hold retractions (``purgewatch retract``), whose rows a format-2 reader
# would show. Every writer marks the store 3, so an older PurgeWatch refuses it rather
# than misread it.
# 4: a snapshot's list order may be stored as an APPEND order (reference kind 2: the base
# order minus the removed and moved followers, then a tail), which a format-3 reader
# cannot decode. Only a store holding such an order is marked 4 (see mark_version).
FORMAT_VERSION = 4  # the newest format this version reads
WRITE_VERSION = 3   # what a writer marks the store
RETRACTIONS_VERSION = 3
APPEND_ORDER_VERSION = 4
KEY_VERSION = 2
_BATCH_RE = re.compile(r"^b(\d{8})-[0-9a-f]{32}$")
_GEN_RE = re.compile(r"^g(\d{6})$")
RETIRED = "RETIRED"  # in a generation replaced by compaction: when it was replaced


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def init_layout(root: Path) -> None:
    """Create an empty store at ``root`` (idempotent)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "STORE.json"
    if marker.exists():
        read_marker(root)
        return
    if any(p for p in root.iterdir() if not p.name.startswith(".")) and not _interrupted_init(root):
        raise StoreError(
            f"{root} exists and is not empty, and is not a PurgeWatch store",
            hint="choose an empty or new directory with --store",
        )
    # STORE.json is written last, so an init killed midway leaves only the skeleton
    # below (no data: nothing can be committed without the marker); redo it.
    (root / "gens" / "g000001").mkdir(parents=True, exist_ok=True)
    (root / "staging").mkdir(exist_ok=True)
    (root / "LOCK").touch()
    _swap_symlink(root, "gens/g000001")
    _write_marker(root, {"format": FORMAT_NAME, "version": WRITE_VERSION, "keys": KEY_VERSION})


def _write_marker(root: Path, data: dict[str, object]) -> None:
    tmp = root / "STORE.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    fsync_file(tmp)
    os.replace(tmp, root / "STORE.json")
    fsync_dir(root)


def key_version(marker: dict[str, object]) -> int:
    """The content-key function of a store (see _store.record_keys)."""
    return int(str(marker.get("keys", 1)))


def upgrade_marker(root: Path) -> None:
    """Before a writer adds anything to an older store: mark it with the current format
    (so an older PurgeWatch, which cannot decode the newer snapshot payloads or catalogue
    rows, refuses it instead of failing midway) while keeping its content-key function.
    Call with the lock held."""
    data = read_marker(root)
    if int(str(data.get("version", 1))) < WRITE_VERSION:
        _write_marker(root, {**data, "version": WRITE_VERSION, "keys": key_version(data)})


def mark_version(root: Path, version: int) -> None:
    """Before content that needs format ``version`` is committed: mark the store so, so
    older versions refuse it instead of misreading it. Call with the lock held."""
    data = read_marker(root)
    if int(str(data.get("version", 1))) < version:
        _write_marker(root, {**data, "version": version, "keys": key_version(data)})


def mark_retractions(root: Path) -> None:
    """Before the first retraction is committed: mark the store format 3, so versions
    that do not know retractions refuse it instead of showing withdrawn rows. Call with
    the lock held."""
    data = read_marker(root)
    if int(str(data.get("version", 1))) < RETRACTIONS_VERSION:
        _write_marker(root, {**data, "version": RETRACTIONS_VERSION, "keys": key_version(data)})


_SKELETON = {"gens", "staging", "LOCK", "current", "STORE.json.tmp"}


def _interrupted_init(root: Path) -> bool:
    """True when ``root`` holds only what a killed :func:`init_layout` leaves behind."""
    names = {p.name for p in root.iterdir() if not p.name.startswith(".")}
    if not names <= _SKELETON:
        return False
    gens = root / "gens"
    if gens.is_dir():
        for g in gens.iterdir():
            if not _GEN_RE.match(g.name) or (g.is_dir() and any(g.iterdir())):
                return False
    staging = root / "staging"
    return not (staging.is_dir() and any(staging.iterdir()))


def read_marker(root: Path) -> dict[str, object]:
    marker = root / "STORE.json"
    if not marker.exists():
        raise StoreError(
            f"no PurgeWatch store at {root}",
            hint="run `purgewatch init` first, or point --store / PURGEWATCH_STORE at an existing store",
        )
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{marker} is unreadable: {exc}") from exc
    if data.get("format") != FORMAT_NAME:
        raise StoreError(f"{marker} does not describe a PurgeWatch store")
    if int(data.get("version", 0)) > FORMAT_VERSION:
        raise StoreError(
            f"store format version {data.get('version')} is newer than this PurgeWatch understands",
            hint="upgrade purgewatch",
        )
    return data


def _swap_symlink(root: Path, target: str) -> None:
    tmp = root / f".current.{uuid.uuid4().hex}"
    os.symlink(target, tmp)
    os.replace(tmp, root / "current")
    fsync_dir(root)


def current_generation(root: Path) -> Path:
    """Resolve ``current`` once; callers keep using the returned path."""
    link = root / "current"
    try:
        return (root / os.readlink(link)).resolve()
    except OSError as exc:
        raise StoreError(f"store at {root} has no readable 'current' generation: {exc}") from exc


def committed_batches(gen: Path) -> list[Path]:
    """Batch directories of a generation, in commit order."""
    try:
        names = sorted(n for n in os.listdir(gen) if _BATCH_RE.match(n))
    except FileNotFoundError:
        return []
    return [gen / n for n in names]


@functools.lru_cache(maxsize=1 << 16)
def batch_files(batch: Path) -> frozenset[str]:
    """File names in a committed batch directory. A batch never changes once published
    (its name carries a fresh uuid), so one listing per process is enough: a store read
    by many queries then costs one directory listing per query, not a stat per batch and
    table."""
    try:
        return frozenset(os.listdir(batch))
    except FileNotFoundError:  # its retired generation was deleted: it stays empty
        return frozenset()


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst`` (same store, so same file system), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def next_batch_seq(gen: Path) -> int:
    batches = committed_batches(gen)
    if not batches:
        return 1
    m = _BATCH_RE.match(batches[-1].name)
    assert m is not None
    return int(m.group(1)) + 1


def new_staging_dir(root: Path) -> Path:
    path = root / "staging" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def publish_batch(root: Path, gen: Path, staging: Path, seq: int) -> Path:
    """The commit point: one rename makes the whole batch visible."""
    for f in staging.iterdir():
        fsync_file(f)
    fsync_dir(staging)
    final = gen / f"b{seq:08d}-{staging.name}"
    os.rename(staging, final)
    fsync_dir(gen)
    return final


def sweep_staging(root: Path) -> int:
    """Remove batches left half-written by a killed writer. Call with the lock held."""
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    removed = 0
    for p in staging.iterdir():
        shutil.rmtree(p, ignore_errors=True)
        removed += 1
    for p in root.glob(".current.*"):
        with contextlib.suppress(OSError):
            p.unlink()
    return removed


def new_generation(root: Path, current: Path) -> Path:
    m = _GEN_RE.match(current.name)
    seq = int(m.group(1)) + 1 if m else 1
    gen = root / "gens" / f"g{seq:06d}"
    if gen.exists():  # a compaction killed before its swap: its output is garbage
        shutil.rmtree(gen)
    gen.mkdir(parents=True)
    return gen


def switch_generation(root: Path, gen: Path) -> None:
    fsync_dir(gen)
    _swap_symlink(root, f"gens/{gen.name}")


def retire_generation(gen: Path) -> None:
    """Stamp a generation that just stopped being current (starts its grace period)."""
    marker = gen / RETIRED
    marker.write_text(f"{time.time()!r}\n")  # exact: a rounded-up stamp would lie in the future
    fsync_dir(gen)


def drop_old_generations(root: Path, keep: set[Path], grace_seconds: float) -> int:
    """Delete generations other than ``current`` and ``keep`` that were retired more than
    ``grace_seconds`` ago.

    The grace rule: a reader resolves ``current`` once and then opens that generation's
    files; it may be slow, so a replaced generation stays for ``grace_seconds`` (default
    one hour, see Store.compact). A generation without a retirement stamp (a compaction
    killed between its swap and its stamp) is stamped now and dropped later."""
    live = {current_generation(root)} | {k.resolve() for k in keep}
    now = time.time()
    removed = 0
    for g in sorted((root / "gens").iterdir()):
        if g.resolve() in live or not _GEN_RE.match(g.name):
            continue
        marker = g / RETIRED
        try:
            retired_at = float(marker.read_text().strip() or 0)
        except (OSError, ValueError):
            retire_generation(g)
            continue
        if now - retired_at >= grace_seconds:
            # Rename first: a half-deleted generation must never look like a whole one.
            trash = root / "gens" / f".deleting-{g.name}-{uuid.uuid4().hex}"
            os.rename(g, trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed += 1
    for t in (root / "gens").glob(".deleting-*"):
        shutil.rmtree(t, ignore_errors=True)
    return removed


@contextlib.contextmanager
def writer_lock(root: Path, timeout: float = 30.0) -> Iterator[None]:
    """Exclusive lock for the one writer; waits up to ``timeout`` seconds."""
    lock_path = root / "LOCK"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the store at {root} is locked by another writer",
                        hint="wait for the running import/collect/compact to finish",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
