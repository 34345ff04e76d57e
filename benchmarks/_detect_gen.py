"""Labelled generator of follower series and status streams for the detect benchmarks.

Series: organic growth with daily and weekly rhythm and a random-walk churn, observation
noise, irregular sampling (jittered daily looks, bursts of close looks, long gaps),
duplicate rows, single glitches (a zero, another account's count, a rounded "12.3K"),
drops and surges of 0.5-30 %, and purges (many accounts losing followers within hours).
Status streams: background suspensions/reinstatements plus waves. Ground truth is
returned next to the data; nothing here reads the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86400.0
T0 = 1_640_995_200.0  # 2022-01-01T00:00:00Z


@dataclass
class SeriesTruth:
    events: pd.DataFrame  # sid, kind, t, size (followers), relative, noise, detectable, in_gap, purge
    purges: pd.DataFrame  # purge, start, end, accounts (list of sid)
    organic: np.ndarray  # sids with no drop/surge/purge at all


def make_series(n_accounts: int, days: float = 365.0, *, seed: int = 0, obs_per_day: float = 1.0,
                event_rate_per_year: float = 0.8, n_purges: int = 3, purge_share: float = 0.3,
                glitch_rate: float = 0.003, gap_rate: float = 0.004, irregular: bool = True,
                fixed_obs: int | None = None) -> tuple[pd.DataFrame, SeriesTruth]:
    """Return (observations: sid, t, y; truth)."""
    rng = np.random.default_rng(seed)
    n = n_accounts
    # --- sampling times ---------------------------------------------------------------
    if fixed_obs is not None:
        counts = np.full(n, fixed_obs)
    else:
        counts = rng.poisson(days * obs_per_day, n).clip(min=20)
    sid = np.repeat(np.arange(n), counts)
    total = len(sid)
    gaps = rng.gamma(4.0, 1.0 / (4.0 * obs_per_day), total)  # jittered "daily" looks
    if irregular:
        burst = rng.random(total) < 0.05
        gaps[burst] = rng.exponential(0.02, burst.sum())  # minutes to an hour apart
        long = rng.random(total) < gap_rate
        gaps[long] = rng.uniform(5, 60, long.sum())  # days to two months without a look
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    gaps[starts] = rng.uniform(0, 1, n)
    t_days = np.cumsum(gaps)
    t_days -= np.repeat(t_days[starts] - gaps[starts], counts)
    # --- organic level ----------------------------------------------------------------
    level0 = 10 ** rng.uniform(2.7, 6.0, n)
    growth = level0 * 10 ** rng.uniform(-4, -2.5, n)  # followers per day
    a_d, a_w = rng.uniform(0, 0.8, n), rng.uniform(0, 0.5, n)
    td = t_days
    g = np.repeat(growth, counts)
    organic = g * (td + np.repeat(a_d, counts) * np.sin(2 * np.pi * td) / (2 * np.pi)
                   + np.repeat(a_w, counts) * np.sin(2 * np.pi * td / 7) / (2 * np.pi / 7))
    # random-walk churn: sd per day = 2e-4 * level
    steps = rng.normal(0, 1, total) * np.sqrt(np.diff(td, prepend=0).clip(min=0))
    steps[starts] = 0
    cs = np.cumsum(steps)
    rw = (cs - np.repeat(cs[starts], counts)) * np.repeat(level0 * 2e-4, counts)
    base = np.repeat(level0, counts) + organic + rw
    noise_sd = level0 * 10 ** rng.uniform(-4.3, -3.0, n)
    # --- drops and surges -------------------------------------------------------------
    ev_rows = []
    n_ev = rng.poisson(event_rate_per_year * days / 365.0, n)
    shift = np.zeros(total)
    span = np.array([td[s + c - 1] for s, c in zip(starts, counts, strict=True)])
    for s in np.flatnonzero(n_ev):
        for _ in range(n_ev[s]):
            tt = rng.uniform(0.05, 0.95) * span[s]
            kind = "follower_drop" if rng.random() < 0.7 else "follower_surge"
            rel = 10 ** rng.uniform(np.log10(0.005), np.log10(0.3))
            ev_rows.append((s, kind, tt, rel))
    purge_rows = []
    for pi in range(n_purges):
        tp = (0.1 + 0.8 * (pi + rng.uniform(0.2, 0.8)) / n_purges) * days  # purges weeks apart
        members = np.flatnonzero(rng.random(n) < purge_share)
        members = members[span[members] > tp + 1]
        purge_rows.append((pi, tp, tp + 0.25, members))
        for s in members:
            rel = 10 ** rng.uniform(np.log10(0.003), np.log10(0.05))
            ev_rows.append((s, "follower_drop", tp + rng.uniform(0, 0.25), rel, pi))
    events = []
    for row in ev_rows:
        s, kind, tt, rel = row[:4]
        pi = row[4] if len(row) > 4 else -1
        lo, hi = starts[s], starts[s] + counts[s]
        seg_t = td[lo:hi]
        j = int(np.searchsorted(seg_t, tt))
        if j == 0 or j >= counts[s]:
            continue
        lvl = base[lo + j - 1] + shift[lo + j - 1]
        size = rel * lvl
        sign = -1.0 if kind == "follower_drop" else 1.0
        shift[lo + j:hi] += sign * size
        gap = seg_t[j] - seg_t[j - 1]
        events.append(dict(sid=s, kind=kind, t=T0 + tt * DAY, size=size, relative=rel,
                           noise=float(np.hypot(noise_sd[s], 2e-4 * level0[s])), in_gap=gap > 3.0, purge=pi,
                           edge=(j < 3) or (j > counts[s] - 3)))
    ev = pd.DataFrame(events, columns=["sid", "kind", "t", "size", "relative", "noise", "in_gap",
                                       "purge", "edge"])
    ev["detectable"] = (ev.relative >= 0.01) & (ev["size"] >= 5 * ev.noise) & ~ev.in_gap & ~ev.edge
    y = base + shift + rng.normal(0, 1, total) * np.repeat(noise_sd, counts)
    y = np.round(np.maximum(y, 0))
    # --- glitches (single readings) -----------------------------------------------------
    gl = rng.random(total) < glitch_rate
    gl[starts] = False
    kinds = rng.integers(0, 3, total)
    zero = gl & (kinds == 0)
    other = gl & (kinds == 1)
    rounded = gl & (kinds == 2)
    y[zero] = 0
    y[other] = np.round(level0[rng.integers(0, n, other.sum())])
    mag = 10 ** np.floor(np.log10(np.maximum(y[rounded], 1)))
    y[rounded] = np.round(y[rounded] / (mag / 100)) * (mag / 100)  # 3 significant digits
    obs = pd.DataFrame({"sid": sid, "t": T0 + td * DAY, "y": y})
    if irregular:
        dup = obs.sample(frac=0.01, random_state=seed)
        obs = pd.concat([obs, dup]).sample(frac=1.0, random_state=seed + 1)  # out of order
    hit = set(ev.sid.tolist())
    organic_ids = np.array([s for s in range(n) if s not in hit])
    purges = pd.DataFrame(purge_rows, columns=["purge", "start", "end", "accounts"])
    purges["start"] = T0 + purges.start * DAY
    purges["end"] = T0 + purges.end * DAY
    return obs.reset_index(drop=True), SeriesTruth(ev, purges, organic_ids)


def make_status_stream(n_accounts: int = 20000, days: float = 365.0, *, seed: int = 0,
                       base_per_day: float = 3.0, n_waves: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Status events (account, group, at, status) and the true waves (kind, start, end, size, group)."""
    rng = np.random.default_rng(seed)
    groups = np.where(rng.random(n_accounts) < 0.5, "camp_a", "camp_b")
    rows = []
    n_bg = rng.poisson(base_per_day * days)
    acc = rng.integers(0, n_accounts, n_bg)
    for a, tt in zip(acc, rng.uniform(0, days, n_bg), strict=True):
        rows.append((a, tt, "suspended"))
        if rng.random() < 0.3:
            rows.append((a, tt + rng.uniform(1, 60), "active"))
    waves = []
    for w in range(n_waves):
        kind = "suspension_wave" if w % 2 == 0 else "reinstatement_wave"
        tw = (0.05 + 0.9 * (w + rng.uniform(0.1, 0.9)) / n_waves) * days  # waves apart
        width = rng.uniform(1, 24) / 24
        size = int(rng.integers(20, 300))
        target = rng.choice(["camp_a", "camp_b", None])
        pool = np.flatnonzero(groups == target) if target else np.arange(n_accounts)
        members = rng.choice(pool, size, replace=False)
        for a in members:
            tt = tw + rng.uniform(0, width)
            if kind == "suspension_wave":
                rows.append((a, tt, "suspended"))
            else:
                rows.append((a, tt - rng.uniform(5, 200), "suspended"))
                rows.append((a, tt, "active"))
        waves.append(dict(kind=kind, start=T0 + tw * DAY, end=T0 + (tw + width) * DAY, size=size,
                          group=target))
    ev = pd.DataFrame(rows, columns=["account", "t", "status"])
    ev = ev[(ev.t >= 0) & (ev.t <= days)]
    ev["group"] = groups[ev.account.to_numpy()]
    ev["at"] = T0 + ev.t * DAY
    return ev.drop(columns="t"), pd.DataFrame(waves)
