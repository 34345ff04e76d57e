"""Account verbs: accounts (latest state of each), history (one account's series)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from purgewatch.cli._common import (
    TIMESTAMP,
    emit_json,
    emit_table,
    format_option,
    json_option,
    open_store,
    output_format,
    store_option,
)
from purgewatch.queries import account_history, latest_accounts


@click.command("accounts")
@click.option("--platform", help="Only this platform (x, bluesky, mastodon, ...).")
@click.option("--group", help="Only accounts of this watchlist group.")
@store_option
@json_option
@format_option
def accounts_cmd(platform: str | None, group: str | None, store_path: Path | None, as_json: bool,
                 fmt: str | None) -> None:
    """Latest status and counts of every observed account.

    \b
    Examples:
      purgewatch accounts
      purgewatch accounts --group government --json
      purgewatch accounts --format csv > accounts.csv
    """
    fmt = output_format(fmt, as_json)
    table = latest_accounts(open_store(store_path), platform=platform, group=group)
    if fmt == "json":
        emit_json({"accounts": table.to_pylist()})
        return
    cols = ["platform", "account_id", "handle", "group", "status", "followers_count", "last_observed", "n_observations"]
    emit_table(table.to_pylist(), [(c, c.replace("_count", "")) for c in cols], fmt,
               title=f"{table.num_rows:,} accounts", right=("followers_count", "n_observations"))


@click.command("history")
@click.argument("account")
@click.option("--platform", help="Platform, when the id or handle exists on several.")
@click.option("--from", "since", type=TIMESTAMP, help="Start (ISO 8601 with zone, or Unix seconds).")
@click.option("--to", "until", type=TIMESTAMP, help="End (ISO 8601 with zone, or Unix seconds).")
@store_option
@json_option
@format_option
def history_cmd(
    account: str,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    store_path: Path | None,
    as_json: bool,
    fmt: str | None,
) -> None:
    """Every observation of one account (by id or handle), oldest first, with provenance.

    \b
    Examples:
      purgewatch history 2244994945 --platform x
      purgewatch history alice.bsky.social --from 2026-05-01T00:00:00Z --json
    """
    fmt = output_format(fmt, as_json)
    plat, account_id, table = account_history(
        open_store(store_path), account, platform=platform, since=since, until=until
    )
    if fmt == "json":
        emit_json({"platform": plat, "account_id": account_id, "observations": table.to_pylist()})
        return
    cols = ["observed_at", "status", "followers_count", "following_count", "posts_count", "source", "source_ref"]
    emit_table(table.to_pylist(), [(c, c.replace("_count", "")) for c in cols], fmt,
               title=f"{plat}:{account_id} — {table.num_rows:,} observations",
               right=("followers_count", "following_count", "posts_count"))
