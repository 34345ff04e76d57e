"""Verbs over the analyses: explain (who left and why), compare (camps side by side),
forensics (creation batches, follower order, regain campaigns)."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

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
    tz_option,
    who,
)
from purgewatch.errors import InputError, Location
from purgewatch.jsonable import plain


def _working(message: str, as_json: bool) -> AbstractContextManager[Any]:
    """A spinner on stderr while long work runs (not with --json, not without a TTY)."""
    if as_json or not sys.stderr.isatty():
        return nullcontext()
    return Console(stderr=True).status(message)


window_from = click.option("--from", "start", type=TIMESTAMP, help="Window start (ISO 8601 with zone, or Unix s).")
window_to = click.option("--to", "end", type=TIMESTAMP, help="Window end (ISO 8601 with zone, or Unix s).")
platform_opt = click.option("--platform", help="Platform of ACCOUNT when the id or handle is ambiguous.")


@click.command("explain")
@click.argument("account")
@platform_opt
@window_from
@window_to
@click.option("--resolve", is_flag=True, help="Look up lost followers with no stored fate through the platform connector (stored as evidence).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Collect config (TOML) for --resolve: base URLs, tokens, rate limits.")
@click.option("--ids", "include_ids", is_flag=True, help="List every lost follower with its fate, and the gained ids.")
@tz_option
@store_option
@json_option
@format_option
def explain_cmd(
    account: str, platform: str | None, start: datetime | None, end: datetime | None,
    resolve: bool, config_path: Path | None, include_ids: bool, tz: str, store_path: Path | None, as_json: bool,
    fmt: str | None,
) -> None:
    """Who left ACCOUNT (an id or a handle), what became of them, and which other watched accounts lost the
    same followers; with a verdict (platform_enforcement, mass_unfollow, mixed,
    insufficient_data) and the numbers behind it.

    Without --from/--to the largest drop between two consecutive complete follower
    snapshots is explained.

    \b
    Example:
      purgewatch explain 12345 --platform x --from 2024-05-01T00:00:00Z --to 2024-05-03T00:00:00Z --json
      purgewatch explain 12345 --platform x --format csv    # the fates table only
      purgewatch explain PresidentLeader --tz Europe/Paris
    """
    from purgewatch.analysis.explain import explain

    fmt = output_format(fmt, as_json)
    store = open_store(store_path)
    lookup = None
    if resolve:  # (the collectors are imported only when asked for)
        from purgewatch.collect.resolve import fate_resolver

        lookup = fate_resolver(store, config=config_path)
    with _working("diffing follower lists and resolving fates…", fmt != "table"):
        res = plain(explain(store, account, platform=platform, start=start, end=end,
                             resolve=lookup, include_ids=include_ids))
    if fmt == "json":
        emit_json(res)
        return
    if fmt != "table":  # the main table: what became of the lost followers
        rows = [{"platform": res["platform"], "account_id": res["account_id"], "fate": k, "accounts": v,
                 "verdict": res["verdict"]} for k, v in res["lost_breakdown"].items()]
        emit_table(rows, [(c, c) for c in ("platform", "account_id", "fate", "accounts", "verdict")], fmt)
        return
    from rich.markup import escape

    from purgewatch.timefmt import human_span

    con = Console()
    snaps = res["evidence"].get("snapshots", [])
    when = (f"follower lists of {human_span(snaps[0]['observed_at'], snaps[-1]['observed_at'], tz)}"
            if snaps else "no snapshot pair")
    con.print(f"[bold]{escape(who(res))}[/bold] ({escape(res['platform'])}, "
              f"{escape(res.get('group') or 'no group')}), {when}")
    con.print(f"lost {res['lost']:,}, gained {res['gained']:,}")
    t = Table(title="what became of the lost followers")
    t.add_column("fate")
    t.add_column("accounts", justify="right")
    for k, v in res["lost_breakdown"].items():
        t.add_row(k, f"{v:,}")
    con.print(t)
    if res["overlap"]:
        o = Table(title="other watched accounts that lost the same followers")
        for c in ("account", "group", "shared", "jaccard"):
            o.add_column(c)
        for row in res["overlap"][:15]:
            o.add_row(escape(f"{row['platform']} {who(row)}"), escape(str(row["group"])), f"{row['shared_lost']:,}",
                      f"{row['jaccard']:.3f}")
        con.print(o)
    con.print(f"verdict: [bold]{res['verdict']}[/bold]")
    for r in res["evidence"].get("reasons", []):
        con.print(f"  - {r}", markup=False)
    for c in res["evidence"].get("caveats", []):
        con.print(f"  ! {c}", markup=False)


@click.command("compare")
@click.option("--by", type=click.Choice(["group", "label"]), default="group", show_default=True,
              help="group: watchlist groups; label: the label column of profiles (population datasets).")
@click.option("--outcome", type=click.Choice(["suspended", "gone", "deleted", "deactivated", "suspended_or_deleted",
                                             "not_found", "drop"]),
              default="suspended", show_default=True, help="What counts as the outcome (docs/compare.md).")
@click.option("--reference", help="Compare every group against this one (default: all pairs).")
@platform_opt
@window_from
@window_to
@click.option("--permutations", type=click.IntRange(0, 1_000_000), default=9999, show_default=True,
              help="Resamples of the permutation test (0 = skip).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the permutation test.")
@store_option
@json_option
@format_option
def compare_cmd(
    by: str, outcome: str, reference: str | None, platform: str | None, start: datetime | None,
    end: datetime | None, permutations: int, seed: int, store_path: Path | None, as_json: bool,
    fmt: str | None,
) -> None:
    """Compare groups: outcome rates with 95% intervals, then every pair in a table (difference
    and rate ratio with intervals, Fisher exact p, Holm-adjusted when more than two groups),
    a test across all groups (chi-square, or exact when counts are small), the most
    informative comparison, and a logistic regression adjusted for account age, activity,
    audience and bot-likeness. Degenerate tables (a group of one account, an outcome no
    account has) answer "cannot test" with the reason in `warnings`; nothing crashes.

    \b
    Example:
      purgewatch compare --by group --outcome suspended --json
      purgewatch compare --by label --outcome suspended --reference 0
      purgewatch compare --format tsv    # the groups table only
    """
    from purgewatch.analysis.compare import compare_store

    fmt = output_format(fmt, as_json)
    with _working("comparing groups (exact tests, adjusted model)…", fmt != "table"):
        res = plain(compare_store(open_store(store_path), by=by, outcome=outcome, start=start, end=end,
                                   platform=platform, reference=reference, permutations=permutations,
                                   seed=seed))
    if fmt == "json":
        emit_json(res)
        return
    if fmt != "table":  # the main table: the groups' rates (tests and model: --json)
        emit_table(res["groups"], [(c, c) for c in ("group", "accounts", "outcome_count", "rate", "ci_low",
                                                     "ci_high", "ci_method")], fmt)
        return
    _print_compare(res, outcome, by)


def _print_compare(res: dict[str, Any], outcome: str, by: str) -> None:
    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    def pts(ci: list[float | None]) -> str:
        lo, hi = ci
        return "—" if lo is None or hi is None else f"{100 * lo:+.1f} to {100 * hi:+.1f}"

    con = Console()
    t = Table(title=f"{outcome} by {by}")
    for c in ("group", "accounts", outcome, "rate", "95% CI"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g in res["groups"]:
        t.add_row(g["group"], f"{g['accounts']:,}", f"{g['outcome_count']:,}", pct(g["rate"]),
                  f"{pct(g['ci_low'])}–{pct(g['ci_high'])}")
    con.print(t)
    if res["tests"]:
        best = (res.get("most_informative") or {}).get("index")
        holm = any(x.get("adjustment") == "holm" for x in res["tests"])
        pt = Table(title="pairs" + (" (Holm-adjusted over the pairs tested)" if holm else ""))
        cols = ["pair", "difference, points (95% CI)", "rate ratio (95% CI)", "Fisher p"]
        for c in cols + (["adjusted p"] if holm else []):
            pt.add_column(c, justify="left" if c == "pair" else "right")
        for i, x in enumerate(res["tests"]):
            e = x["effect"]
            rr = "—" if e.get("rate_ratio") is None else (
                f"{e['rate_ratio']:.2f} ({e['rate_ratio_ci'][0]:.2f}–{e['rate_ratio_ci'][1]:.2f})"
                + ("*" if str(e.get("rate_ratio_estimator", "")).startswith("haldane") else ""))
            diff = "—" if e["difference"] is None else f"{100 * e['difference']:+.1f} ({pts(e['difference_ci'])})"
            row = [("► " if i == best else "") + " vs ".join(x["groups"]), diff, rr,
                   x["p_value_text"] if x["p_value"] is not None else "cannot test"]
            if holm:
                row.append(x["p_value_adjusted_text"] if x["p_value_adjusted"] is not None else "—")
            pt.add_row(*row)
        con.print(pt)
        if any(str(x["effect"].get("rate_ratio_estimator", "")).startswith("haldane") for x in res["tests"]):
            con.print("* a cell is zero: 0.5 added to every cell (Haldane–Anscombe) for the ratio and its interval",
                      markup=False)
    for line in res["summary"]:
        con.print(line, markup=False)
    if res.get("warnings"):
        con.print("[bold]Warnings[/bold]")
        for line in res["warnings"]:
            con.print(f"  ! {line}", markup=False)
    con.print("[bold]What these data cannot say[/bold]")
    for line in res["cannot_say"]:
        con.print(f"  - {line}", markup=False)


@click.group("forensics")
def forensics_cmd() -> None:
    """Account forensics: creation-date batches, follower order vs creation date
    (Follower Factory), regain campaigns after a drop.

    \b
    Example:
      purgewatch forensics creation-batches --file users.csv --json
      purgewatch forensics follower-order 12345 --platform x --json
      purgewatch forensics regain 12345 --platform x --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z
    """


def _named(store: Any, platform: str, account_id: str) -> str:
    """``x The Leader (@PresidentLeader) [47227969339690213]`` for a terminal heading."""
    from purgewatch.queries import account_names

    n = account_names(store, [(platform, account_id)]).get((platform, account_id))
    return f"{platform} " + who({"account_id": account_id, "handle": n.handle if n else None,
                                 "label": n.label if n else None})


def _resolve_account(store: Any, account: str, platform: str | None) -> tuple[str, str]:
    from purgewatch.queries import resolve_account

    return resolve_account(store, account, platform)


@forensics_cmd.command("creation-batches")
@click.option("--account", help="Profiles of this account's (id or handle) lost, remaining and gained followers.")
@platform_opt
@window_from
@window_to
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Any population: a CSV with created_at and/or id columns (X snowflake ids).")
@click.option("--label", help="Profiles in the store carrying this label.")
@click.option("--status", help="Profiles/observations whose latest status is this (e.g. suspended).")
@click.option("--freq", type=click.Choice(["MS", "W", "D"]), default="MS", show_default=True,
              help="Period: month (MS), week, day.")
@store_option
@json_option
def creation_batches_cmd(
    account: str | None, platform: str | None, start: datetime | None, end: datetime | None,
    file_path: Path | None, label: str | None, status: str | None, freq: str,
    store_path: Path | None, as_json: bool,
) -> None:
    """Creation-date profile and batches (many accounts created in a narrow window,
    beyond the baseline of the neighbouring periods) of a population.

    \b
    Example:
      purgewatch forensics creation-batches --file ../shared/datasets/nbc-ira-users/users.csv --json
      purgewatch forensics creation-batches --account 12345 --platform x --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z
      purgewatch forensics creation-batches --status suspended --platform x
    """
    import pandas as pd

    from purgewatch.analysis import forensics as fx

    if account is not None:
        store = open_store(store_path)
        plat, acc = _resolve_account(store, account, platform)
        res = fx.follower_creation_profiles(store, plat, acc, start=start, end=end, freq=freq)
    else:
        if file_path is not None:
            try:
                df = pd.read_csv(file_path, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read CSV: {exc}", location=Location(str(file_path))) from exc
            if "created_at" not in df.columns and "id" not in df.columns:
                raise InputError("needs a created_at or an id column", location=Location(str(file_path)),
                                 hint="columns found: " + ", ".join(df.columns))
            created = fx.creation_times(
                df["created_at"].replace("", None) if "created_at" in df.columns else None,
                df["id"] if "id" in df.columns else None,
                platform=platform or "x",
            )
            source = str(file_path)
        else:
            store = open_store(store_path)
            created, source = _store_population(store, platform, label, status)
        batches = fx.creation_batches(created, freq=freq)
        prof = fx.creation_profile(created, freq=freq)
        res = {
            "population": source,
            "accounts": int(len(created)),
            "with_creation_date": int(created.notna().sum()),
            "batches": [b.to_json() for b in batches],
            "profile": fx.profile_json(prof),
        }
    res = plain(res)
    if as_json:
        emit_json(res)
        return
    con = Console()
    blist = res.get("batches")
    if blist is None:
        for name, part in res["sets"].items():
            con.print(f"[bold]{name}[/bold]: {part['accounts']:,} followers, median created {part['median_created']}")
            for b in part["batches"]:
                con.print(f"  batch {b['start'][:10]}–{b['end'][:10]}: {b['count']} accounts ({b['ratio']:.1f}x baseline)")
        return
    con.print(f"{res['accounts']:,} accounts, {res['with_creation_date']:,} with a creation date")
    for b in blist:
        con.print(f"  batch {b['start'][:10]}–{b['end'][:10]}: {b['count']} accounts "
                  f"(peak {b['peak'][:7]}: {b['peak_count']}), {b['ratio']:.1f}x baseline, p={b['p_value']:.2g}")


def _store_population(store: Any, platform: str | None, label: str | None, status: str | None) -> tuple[Any, str]:
    import pandas as pd

    from purgewatch.analysis import forensics as fx

    cols = ["platform", "account_id", "observed_at", "status", "created_at", "label"]
    df = pd.concat([store.read(t, columns=cols).to_pandas() for t in ("profiles", "observations")],
                   ignore_index=True)
    if platform:
        df = df[df["platform"] == platform]
    df = df.sort_values("observed_at").groupby(["platform", "account_id"], as_index=False).last()
    what = ["stored accounts"]
    if label is not None:
        df = df[df["label"] == label]
        what.append(f"label={label}")
    if status is not None:
        df = df[df["status"] == status]
        what.append(f"status={status}")
    created = pd.to_datetime(df["created_at"], utc=True)
    xs = (df["platform"] == "x").to_numpy()
    if xs.any():
        sf = fx.snowflake_time(df.loc[xs, "account_id"].reset_index(drop=True))
        sf.index = df.index[xs]
        created[xs] = created[xs].fillna(sf)
    return created.reset_index(drop=True), " ".join(what)


@forensics_cmd.command("follower-order")
@click.argument("account")
@platform_opt
@click.option("--snapshot", "snapshot_id", help="Snapshot id (default: the latest ordered complete one).")
@click.option("--window", type=click.IntRange(20, 1_000_000), default=200, show_default=True,
              help="Followers per sliding window of the band detector.")
@click.option("--span-days", type=click.FloatRange(1, 3650), default=30.0, show_default=True,
              help="A band's members were created within this many days.")
@click.option("--points", is_flag=True, help="Include every (position, creation date) point in the JSON.")
@store_option
@json_option
def follower_order_cmd(
    account: str, platform: str | None, snapshot_id: str | None, window: int, span_days: float,
    points: bool, store_path: Path | None, as_json: bool,
) -> None:
    """Follower order vs creation date (the "Follower Factory" picture) and the dense
    bands bought followers leave in it.

    \b
    Example:
      purgewatch forensics follower-order 12345 --platform x --json --points
    """
    from purgewatch.analysis import forensics as fx

    store = open_store(store_path)
    plat, acc = _resolve_account(store, account, platform)
    res = fx.follower_order(store, plat, acc, snapshot_id=snapshot_id, window=window, span_days=span_days)
    if not points:
        res.pop("points")
    res = plain(res)
    if as_json:
        emit_json(res)
        return
    con = Console()
    con.print(_named(store, plat, acc), markup=False)
    con.print(f"{res['followers']:,} followers in list order, {res['with_creation_date']:,} with a creation date")
    for b in res["bands"]:
        con.print(f"  band positions {b['first_position']}–{b['last_position']}: {b['in_span']} of {b['size']} "
                  f"created {b['span_start'][:10]}–{b['span_end'][:10]}")
    con.print(f"{res['followers_in_bands']:,} followers in bands")


@forensics_cmd.command("regain")
@click.argument("account")
@platform_opt
@window_from
@window_to
@click.option("--until", type=TIMESTAMP, help="End of the regain window (default: the next complete snapshot).")
@store_option
@json_option
def regain_cmd(
    account: str, platform: str | None, start: datetime | None, end: datetime | None,
    until: datetime | None, store_path: Path | None, as_json: bool,
) -> None:
    """After a drop, was the gain abnormal and made of young or batch-created accounts?

    \b
    Example:
      purgewatch forensics regain 12345 --platform x --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z --json
    """
    from purgewatch.analysis import forensics as fx

    store = open_store(store_path)
    plat, acc = _resolve_account(store, account, platform)
    res = plain(fx.regain_for_account(store, plat, acc, start=start, end=end, until=until))
    if as_json:
        emit_json(res)
        return
    con = Console()
    con.print(_named(store, plat, acc), markup=False)
    con.print(f"verdict: [bold]{res['verdict']}[/bold]")
    for r in res["reasons"]:
        con.print(f"  - {r}", markup=False)
