"""Detected events in a scope: which are shown, and the stored rows each rests on."""

from __future__ import annotations

from typing import Any

import pandas as pd

from purgewatch.analysis.detect import Event, detect_all, filter_events
from purgewatch.errors import PurgeWatchError
from purgewatch.findings._jsonable import iso, plain
from purgewatch.findings._transitions import StatusChangeTable
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned

MAX_EVENTS_SHOWN = 300  # events listed in the HTML with their evidence rows
WAVE_KINDS = ("suspension_wave", "reinstatement_wave", "purge")
# Population events first, then drops, then surges (strongest first within a kind).
KIND_RANK = {"suspension_wave": 0, "purge": 1, "reinstatement_wave": 2, "follower_drop": 3, "follower_surge": 4}


def detected_events(store: Store) -> tuple[list[Event], list[dict[str, Any]], str]:
    """(events, outlier listing, availability): every detection over the store; a
    failing detector is said, never hidden."""
    try:
        found = detect_all(store)
    except PurgeWatchError as exc:
        return [], [], f"not available: detection failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
        return [], [], f"not available: detection failed ({type(exc).__name__}: {exc})"
    return list(found.events), plain(found.outliers), "ok"


def events_in_scope(
    events: list[Event],
    t0: pd.Timestamp | None,
    t1: pd.Timestamp | None,
    groups: list[str] | None,
    keys: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """The events of the report's scope (through :func:`detect.filter_events`, the one
    filter), as plain dicts sorted by start."""
    scoped = filter_events(events, groups=groups, keys=keys if groups is not None else None,
                           start=None if t0 is None else t0.to_pydatetime(),
                           end=None if t1 is None else t1.to_pydatetime())
    out = [plain(e) for e in scoped]
    out.sort(key=lambda e: (str(e.get("start")), str(e.get("kind")), str(e.get("platform")), str(e.get("account_id")), str(e.get("end"))))
    return out


def evidence_times(e: dict[str, Any]) -> set[str]:
    """Observation times named in an event's evidence (any key holding timestamps)."""
    out: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
            try:
                out.add(iso(parse_zoned(v)) or v)
            except (ValueError, PurgeWatchError):
                pass
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(e.get("evidence"))
    return out


def event_refs(e: dict[str, Any], part: pd.DataFrame) -> list[str]:
    """Observations of the account an event rests on: those its evidence names, else the
    last one at/before its start and every one up to the first at/after its end."""
    times = evidence_times(e)
    if times:
        wanted = pd.to_datetime(sorted(times), utc=True, format="ISO8601")
        named = part.loc[part["observed_at"].isin(wanted), "ref"]
        if len(named):
            return sorted(set(named))
    s, en = parse_zoned(e.get("start")), parse_zoned(e.get("end"))
    if s is None or en is None:
        return []
    ts = part["observed_at"]
    before = part[ts <= s].tail(1)
    inside = part[(ts > s) & (ts < en)]
    after = part[ts >= en].head(1)
    return sorted(set(before["ref"]) | set(inside["ref"]) | set(after["ref"]))


def wave_refs(e: dict[str, Any], transitions: StatusChangeTable) -> list[str]:
    want = "reinstated" if e["kind"] == "reinstatement_wave" else "suspended"
    return transitions.refs(want, parse_zoned(e.get("start")), parse_zoned(e.get("end")), e.get("platform"))


def number_and_rank(events: list[dict[str, Any]], notes: list[str]) -> None:
    """Give events their ids (``e-1``...) and mark the ``shown`` ones: at most
    MAX_EVENTS_SHOWN, waves and purges first. The JSON/CSV keep them all."""
    for i, e in enumerate(events, start=1):
        e["id"] = f"e-{i}"
    ranked = sorted(events, key=lambda e: (KIND_RANK.get(e["kind"], 9), -float(e.get("score") or 0), e["id"]))
    shown_ids = {e["id"] for e in ranked[:MAX_EVENTS_SHOWN]}
    for e in events:
        e["shown"] = e["id"] in shown_ids
    if len(events) > MAX_EVENTS_SHOWN:
        notes.append(
            f"{len(events):,} events were detected; the {MAX_EVENTS_SHOWN} strongest (waves and purges first) are "
            "shown with the rows behind them. All are in the JSON and CSV bundles with their evidence."
        )


def outliers_in_scope(outliers: list[dict[str, Any]], keys: set[tuple[str, str]], t0: pd.Timestamp | None,
                      t1: pd.Timestamp | None, notes: list[str]) -> list[dict[str, Any]]:
    """Readings detection set aside as outliers (left the level and came back within
    hours), of the accounts in scope; a note says how many and which series look mixed."""
    outliers = [r for r in outliers if (str(r.get("platform")), str(r.get("account_id"))) in keys
                and (t1 is None or str(r.get("first")) <= str(iso(t1)))
                and (t0 is None or str(r.get("last")) >= str(iso(t0)))]
    if outliers:
        mixed = sorted(str(r["account_id"]) for r in outliers if r.get("mixed"))
        notes.append(
            f"{sum(int(r['outliers']) for r in outliers):,} readings of {len(outliers):,} accounts left the account's "
            "level and came back within hours; detection set them aside as outliers (not drops or surges; "
            "listed under \"outliers\" in the JSON bundle)."
            + (f" {len(mixed):,} series interleave two levels, probably two accounts' readings under one key, "
               f"and are flagged mixed: {', '.join(mixed[:12])}{' …' if len(mixed) > 12 else ''}." if mixed else "")
        )
    return outliers
