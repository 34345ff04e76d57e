"""File importers: the interchange formats of FORMATS.md and the formats other tools
write (twarc2 X API v2 user JSONL, Twitter v1.1 user objects, X compliance-job output).

    import_files(store, kind, paths, ...) -> ImportReport
    read_profiles(path, ...) -> a typed profile frame, without a store

Every importer reads CSV or JSONL, gzip'd or not, refuses a file at its first bad cell
with an :class:`~purgewatch.errors.InputError` naming file, line, column, value and what
would be valid, or (``skip_bad_rows=True``) imports the good rows and writes the bad ones
to a rejects file. Imports are idempotent: the store drops rows it already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from purgewatch.errors import InputError
from purgewatch.sources.files._interchange import (
    DEFAULT_BATCH_ROWS,
    SPECS,
    ImportReport,
    Progress,
    import_interchange,
)
from purgewatch.sources.files._profiles import FACT_COLUMNS, read_profiles
from purgewatch.store import Store

INTERCHANGE_KINDS = tuple(SPECS)
FOREIGN_KINDS = ("twarc2", "v1-users", "x-compliance")
KINDS = INTERCHANGE_KINDS + FOREIGN_KINDS

__all__ = ["DEFAULT_BATCH_ROWS", "FACT_COLUMNS", "FOREIGN_KINDS", "INTERCHANGE_KINDS", "KINDS",
           "ImportReport", "import_files", "read_profiles"]


def import_files(
    store: Store,
    kind: str,
    paths: Sequence[str | Path],
    *,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    observed_at: datetime | None = None,
    table: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``paths`` as ``kind`` (one of :data:`KINDS`) into ``store``.

    ``observed_at`` (twarc2, v1-users) is the observation time for records that carry
    none; ``table`` (twarc2, v1-users) is ``profiles`` (default) or ``observations``.
    """
    if kind in SPECS:
        return import_interchange(store, kind, paths, skip_bad_rows=skip_bad_rows,
                                  rejects_path=rejects_path, batch_rows=batch_rows, progress=progress)
    if kind in FOREIGN_KINDS:
        from purgewatch.sources.files._foreign import import_foreign

        return import_foreign(store, kind, paths, skip_bad_rows=skip_bad_rows,
                              rejects_path=rejects_path, batch_rows=batch_rows,
                              observed_at=observed_at, table=table or "profiles", progress=progress)
    raise InputError(f"unknown import kind {kind!r}", hint=f"one of: {', '.join(KINDS)}")
