"""Store verbs: init, stats, compact."""

from __future__ import annotations

from pathlib import Path

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
    files and bytes per table of the store.

    \b
    Example:
      purgewatch stats --json
      purgewatch stats --format tsv
    """
    fmt = output_format(fmt, as_json)
    store = open_store(store_path)
    stats = store.stats()
    accounts = _account_counts(store, stats)
    if fmt == "json":
        emit_json({"store": str(store.path.resolve()), "accounts": accounts, "tables": stats})
        return
    if fmt == "table":
        click.echo(
            f"{accounts['known']:,} accounts known ({accounts['observed']:,} observed, {accounts['profiles']:,} with "
            f"profiles, {accounts['status_events']:,} with status events), {accounts['watched']:,} watched, "
            f"{accounts['catalogue']:,} ids in the catalogue (followers included)"
        )
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
