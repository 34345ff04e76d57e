"""Reading CSV / JSONL (optionally gzip'd) into Arrow string columns with line numbers.

Everything is read as text first: typing and validation happen vectorised in one DuckDB
pass (``_validate.py``), so a bad cell can be reported with its exact file line instead of
a parser's guess. Line numbers are 1-based and count the CSV header as line 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from purgewatch.errors import InputError, Location, SchemaError

LINE_COL = "__line"
RAW_COL = "__raw"  # JSONL only: the raw line, hashed for provenance
_MAX_SHOWN = 60


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


def read_csv(path: str, data: bytes, wanted: list[str], required: list[str]) -> RawFile:
    """Read a CSV with a header into string columns for ``wanted`` (those present)."""
    text_head = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next(csv.reader(io.StringIO(text_head.split("\n", 1)[0].rstrip("\r"))), [])
    header = [h.strip() for h in first]
    if not header or all(h == "" for h in header):
        raise SchemaError("empty file or empty header line", location=Location(path, 1),
                          hint=f"the first line must name the columns: {', '.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise SchemaError(
            f"missing required column(s) {', '.join(missing)}; found: {', '.join(header)}",
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
            read_options=pacsv.ReadOptions(column_names=internal, skip_rows=1, block_size=1 << 24),
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
        raise InputError(f"cannot parse as CSV: {exc}", location=Location(path)) from None
    table = table.rename_columns(present)
    lines, broken = _csv_lines(path, data, len(header), table.num_rows, bool(broken_rows))
    table = table.append_column(LINE_COL, pa.array(lines, pa.int64()))
    return RawFile(path, "csv", table, header, broken)


def _csv_lines(path: str, data: bytes, n_fields: int, n_rows: int, had_broken: bool) -> tuple[np.ndarray, list[tuple[int, str]]]:
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
    for rec in reader:
        start = prev_end + 1
        prev_end = reader.line_num
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


def read_jsonl(path: str, data: bytes, wanted: list[str], required: list[str]) -> RawFile:
    """Read JSONL objects into string columns for ``wanted`` keys (vectorised in DuckDB)."""
    import duckdb

    arr, lines = read_jsonl_lines(path, data)
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
    table = table.drop_columns(["__ok"])
    return RawFile(path, "jsonl", table, found, broken)


def read_cells(path: str | Path, wanted: list[str], required: list[str], *,
               limit: int | None = None) -> RawFile:
    """Read any supported file into string cells (see :class:`RawFile`). ``limit`` keeps
    the first ``limit`` records and reads only as much of the file as they need (records
    cut off by the limit are dropped, never reported as broken)."""
    data = read_bytes(path, None if limit is None else limit + 1)
    fmt = sniff_format(path, data)
    if fmt == "jsonl":
        raw = read_jsonl(str(path), data, wanted, required)
    else:
        raw = read_csv(str(path), data, wanted, required)
    raw.file_sha256 = hashlib.sha256(data).hexdigest()
    if limit is not None and raw.table.num_rows >= limit:
        raw.table = raw.table.slice(0, limit)
    if limit is not None and raw.table.num_rows:
        last = int(raw.table.column(LINE_COL)[-1].as_py())
        raw.broken = [b for b in raw.broken if b[0] <= last]
    return raw
