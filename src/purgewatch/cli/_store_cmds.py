"""Store verbs: init, stats, compact."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from purgewatch.cli._common import (
    emit_json,
    emit_table,
    format_option,
    json_option,
    open_store,
    output_format,
    store_option,
)
from purgewatch.store import Store, default_store_path


@click.command("init")
@store_option
@json_option
def init_cmd(store_path: Path | None, as_json: bool) -> None:
    """Create an empty evidence store (does nothing if one exists).

    \b
    Example:
      purgewatch init --store ./evidence
    """
    store = Store.init(store_path or default_store_path())
    if as_json:
        emit_json({"store": str(store.path.resolve())})
    else:
        click.echo(f"store ready at {store.path.resolve()}")


@click.command("stats")
@store_option
@json_option
@format_option
def stats_cmd(store_path: Path | None, as_json: bool, fmt: str | None) -> None:
    """Accounts known (from observations, profiles or status events) and watched; rows,
    files and bytes per table of the store (stored rows, retracted ones included); how
    many batches are retracted.

    \b
    Example:
      purgewatch stats --json
      purgewatch stats --format tsv
    """
    fmt = output_format(fmt, as_json)
    store = open_store(store_path)
    stats = store.stats()
    accounts = _account_counts(store, stats)
    retracted = sorted(store.retracted())
    if fmt == "json":
        emit_json({"store": str(store.path.resolve()), "accounts": accounts, "tables": stats,
                   "retracted_batches": retracted})
        return
    if fmt == "table":
        click.echo(
            f"{accounts['known']:,} accounts known ({accounts['observed']:,} observed, {accounts['profiles']:,} with "
            f"profiles, {accounts['status_events']:,} with status events), {accounts['watched']:,} watched, "
            f"{accounts['catalogue']:,} ids in the catalogue (followers included)"
        )
        if retracted:
            click.echo(f"{len(retracted):,} batch(es) retracted: their rows are stored but hidden from "
                       f"analyses (see `purgewatch batches`)")
    rows = [{"table": name, **s} for name, s in stats.items()]
    emit_table(rows, [(c, c) for c in ("table", "rows", "files", "bytes")], fmt,
               title=f"store {store.path}", right=("rows", "files", "bytes"))


@click.command("compact")
@store_option
@json_option
def compact_cmd(store_path: Path | None, as_json: bool) -> None:
    """Merge runs of small batches into batches of up to 64 MB.

    Batches already that big are kept as they are (hard-linked), so compacting a large
    store costs about as much as its small batches. `watch` also compacts as it goes.
    Readers running meanwhile keep a consistent view: they never see a record twice
    or miss one.

    \b
    Example:
      purgewatch compact
    """
    result = open_store(store_path).compact()
    if as_json:
        emit_json(result)
    else:
        click.echo(f"compacted {result['batches_before']} batches into {result['batches_after']} "
                   f"({result['batches_rewritten']} rewritten)")


def _account_counts(store: Store, stats: dict[str, dict[str, int]]) -> dict[str, int]:
    """Accounts known to any evidence table (``known``), to each of them, watched, and the
    catalogue of ids. ``observed`` keeps its meaning: accounts with an observation."""
    from purgewatch.queries import account_counts
    from purgewatch.watchlist import current_watchlist

    per = account_counts(store)
    return {
        "known": per["known"],
        "observed": per["observations"],
        "profiles": per["profiles"],
        "status_events": per["status_events"],
        "watched": current_watchlist(store).num_rows,
        "catalogue": stats["accounts"]["rows"],
    }


@click.command("batches")
@store_option
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show the latest N batches (0: all).")
@json_option
def batches_cmd(store_path: Path | None, limit: int, as_json: bool) -> None:
    """Committed batches, newest first: when, by which command, from which file, rows
    per table, and whether (why, when) each was retracted.

    \b
    Example:
      purgewatch batches --limit 10
    """
    store = open_store(store_path)
    rows = store.batches().to_pylist()[::-1]
    if limit:
        rows = rows[:limit]
    if as_json:
        emit_json({"batches": rows})
        return
    table = Table(title=f"batches of {store.path} (newest first)")
    for col in ("batch", "committed", "command", "source", "rows", "retracted"):
        table.add_column(col)
    for r in rows:
        retracted = (f"{r['retracted_at']:%Y-%m-%d %H:%M}: {r['retraction_reason']}"
                     if r["retracted_at"] else "")
        table.add_row(r["batch_id"], f"{r['committed_at']:%Y-%m-%d %H:%M:%S}", r["command"] or "",
                      r["source_ref"] or r["source"] or "", r["rows"] or "", retracted)
    Console(width=200).print(table)


@click.command("retract")
@click.argument("batches", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why the batch is withdrawn (kept with it, shown in `batches`).")
@store_option
@json_option
def retract_cmd(batches: tuple[str, ...], reason: str, store_path: Path | None, as_json: bool) -> None:
    """Withdraw imported batches from every analysis.

    Appends a tombstone per BATCH (an id from the import's output or `purgewatch
    batches`, or a unique prefix of one). The batch's rows stay in the store as evidence
    of what was withdrawn, with the reason; `batches` shows the retraction. Importing the
    same file again afterwards stores its rows again, in a new batch that analyses see.
    A retraction is permanent, and marks the store format 3 (versions before it refuse
    the store rather than show withdrawn rows).

    \b
    Example:
      purgewatch retract 3f2a9c --reason "export bug: dates off by a century"
    """
    store = open_store(store_path)
    done = store.retract(list(batches), reason)
    if as_json:
        emit_json({"retracted": done})
    elif done:
        click.echo(f"retracted {len(done)} batch(es): {' '.join(done)}")
    else:
        click.echo("nothing to do: already retracted")
