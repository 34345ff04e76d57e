"""Collection verbs: collect (one pass) and watch (a loop)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from purgewatch.analysis.detect import detect
from purgewatch.cli._common import emit_json, json_option, open_store
from purgewatch.collect.config import CollectConfig, load_config
from purgewatch.collect.engine import Collector, CycleReport, default_config_for
from purgewatch.collect.logs import setup_logging
from purgewatch.errors import ConfigError
from purgewatch.store import ENV_STORE

log = logging.getLogger("purgewatch.collect")


class RichProgress:
    """Live bars on stderr, one per running cycle."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._p.stop()

    def start(self, key: str, description: str, total: int) -> None:
        if key in self._tasks:
            self._p.reset(self._tasks[key], total=total, description=description)
        else:
            self._tasks[key] = self._p.add_task(description, total=total)

    def advance(self, key: str, n: int = 1) -> None:
        if key in self._tasks and n:
            self._p.advance(self._tasks[key], n)

    def finish(self, key: str) -> None:
        if key in self._tasks:
            task = self._p.tasks[self._tasks[key]]
            self._p.update(self._tasks[key], completed=task.total)


@contextmanager
def _progress(show: bool) -> Iterator[RichProgress | None]:
    if not show:
        yield None
        return
    with RichProgress() as p:
        yield p


def _options(f: Any) -> Any:
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML config (watchlists, cadences, base URLs, tokens); see docs/collecting.md.")(f)
    f = click.option("--store", "store_path", type=click.Path(file_okay=False, path_type=Path), default=None,
                     envvar=ENV_STORE, help=f"Evidence store (env {ENV_STORE}; else the config's `store`, else ./purgewatch-data).")(f)
    f = click.option("--quiet", is_flag=True,
                     help="No progress display; structured logs (JSON lines) on stderr, for services.")(f)
    return f


def _config(config_path: Path | None, watchlist: Path | None, base_urls: tuple[str, ...]) -> CollectConfig:
    if config_path is not None and watchlist is not None:
        raise click.UsageError("give --config or --watchlist, not both")
    if config_path is not None:
        if base_urls:
            raise click.UsageError("--base-url goes with --watchlist; put base URLs in the config file")
        return load_config(config_path)
    if watchlist is None:
        raise click.UsageError("give --config FILE or --watchlist FILE")
    pairs = {}
    for item in base_urls:
        key, sep, url = item.partition("=")
        if not sep or not url:
            raise ConfigError(f"--base-url {item!r}: write PLATFORM=URL (mastodon:INSTANCE=URL)")
        pairs[key.strip().lower()] = url.strip()
    return default_config_for(watchlist, platforms=pairs)


def _detect_and_deletions(store: Any) -> list[Any]:
    """The watch loop's detection: the events, and the deleted posts of watched accounts
    (alerted like events; docs/alerts.md)."""
    from purgewatch.analysis.post_context import deletion_alerts

    return [*detect(store), *deletion_alerts(store)]


def _log_detections(events: list[Any]) -> None:
    for e in events:
        data = e.to_json() if hasattr(e, "to_json") else e
        log.info("detection", extra={"event": "detection", "detection": data})


@contextmanager
def _detection_hook(store_dir: Path) -> Iterator[Callable[[list[Any]], None]]:
    """Detections are logged, and sent to the webhook when one is configured
    (PURGEWATCH_WEBHOOK_URL; see docs/alerts.md): delivery runs in the background and
    each event goes out once, even across restarts."""
    from purgewatch.alerts import alert_hook

    alerter = alert_hook(store_dir)

    def hook(events: list[Any]) -> None:
        _log_detections(events)
        if alerter is not None:
            alerter(events)

    try:
        yield hook
    finally:
        if alerter is not None:
            alerter.close()


def _summary(reports: list[CycleReport]) -> None:
    for r in reports:
        if r.kind == "status":
            words = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
            click.echo(f"{r.watchlist}: {r.observed} accounts observed ({words})"
                       + (f", {r.skipped_done} already done before restart" if r.skipped_done else ""), err=True)
        elif r.kind == "posts":
            words = ", ".join(f"{k} {v}" for k, v in sorted(r.reads.items()))
            click.echo(f"{r.watchlist}: posts of {r.observed} accounts read ({words}), {r.posts} new post "
                       f"versions, {r.incomplete} reads incomplete", err=True)
            for why in r.skipped[:10]:
                click.echo(f"  - {why}", err=True)
        else:
            click.echo(f"{r.watchlist}: {r.snapshots} follower lists ({r.partial} partial), "
                       f"{len(r.skipped)} skipped", err=True)
            for why in r.skipped[:10]:
                click.echo(f"  - {why}", err=True)


@click.command("collect")
@_options
@click.option("--watchlist", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Watchlist CSV (platform,account,group[,label]) instead of a config file.")
@click.option("--base-url", "base_urls", multiple=True, metavar="PLATFORM=URL",
              help="With --watchlist: bluesky=URL, x=URL, telegram=URL, mastodon:INSTANCE=URL.")
@click.option("--followers", is_flag=True, help="Also read follower lists.")
@click.option("--posts", is_flag=True,
              help="Also read each account's posts of the last posts_window (default 7 days) once.")
@click.option("--archive", "archive", multiple=True, metavar="HANDLE[=ID]",
              help="Instead: backfill an X account's follower-count history from web-archive "
                   "captures (repeatable; give the X id after = when known).")
@click.option("--from", "date_from", metavar="YYYYMMDD", help="With --archive: first capture date.")
@click.option("--to", "date_to", metavar="YYYYMMDD", help="With --archive: last capture date.")
@json_option
def collect_cmd(config_path: Path | None, store_path: Path | None, quiet: bool, watchlist: Path | None,
                base_urls: tuple[str, ...], followers: bool, posts: bool, archive: tuple[str, ...],
                date_from: str | None, date_to: str | None, as_json: bool) -> None:
    """Look every watched account up once (statuses and counts), optionally their follower
    lists and their posts (--posts), and record what was seen. A failed request is recorded as `unknown` with its
    reason, never as a status. With --archive, backfill follower counts from archived
    profile pages instead (≤ 24 requests a minute).

    \b
    Example:
      purgewatch collect --watchlist watchlist.csv --store ./evidence
      purgewatch collect --config purgewatch.toml --followers --json
      purgewatch collect --watchlist watchlist.csv --posts
      purgewatch collect --archive TEN_GOP=4224729994 --from 20160101 --to 20171231
    """
    if archive:
        _archive(archive, config_path, store_path, quiet, date_from, date_to, as_json)
        return
    if date_from or date_to:
        raise click.UsageError("--from/--to go with --archive")
    cfg = _config(config_path, watchlist, base_urls)
    setup_logging(structured=quiet, level=logging.INFO if quiet else logging.WARNING)
    store = open_store(store_path or cfg.store, create=True)
    show = not quiet and not as_json and sys.stderr.isatty()
    with _progress(show) as progress, _detection_hook(store.path) as hook:
        collector = Collector(store, cfg, progress=progress, detect=_detect_and_deletions, on_detections=hook)
        reports = asyncio.run(collector.collect_once(followers=followers, posts=posts))
    if as_json:
        emit_json({"store": str(store.path.resolve()), "cycles": [r.to_json() for r in reports]})
    elif not quiet:
        _summary(reports)


def _archive(archive: tuple[str, ...], config_path: Path | None, store_path: Path | None, quiet: bool,
             date_from: str | None, date_to: str | None, as_json: bool) -> None:
    for d in (date_from, date_to):
        if d is not None and not (len(d) == 8 and d.isdigit()):
            raise click.BadParameter(f"{d!r}: write YYYYMMDD", param_hint="--from/--to")
    accounts = []
    for item in archive:
        handle, _, xid = item.partition("=")
        handle = handle.strip().lstrip("@")
        if not handle or (xid and not xid.strip().isdigit()):
            raise click.BadParameter(f"{item!r}: write HANDLE or HANDLE=NUMERIC_ID", param_hint="--archive")
        accounts.append((handle, xid.strip() or None))
    cfg = load_config(config_path) if config_path else CollectConfig()
    setup_logging(structured=quiet, level=logging.INFO if quiet else logging.WARNING)
    store = open_store(store_path or cfg.store, create=True)
    show = not quiet and not as_json and sys.stderr.isatty()
    with _progress(show) as progress:
        results = asyncio.run(Collector(store, cfg, progress=progress).backfill_archive(
            accounts, start=date_from, end=date_to))
    summary: list[dict[str, Any]] = [
        {"handle": h, "account_id": i, "captures": r.captures, "observations": len(r.observations),
         "without_count": r.without_count, "failures": r.failures[:10]}
        for (h, i), r in zip(accounts, results, strict=True)]
    if as_json:
        emit_json({"store": str(store.path.resolve()), "archive": summary})
    elif not quiet:
        for row in summary:
            click.echo(f"{row['handle']}: {row['observations']} counts from {row['captures']} captures "
                       f"({row['without_count']} without a count, {len(row['failures'])} failed)", err=True)


@click.command("watch")
@_options
@click.option("--cycles", type=click.IntRange(min=1), default=None,
              help="Stop after this many status cycles per watchlist (default: run until stopped).")
def watch_cmd(config_path: Path | None, store_path: Path | None, quiet: bool, cycles: int | None) -> None:
    """Watch the configured watchlists: statuses and counts on one cadence, follower lists
    on a slower one, Bluesky status events live (if enabled). Stop with Ctrl-C or SIGTERM;
    a killed watch resumes where it stopped.

    \b
    Example:
      purgewatch watch --config purgewatch.toml
      purgewatch watch --config purgewatch.toml --quiet 2>> watch.log
    """
    if config_path is None:
        raise click.UsageError("watch needs --config FILE (watchlists and cadences)")
    cfg = load_config(config_path)
    setup_logging(structured=quiet, level=logging.INFO if quiet else logging.WARNING)
    store = open_store(store_path or cfg.store, create=True)
    show = not quiet and sys.stderr.isatty()

    async def run(progress: RichProgress | None, hook: Callable[[list[Any]], None]) -> list[CycleReport]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        collector = Collector(store, cfg, progress=progress, detect=_detect_and_deletions, on_detections=hook,
                              on_cycle=None if quiet else (lambda r: _summary([r])))
        return await collector.watch(cycles=cycles, stop=stop)

    with _progress(show) as progress, _detection_hook(store.path) as hook:
        asyncio.run(run(progress, hook))
