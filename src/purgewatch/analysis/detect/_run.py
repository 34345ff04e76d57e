"""Glue: parameters, arrays -> events, population detectors over loaded data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from purgewatch.analysis.detect._event import Event, iso_many
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


def series_events(c: Candidates, sid: np.ndarray, t: np.ndarray, y: np.ndarray,
                  accounts: list[tuple[str, str]], groups: np.ndarray, p: SeriesParams) -> list[Event]:
    """Drop/surge events from candidate rows (evidence: the readings around the window)."""
    if len(c) == 0:
        return []
    lo = np.searchsorted(sid, c.sid, side="left")
    hi = np.searchsorted(sid, c.sid, side="right")
    a = np.maximum(lo, c.first - p.window)
    b = np.minimum(hi, c.last + p.window + 1)
    # Format every timestamp the evidence needs in one vectorised pass.
    spans = b - a
    idx = np.repeat(a - np.cumsum(np.concatenate([[0], spans[:-1]])), spans) + np.arange(spans.sum())
    texts = iso_many(t[idx])
    values = y[idx].astype(np.int64).tolist()
    marks = iso_many(np.concatenate([t[c.first], t[c.last], t[c.peak - 1], t[c.peak]]))
    m = len(c)
    jump = c.jump
    level = c.level
    # Followers lost (gained): the observed change, capped by the change against the
    # drift (so an account still growing fast is not said to have lost its expected
    # growth as well).
    same = np.sign(c.net) == np.sign(jump)
    mag_a = np.where(same, np.minimum(np.abs(jump), np.abs(c.net)), np.abs(jump))
    mag_a = np.where(jump < 0, np.minimum(mag_a, np.maximum(level, 0.0)), mag_a)  # can't lose more
    with np.errstate(divide="ignore", invalid="ignore"):  # (of the estimate, before rounding)
        rel = np.where(level > 0, mag_a / level, np.nan).tolist()
    # Followers are whole: the drift-corrected estimate is rounded to the nearest one.
    mag = np.maximum(np.round(mag_a), 1.0).tolist()
    kind = np.where(jump < 0, "follower_drop", "follower_surge").tolist()
    start, end = t[c.first].tolist(), t[c.last].tolist()
    score = np.abs(c.score).tolist()
    lb = np.round(level, 1).tolist()
    la = np.round(level + c.net, 1).tolist()
    vs_drift = np.round(jump, 1).tolist()
    rate = np.round(c.rate, 3).tolist()
    scale = np.round(c.scale, 3).tolist()
    who = c.sid.tolist()
    ends = np.cumsum(spans).tolist()
    out = []
    pos = 0
    for i in range(m):
        k = who[i]
        acc = accounts[k]
        e = ends[i]
        out.append(Event(
            kind=kind[i], platform=acc[0], account_id=acc[1], group=groups[k],
            start=start[i], end=end[i], magnitude=mag[i],
            relative=None if rel[i] != rel[i] else rel[i],
            score=score[i],
            evidence={
                "observed_at": texts[pos:e],
                "followers": values[pos:e],
                "window": {"before": marks[i], "after": marks[m + i]},
                "peak_interval": {"start": marks[2 * m + i], "end": marks[3 * m + i]},
                "level_before": lb[i],
                "level_after": la[i],
                "change_vs_drift": vs_drift[i],
                "drift_per_day": rate[i],
                "noise_scale": scale[i],
            },
        ))
        pos = e
    return out


def outlier_listing(idx: np.ndarray, level: np.ndarray, sid: np.ndarray, t: np.ndarray,
                    y: np.ndarray, accounts: list[tuple[str, str]], groups: np.ndarray,
                    p: SeriesParams, max_listed: int = 20) -> list[dict[str, Any]]:
    """One record per account with outlier readings: how many, whether the series is
    *mixed* (so many reverting excursions that two accounts' readings are probably
    interleaved under one key), and the first ``max_listed`` outliers with the level
    they departed from. ``idx`` are flat indices of the outliers, ``level`` their local
    level (from :func:`detect_arrays`' ``outliers``)."""
    if len(idx) == 0:
        return []
    order = np.argsort(idx, kind="stable")
    idx, level = idx[order], level[order]
    n_read = np.bincount(sid, minlength=len(accounts))
    who = sid[idx]
    n_out = np.bincount(who, minlength=len(accounts))
    texts = iso_many(t[idx])
    vals = y[idx].astype(np.int64).tolist()
    lv = np.round(level).astype(np.int64).tolist()
    out = []
    bounds = np.flatnonzero(np.concatenate([[True], who[1:] != who[:-1], [True]]))
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        k = int(who[a])
        cnt = int(n_out[k])
        out.append({
            "platform": accounts[k][0],
            "account_id": accounts[k][1],
            "group": groups[k],
            "readings": int(n_read[k]),
            "outliers": cnt,
            "mixed": bool(cnt >= p.mixed_min_outliers and cnt >= p.mixed_min_share * n_read[k]),
            "first": texts[a],
            "last": texts[b - 1],
            "listed": [{"observed_at": texts[i], "followers": vals[i], "level": lv[i]}
                       for i in range(a, min(b, a + max_listed))],
        })
    return out


def purge_loss(pg: Candidates) -> np.ndarray:
    """Followers a purge candidate lost: observed loss, capped by the loss vs drift."""
    return np.where(pg.net < 0, np.minimum(-pg.jump, -pg.net), -pg.jump)


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
    return find_purges(pg.sid, t[pg.first], t[pg.last], purge_loss(pg), pg.level,
                       series_first, series_last, accounts, groups, p)


def wave_events(tr: Transitions, accounts: list[tuple[str, str]], groups: np.ndarray,
                coverage: tuple[float, float], p: WaveParams) -> list[Event]:
    population: dict[str | None, int] = {None: len(accounts)}
    for g in groups.tolist():
        if g is not None:
            population[g] = population.get(g, 0) + 1
    return find_waves(tr, accounts, groups, coverage, population, p)
