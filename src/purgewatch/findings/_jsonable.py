"""The findings' formatting helpers: references to stored rows, vectorised ISO text (the
same text as :func:`purgewatch.jsonable.iso`, the one converter, re-exported here), and
numbers as prose shows them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from purgewatch.jsonable import iso, plain

__all__ = ["iso", "plain", "key_hex", "ref", "text_or_none", "iso_arrow", "iso_series", "downsample", "fmt_p", "fmt"]


def key_hex(key: Any) -> str:
    """A record key (uint64 content hash) as the 16 hex digits of a reference."""
    return f"{int(key):016x}"


def ref(prefix: str, key: Any) -> str:
    """``o-<key>`` (observations), ``p-`` (profiles), ``s-`` (status_events)."""
    return f"{prefix}-{key_hex(key)}"


def text_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def iso_arrow(col: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """:func:`iso` of an Arrow timestamp column, vectorised (same text)."""
    us = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    valid = np.asarray(us.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    v = np.asarray(us.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64).astype("datetime64[us]")
    out = np.datetime_as_string(v, unit="us").astype(object)
    whole = (v.astype(np.int64) % 1_000_000) == 0
    if whole.any():
        out[whole] = np.datetime_as_string(v[whole], unit="s")
    return [f"{x}Z" if ok else None for x, ok in zip(out.tolist(), valid.tolist(), strict=True)]


def iso_series(ts: pd.Series) -> pd.Series:
    """Vectorised :func:`iso` (same text for the same time)."""
    if not len(ts):
        return pd.Series([], dtype=object)
    t = pd.to_datetime(ts, utc=True).dt.round("us")
    base = t.dt.strftime("%Y-%m-%dT%H:%M:%S")
    micro = t.dt.microsecond
    frac = ("." + micro.astype(str).str.zfill(6)).where(micro % 1000 != 0, "." + (micro // 1000).astype(str).str.zfill(3))
    out = base.where(micro == 0, base + frac) + "Z"
    return out.where(t.notna(), None)


def downsample(idx: np.ndarray, keep: np.ndarray, limit: int) -> np.ndarray:
    """Evenly thin a series to ``limit`` points but never drop the rows in ``keep``."""
    if len(idx) <= limit:
        return idx
    step = math.ceil(len(idx) / limit)
    chosen = set(idx[::step].tolist()) | set(idx[keep].tolist()) | {int(idx[-1])}
    return np.array(sorted(chosen), dtype=idx.dtype)


def fmt_p(value: Any) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


