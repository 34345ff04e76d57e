"""Publishing verbs: `report` (HTML + JSON + CSV) and `serve` (local web UI and API)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from purgewatch.cli._common import emit_json, json_option, open_store, store_option, tz_option
from purgewatch.errors import ConfigError

ENV_WRITE_TOKEN = "PURGEWATCH_WRITE_TOKEN"


@click.command("report")
@store_option
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path),
    help="REPORT.html (JSON and CSV written beside it) or a directory (report.html, findings.json, csv/).",
)
@click.option("--from", "start", default=None, help="Only observations at or after this time (ISO 8601 with zone).")
@click.option("--to", "end", default=None, help="Only observations at or before this time (ISO 8601 with zone).")
@click.option("--group", "groups", multiple=True, help="Only these watchlist groups (repeatable).")
@click.option("--title", default=None, help="Report title.")
@click.option(
    "--generated-at", default=None,
    help="The report's one timestamp (default: SOURCE_DATE_EPOCH if set, else now).",
)
@tz_option
@json_option
def report_cmd(
    store_path: Path | None, out: Path, start: str | None, end: str | None, groups: tuple[str, ...],
    title: str | None, generated_at: str | None, tz: str, as_json: bool,
) -> None:
    """Write the evidence report: one self-contained HTML file (works offline, no
    script), plus JSON and CSV bundles of the same findings.

    Every number in the report links to the stored observations behind it. The same
    store gives byte-identical files apart from the generation timestamp.

    \b
    Example:
      purgewatch report --out evidence/report.html
      purgewatch report --out evidence/ --from 2026-03-01T00:00:00Z --group government --group opposition
      purgewatch report --out evidence/report.html --tz Europe/Paris
    """
    from purgewatch.errors import InputError
    from purgewatch.report import write_report
    from purgewatch.timefmt import parse_zoned

    for value, name in ((start, "--from"), (end, "--to"), (generated_at, "--generated-at")):
        if value is not None:
            try:
                parse_zoned(value, name)
            except InputError as exc:
                raise click.BadParameter(f"{value!r} is not an ISO 8601 time ({exc})", param_hint=name) from None
    store = open_store(store_path)
    show = not as_json and sys.stderr.isatty()
    with _stages(show) as progress:
        files = write_report(
            store, out, start=start, end=end, groups=list(groups) or None, title=title,
            generated_at=generated_at, progress=progress, tz=tz,
        )
    if as_json:
        emit_json(files.to_json())
    else:
        click.echo(f"report: {files.html}\nfindings (JSON): {files.json}\ntables (CSV): {files.csv_dir}/")


@contextlib.contextmanager
def _stages(show: bool) -> Iterator[Callable[[str], None] | None]:
    """A rich progress line on stderr naming the current stage (TTY only)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("report: {task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda stage: bar.update(task, description=stage)


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--write-token", default=None, envvar=ENV_WRITE_TOKEN, show_envvar=True,
    help="Enable write endpoints (watchlist add/remove), which then require 'Authorization: Bearer <token>'.",
)
def serve_cmd(store_path: Path | None, host: str, port: int, write_token: str | None) -> None:
    """Serve the local web UI and JSON API over the store (read-only unless a write
    token is given). Works while `purgewatch watch` writes to the same store.

    \b
    Example:
      purgewatch serve --store ./evidence
      PURGEWATCH_WRITE_TOKEN=$(openssl rand -hex 16) purgewatch serve --port 8080
    """
    import uvicorn

    from purgewatch.web import create_app

    if write_token is not None and len(write_token) < 16:
        raise ConfigError("the write token is too short", hint="use at least 16 random characters, e.g. `openssl rand -hex 16`")
    store = open_store(store_path)
    app = create_app(store, write_token=write_token, bind_host=host)
    mode = "read-write (Bearer token required)" if write_token else "read-only"
    click.echo(f"PurgeWatch UI on http://{host}:{port}/ ({mode}); Ctrl-C to stop", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: binding {host} exposes the UI beyond this machine", err=True)
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("PURGEWATCH_LOG_LEVEL", "warning"))
