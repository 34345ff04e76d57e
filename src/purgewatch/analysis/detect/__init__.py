"""Detection: follower drops and surges, suspension and reinstatement waves, purges.

    >>> from purgewatch.analysis.detect import detect
    >>> events = detect(store)                                  # doctest: +SKIP
    >>> [e.to_json() for e in events if e.kind == "purge"]      # doctest: +SKIP

``detect(store, **params)`` runs every detector over what is in the store and returns
:class:`Event` objects (``.to_json()`` is the FORMATS.md shape). For a watch loop,
:class:`Detector` keeps a small tail of each account and re-examines only that tail when
new observations arrive; its events equal a batch run over the same data.
See docs/detect.md for the methods, parameters and failure modes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from purgewatch.analysis.detect._counts import count_waves, load_counts
from purgewatch.analysis.detect._event import KINDS, Event
from purgewatch.analysis.detect._incremental import Detector
from purgewatch.analysis.detect._load import group_array, load_series, load_status
from purgewatch.analysis.detect._purge import PurgeParams
from purgewatch.analysis.detect._run import (
    DetectParams,
    make_params,
    outlier_listing,
    param_names,
    purge_events,
    series_events,
    wave_events,
)
from purgewatch.analysis.detect._series import SeriesParams, detect_arrays, prepare
from purgewatch.analysis.detect._waves import WaveParams, transitions
from purgewatch.errors import InputError
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned, to_utc
from purgewatch.watchlist import groups_by_account

__all__ = [
    "KINDS",
    "DetectParams",
    "Detection",
    "Detector",
    "Event",
    "PurgeParams",
    "SeriesParams",
    "WaveParams",
    "detect",
    "detect_all",
    "detect_series",
    "filter_events",
    "name_events",
    "make_params",
    "param_names",
]


def detect_series(sid: np.ndarray, t: np.ndarray, y: np.ndarray,
                  accounts: list[tuple[str, str]] | None = None,
                  groups: np.ndarray | None = None,
                  params: DetectParams | None = None, *, purge: bool = True) -> list[Event]:
    """Drops, surges (and purges) over in-memory arrays: ``sid`` series index, ``t`` Unix
    seconds, ``y`` follower counts (any order; duplicates merged). For benchmarks and
    callers that do not use a store."""
    params = params or DetectParams()
    sid, t, y = prepare(sid, t, y)
    n_series = int(sid.max()) + 1 if len(sid) else 0
    accounts = accounts or [("", str(i)) for i in range(n_series)]
    groups = groups if groups is not None else np.full(len(accounts), None, dtype=object)
    ev, pg = detect_arrays(sid, t, y, params.series, want_purge=purge)
    out = series_events(ev, sid, t, y, accounts, groups, params.series)
    if purge:
        out += purge_events(pg, t, sid, accounts, groups, params.purge)
    return sorted(out, key=lambda e: e.sort_key)


@dataclass
class Detection:
    """Everything one detection run finds: the events, and the outlier readings set
    aside before detection (per account, with the ``mixed`` flag; see docs/detect.md)."""

    events: list[Event]
    outliers: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"events": [e.to_json() for e in self.events], "outliers": self.outliers}


def detect(
    store: Store,
    *,
    kinds: Iterable[str] | None = None,
    platform: str | None = None,
    accounts: Iterable[str] | None = None,
    group: str | None = None,
    start: datetime | float | None = None,
    end: datetime | float | None = None,
    params: DetectParams | None = None,
    **overrides: Any,
) -> list[Event]:
    """Every detection over the store, sorted by start time.

    ``kinds`` limits the detectors run; ``platform`` the data read; ``accounts``,
    ``group``, ``start``/``end`` filter the answer (population detectors still look at
    everyone: a purge is only visible across accounts). Thresholds: ``params`` or flat
    keywords (``z_threshold=6``, ``wave_min_size=10``, ``purge_min_accounts=20``; see
    :func:`param_names`). :func:`detect_all` also returns the outlier readings."""
    return detect_all(store, kinds=kinds, platform=platform, accounts=accounts, group=group,
                      start=start, end=end, params=params, **overrides).events


def detect_all(
    store: Store,
    *,
    kinds: Iterable[str] | None = None,
    platform: str | None = None,
    accounts: Iterable[str] | None = None,
    group: str | None = None,
    start: datetime | float | None = None,
    end: datetime | float | None = None,
    params: DetectParams | None = None,
    **overrides: Any,
) -> Detection:
    """:func:`detect`'s events and, when follower series were examined, the outlier
    readings per account (filtered by ``accounts``, ``group`` and the time window)."""
    params = make_params(params, **overrides)
    wanted = set(kinds) if kinds is not None else set(KINDS)
    unknown = wanted - set(KINDS)
    if unknown:
        raise InputError(f"unknown event kind(s): {', '.join(sorted(unknown))}",
                         hint=f"kinds are: {', '.join(KINDS)}")
    state = _store_state(store)
    groups_map: dict[tuple[str, str], str] | None = None
    out: list[Event] = []
    listing: list[dict[str, Any]] = []
    if wanted & {"follower_drop", "follower_surge", "purge"}:
        # Every series detector runs (purges included) and the answer is kept for this
        # state of the store: a report asks for the events, then compare asks again for
        # the drops; the second answer costs nothing.
        memo_key = ("series", state, platform, params)
        hit = _memo_get(memo_key)
        if hit is None:
            groups_map = groups_by_account(store)
            data = load_series(store, platform=platform)
            groups = group_array(data.accounts, groups_map)
            sid, t, y = prepare(data.sid, data.t, data.y)
            found: list[np.ndarray] = []
            ev, pg = detect_arrays(sid, t, y, params.series, want_purge=True, outliers=found)
            s_events = series_events(ev, sid, t, y, data.accounts, groups, params.series)
            s_events += purge_events(pg, t, sid, data.accounts, groups, params.purge)
            hit = (s_events, outlier_listing(found[0], found[1], sid, t, y, data.accounts, groups,
                                             params.series))
            _memo_put(memo_key, hit)
            del data, sid, t, y, found  # the readings' arrays go before the statuses are read
        out += hit[0]
        listing = list(hit[1])
    if wanted & {"suspension_wave", "reinstatement_wave"}:
        memo_key = ("waves", state, platform, params)
        w_hit = _memo_get(memo_key)
        if w_hit is None:
            groups_map = groups_map if groups_map is not None else groups_by_account(store)
            st = load_status(store, platform=platform)
            w_events: list[Event] = []
            if len(st.time):
                groups = group_array(st.accounts, groups_map)
                tr = transitions(st.key, st.time, st.status, st.is_event)
                coverage = (float(st.time.min()), float(st.time.max()))
                w_events = wave_events(tr, st.accounts, groups, coverage, params.waves)
            # Published totals (status_counts) go through the same scan (see _counts.py).
            w_events += count_waves(load_counts(store, platform=platform), params.waves)
            w_hit = (w_events, [])
            _memo_put(memo_key, w_hit)
        out += w_hit[0]
    out = [e for e in out if e.kind in wanted]
    if accounts is not None:
        # ids or handles, through the one resolver ("no such account" / several holders)
        from purgewatch.queries import resolve_account

        accounts = [resolve_account(store, a, platform)[1] for a in accounts]
    wanted_acc = set(accounts) if accounts is not None else None
    lo, hi = _ts(start), _ts(end)
    listing = [r for r in listing
               if (wanted_acc is None or r["account_id"] in wanted_acc)
               and (group is None or r["group"] == group)
               and (lo is None or _ts(_parse(r["last"])) >= lo)  # type: ignore[operator]
               and (hi is None or _ts(_parse(r["first"])) <= hi)]  # type: ignore[operator]
    out = filter_events(out, accounts=accounts, group=group, start=start, end=end)
    name_events(store, out, _names_memo(state))
    return Detection(out, listing)


_MEMO: dict[Any, tuple[list[Event], list[dict[str, Any]]]] = {}
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 4


def _store_state(store: Store) -> tuple[str, ...] | None:
    """The store's committed state (generation and batch names): what a memoised answer
    is valid for. None when it cannot be read (then nothing is memoised)."""
    try:
        return (str(store.path), *store.state())
    except Exception:  # noqa: BLE001 - no memo rather than no answer
        return None


def _memo_get(key: tuple[Any, ...]) -> tuple[list[Event], list[dict[str, Any]]] | None:
    if key[1] is None:
        return None
    with _MEMO_LOCK:
        hit = _MEMO.pop(key, None)
        if hit is not None:
            _MEMO[key] = hit  # most recently used last
    return hit


def _memo_put(key: tuple[Any, ...], value: tuple[list[Event], list[dict[str, Any]]]) -> None:
    if key[1] is None:
        return
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > _MEMO_SIZE:
            del _MEMO[next(iter(_MEMO))]


def _parse(text: str) -> datetime | None:
    return to_utc(text)  # the listing's own ISO text


_NAMES: dict[Any, dict[tuple[str, str], Any]] = {}
NAME_ALL_ABOVE = 200  # accounts to name above which every account's name is read at once


def _names_memo(state: tuple[str, ...] | None) -> dict[tuple[str, str], Any] | None:
    """Names already looked up for this state of the store (a report asks for the events,
    then compare for the drops: the second asks for no name again)."""
    if state is None:
        return None
    with _MEMO_LOCK:
        memo = _NAMES.pop(state, None)
        memo = {} if memo is None else memo
        _NAMES[state] = memo
        while len(_NAMES) > _MEMO_SIZE:
            del _NAMES[next(iter(_NAMES))]
    return memo


def name_events(store: Store, events: list[Event], known: dict[tuple[str, str], Any] | None = None) -> None:
    """Fill ``handle`` and ``label`` of per-account events (FORMATS.md). ``known``: names
    looked up before for this state of the store (read and extended)."""
    from purgewatch.queries import AccountName, account_names

    keys = {(e.platform or "", e.account_id) for e in events if e.account_id is not None}
    with _MEMO_LOCK:
        names = dict(known or {})
    missing = keys - names.keys()
    if missing:
        if len(missing) > NAME_ALL_ABOVE:
            # One aggregate over every account: a filter naming 10^4 ids costs DuckDB
            # seconds (8.7 s wall at 10,000 accounts against 0.2 s for all of them).
            every = account_names(store)
            found = {k: every.get(k, AccountName(None, None)) for k in missing}
        else:
            found = account_names(store, missing)
        names.update(found)
        if known is not None:
            with _MEMO_LOCK:
                known.update(found)
    for e in events:
        n = names.get((e.platform or "", e.account_id)) if e.account_id is not None else None
        if n is not None:
            e.handle, e.label = n.handle, n.label


def _ts(value: datetime | float | None) -> float | None:
    """A window bound the caller gave, as Unix seconds (a zone-less time is refused)."""
    ts = parse_zoned(value, "window bound")
    return None if ts is None else ts.timestamp()


def _names_account(e: Event, wanted: set[str]) -> bool:
    if e.account_id is not None:
        return e.account_id in wanted
    return any(a.get("account_id") in wanted for a in e.evidence.get("accounts", []))


def _names_group(e: Event, group: str) -> bool:
    if e.group is not None or e.kind != "purge":
        return e.group == group
    return group in e.evidence.get("by_group", {})


def filter_events(events: list[Event], *, accounts: Iterable[str] | None = None,
                  group: str | None = None, start: datetime | float | None = None,
                  end: datetime | float | None = None, groups: Iterable[str] | None = None,
                  keys: Iterable[tuple[str, str]] | None = None) -> list[Event]:
    """The one event filter (``detect``'s arguments, the report's scope): events naming
    one of ``accounts`` (ids; a population event through the accounts in its evidence),
    in ``group`` or one of ``groups`` (a platform-wide purge through the groups it
    touched), overlapping [start, end]; with ``keys``, an account's event only when its
    (platform, account_id) is one of them (population events are nobody's and pass)."""
    lo, hi = _ts(start), _ts(end)
    wanted = set(accounts) if accounts is not None else None
    wanted_groups = {group} if group is not None else set()
    if groups is not None:
        wanted_groups |= set(groups)
    any_group = group is None and groups is None
    in_keys = set(keys) if keys is not None else None
    out = []
    for e in events:
        if wanted is not None and not _names_account(e, wanted):
            continue
        if not any_group and not any(_names_group(e, g) for g in wanted_groups):
            continue
        if in_keys is not None and e.account_id is not None and (e.platform or "", e.account_id) not in in_keys:
            continue
        if lo is not None and e.end < lo:
            continue
        if hi is not None and e.start > hi:
            continue
        out.append(e)
    return sorted(out, key=lambda e: e.sort_key)
