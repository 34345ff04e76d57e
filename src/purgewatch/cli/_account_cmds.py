"""Account verbs: accounts (latest state of each), history (one account's series)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from purgewatch.cli._common import (
    TIMESTAMP,
    emit_json,
    json_option,
    open_store,
    store_option,
)
from purgewatch.queries import account_history, latest_accounts


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@click.command("accounts")
@click.option("--platform", help="Only this platform (x, bluesky, mastodon, ...).")
@click.option("--group", help="Only accounts of this watchlist group.")
@store_option
@json_option
def accounts_cmd(platform: str | None, group: str | None, store_path: Path | None, as_json: bool) -> None:
    """Latest status and counts of every account the store knows, from observations,
    profiles or status events (`sources` names which; `source` the table of the latest row).

    \b
    Examples:
      purgewatch accounts
      purgewatch accounts --group government --json
    """
    table = latest_accounts(open_store(store_path), platform=platform, group=group)
    if as_json:
        emit_json({"accounts": table.to_pylist()})
        return
    out = Table(title=f"{table.num_rows:,} accounts")
    cols = ["platform", "account_id", "handle", "group", "status", "followers_count", "last_observed",
            "n_observations", "sources"]
    for c in cols:
        out.add_column(c.replace("_count", "").replace("n_observations", "observations"),
                       justify="right" if c.endswith(("count", "observations")) else "left")
    for row in table.to_pylist():
        out.add_row(*[_fmt(row[c]) for c in cols])
    Console().print(out)


@click.command("history")
@click.argument("account")
@click.option("--platform", help="Platform, when the id or handle exists on several.")
@click.option("--from", "since", type=TIMESTAMP, help="Start (ISO 8601 with zone, or Unix seconds).")
@click.option("--to", "until", type=TIMESTAMP, help="End (ISO 8601 with zone, or Unix seconds).")
@store_option
@json_option
def history_cmd(
    account: str,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Every row the store holds about one account (by id or handle), oldest first:
    observations, profiles and status events, each with its table and provenance.

    \b
    Examples:
      purgewatch history 2244994945 --platform x
      purgewatch history alice.bsky.social --from 2026-05-01T00:00:00Z --json
    """
    plat, account_id, table = account_history(
        open_store(store_path), account, platform=platform, since=since, until=until
    )
    if as_json:
        emit_json({"platform": plat, "account_id": account_id, "observations": table.to_pylist()})
        return
    out = Table(title=f"{plat}:{account_id} — {table.num_rows:,} rows")
    cols = ["observed_at", "table", "status", "followers_count", "following_count", "posts_count", "source",
            "source_ref"]
    for c in cols:
        out.add_column(c.replace("_count", ""))
    for row in table.to_pylist():
        out.add_row(*[_fmt(row[c]) for c in cols])
    Console().print(out)
