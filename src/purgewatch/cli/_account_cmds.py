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
    tz_option,
    who,
)
from purgewatch.queries import account_record, latest_accounts


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
@format_option
def accounts_cmd(platform: str | None, group: str | None, tz: str, store_path: Path | None, as_json: bool,
                 fmt: str | None) -> None:
    """Latest status and counts of every account the store knows, from observations,
    profiles or status events (`sources` names which; `source` the table of the latest row).

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
    cols = ["platform", "label", "handle", "account_id", "group", "status", "followers_count", "last_observed",
            "n_observations", "sources"]
    heads = {"account_id": "id", "followers_count": "followers", "last_observed": "last seen",
             "n_observations": "observations"}
    rows = table.to_pylist()
    if fmt == "table":
        for row in rows:
            row["handle"] = f"@{row['handle']}" if row["handle"] else None
    emit_table(rows, [(c, heads.get(c, c) if fmt == "table" else c) for c in cols], fmt,
               title=f"{table.num_rows:,} accounts", right=("followers_count", "n_observations"),
               human=lambda _k, v: _fmt(v, tz))


@click.command("history")
@click.argument("account")
@click.option("--platform", help="Platform, when the id or handle exists on several.")
@click.option("--from", "since", type=TIMESTAMP, help="Start (ISO 8601 with zone, or Unix seconds).")
@click.option("--to", "until", type=TIMESTAMP, help="End (ISO 8601 with zone, or Unix seconds).")
@tz_option
@store_option
@json_option
@format_option
def history_cmd(
    account: str,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    tz: str,
    store_path: Path | None,
    as_json: bool,
    fmt: str | None,
) -> None:
    """Every row the store holds about one account (ACCOUNT: an id or a handle), oldest first:
    observations, profiles and status events, each with its table and provenance.

    \b
    Examples:
      purgewatch history 2244994945 --platform x
      purgewatch history alice.bsky.social --from 2026-05-01T00:00:00Z --json
    """
    fmt = output_format(fmt, as_json)
    store = open_store(store_path)
    rec = account_record(store, account, platform=platform, since=since, until=until)
    if fmt == "json":
        emit_json(rec)
        return
    rows = rec["observations"]
    title = who(rec)
    cols = ["observed_at", "table", "status", "followers_count", "following_count", "posts_count", "source",
            "source_ref"]
    emit_table(rows, [(c, c.replace("_count", "")) for c in cols], fmt,
               title=_fmt(f"{rec['platform']} {title} — {len(rows):,} rows"),
               right=("followers_count", "following_count", "posts_count"), human=lambda _k, v: _fmt(v, tz))
