"""`purgewatch detect`: follower drops and surges, suspension/reinstatement waves, purges."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

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

_KINDS = ["follower_drop", "follower_surge", "suspension_wave", "reinstatement_wave", "purge"]


def _thresholds(f: Any) -> Any:
    opts = [
        click.option("--z", "z_threshold", type=float, default=None,
                     help="Drops/surges: score needed (robust z; default 5)."),
        click.option("--min-relative", type=float, default=None,
                     help="Drops/surges: smallest change as a fraction of followers (default 0.005)."),
        click.option("--min-magnitude", type=float, default=None,
                     help="Drops/surges: smallest change in followers (default 10)."),
        click.option("--window", type=int, default=None,
                     help="Drops/surges: readings averaged on each side (default 3)."),
        click.option("--wave-min-size", type=int, default=None,
                     help="Waves: transitions needed in a window (default 5)."),
        click.option("--wave-llr", "wave_llr_threshold", type=float, default=None,
                     help="Waves: log-likelihood ratio needed (default 15)."),
        click.option("--baseline-days", "wave_baseline_days", type=float, default=None,
                     help="Waves: trailing baseline period in days (default 28)."),
        click.option("--purge-min-accounts", type=int, default=None,
                     help="Purge: accounts that must lose followers together (default 5)."),
        click.option("--purge-min-share", type=float, default=None,
                     help="Purge: ... and this share of the accounts observed (default 0.02)."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Any other threshold by name (see docs/detect.md), repeatable."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _parse_params(items: tuple[str, ...]) -> dict[str, float | int]:
    from purgewatch.errors import InputError

    out: dict[str, float | int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param {item!r} is not NAME=VALUE", hint="e.g. --param purge_z=3")
        try:
            number: float | int = float(value)
            if value.strip().lstrip("-").isdigit():
                number = int(value)
            out[name.strip().replace("-", "_")] = number
        except ValueError as exc:
            raise InputError(f"--param {item!r}: {value!r} is not a number") from exc
    return out


@click.command("detect")
@store_option
@json_option
@format_option
@click.option("--kind", "kinds", multiple=True, type=click.Choice(_KINDS),
              help="Only these kinds (repeatable; default all).")
@click.option("--account", "accounts", multiple=True, help="Only events naming this account: id or handle (repeatable).")
@click.option("--group", default=None, help="Only events of this watchlist group.")
@click.option("--platform", default=None, help="Only read this platform's data.")
@click.option("--from", "start", type=TIMESTAMP, default=None, help="Only events ending at or after this time.")
@click.option("--to", "end", type=TIMESTAMP, default=None, help="Only events starting at or before this time.")
@tz_option
@_thresholds
def detect_cmd(store_path: Path | None, as_json: bool, fmt: str | None, kinds: tuple[str, ...],
               accounts: tuple[str, ...], group: str | None, platform: str | None,
               start: datetime | None, end: datetime | None, tz: str, params: tuple[str, ...],
               **thresholds: Any) -> None:
    """Find follower drops and surges, suspension and reinstatement waves, and purges.

    Runs over everything in the store; filters narrow the answer, not the data the
    detectors see (a purge is only visible across many accounts). Exit code 0 whether
    or not anything is found.

    \b
    Example:
      purgewatch detect --json
      purgewatch detect --kind purge --kind follower_drop --from 2024-05-01T00:00:00Z
      purgewatch detect --account 12345 --z 6 --param revert_obs=4
      purgewatch detect --format csv > events.csv
      purgewatch detect --account PresidentLeader --tz Europe/Paris
    """
    from rich.console import Console

    from purgewatch.analysis.detect import detect_all

    fmt = output_format(fmt, as_json)
    as_json = fmt == "json"
    store = open_store(store_path)
    overrides: dict[str, Any] = {k: v for k, v in thresholds.items() if v is not None}
    overrides.update(_parse_params(params))
    console = Console(stderr=True)
    show_status = not as_json and console.is_terminal
    if show_status:
        with console.status("detecting..."):
            found = detect_all(store, kinds=kinds or None, platform=platform,
                               accounts=accounts or None, group=group, start=start, end=end, **overrides)
    else:
        found = detect_all(store, kinds=kinds or None, platform=platform,
                           accounts=accounts or None, group=group, start=start, end=end, **overrides)
    if as_json:
        emit_json(found.to_json())
        return
    events = found.events
    if found.outliers and fmt == "table":
        mixed = [r for r in found.outliers if r["mixed"]]
        n_out = sum(r["outliers"] for r in found.outliers)
        click.echo(f"{n_out:,} outlier readings (excursions that snapped back within hours) set aside in "
                   f"{len(found.outliers):,} accounts; {len(mixed):,} series look mixed (two accounts' "
                   "readings interleaved)" + (f": {', '.join(r['account_id'] for r in mixed[:10])}"
                                              + (" ..." if len(mixed) > 10 else "") if mixed else "")
                   + ". See --json \"outliers\".")
    rows = [e.to_json() for e in events]
    if fmt == "table" and not rows:
        click.echo("no events")
        return
    if fmt != "table":  # csv/tsv: the FORMATS.md event keys, raw values
        cols = [(k, k) for k in ("kind", "platform", "account_id", "handle", "label", "group", "start", "end",
                                 "magnitude", "relative", "score")]
        emit_table(rows, cols, fmt)
        return
    from rich.markup import escape
    from rich.table import Table

    from purgewatch.timefmt import human_span

    table = Table(title=f"{len(events)} events (times {tz})")
    for col in ("kind", "account / group", "when", "magnitude", "relative", "score"):
        table.add_column(col, justify="right" if col in ("magnitude", "relative", "score") else "left")
    for j in rows:
        who_text = who(j) if j["account_id"] else (f"group {j['group']}" if j["group"] else "(all)")
        rel = f"{j['relative']:.2%}" if j["relative"] is not None else ""
        table.add_row(j["kind"], escape(f"{j['platform'] or ''} {who_text}".strip()), human_span(j["start"], j["end"], tz),
                      f"{round(j['magnitude']):,}", rel, f"{j['score']:.1f}" if j["score"] is not None else "")
    Console().print(table)
