"""The detection event: one record shape for every detector (FORMATS.md, `detect --json`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from purgewatch.jsonable import plain

KINDS: tuple[str, ...] = (
    "follower_drop",
    "follower_surge",
    "suspension_wave",
    "reinstatement_wave",
    "purge",
)


def iso(seconds: float) -> str:
    """Unix seconds -> ISO 8601 UTC with a ``Z`` (second precision is what sources give)."""
    dt = datetime.fromtimestamp(round(float(seconds), 3), tz=UTC)
    text = dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def iso_many(seconds: np.ndarray) -> list[str]:
    """Vectorised :func:`iso` (same text for the same input)."""
    ms = np.round(np.asarray(seconds, dtype=np.float64) * 1000.0).astype(np.int64)
    stamps = ms.astype("datetime64[ms]")
    with_ms = np.datetime_as_string(stamps, unit="ms", timezone="UTC")
    whole = ms % 1000 == 0
    if whole.any():
        with_ms[whole] = np.datetime_as_string(stamps[whole], unit="s", timezone="UTC")
    return with_ms.tolist()


@dataclass
class Event:
    """One detection. Times are Unix seconds (UTC); :meth:`to_json` renders FORMATS.md."""

    kind: str
    platform: str | None
    account_id: str | None
    group: str | None
    start: float
    end: float
    magnitude: float
    relative: float | None
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    handle: str | None = None   # per-account kinds: the latest known handle
    label: str | None = None    # ... and the watchlist label (FORMATS.md)

    def to_json(self) -> dict[str, Any]:
        mag = float(self.magnitude)
        return {
            "kind": self.kind,
            "platform": self.platform,
            "account_id": self.account_id,
            "group": self.group,
            "start": iso(self.start),
            "end": iso(self.end),
            "magnitude": int(round(mag)) if mag == round(mag) else round(mag, 3),
            "relative": None if self.relative is None or not math.isfinite(self.relative)
            else round(float(self.relative), 6),
            "score": round(float(self.score), 3) if math.isfinite(self.score) else None,
            "evidence": plain(self.evidence),
            "handle": self.handle,
            "label": self.label,
        }

    @property
    def sort_key(self) -> tuple[float, str, str, str]:
        return (self.start, self.kind, self.platform or "", self.account_id or "")
