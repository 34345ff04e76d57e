"""Profiles from files, typed exactly as the importers type them (no store needed).

:func:`read_profiles` takes any profile file PurgeWatch imports: FORMATS.md ``profiles``
or ``observations`` (CSV/JSONL), X API v1.1 user objects (JSON array, JSONL, or CSV with
the v1.1 field names), v1.1 tweet objects that embed their ``user`` (the Botometer bot
repository layout: the tweet's ``created_at`` is when the profile was seen), and twarc2
X API v2 users. The bot-likeness model reads its training sets and the profiles it
scores through it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from purgewatch.errors import InputError, Location
from purgewatch.sources.files._foreign import (
    _iter_json_records,
    parse_twarc2,
    parse_v1_csv,
    parse_v1_json,
)
from purgewatch.sources.files._interchange import _FACTS
from purgewatch.sources.files._read import RawFile, read_bytes, read_csv, read_jsonl, sniff_format
from purgewatch.sources.files._validate import validate

FACT_COLUMNS = [c.name for c in _FACTS]


def _json_kind(path: str, data: bytes) -> str:
    for _, _, obj in _iter_json_records(path, data):
        if not isinstance(obj, dict):
            continue
        if "platform" in obj and "account_id" in obj:
            return "interchange"
        if "data" in obj or "includes" in obj or "__twarc" in obj or "username" in obj or (
            isinstance(obj.get("author"), dict)
        ):
            return "twarc2"
        if isinstance(obj.get("user"), dict) and "screen_name" not in obj:
            return "v1-tweets"
        return "v1-users"
    raise InputError("no JSON object in the file", location=Location(path),
                     hint="give profiles as a JSON array or one JSON object per line")


def _tweets_to_users(path: str, data: bytes) -> bytes:
    """v1.1 tweets with their ``user`` -> v1.1 users whose ``observed_at`` is the tweet time."""
    users = []
    for line, _, obj in _iter_json_records(path, data):
        if not isinstance(obj, dict) or not isinstance(obj.get("user"), dict):
            raise InputError("not a tweet object with a user", location=Location(path, line))
        users.append({**obj["user"], "observed_at": obj.get("created_at")})
    return json.dumps(users).encode()


def _v1_csv_quirks(raw: RawFile, *, empty_is_false: bool) -> RawFile:
    """cresci-2017's export: ``created_at`` in Java milliseconds (``1183552203000L``) in one
    class; with ``empty_is_false``, an empty boolean cell means false (the export writes
    nothing for false)."""
    t = raw.table
    col = t.column("created_at")
    t = t.set_column(t.schema.get_field_index("created_at"), "created_at",
                     pc.replace_substring_regex(col, r"^([0-9]+)[0-9]{3}L$", r"\1"))
    if empty_is_false:
        for name in ("default_profile_image", "default_profile"):
            c = t.column(name)
            empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(c), ""), True)
            t = t.set_column(t.schema.get_field_index(name), name, pc.if_else(empty, "false", c))
    raw.table = t
    return raw


def read_profiles(path: str | Path, *, observed_at: str | None = None, naive_utc: bool = False,
                  empty_is_false: bool = False) -> pd.DataFrame:
    """One row per profile record of ``path`` with the store's fact columns (typed: counts
    as numbers, times as UTC timestamps). ``observed_at`` (ISO 8601 with a zone) is the
    observation time for formats that do not carry one (v1.1 users). A bad cell raises
    :class:`~purgewatch.errors.InputError` naming file, line and column."""
    p = str(path)
    data = read_bytes(p)
    fmt = sniff_format(p, data)
    if fmt == "csv":
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").replace('"', "").split(",")
        if "platform" in header and "account_id" in header:
            raw = read_csv(p, data, FACT_COLUMNS, ["platform", "account_id", "observed_at", "status"])
        else:
            raw = _v1_csv_quirks(parse_v1_csv(p, data, observed_at), empty_is_false=empty_is_false)
    else:
        kind = _json_kind(p, data)
        if kind == "interchange":
            raw = read_jsonl(p, data, FACT_COLUMNS, ["platform", "account_id", "observed_at", "status"])
        elif kind == "twarc2":
            raw = parse_twarc2(p, data, observed_at)[0]
        elif kind == "v1-tweets":
            raw = parse_v1_json(p, _tweets_to_users(p, data), observed_at)
        else:
            raw = parse_v1_json(p, data, observed_at)
    if raw.broken:
        line, reason = raw.broken[0]
        raise InputError(reason, location=Location(p, line))
    v = validate(raw, _FACTS, naive_utc=naive_utc)
    if v.n_bad:
        first = v.rejects.slice(0, 1).to_pylist()[0]
        if first["column"] == "observed_at" and first["code"] == "empty":
            raise InputError("no observation time for this record", location=Location(p, first["line"], "observed_at"),
                             hint="pass --observed-at 2024-05-01T12:00:00Z (when the file was collected)")
        raise v.first_error()
    cols = [c for c in FACT_COLUMNS if c in v.good.column_names]
    return v.good.select(cols).to_pandas()
