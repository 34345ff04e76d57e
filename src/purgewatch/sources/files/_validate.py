"""Vectorised typing and validation of string cells (one DuckDB pass per file).

Each column of a :class:`~purgewatch.sources.files._read.RawFile` is typed by a SQL
expression that yields NULL instead of failing, plus a *reason code* that is non-NULL
exactly where the cell is bad. Finding bad cells is therefore one scan in C++; only the
first bad cell (or, with ``--skip-bad-rows``, the rejected rows) comes back to Python.

SQL here is built only from this module's constants and the column names of the format
specs (checked to be plain identifiers); no text from the input file reaches the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.errors import InputError, Location
from purgewatch.model import STATUS_VALUES, TS, normalize_status
from purgewatch.sources.files._read import BAD_PREFIX, LINE_COL, RAW_COL, RawFile, shorten
from purgewatch.store import constant_strings

HASH_COL = "__payload_hash"
REF_COL = "__source_ref"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS_LIST = ", ".join(f"'{s}'" for s in sorted(STATUS_VALUES))
_TRUE = "'true', '1', 't', 'yes', 'y'"
_FALSE = "'false', '0', 'f', 'no', 'n'"
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO_ZONED = _ISO_DATE + r"([T ][0-9:.,]+)? ?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"
_ISO_NAIVE = _ISO_DATE + r"([T ][0-9:.,]+)?"
_UNIX = r"[+-]?[0-9]+(\.[0-9]+)?"
_V1 = r"[A-Za-z]{3} [A-Za-z]{3} [0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4} [0-9]{4}"
_UNIX_MAX = 4102444800  # 2100-01-01: larger numbers are milliseconds or garbage
# Plausible times: none of the platforms PurgeWatch reads existed before 2000 (X 2006,
# Telegram 2013, Mastodon 2016, Bluesky 2023), and nothing can be seen, published or
# created more than a day after it is imported (a day covers clocks and zones that are
# merely wrong by hours). A time outside is a typo, a unit error or a placeholder such as
# 0001-01-01 / 9999-12-31, and one such row would stretch every time axis of every
# analysis over centuries.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# A UTC offset beyond +-14:00 (or with minutes >= 60) exists nowhere (UTC+14:00, Kiribati,
# is the largest); DuckDB would shift the time by it without complaint.
_BAD_OFFSET = (r":[0-9]{2}([.,][0-9]+)? ?[+-]((1[5-9]|[2-9][0-9]):?[0-9]{2}|(1[5-9]|[2-9][0-9])"
               r"|14:?(0[1-9]|[1-5][0-9])|[0-9]{2}:?[6-9][0-9])$")

# reason code -> (what was wrong, what would be valid)
REASONS: dict[str, tuple[str, str]] = {
    "empty": ("empty cell in a required column", "a non-empty value"),
    "int": ("not an integer", "a whole number such as 1234, or an empty cell"),
    "bool": ("not a boolean", "true/false, 1/0, yes/no, or an empty cell"),
    "token": ("not a platform token", "a lowercase word such as x, bluesky, mastodon, telegram"),
    "ts_nozone": (
        "timestamp without a time zone",
        "a time with an offset or Z, e.g. 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00 "
        "(local times are never guessed)",
    ),
    "ts_range": ("Unix time out of range (milliseconds?)", "Unix seconds between 0 and 4102444800"),
    "ts_early": ("implausible timestamp, before 2000-01-01",
                 "a real time from 2000-01-01 on (no platform PurgeWatch reads existed before); "
                 "leave an optional cell empty when the time is unknown"),
    "ts_future": ("implausible timestamp, more than a day after the import",
                  "a time that has already happened (check the year, the unit and the zone)"),
    "ts_offset": ("UTC offset beyond +-14:00", "an offset within +-14:00, e.g. +02:00 or -05:00, or Z"),
    "negative": ("negative count", "a whole number >= 0, or an empty cell"),
    "period_order": ("period_end not after period_start",
                     "a period that ends after it starts (a UTC day: 2023-04-06T00:00:00Z to 2023-04-07T00:00:00Z)"),
    "nonscalar": ("a JSON object or array where one value belongs",
                  "a single string, number or boolean (or null)"),
    "ts": (
        "not a timestamp",
        "ISO 8601 with an offset or Z (2024-05-01T12:00:00Z), Unix seconds, "
        "or Twitter's 'Tue Jun 11 11:20:35 +0000 2013'",
    ),
}


@dataclass(frozen=True)
class Column:
    """One column of an input format. ``type``: text (verbatim), id (trimmed), token
    (lowercased platform word), int, bool, ts (timestamp), status (vocabulary + raw word),
    json (verbatim; in JSONL an array or object is allowed and kept as its JSON text)."""

    name: str
    type: str
    required: bool = False   # the column must be in the header
    nonempty: bool = False   # every cell must have a value
    choices: tuple[str, ...] = ()  # token columns: the allowed words (empty: any token)

    def __post_init__(self) -> None:
        if not _IDENT.match(self.name):
            raise ValueError(f"bad column name {self.name!r}")
        if self.type not in {"text", "json", "id", "token", "int", "bool", "ts", "status"}:
            raise ValueError(f"bad column type {self.type!r}")


@dataclass
class Validated:
    """Typed rows that passed (``good``) and the rows that did not (``rejects``: line,
    column, reason, value)."""

    path: str
    good: pa.Table
    rejects: pa.Table
    columns_found: list[str]
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def n_bad(self) -> int:
        return self.rejects.num_rows

    def first_error(self) -> InputError:
        first = self.rejects.slice(0, 1).to_pylist()[0]
        column = first["column"]
        return cell_error(self.path, first["line"], self.aliases.get(column, column), first["code"],
                          first["value"])


def reason(code: str) -> tuple[str, str]:
    """(what was wrong, what would be valid) for a reason code."""
    if code.startswith("choice:"):
        return "not an allowed word", "one of: " + ", ".join(code[len("choice:"):].split("|"))
    return REASONS.get(code, (code, ""))


def cell_error(path: str, line: int, column: str | None, code: str, value: str | None) -> InputError:
    what, valid = reason(code)
    if column is None:
        return InputError(what, location=Location(path, line), hint=valid or None)
    msg = f"{what}: {shorten(value)}" if value not in (None, "") else what
    return InputError(f"{msg}; expected {valid}", location=Location(path, line, column))


def _q(name: str) -> str:
    assert _IDENT.match(name), name
    return f'"{name}"'


def _exprs(col: Column, present: bool, naive_utc: bool) -> tuple[str, str | None, str]:
    """(typed value SQL, raw-status SQL or None, reason-code SQL) for one column."""
    if not present:
        typ = {"text": "VARCHAR", "json": "VARCHAR", "id": "VARCHAR", "token": "VARCHAR", "int": "BIGINT",
               "bool": "BOOLEAN", "ts": "TIMESTAMPTZ", "status": "VARCHAR"}[col.type]
        value = "'unknown'" if col.type == "status" else f"CAST(NULL AS {typ})"
        return value, ("CAST(NULL AS VARCHAR)" if col.type == "status" else None), "CAST(NULL AS VARCHAR)"
    c = _q(col.name)
    v = f"NULLIF(trim({c}), '')"
    empty = f"WHEN {v} IS NULL THEN 'empty'" if col.nonempty else f"WHEN {v} IS NULL THEN NULL"
    raw_status = None
    if col.type in ("text", "json"):
        value = f"NULLIF({c}, '')"
        reason = f"CASE {empty} END"
    elif col.type == "id":
        value = v
        reason = f"CASE {empty} END"
    elif col.type == "token":
        value = f"lower({v})"
        reason = f"CASE {empty} WHEN NOT regexp_full_match(lower({v}), '[a-z][a-z0-9_.-]*') THEN 'token' END"
    elif col.type == "int":
        value = f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]+') THEN TRY_CAST({v} AS BIGINT) END"
        reason = (
            f"CASE {empty} WHEN NOT regexp_full_match({v}, '[+-]?[0-9]+') "
            f"OR TRY_CAST({v} AS BIGINT) IS NULL THEN 'int' END"
        )
    elif col.type == "bool":
        value = f"CASE WHEN lower({v}) IN ({_TRUE}) THEN true WHEN lower({v}) IN ({_FALSE}) THEN false END"
        reason = f"CASE {empty} WHEN lower({v}) NOT IN ({_TRUE}, {_FALSE}) THEN 'bool' END"
    elif col.type == "status":
        value = f"CASE WHEN lower({v}) IN ({_STATUS_LIST}) THEN lower({v}) ELSE 'unknown' END"
        # The platform's own word, verbatim, whenever it is not in the vocabulary.
        raw_status = f"CASE WHEN {v} IS NOT NULL AND lower({v}) NOT IN ({_STATUS_LIST}) THEN {c} END"
        reason = f"CASE {empty} END"
    else:  # ts
        unix = f"TRY_CAST({v} AS DOUBLE)"
        naive = (
            f"WHEN regexp_full_match({v}, '{_ISO_NAIVE}') THEN TRY_CAST(TRY_CAST({v} AS TIMESTAMP) AS TIMESTAMPTZ) "
            if naive_utc else ""
        )
        value = (
            f"CASE WHEN regexp_full_match({v}, '{_UNIX}') AND {unix} >= 0 AND {unix} < {_UNIX_MAX} "
            f"THEN make_timestamptz(CAST(round({unix} * 1000000) AS BIGINT)) "
            f"WHEN regexp_full_match({v}, '{_ISO_ZONED}') THEN TRY_CAST({v} AS TIMESTAMPTZ) "
            f"{naive}"
            f"WHEN regexp_full_match({v}, '{_V1}') THEN try_strptime({v}, '%a %b %d %H:%M:%S %z %Y') END"
        )
        nozone = "" if naive_utc else f"WHEN regexp_full_match({v}, '{_ISO_NAIVE}') THEN 'ts_nozone' "
        reason = (
            f"CASE {empty} "
            f"WHEN regexp_full_match({v}, '{_UNIX}') AND NOT ({unix} >= 0 AND {unix} < {_UNIX_MAX}) THEN 'ts_range' "
            f"{nozone}"
            f"WHEN ({value}) IS NULL THEN 'ts' END"
        )
    return value, raw_status, reason


def _empty_to_null(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count == len(arr):
        return arr.cast(pa.string())
    empty = pc.equal(pc.utf8_length(arr), 0)
    if not pc.any(empty).as_py():
        return arr  # the usual case: no copy of every cell
    return pc.if_else(empty, pa.scalar(None, pa.string()), arr)


def _has_empty(arr: pa.Array) -> bool:
    if arr.null_count == len(arr):
        return False
    return bool(pc.min(pc.utf8_length(arr)).as_py() == 0)


def _by_uniques(arr: pa.Array, fn: Callable[[str], object], typ: pa.DataType) -> pa.Array:
    """Apply ``fn`` once per distinct value (platform, status and flags repeat a lot)."""
    enc = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    mapped = pa.array([fn(x) for x in enc.dictionary.to_pylist()], typ)
    return pc.take(mapped, enc.indices)


_TOKEN = re.compile(r"[a-z][a-z0-9_.-]*")
_BOOLS = {**dict.fromkeys(("true", "1", "t", "yes", "y"), True),
          **dict.fromkeys(("false", "0", "f", "no", "n"), False)}


class _OutOfRange(Exception):
    """Unix seconds outside 1970..2100 (milliseconds, most likely)."""


def _unix_seconds(arr: pa.Array) -> pa.Array:
    secs = arr.cast(pa.int64())
    lo, hi = pc.min_max(secs).values()
    if lo.as_py() is not None and (lo.as_py() < 0 or hi.as_py() >= _UNIX_MAX):
        raise _OutOfRange
    return pc.multiply(secs, 1_000_000).cast(TS)


def _v1_time(arr: pa.Array) -> pa.Array:
    return pc.strptime(arr, format="%a %b %d %H:%M:%S %z %Y", unit="us").cast(TS)


def _zoned(arr: pa.Array) -> pa.Array:
    return arr.cast(TS)  # Arrow refuses ISO strings without an offset here


def _naive_as_utc(arr: pa.Array) -> pa.Array:
    return arr.cast(pa.timestamp("us")).cast(TS)


_INT_READERS: list[Callable[[pa.Array], pa.Array]] = [lambda a: a.cast(pa.int64())]
_TS_READERS: list[Callable[[pa.Array], pa.Array]] = [_zoned, _unix_seconds, _v1_time]
_TS_READERS_NAIVE_UTC = [_zoned, _naive_as_utc, _unix_seconds, _v1_time]


def _fast(col: Column, cells: pa.ChunkedArray | pa.Array, naive_utc: bool = False) -> dict[str, pa.Array] | None:
    """Type a column with pyarrow kernels when every cell is clean; None sends the column
    to the DuckDB path, which finds and explains the bad cells."""
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    if col.nonempty and cells.null_count:
        return None  # a missing JSON key: the DuckDB path reports it
    try:
        if col.type in ("int", "ts"):
            # A failing Arrow cast is slow (seconds on millions of cells), so try each
            # reading on a sample first and apply the one that fits; if it then rejects
            # any cell, the column goes to the DuckDB path, which says which and why.
            readers = _INT_READERS if col.type == "int" else (
                _TS_READERS_NAIVE_UTC if naive_utc else _TS_READERS)
            sample = cells.drop_null().slice(0, 1000)
            sample = sample.filter(pc.greater(pc.utf8_length(sample), 0))
            chosen = None
            for reader in readers:
                try:
                    reader(sample)
                except (pa.ArrowInvalid, _OutOfRange):
                    continue
                chosen = reader
                break
            if chosen is None:
                if len(sample):
                    return None
                chosen = readers[0]
            v = _empty_to_null(cells) if _has_empty(cells) else cells
            if col.nonempty and v.null_count:
                return None
            try:
                return {col.name: chosen(v)}
            except _OutOfRange:
                return None
        v = _empty_to_null(cells)
        if col.nonempty and v.null_count:
            return None
        if col.type in ("text", "json"):
            return {col.name: v}
        if col.type == "id":
            t = pc.utf8_trim_whitespace(v)
            if col.nonempty and pc.any(pc.equal(pc.utf8_length(t), 0)).as_py():
                return None
            return {col.name: _empty_to_null(t)}
        if col.type == "bool":
            out = _by_uniques(v, lambda x: _BOOLS.get(x.strip().lower()), pa.bool_())
            return None if out.null_count != v.null_count else {col.name: out}
        if col.type == "token":
            def token(x: str) -> str | None:
                t = x.strip().lower()
                return t if _TOKEN.fullmatch(t) else None
            out = _by_uniques(v, token, pa.string())
            return None if out.null_count != v.null_count else {col.name: out}
        if col.type == "status":
            # Once per distinct word, with the model's own rule (unknown words kept raw).
            def status(x: str) -> str:
                return normalize_status(x if x.strip() else None)[0]

            def raw(x: str) -> str | None:
                return normalize_status(x if x.strip() else None)[1]

            enc = v.dictionary_encode()  # once for both mappings
            st = pc.fill_null(_by_uniques(enc, status, pa.string()), "unknown")
            return {col.name: st, col.name + "_raw": _by_uniques(enc, raw, pa.string())}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    raise AssertionError(col.type)


def validate(raw: RawFile, spec: list[Column], *, naive_utc: bool = False,
             now: datetime | None = None) -> Validated:
    """Type every cell of ``raw`` per ``spec``; collect bad cells (none raise here).
    ``now`` (default: the clock) is the import time that bounds plausible timestamps."""
    import duckdb

    table = raw.table
    # source_ref = "<file>:<line>" for every row, built by DuckDB (two threads, GIL
    # released) while the columns are typed here.
    refs = _BESIDE.submit(_source_refs, raw.ref_name or raw.path, table.column(LINE_COL))
    present = [c for c in spec if c.name in table.column_names]
    typed: dict[str, pa.Array] = {}
    slow: list[Column] = []
    for col in spec:
        if col.name not in table.column_names:
            value, raw_status, _ = _exprs(col, False, naive_utc)
            typ = {"int": pa.int64(), "bool": pa.bool_(), "ts": TS}.get(col.type, pa.string())
            n = table.num_rows
            typed[col.name] = (pa.repeat(pa.scalar("unknown", pa.string()), n) if col.type == "status"
                               else pa.nulls(n, typ))
            if col.type == "status":
                typed[col.name + "_raw"] = pa.nulls(n, pa.string())
            continue
        fast = _fast(col, table.column(col.name), naive_utc)
        if fast is None:
            slow.append(col)
        else:
            typed.update(fast)
    selects: list[str] = []
    reasons: list[tuple[Column, str]] = []
    for col in slow:
        value, raw_status, reason = _exprs(col, True, naive_utc)
        selects.append(f"{value} AS {_q(col.name)}")
        if raw_status is not None:
            selects.append(f"{raw_status} AS {_q(col.name + '_raw')}")
        reasons.append((col, reason))
    # Report problems left to right as they appear in the file.
    order = {name: i for i, name in enumerate(raw.columns_found)}
    reasons.sort(key=lambda cr: order.get(cr[0].name, len(order)))
    for i, (_, reason) in enumerate(reasons):
        selects.append(f"{reason} AS __r{i}")
    if raw.file_sha256 is not None:
        # One hash per file, not per row: hashing every row cost more than the rest of the
        # import, and file hash + file:line traces a record just as exactly.
        hash_sql = None
    elif RAW_COL in table.column_names:
        hash_sql = f"sha256({RAW_COL})"
    elif present:
        hash_sql = "sha256(concat_ws(chr(31), " + ", ".join(
            f"coalesce({_q(c.name)}, '')" for c in present) + "))"
    else:
        hash_sql = "sha256('')"
    if hash_sql is not None:
        selects.append(f"{hash_sql} AS {HASH_COL}")
    if selects:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            con.register("cells", table)
            out = con.sql(f"SELECT {', '.join(selects)} FROM cells").to_arrow_table()  # noqa: S608
        finally:
            con.close()
    else:  # every column typed by the fast path: nothing to explain
        out = table.select([LINE_COL]).drop_columns([LINE_COL])
    for name in out.column_names:
        if not name.startswith("__r"):
            typed[name] = out.column(name)
    typed[LINE_COL] = table.column(LINE_COL)
    typed[REF_COL] = refs.result()
    if hash_sql is None:
        typed[HASH_COL] = constant_strings(raw.file_sha256, table.num_rows)
    names = [n for c in spec for n in ((c.name, c.name + "_raw") if c.type == "status" else (c.name,))]
    full = pa.table({n: typed[n] for n in names + [HASH_COL, REF_COL, LINE_COL]})
    # Reason codes per column (null = the cell is fine): parsing (DuckDB) first, then
    # plausibility of the typed value, which the fast path leaves to this check too.
    codes: dict[str, pa.Array] = {col.name: out.column(f"__r{i}") for i, (col, _) in enumerate(reasons)}
    lo, hi = EARLIEST, (now or datetime.now(UTC)) + FUTURE_SLACK
    for col in present:
        implausible = _implausible(col, table.column(col.name), typed[col.name], lo, hi)
        if implausible is not None:
            codes[col.name] = (pc.coalesce(codes[col.name], implausible) if col.name in codes
                               else implausible)
    for col in present:  # problems the reader found (a JSON object in a cell): they come first
        if BAD_PREFIX + col.name in table.column_names:
            mark = table.column(BAD_PREFIX + col.name)
            codes[col.name] = pc.coalesce(mark, codes[col.name]) if col.name in codes else mark
    checks = sorted(((c, codes[c.name]) for c in spec if c.name in codes),
                    key=lambda cc: order.get(cc[0].name, len(order)))
    bad = np.zeros(table.num_rows, dtype=bool)
    for _, arr in checks:
        bad |= _valid_mask(arr)
    rejects = _rejects(raw, table.column(LINE_COL), bad, checks)
    good = full.filter(pa.array(~bad)) if bad.any() else full
    for col in spec:
        if col.type == "ts":
            idx = good.schema.get_field_index(col.name)
            good = good.set_column(idx, col.name, good.column(col.name).cast(TS))
    return Validated(raw.path, good, rejects, raw.columns_found, raw.aliases)


def _valid_mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _code_where(mask: pa.Array | pa.ChunkedArray, code: str) -> pa.Array:
    out = pc.if_else(pc.fill_null(mask, False), pa.scalar(code, pa.string()), pa.scalar(None, pa.string()))
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _implausible(col: Column, cells: pa.ChunkedArray, value: pa.Array | pa.ChunkedArray,
                 lo: datetime, hi: datetime) -> pa.Array | None:
    """Reason codes for well-formed but impossible values (None when there are none):
    negative counts, times outside [2000-01-01, import + 1 day], offsets beyond +-14:00.
    Each check is one vectorised pass; the offset regex runs only on cells not ending
    in Z (the usual export)."""
    if col.type == "int":
        neg = pc.less(value, 0)
        return _code_where(neg, "negative") if pc.any(neg).as_py() else None
    if col.choices:
        other = pc.invert(pc.is_in(value, value_set=pa.array(col.choices, pa.string())))
        other = pc.and_(other, pc.is_valid(value))
        return _code_where(other, "choice:" + "|".join(col.choices)) if pc.any(other).as_py() else None
    if col.type != "ts":
        return None
    found: pa.Array | None = None
    v = value.cast(TS)
    early = pc.less(v, pa.scalar(lo, TS))
    future = pc.greater(v, pa.scalar(hi, TS))
    if pc.any(early).as_py():
        found = _code_where(early, "ts_early")
    if pc.any(future).as_py():
        f = _code_where(future, "ts_future")
        found = f if found is None else pc.coalesce(found, f)
    zoned_z = pc.fill_null(pc.or_(pc.ends_with(cells, "Z"), pc.ends_with(cells, "z")), True)
    if not pc.all(zoned_z).as_py():
        offset = pc.and_(pc.invert(zoned_z), pc.fill_null(pc.match_substring_regex(cells, _BAD_OFFSET), False))
        if pc.any(offset).as_py():
            o = _code_where(offset, "ts_offset")
            found = o if found is None else pc.coalesce(o, found)  # the offset explains the time
    return found


_BESIDE = ThreadPoolExecutor(1, thread_name_prefix="purgewatch-validate")


def _source_refs(path: str, lines: pa.ChunkedArray) -> pa.ChunkedArray:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("lines", pa.table({"line": lines}))
        con.register("meta", pa.table({"path": [path]}))  # the path travels as data, not SQL
        refs = con.sql("SELECT concat((SELECT path FROM meta), ':', line) AS ref FROM lines").to_arrow_table()
        return refs.column(0)
    finally:
        con.close()


_REJECT_SCHEMA = pa.schema([
    pa.field("line", pa.int64()),
    pa.field("column", pa.string()),
    pa.field("code", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("value", pa.string()),
])


def _rejects(raw: RawFile, lines: pa.ChunkedArray, bad: np.ndarray,
             checks: list[tuple[Column, pa.Array]]) -> pa.Table:
    """One row per rejected input row: its first bad cell, plus shape-broken rows."""
    out_lines: list[int] = []
    cols: list[str | None] = []
    codes: list[str] = []
    values: list[str | None] = []
    if bad.any():
        keep = pa.array(bad)
        sub_lines = lines.filter(keep).to_pylist()
        cells = raw.table.filter(keep)
        codes_m = [arr.filter(keep).to_pylist() for _, arr in checks]
        for j, line in enumerate(sub_lines):
            for k, (col, _) in enumerate(checks):
                code = codes_m[k][j]
                if code is not None:
                    out_lines.append(line)
                    cols.append(col.name)
                    codes.append(code)
                    values.append(cells.column(col.name)[j].as_py())
                    break
    for line, broken_why in raw.broken:
        out_lines.append(line)
        cols.append(None)
        codes.append(broken_why)
        values.append(None)
    why = [
        (f"{c}: " if c else "") + reason(code)[0] for c, code in zip(cols, codes, strict=True)
    ]
    t = pa.table({"line": pa.array(out_lines, pa.int64()), "column": pa.array(cols, pa.string()),
                  "code": pa.array(codes, pa.string()), "reason": pa.array(why, pa.string()),
                  "value": pa.array(values, pa.string())}, schema=_REJECT_SCHEMA)
    if t.num_rows:
        t = t.take(pc.sort_indices(t, [("line", "ascending")]))
    return t
