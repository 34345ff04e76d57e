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
    tz_option,
    who,
)
from purgewatch.queries import account_history, account_names, latest_accounts


def _fmt(value: object, tz: str = "UTC") -> str:
    from rich.markup import escape

    from purgewatch.timefmt import human_time

    if value is None:
        return "—"
    if isinstance(value, datetime):
        return human_time(value, tz)
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))  # handles and labels are data: no rich markup


@click.command("accounts")
@click.option("--platform", help="Only this platform (x, bluesky, mastodon, ...).")
@click.option("--group", help="Only accounts of this watchlist group.")
@tz_option
@store_option
@json_option
def accounts_cmd(platform: str | None, group: str | None, tz: str, store_path: Path | None, as_json: bool) -> None:
    """Latest status and counts of every observed account.

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
    cols = ["platform", "label", "handle", "account_id", "group", "status", "followers_count", "last_observed",
            "n_observations"]
    heads = {"account_id": "id", "followers_count": "followers", "last_observed": "last seen",
             "n_observations": "observations"}
    for c in cols:
        out.add_column(heads.get(c, c), justify="right" if c.endswith(("count", "observations")) else "left")
    for row in table.to_pylist():
        row["handle"] = f"@{row['handle']}" if row["handle"] else None
        out.add_row(*[_fmt(row[c], tz) for c in cols])
    Console().print(out)


@click.command("history")
@click.argument("account")
@click.option("--platform", help="Platform, when the id or handle exists on several.")
@click.option("--from", "since", type=TIMESTAMP, help="Start (ISO 8601 with zone, or Unix seconds).")
@click.option("--to", "until", type=TIMESTAMP, help="End (ISO 8601 with zone, or Unix seconds).")
@tz_option
@store_option
@json_option
def history_cmd(
    account: str,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    tz: str,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Every observation of one account (ACCOUNT: an id or a handle), oldest first, with provenance.

    \b
    Examples:
      purgewatch history 2244994945 --platform x
      purgewatch history alice.bsky.social --from 2026-05-01T00:00:00Z --json
    """
    store = open_store(store_path)
    plat, account_id, table = account_history(store, account, platform=platform, since=since, until=until)
    name = account_names(store, [(plat, account_id)]).get((plat, account_id))
    handle, label = (name.handle, name.label) if name else (None, None)
    if as_json:
        emit_json({"platform": plat, "account_id": account_id, "handle": handle, "label": label,
                   "observations": table.to_pylist()})
        return
    title = who({"account_id": account_id, "handle": handle, "label": label})
    out = Table(title=_fmt(f"{plat} {title} — {table.num_rows:,} observations"))
    cols = ["observed_at", "status", "followers_count", "following_count", "posts_count", "source", "source_ref"]
    for c in cols:
        out.add_column(c.replace("_count", ""))
    for row in table.to_pylist():
        out.add_row(*[_fmt(row[c], tz) for c in cols])
    Console().print(out)
