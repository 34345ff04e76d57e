"""Options and output helpers shared by every verb."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from purgewatch.store import ENV_STORE, Store, default_store_path

F = TypeVar("F", bound=Callable[..., Any])


def store_option(f: F) -> F:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar=ENV_STORE,
        help=f"Evidence store directory (env {ENV_STORE}; default ./purgewatch-data).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Answer with JSON on stdout.")(f)


OUTPUT_FORMATS = ("table", "csv", "tsv", "json")


def format_option(f: F) -> F:
    """``--format table|csv|tsv|json`` (verbs whose answer is a table), beside ``--json``."""
    return click.option(
        "--format", "fmt", type=click.Choice(OUTPUT_FORMATS), default=None,
        help="table (default at a terminal), tsv (default when stdout is not a terminal), csv, "
             "or json (the --json answer). csv/tsv carry raw values: ISO times, plain numbers.",
    )(f)


def output_format(fmt: str | None, as_json: bool) -> str:
    """The format to answer in: --json is --format json; else tsv when piped."""
    if as_json:
        if fmt not in (None, "json"):
            raise click.UsageError(f"--json and --format {fmt} disagree; give one of them")
        return "json"
    if fmt is not None:
        return fmt
    return "table" if _stdout_is_terminal() else "tsv"


def _stdout_is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def _raw(value: Any) -> str:
    """A cell for csv/tsv: machine-readable, no thousands separators."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return _default(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value else ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _human(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def emit_table(
    rows: list[dict[str, Any]],
    columns: list[tuple[str, str]],
    fmt: str,
    *,
    title: str | None = None,
    right: tuple[str, ...] = (),
    human: Callable[[str, Any], str] | None = None,
) -> None:
    """Print ``rows`` as a table (rich, for people), csv or tsv (for programs: one header
    line of column keys, raw values). ``columns`` is (key, heading) in order; ``human``
    formats a table cell (default: thousands separators, times to the second)."""
    import csv
    import sys

    if fmt in ("csv", "tsv"):
        out = sys.stdout
        if fmt == "csv":
            w = csv.writer(out, lineterminator="\n")
            w.writerow([k for k, _ in columns])
            for r in rows:
                w.writerow([_raw(r.get(k)) for k, _ in columns])
        else:
            # TSV has no quoting: tabs and line breaks inside a value become spaces
            clean = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
            out.write("\t".join(k for k, _ in columns) + "\n")
            for r in rows:
                out.write("\t".join(_raw(r.get(k)).translate(clean) for k, _ in columns) + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    cell = human or (lambda _k, v: _human(v))
    table = Table(title=title)
    for k, heading in columns:
        table.add_column(heading, justify="right" if k in right else "left")
    for r in rows:  # handles, labels, descriptions are attacker-controlled: no rich markup
        table.add_row(*(escape(cell(k, r.get(k))) for k, _ in columns))
    # At a terminal, its width; piped (--format table into a file), never squeezed.
    console = Console() if _stdout_is_terminal() else Console(width=100_000)
    console.print(table)


def tz_option(f: F) -> F:
    return click.option(
        "--tz", "tz", default="UTC", show_default=True, metavar="ZONE",
        help="Show times in this zone (IANA name, e.g. Europe/Paris); JSON stays in UTC.",
        callback=_check_zone,
    )(f)


def _check_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from purgewatch.errors import InputError
    from purgewatch.timefmt import zone

    try:
        zone(value)
    except InputError as exc:
        raise click.BadParameter(f"{exc.message} ({exc.hint})") from None
    return value


def who(row: dict[str, Any]) -> str:
    """An account as a reader knows it: ``Label (@handle)``, else ``@handle``, else the
    id; the platform id follows when a name was found (for copy-paste into --account)."""
    from purgewatch.queries import AccountName

    name = AccountName(row.get("handle"), row.get("label"))
    acc = row.get("account_id")
    text = name.text(acc)
    return f"{text} [{acc}]" if acc and text != acc else text


def open_store(store_path: Path | None, *, create: bool = False) -> Store:
    return Store.open(store_path or default_store_path(), create=create)


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat().replace("+00:00", "Z")
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, default=_default, ensure_ascii=False, indent=2, allow_nan=False))


class TimestampType(click.ParamType):
    """ISO 8601 with an offset or Z, or Unix seconds. No zone -> refused (no local guess)."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        from purgewatch.errors import InputError
        from purgewatch.timefmt import parse_zoned

        if isinstance(value, datetime) and value.tzinfo is not None:
            return value
        text = str(value).strip()
        # Unix seconds are a number; everything else goes to the one parser of user times.
        given: Any = float(text) if text.replace(".", "", 1).isdigit() else (value if isinstance(value, datetime) else text)
        try:
            parsed = parse_zoned(given, "time")
        except InputError as exc:
            self.fail(f"{exc.message}; {exc.hint}" if exc.hint else exc.message, param, ctx)
        if parsed is None:
            self.fail(f"{text!r} is not a timestamp; use ISO 8601 with a zone (2024-05-02T14:00:00Z) or Unix seconds",
                      param, ctx)
        return parsed.to_pydatetime()


TIMESTAMP = TimestampType()

