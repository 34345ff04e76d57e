"""PurgeWatch: evidence about accounts that vanish from social platforms.

    >>> import purgewatch
    >>> ev = purgewatch.open_store("evidence")      # doctest: +SKIP

The public API is :func:`open_store` and the :class:`~purgewatch.library.Evidence` it
returns (docs/library.md). Everything else is reached through it or through the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from purgewatch._version import __version__

__all__ = ["Evidence", "__version__", "open_store"]

if TYPE_CHECKING:
    from purgewatch.library import Evidence, open_store


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import purgewatch` (and the CLI's start-up) stays light.
    if name in ("Evidence", "open_store"):
        from purgewatch import library

        return getattr(library, name)
    raise AttributeError(f"module 'purgewatch' has no attribute {name!r}")
