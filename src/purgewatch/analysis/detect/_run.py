"""Glue: parameters, arrays -> events, population detectors over loaded data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from purgewatch.analysis.detect._event import Event, iso
from purgewatch.analysis.detect._purge import PurgeParams, find_purges
from purgewatch.analysis.detect._series import Candidates, SeriesParams
from purgewatch.analysis.detect._waves import Transitions, WaveParams, find_waves
from purgewatch.errors import InputError


@dataclass(frozen=True)
class DetectParams:
    """Every detector's thresholds; see :func:`make_params` for flat keyword names."""

    series: SeriesParams = field(default_factory=SeriesParams)
    waves: WaveParams = field(default_factory=WaveParams)
    purge: PurgeParams = field(default_factory=PurgeParams)


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def param_names() -> list[str]:
    """Flat keyword names accepted by :func:`make_params` (and ``detect(**kwargs)``)."""
    s, w, p = _names(SeriesParams), _names(WaveParams), _names(PurgeParams)
    out = set(s) | {f"wave_{n}" for n in w} | {f"purge_{n}" for n in p if f"purge_{n}" not in s}
    out |= (w ^ p) - s
    return sorted(out)


def make_params(base: DetectParams | None = None, **overrides: Any) -> DetectParams:
    """Apply flat overrides: a :class:`SeriesParams` field name, ``wave_<field>`` or
    ``purge_<field>``, or a field name that only one of the wave/purge detectors has."""
    base = base or DetectParams()
    s: dict[str, Any] = {}
    w: dict[str, Any] = {}
    p: dict[str, Any] = {}
    sn, wn, pn = _names(SeriesParams), _names(WaveParams), _names(PurgeParams)
    for key, value in overrides.items():
        if value is None:
            continue
        if key in sn:
            s[key] = value
        elif key.startswith("wave_") and key[5:] in wn:
            w[key[5:]] = value
        elif key.startswith("purge_") and key[6:] in pn:
            p[key[6:]] = value
        elif key in wn and key not in pn:
            w[key] = value
        elif key in pn and key not in wn:
            p[key] = value
        else:
            raise InputError(f"unknown detection parameter {key!r}",
                             hint="valid names: " + ", ".join(param_names()))
    try:
        return DetectParams(
            series=dataclasses.replace(base.series, **s),
            waves=dataclasses.replace(base.waves, **w),
            purge=dataclasses.replace(base.purge, **p),
        )
    except ValueError as exc:
        raise InputError(f"bad detection parameter: {exc}") from exc


def series_event(c: Candidates, i: int, t: np.ndarray, y: np.ndarray, lo: int, hi: int,
                 account: tuple[str, str], group: str | None, p: SeriesParams) -> Event:
    """One drop/surge event from candidate row ``i``; ``lo:hi`` bounds its series."""
    first, last, peak = int(c.first[i]), int(c.last[i]), int(c.peak[i])
    a = max(lo, first - p.window)
    b = min(hi, last + p.window + 1)
    jump = float(c.jump[i])
    level = float(c.level[i])
    return Event(
        kind="follower_drop" if jump < 0 else "follower_surge",
        platform=account[0],
        account_id=account[1],
        group=group,
        start=float(t[first]),
        end=float(t[last]),
        magnitude=abs(jump),
        relative=abs(jump) / level if level > 0 else None,
        score=abs(float(c.score[i])),
        evidence={
            "observed_at": [iso(x) for x in t[a:b]],
            "followers": [int(v) for v in y[a:b]],
            "window": {"before": iso(t[first]), "after": iso(t[last])},
            "peak_interval": {"start": iso(t[peak - 1]), "end": iso(t[peak])},
            "level_before": round(level, 1),
            "level_after": round(level + jump, 1),
            "drift_per_day": round(float(c.rate[i]), 3),
            "noise_scale": round(float(c.scale[i]), 3),
        },
    )


def series_events(c: Candidates, sid: np.ndarray, t: np.ndarray, y: np.ndarray,
                  accounts: list[tuple[str, str]], groups: np.ndarray, p: SeriesParams) -> list[Event]:
    if len(c) == 0:
        return []
    lo = np.searchsorted(sid, c.sid, side="left")
    hi = np.searchsorted(sid, c.sid, side="right")
    return [series_event(c, i, t, y, int(lo[i]), int(hi[i]), accounts[int(c.sid[i])],
                         groups[int(c.sid[i])], p) for i in range(len(c))]


def purge_events(pg: Candidates, t: np.ndarray, sid: np.ndarray,
                 accounts: list[tuple[str, str]], groups: np.ndarray, p: PurgeParams,
                 series_first: np.ndarray | None = None,
                 series_last: np.ndarray | None = None) -> list[Event]:
    if series_first is None or series_last is None:
        heads = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]])) if len(sid) else np.zeros(0, int)
        tails = np.concatenate([heads[1:] - 1, [len(sid) - 1]]) if len(heads) else heads
        series_first = np.full(len(accounts), np.inf)
        series_last = np.full(len(accounts), -np.inf)
        series_first[sid[heads]] = t[heads]
        series_last[sid[tails]] = t[tails]
    if len(pg) == 0:
        return []
    return find_purges(pg.sid, t[pg.first], t[pg.last], -pg.jump, pg.level,
                       series_first, series_last, accounts, groups, p)


def wave_events(tr: Transitions, accounts: list[tuple[str, str]], groups: np.ndarray,
                coverage: tuple[float, float], p: WaveParams) -> list[Event]:
    population: dict[str | None, int] = {None: len(accounts)}
    for g in groups.tolist():
        if g is not None:
            population[g] = population.get(g, 0) + 1
    return find_waves(tr, accounts, groups, coverage, population, p)
