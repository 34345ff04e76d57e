"""The one place where errors become exit codes and messages (no tracebacks for user
mistakes).

    0  success            2  bad input (file, row, option)     5  platform/source failure
    1  unexpected error   3  store missing, locked, damaged    6  analysis cannot answer
                          4  configuration error               130 interrupted
"""

from __future__ import annotations

import sys
from typing import Any

import click

from purgewatch.errors import PurgeWatchError


def run_with_error_mapping(cli: click.Group, argv: list[str]) -> Any:
    try:
        return cli.main(args=argv, prog_name="purgewatch", standalone_mode=False)
    except PurgeWatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
