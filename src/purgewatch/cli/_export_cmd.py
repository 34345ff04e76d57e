"""`purgewatch export`: stored evidence back out in the interchange shapes."""

from __future__ import annotations

from pathlib import Path

import click

from purgewatch.cli._common import emit_json, json_option, open_store, store_option
from purgewatch.export import EXPORT_FORMATS, EXPORT_TABLES


@click.command("export")
@click.argument("table", type=click.Choice(EXPORT_TABLES))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="csv and jsonl as `purgewatch import` reads them (.gz with --out *.gz); parquet keeps types.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: stdout; required for parquet).")
@store_option
@json_option
def export_cmd(table: str, fmt: str, out: Path | None, store_path: Path | None, as_json: bool) -> None:
    """Write a stored table in the shape `purgewatch import` reads (docs/formats.md):
    the interchange columns first, then the platform's own status word and the
    provenance of each row (source, source_ref, retrieved_at, tool_version, payload_hash,
    batch_id). followers: one row per follower of every stored snapshot, with its
    position when the list order is known; watchlist: the accounts watched now.
    Importing the file into another store gives the same rows.

    \b
    Example:
      purgewatch export observations --format csv --out observations.csv.gz
      purgewatch export followers --format jsonl > followers.jsonl
      purgewatch export profiles --format parquet --out profiles.parquet
    """
    from purgewatch.export import export_table

    if as_json and out is None:
        raise click.UsageError("--json answers a summary on stdout: give --out FILE for the rows")
    report = export_table(open_store(store_path), table, fmt, out)
    if as_json:
        emit_json(report.as_dict())
    elif out is not None:
        click.echo(f"{table}: {report.rows:,} rows written to {out} ({fmt})", err=True)
