"""Import verbs: `import`, `datasets`, `watchlist` (thin shells over
purgewatch.sources.files, purgewatch.sources.datasets and purgewatch.watchlist)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from purgewatch.cli._common import (
    emit_json,
    emit_table,
    format_option,
    json_option,
    open_store,
    output_format,
    store_option,
)
from purgewatch.errors import InputError
from purgewatch.sources.files import KINDS, ImportReport, import_files
from purgewatch.timefmt import parse_zoned


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress line on stderr (rows done), only for humans at a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                  TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def _parse_when(value: str | None) -> datetime | None:
    when = parse_zoned(value, "--observed-at")
    return None if when is None else when.to_pydatetime()


def _say(report: ImportReport) -> None:
    head = f"{report.kind}: read {report.rows_read:,} rows from {len(report.files)} file(s); "
    if report.watchlist:
        w = report.watchlist
        what = (f"{w.get('added', 0):,} accounts added, {w.get('changed', 0):,} changed (group, label or id), "
                f"{w.get('unchanged', 0):,} already watched")
    else:
        tables = ", ".join(f"{n:,} {t}" for t, n in sorted(report.tables.items())) or "nothing new"
        what = f"stored {tables}; {report.duplicates:,} already stored"
    click.echo(f"{head}{what}; {report.rejected:,} rejected ({report.seconds:.1f} s)")
    for note in report.notes:
        click.echo(f"  {note}")
    if report.rejects_path:
        click.echo(f"  rejected rows and reasons: {report.rejects_path}")
    if report.batch_ids:
        click.echo(f"  batch(es): {' '.join(report.batch_ids)} (to withdraw: purgewatch retract BATCH --reason TEXT)")


@click.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@store_option
@click.option("--skip-bad-rows", is_flag=True,
              help="Import the good rows; write the bad ones (with reasons) to a rejects file.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --skip-bad-rows writes rejected rows (default: next to the store).")
@click.option("--observed-at", "observed_at",
              help="twarc2 / v1-users: observation time for records that carry none (ISO 8601 with zone).")
@click.option("--into", "table", type=click.Choice(["profiles", "observations"]), default="profiles",
              show_default=True, help="twarc2 / v1-users: the table the account facts go to.")
@click.option("--batch-rows", type=click.IntRange(min=1), default=500_000, show_default=True,
              help="Rows per atomic commit (a killed import loses at most one batch).")
@json_option
def import_cmd(kind: str, files: tuple[Path, ...], store_path: Path | None, skip_bad_rows: bool,
               rejects_path: Path | None, observed_at: str | None, table: str, batch_rows: int,
               as_json: bool) -> None:
    """Import files into the evidence store.

    KIND is an interchange format of docs/formats.md (observations, followers, profiles,
    watchlist, status_events, status_counts, posts) or another tool's output: twarc2 (X API v2 users JSONL),
    v1-users (Twitter v1.1 user objects: JSON, JSONL or CSV), x-compliance (X compliance
    job results). CSV needs a header; JSONL is one object per line; .gz of either works.
    A file with a bad cell is refused whole (exit 2) unless --skip-bad-rows: times before
    2000-01-01 or more than a day ahead, offsets beyond +-14:00, negative counts, a JSON
    object where a value belongs, a missing column with a look-alike (followers for
    followers_count). Re-importing a file adds nothing; after `purgewatch retract` it
    stores the file's rows again. A .gz file is read as a stream (memory bounded).

    \b
    Example:
      purgewatch import observations obs.csv.gz --store ./evidence
      purgewatch import followers followers.jsonl --skip-bad-rows --rejects bad.csv
      purgewatch import twarc2 users.jsonl --json
      purgewatch import v1-users users.json --observed-at 2024-05-01T12:00:00Z
      purgewatch import status_counts daily_totals.csv
    """
    if rejects_path is not None and not skip_bad_rows:
        raise InputError("--rejects only makes sense with --skip-bad-rows")
    store = open_store(store_path)
    with _progress(f"import {kind}", as_json) as progress:
        report = import_files(store, kind, list(files), skip_bad_rows=skip_bad_rows,
                              rejects_path=rejects_path, batch_rows=batch_rows,
                              observed_at=_parse_when(observed_at), table=table, progress=progress)
    if as_json:
        emit_json(report.as_dict())
    else:
        _say(report)


# --------------------------------------------------------------------------- datasets
@click.group("datasets")
def datasets_cmd() -> None:
    """Public research datasets: list them, import a local copy.

    \b
    Example:
      purgewatch datasets list
      purgewatch datasets import ira-follower-series --path ~/data/purgewatch-datasets
    """


@datasets_cmd.command("list")
@json_option
@format_option
def datasets_list_cmd(as_json: bool, fmt: str | None) -> None:
    """Datasets PurgeWatch can load: what they hold, rows, upstream source, licence.

    \b
    Example:
      purgewatch datasets list --json
    """
    from purgewatch.sources.datasets import DATASETS, datasets_dir

    fmt = output_format(fmt, as_json)
    base = datasets_dir(None, required=False)
    rows = []
    for d in DATASETS.values():
        row = d.as_dict()
        row["local_copy"] = str(base / d.folder) if base and (base / d.folder).is_dir() else None
        rows.append(row)
    if fmt == "json":
        emit_json({"datasets": rows})
        return
    if fmt != "table":
        emit_table(rows, [(k, k) for k in rows[0]] if rows else [("name", "name")], fmt)
        return
    for r in rows:
        click.echo(f"{r['name']}  ({r['rows']} rows; licence: {r['licence']}) -> {r['into']}")
        click.echo(f"  {r['what']}")
        click.echo(f"  upstream: {r['upstream']}")
        click.echo(f"  local copy: {r['local_copy'] or 'not found (pass --path or set PURGEWATCH_DATASETS)'}")


@datasets_cmd.command("import")
@click.argument("name")
@click.option("--path", "path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the dataset folders (env PURGEWATCH_DATASETS).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Import only the first N rows of each file (a quick look).")
@store_option
@json_option
def datasets_import_cmd(name: str, path: Path | None, limit: int | None, store_path: Path | None,
                        as_json: bool) -> None:
    """Import a local copy of a public dataset into the store (idempotent).

    \b
    Example:
      purgewatch datasets import cresci-2017 --path ../shared/datasets
      PURGEWATCH_DATASETS=~/datasets purgewatch datasets import unsuspensions-2022 --json
    """
    from purgewatch.sources.datasets import import_dataset

    store = open_store(store_path)
    with _progress(f"dataset {name}", as_json) as progress:
        report = import_dataset(store, name, path, limit=limit, progress=progress)
    if as_json:
        emit_json(report.as_dict())
    else:
        _say(report)


# --------------------------------------------------------------------------- watchlist
@click.group("watchlist")
def watchlist_cmd() -> None:
    """Who is watched, in which group (camp).

    \b
    Example:
      purgewatch watchlist import watchlist.csv
      purgewatch watchlist add x 783214 --group media --label "@Twitter"
      purgewatch watchlist list --group government --json
      purgewatch watchlist remove x 783214
    """


@watchlist_cmd.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows; write the bad ones to a rejects file.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@json_option
def watchlist_import_cmd(files: tuple[Path, ...], skip_bad_rows: bool, rejects_path: Path | None,
                         store_path: Path | None, as_json: bool) -> None:
    """Add the accounts of watchlist files (platform, account, group[, label]).

    \b
    Example:
      purgewatch watchlist import watchlist.csv --json
    """
    store = open_store(store_path)
    report = import_files(store, "watchlist", list(files), skip_bad_rows=skip_bad_rows,
                          rejects_path=rejects_path)
    if as_json:
        emit_json(report.as_dict())
    else:
        _say(report)


@watchlist_cmd.command("list")
@click.option("--group", default=None, help="Only this group.")
@store_option
@json_option
@format_option
def watchlist_list_cmd(group: str | None, store_path: Path | None, as_json: bool, fmt: str | None) -> None:
    """The accounts watched now.

    \b
    Example:
      purgewatch watchlist list --group opposition
      purgewatch watchlist list --format csv > watched.csv
    """
    from purgewatch.watchlist import current_watchlist

    fmt = output_format(fmt, as_json)
    rows: list[dict[str, Any]] = current_watchlist(open_store(store_path), group=group).to_pylist()
    if fmt == "json":
        emit_json({"watchlist": rows})
        return
    cols = [(c, c) for c in ("group", "platform", "account", "account_id", "label")]
    emit_table(rows, cols, fmt, title=f"watchlist ({len(rows):,} accounts)",
               human=lambda _k, v: "" if v is None else str(v))


@watchlist_cmd.command("add")
@click.argument("platform")
@click.argument("account")
@click.option("--group", required=True, help="The account's group (camp).")
@click.option("--label", default=None, help="A readable name.")
@store_option
@json_option
def watchlist_add_cmd(platform: str, account: str, group: str, label: str | None,
                      store_path: Path | None, as_json: bool) -> None:
    """Watch an account (or move it to another group).

    \b
    Example:
      purgewatch watchlist add bluesky did:plc:z72i7hdynmk6r22z27h6tvur --group media
    """
    from purgewatch.watchlist import add_to_watchlist

    change = add_to_watchlist(open_store(store_path), platform, account, group, label)
    if as_json:
        emit_json(change.as_dict())
    elif change.added or change.changed:
        click.echo(f"watching {platform} {account} in group {group}")
    else:
        click.echo(f"{platform} {account} was already watched in group {group}")


@watchlist_cmd.command("remove")
@click.argument("platform")
@click.argument("account")
@store_option
@json_option
def watchlist_remove_cmd(platform: str, account: str, store_path: Path | None, as_json: bool) -> None:
    """Stop watching an account (its evidence stays).

    \b
    Example:
      purgewatch watchlist remove x 783214
    """
    from purgewatch.watchlist import remove_from_watchlist

    change = remove_from_watchlist(open_store(store_path), platform, account)
    if as_json:
        emit_json(change.as_dict())
    else:
        click.echo(f"no longer watching {platform} {account}")
