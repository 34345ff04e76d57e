"""Options and output helpers shared by every verb."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from purgewatch.store import ENV_STORE, Store, default_store_path

F = TypeVar("F", bound=Callable[..., Any])


def store_option(f: F) -> F:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar=ENV_STORE,
        help=f"Evidence store directory (env {ENV_STORE}; default ./purgewatch-data).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Answer with JSON on stdout.")(f)


def tz_option(f: F) -> F:
    return click.option(
        "--tz", "tz", default="UTC", show_default=True, metavar="ZONE",
        help="Show times in this zone (IANA name, e.g. Europe/Paris); JSON stays in UTC.",
        callback=_check_zone,
    )(f)


def _check_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from purgewatch.errors import InputError
    from purgewatch.timefmt import zone

    try:
        zone(value)
    except InputError as exc:
        raise click.BadParameter(f"{exc.message} ({exc.hint})") from None
    return value


def who(row: dict[str, Any]) -> str:
    """An account as a reader knows it: ``Label (@handle)``, else ``@handle``, else the
    id; the platform id follows when a name was found (for copy-paste into --account)."""
    from purgewatch.queries import AccountName

    name = AccountName(row.get("handle"), row.get("label"))
    acc = row.get("account_id")
    text = name.text(acc)
    return f"{text} [{acc}]" if acc and text != acc else text


def open_store(store_path: Path | None, *, create: bool = False) -> Store:
    return Store.open(store_path or default_store_path(), create=create)


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat().replace("+00:00", "Z")
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, default=_default, ensure_ascii=False, indent=2, allow_nan=False))


class TimestampType(click.ParamType):
    """ISO 8601 with an offset or Z, or Unix seconds. No zone -> refused (no local guess)."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if text.replace(".", "", 1).isdigit():
                return datetime.fromtimestamp(float(text), tz=UTC)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(
                f"{text!r} is not a timestamp; use ISO 8601 with a zone "
                "(2024-05-02T14:00:00Z) or Unix seconds",
                param,
                ctx,
            )
        if parsed.tzinfo is None:
            self.fail(
                f"{text!r} has no time zone; add Z or an offset such as +02:00 "
                "(PurgeWatch never guesses local time)",
                param,
                ctx,
            )
        return parsed.astimezone(UTC)


TIMESTAMP = TimestampType()

