"""The library's door: one object over an evidence store whose methods reach every
analysis, with one set of argument names and time types.

    >>> import purgewatch
    >>> ev = purgewatch.open_store("evidence")                  # doctest: +SKIP
    >>> ev.detect(kinds=["follower_drop"])                       # doctest: +SKIP

Conventions, the same for every method:

- ``account``: an id or a handle (a handle held by several accounts is an error that
  lists them); ``platform`` narrows it when the same id exists on several platforms.
- ``start`` / ``end``: a timezone-aware ``datetime`` or an ISO 8601 string with a zone
  (``"2026-03-05T00:00:00Z"``); a time without a zone is refused, never guessed.
- Answers are plain JSON-shaped dicts and lists, the same as the CLI's ``--json``
  (docs/formats.md), so a notebook and a script read them alike.

docs/library.md walks through it; its examples run as a test.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purgewatch.errors import InputError
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned

if TYPE_CHECKING:
    from purgewatch.findings import Findings

TimeLike = datetime | str | None


def _time(value: TimeLike, name: str) -> datetime | None:
    ts = parse_zoned(value, name)
    return None if ts is None else ts.to_pydatetime()


class Forensics:
    """Account forensics (docs/forensics.md): creation-date batches of lost, kept and
    gained followers, and whether a regain looked like a campaign."""

    def __init__(self, evidence: Evidence) -> None:
        self._ev = evidence

    def creation_profiles(self, account: str, *, platform: str | None = None,
                          start: TimeLike = None, end: TimeLike = None) -> dict[str, Any]:
        from purgewatch.analysis.forensics import follower_creation_profiles

        plat, acc = self._ev.resolve(account, platform=platform)
        return follower_creation_profiles(self._ev.store, plat, acc, start=_time(start, "start"),
                                          end=_time(end, "end"))

    def regain(self, account: str, *, platform: str | None = None, start: TimeLike = None,
               end: TimeLike = None, until: TimeLike = None) -> dict[str, Any]:
        from purgewatch.analysis.forensics import regain_for_account

        plat, acc = self._ev.resolve(account, platform=platform)
        return regain_for_account(self._ev.store, plat, acc, start=_time(start, "start"),
                                  end=_time(end, "end"), until=_time(until, "until"))


class Posts:
    """Posts of watched accounts (docs/posts.md)."""

    def __init__(self, evidence: Evidence) -> None:
        self._ev = evidence

    def search(self, query: str, *, start: TimeLike = None, end: TimeLike = None, by: str = "group",
               limit: int = 200) -> dict[str, Any]:
        from purgewatch.analysis.posts import search_posts

        return search_posts(self._ev.store, query, start=_time(start, "start"), end=_time(end, "end"),
                            by=by, limit=limit)

    def deleted(self, *, account: str | None = None, platform: str | None = None) -> dict[str, Any]:
        from purgewatch.analysis.posts import deleted_posts

        account_id = self._ev.resolve(account, platform=platform)[1] if account else None
        return deleted_posts(self._ev.store, account_id=account_id)


class Evidence:
    """An evidence store and every question PurgeWatch answers about it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.forensics = Forensics(self)
        self.posts = Posts(self)

    def __repr__(self) -> str:
        return f"Evidence({str(self.store.path)!r})"

    # -- the record ----------------------------------------------------------
    def import_file(self, kind: str, *paths: str | os.PathLike[str], skip_bad_rows: bool = False) -> dict[str, Any]:
        """Import files of ``kind`` (observations, profiles, followers, watchlist,
        status_events, posts, twarc2, v1-users, x-compliance); the import summary."""
        from purgewatch.sources.files import import_files

        return import_files(self.store, kind, [Path(p) for p in paths], skip_bad_rows=skip_bad_rows).as_dict()

    def resolve(self, account: str, *, platform: str | None = None) -> tuple[str, str]:
        """(platform, account_id) of an id or handle."""
        from purgewatch.queries import resolve_account

        return resolve_account(self.store, account, platform=platform)

    def accounts(self, *, platform: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        """Latest status and counts of every account the store knows."""
        from purgewatch.queries import latest_accounts

        return latest_accounts(self.store, platform=platform, group=group).to_pylist()

    def history(self, account: str, *, platform: str | None = None, start: TimeLike = None,
                end: TimeLike = None) -> list[dict[str, Any]]:
        """Every observation of one account, oldest first, with provenance."""
        from purgewatch.queries import account_history

        _, _, table = account_history(self.store, account, platform=platform, since=_time(start, "start"),
                                      until=_time(end, "end"))
        return table.to_pylist()

    # -- the analyses --------------------------------------------------------
    def detect(self, *, kinds: Iterable[str] | None = None, platform: str | None = None,
               account: str | None = None, group: str | None = None, start: TimeLike = None,
               end: TimeLike = None, **params: Any) -> list[dict[str, Any]]:
        """Drops, surges, waves and purges (docs/detect.md); ``params`` are detector
        thresholds such as ``z_threshold=6``."""
        from purgewatch.analysis.detect import detect

        accounts = [self.resolve(account, platform=platform)[1]] if account else None
        events = detect(self.store, kinds=kinds, platform=platform, accounts=accounts, group=group,
                        start=_time(start, "start"), end=_time(end, "end"), **params)
        return [e.to_json() for e in events]

    def explain(self, account: str, *, platform: str | None = None, start: TimeLike = None,
                end: TimeLike = None, include_ids: bool = False) -> dict[str, Any]:
        """Who left an account and what became of them (docs/explain.md)."""
        from purgewatch.analysis.explain import explain

        return explain(self.store, account, platform=platform, start=_time(start, "start"),
                       end=_time(end, "end"), include_ids=include_ids)

    def compare(self, *, by: str = "group", outcome: str = "suspended", start: TimeLike = None,
                end: TimeLike = None, platform: str | None = None) -> dict[str, Any]:
        """Groups side by side: rates, intervals, tests, warnings (docs/compare.md)."""
        from purgewatch.analysis.compare import compare_store

        return compare_store(self.store, by=by, outcome=outcome, start=_time(start, "start"),
                             end=_time(end, "end"), platform=platform)

    # -- publishing ----------------------------------------------------------
    def findings(self, *, start: TimeLike = None, end: TimeLike = None,
                 groups: Sequence[str] | None = None) -> Findings:
        """Everything the report says, as a typed :class:`purgewatch.findings.Findings`:
        facts with the stored rows behind them, events, accounts, summary prose
        (``.to_json()``: the report's JSON document; docs/report.md)."""
        from purgewatch.findings import gather_findings

        return gather_findings(self.store, start=_time(start, "start"), end=_time(end, "end"), groups=groups)

    def report(self, out: str | os.PathLike[str], *, start: TimeLike = None, end: TimeLike = None,
               groups: Sequence[str] | None = None, title: str | None = None) -> dict[str, str]:
        """Write the HTML report and its JSON and CSV bundles; their paths."""
        from purgewatch.report import write_report

        files = write_report(self.store, out, start=_time(start, "start"), end=_time(end, "end"),
                             groups=groups, title=title)
        return files.to_json()


def open_store(path: str | os.PathLike[str], *, create: bool = False) -> Evidence:
    """The evidence store at ``path`` (``create=True`` makes a new one when none is there)."""
    p = Path(path)
    if not create and not (p / "STORE.json").exists():
        raise InputError(f"no evidence store at {p}",
                         hint="pass create=True to make one, or the folder `purgewatch init` made")
    return Evidence(Store.open(p, create=create))
