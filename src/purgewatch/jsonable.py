"""Analysis answers as JSON values: the one converter every output uses (``--json`` of
the CLI, the web API, the report's data, detection events' evidence), so the same answer
reads the same everywhere and is always strict JSON (NaN, infinities and NaT are null)."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from purgewatch.timefmt import iso_utc

__all__ = ["iso", "plain"]


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with ``Z`` (:func:`purgewatch.timefmt.iso_utc`: whole seconds, or the
    shortest exact fraction; never a float artefact). Unparseable text is kept as is."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        return iso_utc(value)
    except (ValueError, TypeError):
        return value if isinstance(value, str) else None


def plain(obj: Any) -> Any:
    """Convert analysis answers (dataclasses, numpy, Arrow, pandas, datetimes) to JSON types."""
    t = type(obj)
    # The exact JSON types first, each answered as the general branches below would: a
    # large report converts millions of them, and those branches probe every value for
    # to_json and dataclass-ness before reaching dict or list (an `explain --ids` answer
    # lists 10^5 follower ids: strings inside are kept without a call).
    if t is str or t is int or t is bool or obj is None:
        return obj
    if t is dict:
        return {k if type(k) is str else str(k): v if type(v) is str else plain(v) for k, v in obj.items()}
    if t is list:
        return [v if type(v) is str else plain(v) for v in obj]
    if t is float:
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if hasattr(obj, "to_json") and callable(obj.to_json) and not isinstance(obj, pd.DataFrame | pd.Series):
        return plain(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [plain(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, set | frozenset) else items
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return plain(obj.item())
    if isinstance(obj, datetime | pd.Timestamp | np.datetime64):
        return iso(obj)
    if isinstance(obj, pa.Table):
        return plain(obj.to_pylist())
    if isinstance(obj, pd.DataFrame):
        return plain(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return plain(obj.tolist())
    return str(obj)
