"""Times as people read them, and as machines read them: one definition of each.

Machine text (JSON, CSV, hover titles) is ISO 8601 in UTC with a ``Z``, whole seconds, or
whole microseconds when the time has a fraction: never a binary-float artefact such as
``10:26:12.381999969Z`` (a float number of seconds is rounded to the microsecond first).

Human text (report prose, tables, terminal lines) is ``Thu 28 Jan 2012, 10:26 UTC``: the
weekday, because a story is "the Thursday wave"; minutes, because seconds are noise to a
reader; and the zone, always. UTC unless the reader asks for a zone (``--tz``,
an IANA name such as ``Europe/Paris``).

    >>> human_time("2012-01-28T10:26:12.381999969Z")
    'Sat 28 Jan 2012, 10:26 UTC'
    >>> iso_utc(1327746372.381999969)
    '2012-01-28T10:26:12.382Z'
    >>> human_time("2012-01-28T10:26:00Z", "Europe/Paris")
    'Sat 28 Jan 2012, 11:26 CET'
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from purgewatch.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["human_span", "human_time", "iso_utc", "parse_zoned", "to_utc", "zone"]


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo:
    """The reader's zone by IANA name (``None``, ``""``, ``UTC`` or ``Z`` -> UTC)."""
    if name is None or name.strip().upper() in ("", "UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}",
            hint="use an IANA zone name such as UTC, Europe/Paris or America/New_York",
        ) from exc


def to_utc(value: Any) -> datetime | None:
    """Any time PurgeWatch handles (datetime, pandas/numpy timestamp, ISO text, Unix
    seconds) as an aware UTC datetime rounded to the microsecond; None for missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        micros = round(float(value) * 1_000_000) if isinstance(value, float) else int(value) * 1_000_000
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return _from_text(text)
    if isinstance(value, datetime) and not hasattr(value, "nanosecond"):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    if type(value) is date:
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    # pandas / numpy timestamps: go through nanoseconds, rounding to the microsecond.
    import pandas as pd

    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=round(ts.value / 1000))


def parse_zoned(value: Any, what: str = "time") -> pd.Timestamp | None:
    """A time a user gave (an option, an argument, a library call) as a UTC pandas
    Timestamp: aware datetimes, ISO 8601 text with a zone, or Unix seconds. A time without
    a zone is refused with an InputError naming ``what``: PurgeWatch never guesses local
    time. (Stored times are already UTC; :func:`to_utc` reads those.)"""
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{what} {value!r} is not a time")
    if isinstance(value, int | float):
        unix = to_utc(value)
        return None if unix is None else pd.Timestamp(unix)
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError):
        raise InputError(f"{what} {value!r} is not a time",
                         hint="ISO 8601 with a zone, e.g. 2024-05-01T00:00:00Z, or Unix seconds") from None
    if pd.isna(ts):
        return None
    if ts.tzinfo is None:
        raise InputError(f"{what} {value!r} has no time zone",
                         hint="add Z or an offset, e.g. 2024-05-01T00:00:00Z (local time is never guessed)")
    return ts.tz_convert("UTC")


def _from_text(text: str) -> datetime:
    t = text.replace("z", "Z")
    frac_digits = 0
    if "." in t:
        # Python parses at most 6 fraction digits; round longer ones (nanoseconds) instead
        # of failing or truncating.
        head, _, rest = t.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        tail = rest[len(digits):]
        frac_digits = len(digits)
        if frac_digits > 6:
            micros = round(int(digits[:9].ljust(9, "0")) / 1000)
            base = datetime.fromisoformat((head + tail).replace("Z", "+00:00"))
            if base.tzinfo is None:
                base = base.replace(tzinfo=UTC)
            return base.astimezone(UTC) + timedelta(microseconds=micros)
    dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso_utc(value: Any) -> str | None:
    """ISO 8601 UTC with ``Z``: whole seconds, or milliseconds/microseconds when the time
    has a fraction (the shortest exact form)."""
    dt = to_utc(value)
    if dt is None:
        return None
    if dt.microsecond == 0:
        spec = "seconds"
    elif dt.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def human_time(value: Any, tz: str | tzinfo | None = None, *, seconds: bool = False) -> str:
    """``Thu 28 Jan 2012, 10:26 UTC`` in the reader's zone (default UTC); ``—`` when missing."""
    dt = to_utc(value)
    if dt is None:
        return "—"
    z = tz if isinstance(tz, tzinfo) else zone(tz)
    local = dt.astimezone(z)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y')}, {clock} {_zone_name(local)}"


def human_span(start: Any, end: Any, tz: str | tzinfo | None = None) -> str:
    """A window: ``Thu 28 Jan 2012, 10:26–16:40 UTC`` on one day, else both ends in full."""
    a, b = to_utc(start), to_utc(end)
    if a is None or b is None:
        return human_time(a or b, tz)
    z = tz if isinstance(tz, tzinfo) else zone(tz)
    la, lb = a.astimezone(z), b.astimezone(z)
    if la.date() == lb.date() and _zone_name(la) == _zone_name(lb):
        return f"{human_time(a, z)[:-len(_zone_name(la)) - 1]}–{lb.strftime('%H:%M')} {_zone_name(lb)}"
    return f"{human_time(a, z)} – {human_time(b, z)}"


def _zone_name(local: datetime) -> str:
    name = local.tzname() or "UTC"
    return name
