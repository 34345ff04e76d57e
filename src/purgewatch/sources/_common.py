"""Small helpers shared by the platform connectors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from purgewatch.timefmt import to_utc


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 timestamps as platforms send them; None when absent or unreadable (a
    platform's odd field must not fail the look-up, unlike a user's time). Platforms send
    UTC, so a zone-less stamp from an API (not a user file) is UTC, as
    :func:`purgewatch.timefmt.to_utc` reads it."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_utc(value)
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """``{"error": name, "message": text}`` (XRPC, Mastodon) -> (name, text)."""
    if isinstance(body, dict):
        return as_str(body.get("error")), as_str(body.get("message"))
    return None, None


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (absent, null, a list)."""
    return value if isinstance(value, dict) else {}
