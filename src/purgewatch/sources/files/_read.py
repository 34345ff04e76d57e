"""Reading CSV / JSONL (optionally gzip'd) into Arrow string columns with line numbers.

Everything is read as text first: typing and validation happen vectorised in one DuckDB
pass (``_validate.py``), so a bad cell can be reported with its exact file line instead of
a parser's guess. Line numbers are 1-based and count the CSV header as line 1.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from purgewatch.errors import InputError, Location, SchemaError

LINE_COL = "__line"
RAW_COL = "__raw"  # JSONL only: the raw line, hashed for provenance
BAD_PREFIX = "__bad_"  # "__bad_<column>": a reason code where the reader found the cell bad
_MAX_SHOWN = 60
# Arrow parses CSV in blocks of this size, and a record must fit in one block. Larger
# records are refused with their line (a 16 MB profile is a broken file, not data).
MAX_RECORD_BYTES = 1 << 24
# A gzip'd file is read and imported this many (uncompressed) bytes at a time.
STREAM_CHUNK_BYTES = 1 << 25


def shorten(value: object, limit: int = _MAX_SHOWN) -> str:
    """repr() of a cell value, truncated so one huge cell cannot flood the terminal."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


@dataclass
class RawFile:
    """A file's cells as strings. ``table`` holds the requested columns (absent optional
    columns are missing), ``LINE_COL`` (int64) and, for JSONL, ``RAW_COL``. Rows whose shape
    was broken (wrong field count, invalid JSON) are in ``broken`` as (line, reason)."""

    path: str
    fmt: str  # "csv" | "jsonl"
    table: pa.Table
    columns_found: list[str]
    broken: list[tuple[int, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # our column -> the file's name
    ref_name: str | None = None  # the file's name in source_ref (default: path as given)
    # sha256 of the file's bytes (after gunzip): the payload hash of every row it yields;
    # with source_ref (file:line) it pins each record to its exact origin.
    file_sha256: str | None = None


def read_bytes(path: str | Path, max_lines: int | None = None) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by magic number, not by name);
    with ``max_lines``, only the first that many physical lines (a quick look)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            magic = fh.read(2)
        compression = "gzip" if magic == b"\x1f\x8b" else None
        with pa.input_stream(str(p), compression=compression) as stream:
            if max_lines is None:
                return bytes(stream.read())
            parts: list[bytes] = []
            seen = 0
            while seen < max_lines:
                chunk = bytes(stream.read(1 << 22))
                if not chunk:
                    break
                parts.append(chunk)
                seen += chunk.count(b"\n")
            data = b"".join(parts)
            if seen >= max_lines:
                cut = -1
                for _ in range(max_lines):
                    cut = data.index(b"\n", cut + 1)
                data = data[: cut + 1]
            return data
    except FileNotFoundError:
        raise InputError("file not found", location=Location(str(path))) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", location=Location(str(path))) from None
    except OSError as exc:  # includes a truncated / corrupt gzip stream
        raise InputError(f"cannot read file: {exc}", location=Location(str(path))) from None


def sniff_format(path: str | Path, data: bytes) -> str:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".txt")):
        return "csv"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith((b"{", b"[")) else "csv"


def check_utf8(path: str, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})",
            location=Location(path, line),
            hint="re-save the file as UTF-8",
        ) from None


def read_csv(path: str, data: bytes, wanted: list[str], required: list[str], *,
             line_offset: int = 0) -> RawFile:
    """Read a CSV with a header into string columns for ``wanted`` (those present).
    ``line_offset``: physical lines of the file before ``data``'s first record (a chunk of
    a streamed file carries the header again); line numbers are the file's."""
    text_head = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next(csv.reader(io.StringIO(text_head.split("\n", 1)[0].rstrip("\r"))), [])
    header = [h.strip() for h in first]
    if not header or all(h == "" for h in header):
        raise SchemaError("empty file or empty header line", location=Location(path, 1),
                          hint=f"the first line must name the columns: {', '.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise SchemaError(
            f"missing required column(s) {', '.join(missing)}; found: {', '.join(header)}"
            + lookalike_note(missing, header, wanted),
            location=Location(path, 1),
            hint=f"required: {', '.join(required)} (extra columns are ignored)",
        )
    dupes = sorted({h for h in header if header.count(h) > 1 and h in wanted})
    if dupes:
        raise SchemaError(f"column(s) named twice in the header: {', '.join(dupes)}",
                          location=Location(path, 1))
    # Unique internal names: a header may repeat or blank out columns we do not use.
    internal = [f"f{i}" for i in range(len(header))]
    present = [c for c in wanted if c in header]
    broken_rows: list[tuple[int | None, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        broken_rows.append(
            (row.number, f"expected {row.expected_columns} fields, found {row.actual_columns}")
        )
        return "skip"

    # A line break inside a value needs quotes; without any quote after the header,
    # Arrow may split the file at any line break (about a third faster).
    header_end = data.find(b"\n")
    quoted = header_end >= 0 and data.find(b'"', header_end) >= 0
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=internal, skip_rows=1, block_size=MAX_RECORD_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=quoted, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={internal[header.index(c)]: pa.string() for c in present},
                include_columns=[internal[header.index(c)] for c in present],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        check_utf8(path, data)  # Arrow validates UTF-8 but does not say where: we do
        if "straddl" in str(exc) or "block size" in str(exc):
            raise long_record_error(path, data, line_offset) from None
        raise InputError(f"cannot parse as CSV: {exc}", location=Location(path)) from None
    table = table.rename_columns(present)
    lines, broken = _csv_lines(path, data, len(header), table.num_rows, bool(broken_rows), line_offset)
    if line_offset:
        lines = lines + line_offset
        broken = [(line + line_offset, why) for line, why in broken]
    table = table.append_column(LINE_COL, pa.array(lines, pa.int64()))
    return RawFile(path, "csv", table, header, broken)


def _record_ends(data: bytes) -> np.ndarray:
    """Offsets of the line breaks that end a CSV record: those after an even number of
    double quotes (RFC 4180: a quoted value may hold line breaks and doubled quotes)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    quotes = np.flatnonzero(buf == 34)
    if len(quotes) == 0:
        return nl
    return nl[np.searchsorted(quotes, nl) % 2 == 0]


def long_record_error(path: str, data: bytes, line_offset: int = 0) -> InputError:
    """The error for a CSV record longer than MAX_RECORD_BYTES, naming its first line."""
    ends = _record_ends(data)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    long = np.flatnonzero(stops - starts > MAX_RECORD_BYTES)
    start = int(starts[long[0]]) if len(long) else 0
    line = data.count(b"\n", 0, start) + 1 + line_offset
    return InputError(
        f"a CSV record longer than {MAX_RECORD_BYTES >> 20} MB starts here",
        location=Location(path, line),
        hint="a record that long is almost always an unbalanced double quote (everything "
             "after it reads as one value); check the quotes on this line",
    )


# Names other tools use for our columns (a file with these would otherwise import
# without the column: extra columns are ignored).
_SYNONYMS = {
    "followers": "followers_count", "friends_count": "following_count", "following": "following_count",
    "friends": "following_count", "statuses_count": "posts_count", "tweet_count": "posts_count",
    "tweets": "posts_count", "posts": "posts_count", "screen_name": "handle", "username": "handle",
    "name": "display_name", "user_id": "account_id", "id": "account_id", "timestamp": "observed_at",
    "time": "observed_at", "date": "observed_at",
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def lookalikes(missing: list[str], header: list[str], wanted: list[str]) -> dict[str, str]:
    """Missing known column -> the extra column of ``header`` that looks like it (same
    name but for case and separators, a known synonym, a prefix of it or a near-typo). An
    extra column that merely *starts* with a known name (``source_file``) is not one."""
    extras = [h for h in header if h and h not in wanted]
    out: dict[str, str] = {}
    for col in missing:
        for h in extras:
            a, b = _norm(h), _norm(col)
            if (a == b or _SYNONYMS.get(h.strip().lower()) == col
                    or (len(a) >= 5 and b.startswith(a))
                    or difflib.SequenceMatcher(None, a, b).ratio() >= 0.85):
                out[col] = h
                break
    return out


def lookalike_note(missing: list[str], header: list[str], wanted: list[str]) -> str:
    found = lookalikes(missing, header, wanted)
    return "".join(f"; {h!r} looks like {c!r}: rename it" for c, h in found.items())


def check_lookalikes(path: str, raw: RawFile, wanted: list[str]) -> None:
    """Refuse a file where a known column is missing and an extra column looks like it
    (``followers`` for ``followers_count``): it would import with that column empty."""
    missing = [c for c in wanted if c not in raw.columns_found]
    found = lookalikes(missing, raw.columns_found, wanted)
    if found:
        pairs = ", ".join(f"{h!r} (for {c!r})" for c, h in found.items())
        raise SchemaError(
            f"unknown column(s) that look like known ones: {pairs}; the file would import "
            f"with {', '.join(found)} empty",
            location=Location(path, 1),
            hint="rename the column(s) in the header to the names of FORMATS.md "
                 "(or drop them if they mean something else)",
        )


def _csv_lines(path: str, data: bytes, n_fields: int, n_rows: int, had_broken: bool,
               line_offset: int = 0) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Physical line number of each parsed record. Fast path: one record per line.
    Otherwise (quoted newlines, blank lines, broken rows) walk the file once with the csv
    module, which agrees with Arrow's parser on record boundaries."""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if not had_broken and n_lines == n_rows + 1:
        return np.arange(2, n_rows + 2, dtype=np.int64), []
    text = data.decode("utf-8").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    lines: list[int] = []
    broken: list[tuple[int, str]] = []
    prev_end = reader.line_num
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES + 1))
    for rec in reader:
        start = prev_end + 1
        prev_end = reader.line_num
        if prev_end - start > 0 and sum(map(len, rec)) > MAX_RECORD_BYTES:
            # Arrow may take a record beyond its block size in one piece; the rule
            # (and the error naming the record's first line) stays the same.
            raise long_record_error(path, data, line_offset)
        if not rec or (len(rec) == 1 and rec[0] == "" and n_fields != 1):
            continue  # blank line: Arrow skips it too
        if len(rec) != n_fields:
            broken.append((start, f"expected {n_fields} fields, found {len(rec)}"))
            continue
        lines.append(start)
    if len(lines) != n_rows:  # the two parsers disagree: never report a wrong line
        raise InputError(
            "ambiguous CSV quoting: cannot tell where records start",
            location=Location(path),
            hint="check for unbalanced double quotes",
        )
    return np.asarray(lines, dtype=np.int64), broken


_KEY_SAFE = re.compile(r"^[A-Za-z0-9_]+$")


def read_jsonl_lines(path: str, data: bytes) -> tuple[pa.Array, np.ndarray]:
    """Non-blank lines of a JSONL file (as Arrow strings) and their 1-based line numbers."""
    check_utf8(path, data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    arr = pa.array(parts, pa.binary()).cast(pa.string())
    lines = np.arange(1, len(parts) + 1, dtype=np.int64)
    blank = pc.equal(pc.utf8_trim_whitespace(arr), "").to_numpy(zero_copy_only=False)
    if blank.any():
        arr = arr.filter(pa.array(~blank))
        lines = lines[~blank]
    return arr, lines


def read_jsonl(path: str, data: bytes, wanted: list[str], required: list[str], *,
               line_offset: int = 0, json_ok: frozenset[str] = frozenset()) -> RawFile:
    """Read JSONL objects into string columns for ``wanted`` keys (vectorised in DuckDB).
    ``line_offset``: lines of the file before ``data`` (a chunk of a streamed file)."""
    import duckdb

    arr, lines = read_jsonl_lines(path, data)
    lines = lines + line_offset
    con = duckdb.connect()
    try:
        src = pa.table({RAW_COL: arr, LINE_COL: pa.array(lines, pa.int64())})
        # Invalid JSON makes DuckDB's extractors raise, so set those lines aside first.
        con.register("all_lines", src)
        # SQL below is built from this module's constants only (no file text): noqa S608.
        valid = con.sql("SELECT json_valid(" + RAW_COL + ") AS v FROM all_lines").to_arrow_table()  # noqa: S608
        valid_mask = valid.column("v").to_numpy(zero_copy_only=False).astype(bool)
        broken: list[tuple[int, str]] = [
            (int(line), "not valid JSON") for line in lines[~valid_mask]
        ]
        src = src.filter(pa.array(valid_mask))
        con.register("src", src)
        rows = con.sql(
            "SELECT json_keys(" + RAW_COL + ") FROM src WHERE json_type(" + RAW_COL + ") = 'OBJECT' "  # noqa: S608
            "ORDER BY " + LINE_COL + " LIMIT 1"
        ).fetchall()
        found = list(rows[0][0]) if rows else []
        missing = [c for c in required if c not in found]
        if missing and src.num_rows:
            raise SchemaError(
                f"missing required key(s) {', '.join(missing)} in the first JSON object; "
                f"found: {', '.join(found) or '(none)'}",
                location=Location(path, int(src.column(LINE_COL)[0].as_py())),
                hint=f"required: {', '.join(required)} (extra keys are ignored)",
            )
        for c in wanted:  # our own constants, never text from the file
            assert _KEY_SAFE.match(c)
        cols = ", ".join(
            f"json_extract_string({RAW_COL}, '$.\"{c}\"') AS \"{c}\"" for c in wanted
        )
        table = con.sql(
            f"SELECT {cols}, {RAW_COL}, {LINE_COL}, "  # noqa: S608
            f"(json_type({RAW_COL}) = 'OBJECT') AS __ok FROM src ORDER BY {LINE_COL}"
        ).to_arrow_table()
    finally:
        con.close()
    ok = table.column("__ok").to_numpy(zero_copy_only=False).astype(bool)
    if not ok.all():
        bad_lines = table.column(LINE_COL).to_numpy()[~ok]
        broken += [(int(line), "not a JSON object") for line in bad_lines]
        table = table.filter(pa.array(ok))
    broken.sort()
    table = _mark_nonscalar(table.drop_columns(["__ok"]), [c for c in wanted if c not in json_ok])
    return RawFile(path, "jsonl", table, found, broken)


def _mark_nonscalar(table: pa.Table, wanted: list[str]) -> pa.Table:
    """Add ``__bad_<key>`` = "nonscalar" where a key holds a JSON object or array (DuckDB
    hands it back as JSON text, which would be stored as if it were the value). Only
    cells starting with { or [ are parsed again, so the usual file costs one scan."""
    for c in wanted:
        col = table.column(c)
        if col.null_count == len(col):
            continue
        maybe = pc.fill_null(pc.or_(pc.starts_with(col, "{"), pc.starts_with(col, "[")), False)
        if not pc.any(maybe).as_py():
            continue
        rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
        raws = table.column(RAW_COL).take(pa.array(rows)).to_pylist()
        codes: list[str | None] = [None] * table.num_rows
        for i, text in zip(rows.tolist(), raws, strict=True):
            if isinstance(json.loads(text).get(c), dict | list):
                codes[i] = "nonscalar"
        if any(code is not None for code in codes):
            table = table.append_column(BAD_PREFIX + c, pa.array(codes, pa.string()))
    return table


def is_gzip(path: str | Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False  # read_bytes reports it


def _gzip_sha256(path: str) -> str:
    """sha256 of the decompressed bytes, in constant memory."""
    digest = hashlib.sha256()
    try:
        with pa.input_stream(path, compression="gzip") as stream:
            while chunk := stream.read(1 << 22):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc}", location=Location(path)) from None
    return digest.hexdigest()


def _cut(data: bytes, fmt: str) -> int:
    """Length of the longest prefix of ``data`` that ends with a whole record (0: none)."""
    if fmt == "csv" and b'"' in data:
        ends = _record_ends(data)
        return int(ends[-1]) + 1 if len(ends) else 0
    return data.rfind(b"\n") + 1


def stream_cells(path: str | Path, wanted: list[str], required: list[str], *,
                 chunk_bytes: int | None = None) -> Iterator[RawFile]:
    """A gzip'd file's cells, ``chunk_bytes`` of text at a time (whole records; line
    numbers are the file's), so memory is bounded by the chunk, not the file. The file is
    decompressed twice: once for its sha256 (every row's payload hash, needed before the
    first row is stored), once to read it."""
    p = str(path)
    chunk_bytes = chunk_bytes or STREAM_CHUNK_BYTES
    sha = _gzip_sha256(p)
    header = b""
    fmt = ""
    lines_before = 0  # physical lines of the file before the current piece
    carry = b""
    with pa.input_stream(p, compression="gzip") as stream:
        while True:
            try:
                block = bytes(stream.read(chunk_bytes))
            except OSError as exc:
                raise InputError(f"cannot read file: {exc}", location=Location(p)) from None
            data = carry + block
            if not fmt:
                if not data:
                    break
                fmt = sniff_format(p, data)
            if block:
                cut = _cut(data, fmt)
                if cut == 0:
                    if len(data) > MAX_RECORD_BYTES + chunk_bytes:
                        raise _too_long(p, lines_before, fmt)
                    carry = data
                    continue
                piece, carry = data[:cut], data[cut:]
            else:
                piece, carry = data, b""
            if fmt == "csv":
                if not header:  # the first piece starts with the header line
                    header = piece[: piece.find(b"\n") + 1] or piece + b"\n"
                    raw = read_csv(p, piece, wanted, required)
                else:  # later pieces get it again, and lines shifted to the file's
                    raw = read_csv(p, header + piece, wanted, required, line_offset=lines_before - 1)
                lines_before += piece.count(b"\n")
            else:
                raw = read_jsonl(p, piece, wanted, required, line_offset=lines_before)
                lines_before += piece.count(b"\n")
            raw.file_sha256 = sha
            yield raw
            if not block:
                break


def _too_long(path: str, lines_before: int, fmt: str) -> InputError:
    what = "CSV record" if fmt == "csv" else "JSON line"
    return InputError(
        f"a {what} longer than {MAX_RECORD_BYTES >> 20} MB starts here",
        location=Location(path, lines_before + 1),
        hint="a record that long is almost always an unbalanced double quote or a missing "
             "line break; check this line",
    )


def read_cells(path: str | Path, wanted: list[str], required: list[str], *,
               limit: int | None = None, json_ok: frozenset[str] = frozenset()) -> RawFile:
    """Read any supported file into string cells (see :class:`RawFile`). ``limit`` keeps
    the first ``limit`` records and reads only as much of the file as they need (records
    cut off by the limit are dropped, never reported as broken)."""
    data = read_bytes(path, None if limit is None else limit + 1)
    fmt = sniff_format(path, data)
    # The file's hash is computed beside the parse (hashlib releases the GIL on large
    # input): a quarter of a second per 100 MB that no longer waits for the parse.
    with ThreadPoolExecutor(1, thread_name_prefix="purgewatch-hash") as pool:
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        if fmt == "jsonl":
            raw = read_jsonl(str(path), data, wanted, required, json_ok=json_ok)
        else:
            raw = read_csv(str(path), data, wanted, required)
        raw.file_sha256 = digest.result()
    if limit is not None and raw.table.num_rows >= limit:
        raw.table = raw.table.slice(0, limit)
    if limit is not None and raw.table.num_rows:
        last = int(raw.table.column(LINE_COL)[-1].as_py())
        raw.broken = [b for b in raw.broken if b[0] <= last]
    return raw
