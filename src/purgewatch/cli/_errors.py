"""The one place where errors become exit codes and messages (no tracebacks for user
mistakes).

    0  success            2  bad input (file, row, option)     5  platform/source failure
    1  unexpected error   3  store missing, locked, damaged    6  analysis cannot answer
                          4  configuration error               130 interrupted

Under ``--json`` or ``--format json`` an error is also answered as JSON on stdout, where
the program reading the answer looks (the exit code still says it failed; the plain
message still goes to stderr for a person):

    {"error": {"type": "InputError", "message": "...", "hint": "...", "exit_code": 2,
               "location": {"file": "obs.csv", "line": 3, "column": "status"}}}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from purgewatch.errors import PurgeWatchError


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for a JSON answer (``--json``, ``--format json``)."""
    args = list(argv)
    if "--" in args:
        args = args[: args.index("--")]
    for i, a in enumerate(args):
        if a == "--json" or a == "--format=json":
            return True
        if a == "--format" and i + 1 < len(args) and args[i + 1] == "json":
            return True
    return False


def error_json(kind: str, message: str, exit_code: int, hint: str | None = None,
               location: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
    if location is not None:
        err["location"] = location
    return {"error": err}


def _emit(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


def run_with_error_mapping(cli: click.Group, argv: list[str]) -> Any:
    as_json = wants_json(argv)
    try:
        return cli.main(args=argv, prog_name="purgewatch", standalone_mode=False)
    except PurgeWatchError as exc:
        click.echo(f"error: {exc}", err=True)
        if as_json:
            loc = getattr(exc, "location", None)
            where = ({"file": loc.file, "line": loc.line, "column": loc.column} if loc is not None else None)
            _emit(error_json(type(exc).__name__, getattr(exc, "reason", exc.message), exc.exit_code,
                             exc.hint, where))
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        if as_json:
            _emit(error_json("Interrupted", "aborted", 130))
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        if as_json:
            _emit(error_json("Interrupted", "interrupted", 130))
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        code = 2 if exc.exit_code == 2 else exc.exit_code
        if as_json:
            _emit(error_json("UsageError" if isinstance(exc, click.UsageError) else "InputError",
                             exc.format_message(), code))
        sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
