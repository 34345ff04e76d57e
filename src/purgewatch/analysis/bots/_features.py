"""Profile features of the BotometerLite family (Yang et al., AAAI 2020), vectorised.

Input: a table with the store's account-fact columns (model.ACCOUNT_FACT_FIELDS):
``platform``, ``account_id``, ``observed_at``, ``created_at``, the counts, ``handle``,
``display_name``, ``description``, ``default_profile_image``, ``default_profile``. Output:
one float row per profile, NaN wherever the platform or the file did not give the field.
A missing field is never read as zero: the learner (gradient-boosted trees) routes NaN
down its own branch, and the training set holds copies of each account with the fields
other platforms lack removed (see train.py), so that branch was learned, not guessed.

``verified`` is deliberately absent: in the public labelled sets it marks the human class
(verified-2019), so a model using it learns the data set, not the behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# X snowflake ids (accounts from about 2013 on) encode their creation time.
_SNOWFLAKE_EPOCH_MS = 1288834974657
_SNOWFLAKE_MIN_ID = 2**32
_NAME_WIDTH = 32    # characters of a handle kept for the entropy (X handles have <= 15)
_DAY_US = 86_400 * 1_000_000
_EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class Feature:
    name: str
    meaning: str
    # Platforms whose profiles give what the feature needs (x1 = X API v1.1 user objects,
    # x2 = X API v2 users, bluesky, mastodon); elsewhere the feature is NaN.
    platforms: tuple[str, ...]


_ALL = ("x1", "x2", "bluesky", "mastodon")
FEATURES: tuple[Feature, ...] = (
    Feature("posts_count", "posts published (statuses, posts, statuses_count)", _ALL),
    Feature("followers_count", "followers", _ALL),
    Feature("following_count", "accounts followed (X friends)", _ALL),
    Feature("favourites_count", "posts liked", ("x1", "x2")),
    Feature("listed_count", "public lists the account is on", ("x1", "x2")),
    Feature("age_days", "days from creation to observation (X: snowflake id when created_at is missing)", _ALL),
    Feature("posts_per_day", "posts / age in days (age floored at 1 day)", _ALL),
    Feature("followers_per_day", "followers / age in days", _ALL),
    Feature("following_per_day", "accounts followed / age in days", _ALL),
    Feature("favourites_per_day", "likes / age in days", ("x1", "x2")),
    Feature("listed_per_day", "lists / age in days", ("x1", "x2")),
    Feature("followers_following_ratio", "followers / max(following, 1)", _ALL),
    Feature("handle_length", "characters in the handle's user part", _ALL),
    Feature("handle_digits", "digits in the handle's user part", _ALL),
    Feature("handle_entropy", "Shannon entropy (bits per character) of the handle's user part", _ALL),
    Feature("name_length", "characters in the display name", _ALL),
    Feature("name_digits", "digits in the display name", _ALL),
    Feature("description_length", "characters in the bio (0 = empty bio)", _ALL),
    Feature("default_profile_image", "1 when no profile picture was ever set", ("x1", "x2", "bluesky", "mastodon")),
    Feature("default_profile", "1 when theme and banner were never changed", ("x1",)),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def _num(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    col = df[name]
    if not pd.api.types.is_numeric_dtype(col.dtype):
        col = pd.to_numeric(col, errors="coerce")
    return col.to_numpy(dtype=float, na_value=np.nan)


def _flag(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return df[name].astype("boolean").to_numpy(dtype=float, na_value=np.nan)


def _times_us(df: pd.DataFrame, name: str) -> np.ndarray:
    """Microseconds since the epoch as float (NaN when missing)."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    t = pd.to_datetime(df[name], utc=True, errors="coerce", format="ISO8601")
    return (t - _EPOCH).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan) * 1e6


def _snowflake_us(df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Creation time (µs) encoded in X snowflake ids, for the rows selected by ``rows``
    (NaN elsewhere and for ids too old to be snowflakes). Float precision of a 64-bit id
    shifts the time by well under a millisecond."""
    out = np.full(len(df), np.nan)
    if "account_id" not in df.columns or not rows.any():
        return out
    plat = df["platform"].to_numpy() == "x" if "platform" in df.columns else np.ones(len(df), bool)
    rows = rows & plat
    if rows.any():
        ids = pd.to_numeric(df["account_id"][rows], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ms = np.where(ids >= _SNOWFLAKE_MIN_ID, np.floor(ids / 2**22) + _SNOWFLAKE_EPOCH_MS, np.nan)
        out[rows] = ms * 1000.0
    return out


def _strings(df: pd.DataFrame, name: str) -> pa.Array:
    if name not in df.columns:
        return pa.nulls(len(df), pa.string())
    col = df[name]
    try:
        return pa.array(col, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(col.astype("string"), type=pa.string(), from_pandas=True)


def _user_part(handles: pa.Array, platforms: pa.Array | None) -> pa.Array:
    """The part of a handle a person chose: X ``name``; Mastodon ``name`` of
    ``name@instance``; Bluesky the first label of ``name.bsky.social``."""
    h = handles
    if pc.any(pc.match_substring(h, "@")).as_py():
        h = pc.replace_substring_regex(pc.replace_substring_regex(h, r"^@+", ""), r"@.*$", "")
    if platforms is not None and pc.any(pc.equal(platforms, "bluesky")).as_py():
        bsky = pc.fill_null(pc.equal(platforms, "bluesky"), False)
        h = pc.if_else(bsky, pc.replace_substring_regex(h, r"\..*$", ""), h)
    return h


def _bytes(text: pa.Array, width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row of each UTF-8 byte, the bytes, byte length per row) of a string array,
    optionally cut to ``width`` characters first."""
    n = len(text)
    arr = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if width is not None:
        arr = pc.utf8_slice_codeunits(arr, 0, width)
    arr = arr.cast(pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0]:offsets[-1]]
    lengths = np.diff(offsets)
    return np.repeat(np.arange(n, dtype=np.int64), lengths), data, lengths


def _entropy(text: pa.Array) -> np.ndarray:
    """Shannon entropy (bits per character) of each string, vectorised over its UTF-8
    bytes: one sort of (row, byte) keys gives every character count. Handles are ASCII
    on all four platforms, so bytes are characters there."""
    n = len(text)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    row, data, lengths = _bytes(text, _NAME_WIDTH)
    keys, counts = np.unique(row * 256 + data, return_counts=True)
    c = counts.astype(float)
    sum_clogc = np.bincount(keys >> 8, weights=c * np.log2(c), minlength=n).astype(float)
    L = lengths.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(L > 0, np.log2(np.maximum(L, 1)) - sum_clogc / np.maximum(L, 1), 0.0)
    valid = text.is_valid().to_numpy(zero_copy_only=False)
    out[valid] = ent[valid]
    return out


def _text_stats(df: pd.DataFrame, name: str, *, user_part: bool = False,
                digits: bool = True) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    s = _strings(df, name)
    if user_part:
        s = _user_part(s, _strings(df, "platform") if "platform" in df.columns else None)
    length = pc.utf8_length(s).to_numpy(zero_copy_only=False).astype(float)
    if not digits:
        return length, np.full(len(s), np.nan), s
    row, data, _ = _bytes(s)
    count = np.bincount(row, weights=((data >= 48) & (data <= 57)).astype(float), minlength=len(s)).astype(float)  # ASCII 0-9
    count[np.isnan(length)] = np.nan
    return length, count, s


def feature_matrix(profiles: pd.DataFrame, *, as_of: Any = None) -> np.ndarray:
    """Features (columns in ``FEATURE_NAMES`` order) of each profile row. The age is
    taken at ``observed_at`` (the moment the counts were read), or at ``as_of`` when
    given; an age below zero (clock skew, a wrong date) is unknown, not negative."""
    p = profiles
    n = len(p)
    posts, fol, fing = _num(p, "posts_count"), _num(p, "followers_count"), _num(p, "following_count")
    fav, listed = _num(p, "favourites_count"), _num(p, "listed_count")
    created = _times_us(p, "created_at")
    missing = np.isnan(created)
    created = np.where(missing, _snowflake_us(p, missing), created)
    if as_of is not None:
        t = pd.Timestamp(as_of)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        ref = np.full(n, (t - _EPOCH).total_seconds() * 1e6)
    else:
        ref = _times_us(p, "observed_at")
    age = (ref - created) / _DAY_US
    age = np.where(age >= 0, age, np.nan)
    days = np.maximum(age, 1.0)
    h_len, h_dig, handle = _text_stats(p, "handle", user_part=True)
    n_len, n_dig, _ = _text_stats(p, "display_name")
    d_len, _, _ = _text_stats(p, "description", digits=False)
    cols = {
        "posts_count": posts,
        "followers_count": fol,
        "following_count": fing,
        "favourites_count": fav,
        "listed_count": listed,
        "age_days": age,
        "posts_per_day": posts / days,
        "followers_per_day": fol / days,
        "following_per_day": fing / days,
        "favourites_per_day": fav / days,
        "listed_per_day": listed / days,
        "followers_following_ratio": fol / np.maximum(fing, 1.0),
        "handle_length": h_len,
        "handle_digits": h_dig,
        "handle_entropy": _entropy(handle),
        "name_length": n_len,
        "name_digits": n_dig,
        "description_length": d_len,
        "default_profile_image": _flag(p, "default_profile_image"),
        "default_profile": _flag(p, "default_profile"),
    }
    X = np.empty((n, len(FEATURE_NAMES)))
    for j, name in enumerate(FEATURE_NAMES):
        X[:, j] = cols[name]
    return X


_COUNT_COLUMNS = [FEATURE_NAMES.index(c) for c in ("posts_count", "followers_count", "following_count")]


def scorable(X: np.ndarray) -> np.ndarray:
    """Rows that come from a profile read: at least one of the three counts is known. A
    row with only an id (a creation date from a snowflake) or a name is not scored."""
    return np.isfinite(np.asarray(X)[:, _COUNT_COLUMNS]).any(axis=1)


def feature_frame(profiles: pd.DataFrame, *, as_of: Any = None) -> pd.DataFrame:
    """:func:`feature_matrix` as a DataFrame (named columns, the profiles' index)."""
    return pd.DataFrame(feature_matrix(profiles, as_of=as_of), columns=list(FEATURE_NAMES), index=profiles.index)
