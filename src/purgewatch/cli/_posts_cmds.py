"""Posts verbs: `posts search` (who spoke, who stayed silent) and `posts deleted`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

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


@click.group("posts")
def posts_cmd() -> None:
    """Posts of watched accounts: search them by camp, find the deleted ones.

    Posts come from `purgewatch import posts FILE` (docs/importing.md).
    """


@posts_cmd.command("search")
@click.argument("query")
@click.option("--from", "since", type=TIMESTAMP, help="Window start (ISO 8601 with zone, or Unix seconds).")
@click.option("--to", "until", type=TIMESTAMP, help="Window end, exclusive.")
@click.option("--by", type=click.Choice(["group", "label"]), default="group", show_default=True,
              help="Group the watched accounts by their watchlist group or label.")
@click.option("--limit", type=click.IntRange(min=0), default=200, show_default=True,
              help="At most this many matching posts in the answer (newest first).")
@store_option
@json_option
@format_option
def search_cmd(query: str, since: datetime | None, until: datetime | None, by: str, limit: int,
               store_path: Path | None, as_json: bool, fmt: str | None) -> None:
    """Which camps mentioned it: accounts that spoke, stayed silent, or were not read.

    QUERY: words (all must match), "a phrase", OR between alternatives, #hashtag,
    -word to exclude, lang:xx. Case-insensitive, whole words. An account is silent only
    when a read of its posts covers the whole window; otherwise it is unread.

    \b
    Examples:
      purgewatch posts search 'attack OR censorship' --from 2026-03-05T00:00:00Z --to 2026-03-08T00:00:00Z
      purgewatch posts search '#FollowBack' --by group --json
    """
    from purgewatch.analysis.posts import search_posts

    fmt = output_format(fmt, as_json)
    answer = search_posts(open_store(store_path), query, start=since, end=until, by=by, limit=limit)
    if fmt == "json":
        emit_json(answer)
        return
    if fmt != "table":  # the main table: per group, who spoke
        emit_table(answer["groups"], [(k, k) for k in ("group", "accounts", "spoke", "silent", "unread", "read",
                                                       "share_spoke")], fmt)
        return
    console = Console()
    table = Table(title=f"“{query}”: {answer['matches']:,} matching posts")
    for c in ("group", "accounts", "spoke", "silent", "not read", "share that spoke"):
        table.add_column(c, justify="left" if c == "group" else "right")
    for g in answer["groups"]:
        share = "—" if g["share_spoke"] is None else f"{g['share_spoke']:.0%} of {g['read']}"
        table.add_row(g["group"], str(g["accounts"]), str(g["spoke"]), str(g["silent"]),
                      str(g["unread"]), share)
    console.print(table)
    for t in answer["tests"]:
        p = t.get("p_value_adjusted", t.get("p_value"))
        console.print(f"{' vs '.join(t['groups'])}: p = {p:.3g} ({t.get('p_value_test', 'test')})"
                      if isinstance(p, float) else f"{' vs '.join(t['groups'])}: not testable")
    for w in answer["warnings"]:
        console.print(f"[yellow]note:[/yellow] {w}")
    for post in answer["posts"][:10]:
        who = post["label"] or post["handle"] or post["account_id"]
        flag = " [red](deleted)[/red]" if post["deleted"] else ""
        console.print(f"- {post['created_at']} {who} ({post['group']}){flag}: {post['text']}", markup=True,
                      highlight=False)


@posts_cmd.command("deleted")
@click.option("--account", help="Only this account id.")
@store_option
@json_option
@format_option
def deleted_cmd(account: str | None, store_path: Path | None, as_json: bool, fmt: str | None) -> None:
    """Posts seen once and gone from a later complete read (or answered "not found").

    Each deletion carries the read that last listed the post (last_seen) and the one
    that showed it gone (first_missing), with the archived text.

    \b
    Examples:
      purgewatch posts deleted
      purgewatch posts deleted --account 2244994945 --json
    """
    from purgewatch.analysis.posts import deleted_posts

    fmt = output_format(fmt, as_json)
    answer = deleted_posts(open_store(store_path), account_id=account)
    if fmt == "json":
        emit_json(answer)
        return
    if fmt != "table":
        emit_table(answer["deleted"], [(k, k) for k in ("platform", "account_id", "post_id", "created_at",
                                                        "last_seen", "first_missing", "text")], fmt)
        return
    table = Table(title=f"{len(answer['deleted']):,} deleted posts")
    for c in ("account", "post", "published", "last seen", "gone by", "text"):
        table.add_column(c)
    for d in answer["deleted"]:
        table.add_row(d["account_id"], d["post_id"], d["created_at"] or "—", d["last_seen"] or "—",
                      d["first_missing"] or "—", d["text"] or "")
    Console().print(table)
