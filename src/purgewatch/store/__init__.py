"""The append-only evidence store (layout in ``_layout.py``, docs in docs/store.md)."""

from purgewatch.store._store import (
    DEFAULT_STORE,
    ENV_STORE,
    BatchWriter,
    CommitResult,
    Store,
    constant_strings,
    default_store_path,
)

__all__ = ["DEFAULT_STORE", "ENV_STORE", "BatchWriter", "CommitResult", "Store", "constant_strings",
           "default_store_path"]
