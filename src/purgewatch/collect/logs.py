"""Structured logs for services: one JSON object per line on stderr, with every
registered secret scrubbed from messages and fields (defence in depth: secrets are never
put in log calls in the first place)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_SECRETS: set[str] = set()
_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def register_secret(value: str | None) -> None:
    """Make ``value`` unprintable in any log line (call for every credential loaded)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    for s in _SECRETS:
        if s in text:
            text = text.replace(s, "********")
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return scrub(json.dumps(out, default=str, ensure_ascii=False))


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(*, structured: bool, level: int = logging.INFO) -> None:
    """JSON lines (``structured``) or short human lines, on stderr, for purgewatch.*"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if structured else ScrubbingFormatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger("purgewatch")
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # httpx logs every request URL at INFO: too chatty for a service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
