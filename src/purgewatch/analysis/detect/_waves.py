"""Suspension and reinstatement waves: status transitions clustered in time.

Transitions come from three tables: ``status_events`` (each row *is* a change reported by a
stream or compliance feed), and the status readings in ``observations`` and ``profiles``
(a change is two consecutive readings of one account that differ). ``unknown`` readings are
ignored: a transport failure is never a status, so it cannot start or end a suspension.

A suspension is a move into an enforcement status (``suspended``, ``takendown``), never
into ``suspended_or_deleted`` (gone, but the platform's answer cannot tell a suspension from
the owner's deletion), which stays what the account's latest earlier reading was when that
was enforcement (``model.carry_enforcement``); a reinstatement is a move from one back to ``active`` (for a stream event with no earlier
reading, the event itself says the account became active again). The transitions of each
kind are binned and scanned for bursts against the trailing baseline (``_scan.py``), once
over the whole population and once per watchlist group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from purgewatch.analysis.detect._event import Event, iso
from purgewatch.analysis.detect._scan import Burst, scan_bursts
from purgewatch.model import REINSTATED, SUSPENDED, status_changes

HOUR = 3600.0


@dataclass(frozen=True)
class WaveParams:
    """Thresholds of the wave detector."""

    bin_hours: float = 1.0
    max_window_hours: float = 168.0  # longest window scanned (a week)
    baseline_days: float = 28.0  # trailing period the baseline rate comes from
    min_size: int = 5  # transitions needed in a window
    min_ratio: float = 1.5  # ... and at least this many times the expected count (calibrated: docs/detect.md)
    llr_threshold: float = 15.0
    merge_hours: float = 6.0  # windows closer than this are one event  # Kulldorff log-likelihood ratio needed
    by_group: bool = True  # also scan each watchlist group on its own
    max_listed: int = 1000  # accounts listed in the evidence


@dataclass
class Transitions:
    """Status transitions, one per row (numpy arrays)."""

    key: np.ndarray  # account index into ``accounts``
    time: np.ndarray  # Unix seconds when the new status was seen
    since: np.ndarray  # Unix seconds of the previous reading (bracket start)
    kind: np.ndarray  # "suspension_wave" | "reinstatement_wave"
    status: np.ndarray  # the new status


def transitions(key: np.ndarray, time: np.ndarray, status: np.ndarray, is_event: np.ndarray) -> Transitions:
    """Transitions from status readings sorted by (key, time): the suspensions and
    reinstatements of :func:`purgewatch.model.status_changes` (the report counts the same)."""
    rows = _not_repeats(key, status, is_event)
    ch = status_changes(key[rows], status[rows], is_event[rows])
    index = rows[ch.index]
    key, time = key[index], time[index]
    n = len(key)
    since = time.copy()
    if n > 1:
        since[1:] = np.where(key[1:] == key[:-1], time[:-1], time[1:])
    susp, rein = ch.direction == SUSPENDED, ch.direction == REINSTATED
    m = susp | rein
    kind = np.where(susp, "suspension_wave", "reinstatement_wave")
    return Transitions(key[m], time[m], since[m], kind[m], ch.status[m])


def _not_repeats(key: np.ndarray, status: np.ndarray, is_event: np.ndarray) -> np.ndarray:
    """Positions of the readings :func:`transitions` needs: all but the ``unknown`` ones
    and those inside a run of one status (same account and status as the known readings
    before and after it, not a stream event). Such a reading is never a change, is no
    change's previous reading, and leaves the effective status (carry_enforcement) of
    every other reading as it was: the run's first and last readings stay. A store of
    daily looks at steady accounts is millions of them."""
    code, words = pd.factorize(np.asarray(status, dtype=object), use_na_sentinel=False)
    unknown = [i for i, w in enumerate(words) if isinstance(w, str) and w == "unknown"]
    known = np.flatnonzero(code != unknown[0]) if unknown else np.arange(len(code))
    k, c, ev = np.asarray(key)[known], code[known], np.asarray(is_event, dtype=bool)[known]
    as_before = np.zeros(len(known), dtype=bool)
    if len(known) > 1:
        as_before[1:] = (k[1:] == k[:-1]) & (c[1:] == c[:-1])
    as_after = np.zeros(len(known), dtype=bool)
    as_after[:-1] = as_before[1:]
    return known[~(as_before & as_after & ~ev)]


def find_waves(tr: Transitions, accounts: list[tuple[str, str]], groups: np.ndarray,
               coverage: tuple[float, float], population: dict[str | None, int],
               p: WaveParams) -> list[Event]:
    """Wave events over all accounts and (optionally) per group.

    ``accounts[i]`` is (platform, account_id) of key i; ``groups[i]`` its group or None;
    ``coverage`` the time span the readings cover; ``population`` the accounts watched
    per scope (None = everyone)."""
    if len(tr.time) == 0:
        return []
    scopes: list[str | None] = [None]
    if p.by_group:
        scopes += sorted({g for g in groups.tolist() if g is not None})
    out: list[Event] = []
    tr_group = groups[tr.key]
    for kind in ("suspension_wave", "reinstatement_wave"):
        for scope in scopes:
            m = tr.kind == kind
            if scope is not None:
                m &= tr_group == scope
            if m.sum() < p.min_size:
                continue
            out += _scan_scope(tr, np.flatnonzero(m), kind, scope, accounts, groups, coverage,
                               population.get(scope), p)
    return out


def scan_counts(counts: np.ndarray, covered: np.ndarray, p: WaveParams,
                bin_hours: float | None = None) -> list[Burst]:
    """The wave detector proper, on a per-bin count series: transitions per bin
    (binned from per-account readings above) or published totals per period
    (``_counts.py``, one bin per period, ``bin_hours`` = the period). ``covered`` marks
    the bins whose count is known (an unpublished day is not a zero)."""
    bh = bin_hours or p.bin_hours
    widths = [w for w in (1, 2, 3, 6, 12, 24, 48, 72, 120, 168, 336)
              if w * HOUR <= p.max_window_hours * HOUR]
    widths = sorted({max(1, int(round(w / bh))) for w in widths})
    return scan_bursts(counts, covered, widths=widths,
                       baseline_bins=max(1, int(p.baseline_days * 24 / bh)),
                       min_count=p.min_size, min_ratio=p.min_ratio, llr_threshold=p.llr_threshold,
                       merge_bins=int(round(p.merge_hours / bh)))


def _scan_scope(tr: Transitions, idx: np.ndarray, kind: str, scope: str | None,
                accounts: list[tuple[str, str]], groups: np.ndarray, coverage: tuple[float, float],
                population: int | None, p: WaveParams) -> list[Event]:
    width = p.bin_hours * HOUR
    t0 = np.floor(coverage[0] / width) * width
    n_bins = int((coverage[1] - t0) // width) + 1
    b = ((tr.time[idx] - t0) // width).astype(np.int64).clip(0, n_bins - 1)
    counts = np.bincount(b, minlength=n_bins).astype(np.float64)
    covered = np.ones(n_bins, dtype=bool)
    bursts = scan_counts(counts, covered, p)
    events = []
    plats = sorted({accounts[k][0] for k in tr.key[idx]})
    for bu in bursts:
        inside = idx[(b >= bu.start_bin) & (b < bu.stop_bin)]
        names = np.array([f"{accounts[k][0]}\x00{accounts[k][1]}" for k in tr.key[inside]])
        inside = inside[np.lexsort((names, tr.time[inside]))]  # deterministic order
        times = tr.time[inside]
        keys = tr.key[inside]
        breakdown: dict[str, int] = {}
        for g in groups[keys].tolist():
            name = g if g is not None else "(no group)"
            breakdown[name] = breakdown.get(name, 0) + 1
        bins_t = [iso(t0 + (bu.start_bin + i) * width) for i in range(bu.stop_bin - bu.start_bin)]
        bins_c = counts[bu.start_bin:bu.stop_bin].astype(int).tolist()
        listed = [
            {"platform": accounts[k][0], "account_id": accounts[k][1], "at": iso(tt),
             "previous_reading": iso(sv), "status": st}
            for k, tt, sv, st in zip(keys[: p.max_listed], times[: p.max_listed],
                                     tr.since[inside][: p.max_listed],
                                     tr.status[inside][: p.max_listed], strict=True)
        ]
        size = len(inside)
        events.append(Event(
            kind=kind,
            platform=plats[0] if len(plats) == 1 else None,
            account_id=None,
            group=scope,
            start=float(times.min()),
            end=float(times.max()),
            magnitude=float(size),
            relative=(size / population) if population else None,
            score=bu.llr,
            evidence={
                "expected": round(bu.expected, 3),
                "dispersion": round(bu.dispersion, 3),
                "p_value": float(f"{bu.p_value:.3g}"),
                "baseline_per_day": round(bu.expected / max(bu.stop_bin - bu.start_bin, 1)
                                          * 24 / p.bin_hours, 3),
                "population": population,
                "bin_hours": p.bin_hours,
                "bins": {"start": bins_t, "count": bins_c},
                "by_group": breakdown,
                "earliest_previous_reading": iso(float(tr.since[inside].min())),
                "observed_at": [iso(x) for x in times[: p.max_listed]],
                "accounts": listed,
                "accounts_total": size,
            },
        ))
    return events
