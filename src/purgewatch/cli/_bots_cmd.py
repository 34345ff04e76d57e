"""`purgewatch bots`: bot-likeness scores from the trained model (docs/bots.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from purgewatch.cli._common import TIMESTAMP, emit_json, json_option, open_store, store_option
from purgewatch.errors import AnalysisError, InputError


@click.group("bots")
def bots_cmd() -> None:
    """Bot-likeness of accounts: a calibrated model over profile features.

    \b
    Example:
      purgewatch bots score users.jsonl --json
      purgewatch bots score --group government --store ./evidence
    """


@bots_cmd.command("score")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--all", "all_accounts", is_flag=True, help="Every account with a stored profile.")
@click.option("--account", "accounts", multiple=True, help="A stored account (id or handle); repeatable.")
@click.option("--group", "groups", multiple=True, help="The watched accounts of a watchlist group; repeatable.")
@click.option("--platform", help="Only accounts of this platform.")
@click.option("--observed-at", type=TIMESTAMP,
              help="When the FILES were read, for formats that do not say (X v1.1 user objects).")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A model trained with python -m purgewatch.analysis.bots.train (default: the shipped one).")
@click.option("--top", type=click.IntRange(0, 20), default=3, show_default=True,
              help="Features that moved each score most (0 = none, faster).")
@store_option
@json_option
def score_cmd(files: tuple[Path, ...], all_accounts: bool, accounts: tuple[str, ...], groups: tuple[str, ...],
              platform: str | None, observed_at: datetime | None, model_path: Path | None, top: int,
              store_path: Path | None, as_json: bool) -> None:
    """Score profiles: probability (0..1) that each account is automated or fake.

    Profiles come from FILES (FORMATS.md profiles or observations, X v1.1 user objects as
    a JSON array, JSONL or CSV, twarc2 X API v2 users) or from the store (--all,
    --account, --group). The answer: {"model": {...}, "threshold": T, "scores": [...]}
    with per account platform, account_id, score, bot (score >= T) and top_features.

    \b
    Example:
      purgewatch bots score users.json --observed-at 2024-05-01T00:00:00Z --json
      purgewatch bots score --all --platform x --store ./evidence --json
      purgewatch bots score --account alice.bsky.social --store ./evidence
    """
    import pandas as pd

    from purgewatch.analysis import bots

    chosen = sum(bool(x) for x in (files, all_accounts, accounts, groups))
    if chosen != 1:
        raise InputError("give profile FILES, or one of --all, --account, --group",
                         hint="e.g. purgewatch bots score users.jsonl --json")
    model = bots.load_model(model_path)
    if files:
        when = observed_at.isoformat() if observed_at is not None else None
        profiles = pd.concat([bots.read_profiles(f, observed_at=when) for f in files], ignore_index=True)
        if platform:
            profiles = profiles[profiles["platform"] == platform]
    else:
        store = open_store(store_path)
        profiles = bots.latest_profiles(store, platform=platform)
        if accounts:
            want = {a.lower().lstrip("@") for a in accounts}
            hit = profiles["account_id"].str.lower().isin(want) | profiles["handle"].fillna("").str.lower().isin(want)
            missing = want - set(profiles.loc[hit, "account_id"].str.lower()) - set(profiles.loc[hit, "handle"].fillna("").str.lower())
            if missing:
                raise AnalysisError(f"no stored profile for {', '.join(sorted(missing))}",
                                    hint="import or collect the account's profile first")
            profiles = profiles[hit]
        elif groups:
            from purgewatch.watchlist import current_watchlist

            wl = current_watchlist(store, fill_ids=True).to_pandas()
            members = wl[wl["group"].isin(groups)][["platform", "account_id"]].drop_duplicates()
            if members.empty:
                raise AnalysisError(f"no watched account in group {', '.join(groups)}",
                                    hint="purgewatch watchlist shows the groups")
            profiles = profiles.merge(members, on=["platform", "account_id"])
        profiles = profiles.reset_index(drop=True)
    answer = bots.score_answer(profiles.reset_index(drop=True), model=model, top=top)
    if as_json:
        emit_json(answer)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bot-likeness (model {answer['model']['version']}, threshold {answer['threshold']})")
    for col in ("platform", "account", "score", "bot", "top features"):
        table.add_column(col)
    for r in answer["scores"]:
        feats = ", ".join(f"{t['feature']} {t['effect']:+.2f}" for t in r["top_features"])
        table.add_row(r["platform"], r["handle"] or r["account_id"], f"{r['score']:.2f}", "yes" if r["bot"] else "no",
                      feats)
    Console().print(table)
