"""Per-account follower drops and surges: numpy kernels over many series at once.

Input is one flat array per quantity for many accounts: ``sid`` (series index, sorted,
each series contiguous), ``t`` (Unix seconds, increasing within a series, no duplicates:
see :func:`prepare`) and ``y`` (follower counts). Everything is vectorised over all
series; the only per-series statistics (drift rate, noise scale) are medians over fixed
*blocks* of ``block`` consecutive intervals, computed as row sorts of a 2-D array.

The method (the docs page has the why):

1. A 3-point running median with linear extrapolation at the ends removes single
   reverting glitches (a zero, a wrong-account reading, a rounded "12.3K") and keeps steps
   sharp. The last reading of a series is pulled to its neighbours, so a change needs one
   confirming observation before it can fire.
2. For every interval (i-1, i) the *window jump* ``J = mean(z[i:i+k]) - mean(z[i-k:i])
   - r * (mean t after - mean t before)`` compares the level after and before, corrected
   for organic drift ``r`` (median rate of the block's intervals). Means over ``k``
   filtered points cut the observation noise by about sqrt(k/2).
3. ``J`` is scaled by a robust noise estimate (1.4826 * median |J| / norm over the block,
   pooled with the previous block) that grows with the time gap (random-walk term) and by
   a drift-uncertainty term ``rate_uncertainty * level * gap``, so a change across a long
   gap fires only when it is larger than what months of organic change could explain.
4. Intervals above the thresholds form runs; the interval with the largest score in a run
   is the event (a step makes a triangle of ``J`` peaked at the step). The window is that
   interval, widened to neighbours that carry a share of the change (a ramp).
5. A drop and a surge of similar size within ``revert_obs`` observations of each other
   are a reverting glitch (two bad readings in a row) and are both dropped.

Block statistics use global interval indices (``offset``), so evaluating a series' tail
with enough context gives the same numbers as evaluating the whole series: that is what
makes incremental detection equal batch detection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

DAY = 86400.0


@dataclass(frozen=True)
class SeriesParams:
    """Thresholds of the per-account detector (defaults tuned by benchmarks/detect_quality.py)."""

    window: int = 3  # k: filtered observations averaged on each side of an interval
    block: int = 64  # intervals per statistics block (drift rate, noise scale)
    z_threshold: float = 5.0  # score (robust z) needed to report a drop or surge
    min_relative: float = 0.005  # ... and at least this fraction of the level before
    min_magnitude: float = 10.0  # ... and at least this many followers
    # How far organic change may stray from the drift: a fraction of the level per day of
    # gap beyond the usual spacing (max(2 x the block's median gap, 1 day)) ...
    rate_uncertainty: float = 0.001
    # ... and a fraction of the drift itself over the window (a growth spurt or stall),
    # phased in as the interval's gap grows to a week (daily readings track the drift).
    drift_uncertainty: float = 0.5
    noise_floor: float = 1.0  # followers: the noise scale never goes below this
    ramp_steps: int = 24  # a change spread over up to this many more intervals each side is one event
    revert_obs: int = 3  # a drop and a surge this close (in observations) cancel out
    revert_tolerance: float = 0.35  # ... when their sizes differ by less than this fraction
    # Outliers: up to ``outlier_reach`` consecutive readings that leave the local level
    # (the median of the readings up to ``outlier_reach`` on each side) by more than
    # ``outlier_relative`` of it (and ``min_magnitude``), when the readings bracketing them
    # are at most ``revert_hours`` apart and agree with each other: the series snapped back.
    outlier_reach: int = 3
    outlier_relative: float = 0.02
    revert_hours: float = 48.0
    revert_look: int = 48  # readings looked at each way for a reverting change
    # A series with at least this many outliers, this share of its readings, is "mixed":
    # two accounts' readings interleaved under one key (flagged, see docs/detect.md).
    mixed_min_outliers: int = 5
    mixed_min_share: float = 0.001
    # Surges in a block holding at least ``routine_min_steps`` large single-interval gains,
    # as did the block before it, must be ``routine_factor`` x the median of this block's
    # gains (routine follow-back bursts).
    routine_min_steps: int = 2
    routine_factor: float = 3.0
    # Looser per-account candidates used by the purge detector (individually weak drops).
    purge_z: float = 3.5
    purge_min_relative: float = 0.002
    purge_min_magnitude: float = 3.0
    max_bracket_days: float = 3.0  # a purge candidate's interval must be this short

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError("window must be >= 2")
        if self.block < 8:
            raise ValueError("block must be >= 8")
        if not 1 <= self.outlier_reach <= 8:
            raise ValueError("outlier_reach must be between 1 and 8")


@dataclass
class Candidates:
    """Per-run peaks, one row per run (arrays of equal length)."""

    sid: np.ndarray  # series index
    gidx: np.ndarray  # global interval index of the peak (interval gidx-1 -> gidx)
    first: np.ndarray  # flat index of the first observation of the window (start)
    last: np.ndarray  # flat index of the last observation of the window (end)
    peak: np.ndarray  # flat index of the observation ending the peak interval
    jump: np.ndarray  # J at the peak (signed followers)
    level: np.ndarray  # level before (mean of the k filtered points before)
    score: np.ndarray  # J / scale (signed)
    rate: np.ndarray  # drift (followers per day)
    scale: np.ndarray  # noise scale at the peak (followers)
    net: np.ndarray  # largest change the raw readings show across the window (signed)
    reverted: np.ndarray  # undone within ``revert_hours`` (see :func:`reverts`)

    def __len__(self) -> int:
        return len(self.sid)

    def take(self, idx: np.ndarray) -> Candidates:
        return Candidates(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def empty() -> Candidates:
        z = np.zeros(0)
        i = np.zeros(0, dtype=np.int64)
        return Candidates(i, i, i, i, i, z, z, z, z, z, z, np.zeros(0, dtype=bool))


def prepare(sid: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by (series, time) and merge duplicate timestamps (keep the largest reading:
    a duplicate is most often a zero or partial reading next to the real one)."""
    sid = np.asarray(sid, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(y)
    if not ok.all():
        sid, t, y = sid[ok], t[ok], y[ok]
    if len(sid) > 1:
        ds = np.diff(sid)
        if (ds < 0).any() or ((ds == 0) & (np.diff(t) < 0)).any():
            order = np.lexsort((t, sid))
            sid, t, y = sid[order], t[order], y[order]
        dup = (sid[1:] == sid[:-1]) & (t[1:] == t[:-1])
        if dup.any():
            head = np.concatenate([[True], ~dup])
            starts = np.flatnonzero(head)
            y = np.maximum.reduceat(y, starts)
            sid, t = sid[starts], t[starts]
    return sid, t, y


def _med3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _row_medians(flat: np.ndarray, count: np.ndarray, block: int, values: np.ndarray) -> np.ndarray:
    """Median of ``values`` per row of a (rows, block) grid; ``flat`` is each value's
    cell (row * block + col), ``count`` the values per row (NaN where a row is empty)."""
    n_rows = len(count)
    grid = np.full(n_rows * block, np.nan)
    grid[flat] = values
    srt = np.sort(grid.reshape(n_rows, block), axis=1)  # NaN sort last
    rows = np.arange(n_rows)
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.maximum(count // 2, 0)
    med = 0.5 * (srt[rows, lo] + srt[rows, hi])
    return np.where(count > 0, med, np.nan)


def _pool(values: np.ndarray, counts: np.ndarray, row_sid: np.ndarray, row_blk: np.ndarray,
          square: bool = False) -> np.ndarray:
    """Pool each block's statistic with the previous block of the same series (or the next
    one for a series' first block), weighted by the number of intervals."""
    n = len(values)
    nb_idx = np.arange(n) - 1
    has_prev = np.zeros(n, dtype=bool)
    has_prev[1:] = (row_sid[1:] == row_sid[:-1]) & (row_blk[1:] == row_blk[:-1] + 1)
    has_next = np.zeros(n, dtype=bool)
    has_next[:-1] = (row_sid[1:] == row_sid[:-1]) & (row_blk[1:] == row_blk[:-1] + 1)
    nb_idx = np.where(has_prev, np.arange(n) - 1, np.where(has_next, np.arange(n) + 1, np.arange(n)))
    use_nb = (has_prev | has_next) & np.isfinite(values[nb_idx])
    v0 = np.nan_to_num(values)
    v1 = np.nan_to_num(values[nb_idx])
    c0 = np.where(np.isfinite(values), counts, 0).astype(np.float64)
    c1 = np.where(use_nb, counts[nb_idx], 0).astype(np.float64)
    tot = np.maximum(c0 + c1, 1.0)
    if square:
        return np.sqrt((c0 * v0**2 + c1 * v1**2) / tot)
    return (c0 * v0 + c1 * v1) / tot


@dataclass
class Scored:
    """Per-observation arrays of one evaluated chunk (interval i = obs i-1 -> obs i)."""

    sid: np.ndarray
    y: np.ndarray
    gidx: np.ndarray
    t: np.ndarray  # Unix seconds
    dt: np.ndarray  # days since the previous reading (0 at a series start)
    valid: np.ndarray  # interval has >= 2 filtered points on both sides
    jump: np.ndarray
    level: np.ndarray
    score: np.ndarray
    rate: np.ndarray
    scale: np.ndarray
    resid: np.ndarray  # single-interval residual z_i - z_{i-1} - r dt
    dz: np.ndarray  # single-interval change of the filtered series, z_i - z_{i-1}
    z: np.ndarray  # glitch-filtered readings
    series_start: np.ndarray
    series_stop: np.ndarray
    routine: np.ndarray  # median routine gain of the interval's block (0: gains are not routine)
    outlier: np.ndarray  # reading is an outlier (replaced by ``local`` in ``y``)
    local: np.ndarray  # the local level (median of the readings around)
    y_raw: np.ndarray  # the readings as given


def outlier_mask(t: np.ndarray, y: np.ndarray, start: np.ndarray, stop: np.ndarray,
                 p: SeriesParams) -> tuple[np.ndarray, np.ndarray]:
    """Readings that leave the local level and come back within ``revert_hours``.

    The local level is the median of the readings up to ``outlier_reach`` (R) on each side
    (clipped to the series), so a run of up to R readings from elsewhere (another
    account's count, a zero) cannot move it while a real step moves it at once (more than
    half the window is on the new level from the step on). A reading is an outlier when it
    is off that level by more than ``outlier_relative`` (and ``min_magnitude``), it belongs
    to a run of at most R such readings, and the good readings bracketing the run are at
    most ``revert_hours`` apart and agree with each other within the same tolerance.
    Everything depends on readings at most 2R+1 positions away (incremental detection
    relies on that). Returns (mask, local level)."""
    n = len(y)
    big_r = p.outlier_reach
    if n == 0:
        return np.zeros(0, dtype=bool), y.copy()
    i = np.arange(n)
    offs = np.arange(-big_r, big_r + 1)
    win = np.clip(i[:, None] + offs[None, :], start[:, None], stop[:, None] - 1)
    local = np.median(y[win], axis=1)
    del win
    tol = np.maximum(p.min_magnitude, p.outlier_relative * np.abs(local))
    dev = np.abs(y - local) > tol
    dev &= (stop - start) >= 2 * big_r + 1  # too short a series to tell a level
    if not dev.any():
        return dev, local
    good_at = np.where(dev, -1, i)
    last_good = np.maximum.accumulate(good_at)
    prev_good = np.empty(n, dtype=np.int64)
    prev_good[0] = -1
    prev_good[1:] = last_good[:-1]
    nxt_at = np.where(dev, n, i)
    next_good = np.minimum.accumulate(nxt_at[::-1])[::-1]
    next_good = np.concatenate([next_good[1:], [n]])
    ok = dev & (prev_good >= start) & (next_good < stop) & (next_good - prev_good - 1 <= big_r)
    a = np.clip(prev_good, 0, n - 1)
    b = np.clip(next_good, 0, n - 1)
    ok &= (t[b] - t[a]) <= p.revert_hours * 3600.0
    ok &= np.abs(y[b] - y[a]) <= tol[a]
    return ok, local


def _shift_sum(c: np.ndarray, k: int, pos: np.ndarray, left: np.ndarray, n: int,
               before: bool) -> np.ndarray:
    """Windowed sums from a leading-zero cumsum ``c``: the ``k`` values before i
    (``before``) or from i on, clipped to the series (``left`` = points available)."""
    out = np.empty(n)
    # (positions the slices cannot reach are exactly the edge positions fixed below)
    if before:
        if n > k:
            out[k:] = c[k:n] - c[: n - k]
        edge = np.flatnonzero(pos < k)
        out[edge] = c[edge] - c[edge - pos[edge]]
    else:
        if n >= k:
            out[: n - k + 1] = c[k:] - c[: n - k + 1]
        edge = np.flatnonzero(left < k)
        out[edge] = c[edge + left[edge]] - c[edge]
    return out


def score_series(sid: np.ndarray, t: np.ndarray, y: np.ndarray, offset: np.ndarray | None,
                 p: SeriesParams) -> Scored:
    """Window jump, drift and robust score for every interval of prepared series.

    Written with slices and per-series fix-ups rather than gathers: on 36 M readings the
    difference is several times the run time."""
    n = len(y)
    first = np.ones(n, dtype=bool)
    first[1:] = sid[1:] != sid[:-1]
    heads = np.flatnonzero(first)
    lens = np.diff(np.append(heads, n))
    tails = heads + lens - 1
    start = np.repeat(heads, lens)
    stop = start + np.repeat(lens, lens)
    pos = np.arange(n) - start
    left = stop - np.arange(n)  # readings from i to the series end, i included
    # 0. outliers: short excursions that snap back (another account's readings
    # interleaved, a zero, a partial reading) are replaced by the local level
    outlier, local = outlier_mask(t, y, start, stop, p)
    y_raw = y
    y = np.where(outlier, local, y)
    # 1. glitch filter: 3-point median, linear extrapolation at the ends
    prv = np.empty(n)
    prv[0] = y[0]
    prv[1:] = y[:-1]
    nxt = np.empty(n)
    nxt[-1] = y[-1]
    nxt[:-1] = y[1:]
    z = _med3(prv, y, nxt)
    h = heads[lens >= 3]
    z[h] = _med3(y[h], y[h + 1], 2 * y[h + 1] - y[h + 2])
    e = tails[lens >= 3]
    z[e] = _med3(y[e], y[e - 1], 2 * y[e - 1] - y[e - 2])
    for s_, l_ in zip(heads[lens < 3], lens[lens < 3], strict=True):
        z[s_:s_ + l_] = y[s_:s_ + l_]
    # 2. window means (cumsums, clipped to the series)
    k = p.window
    td = (t - t[0]) / DAY if n else t  # relative: keeps cumsum precision
    cz = np.zeros(n + 1)
    np.cumsum(z, out=cz[1:])
    ct = np.zeros(n + 1)
    np.cumsum(td, out=ct[1:])
    kb = np.minimum(k, pos)
    ka = np.minimum(k, left)
    valid = (kb >= 2) & (ka >= 2)
    kbs = np.maximum(kb, 1).astype(np.float64)
    kas = np.maximum(ka, 1).astype(np.float64)
    mz_b = _shift_sum(cz, k, pos, left, n, True) / kbs
    mz_a = _shift_sum(cz, k, pos, left, n, False) / kas
    span = _shift_sum(ct, k, pos, left, n, False) / kas - _shift_sum(ct, k, pos, left, n, True) / kbs
    dt = np.empty(n)  # 0 at series starts (no interval there; masked by ``valid``)
    dt[1:] = td[1:] - td[:-1]
    dt[heads] = 0.0
    dz = np.empty(n)
    dz[1:] = z[1:] - z[:-1]
    dz[heads] = 0.0
    dmz = mz_a - mz_b
    # 3. block statistics over intervals (pos >= 1)
    gidx = pos + offset[sid] if offset is not None else pos
    iv = ~first
    sid_iv = sid[iv]
    g_iv = gidx[iv]
    blk = g_iv // p.block
    newrow = np.ones(len(g_iv), dtype=bool)
    if len(g_iv) > 1:
        newrow[1:] = (sid_iv[1:] != sid_iv[:-1]) | (blk[1:] != blk[:-1])
    row = np.cumsum(newrow) - 1
    n_rows = int(row[-1]) + 1 if len(g_iv) else 0
    row_sid = sid_iv[newrow]
    row_blk = blk[newrow]
    flat = row * p.block + (g_iv % p.block)
    dt_iv = dt[iv]
    # Drift: median rate of the block's intervals (unweighted: measured no worse than a
    # time-weighted median on the benchmark, at a third of the cost).
    c_row = np.bincount(row, minlength=n_rows)
    r_row = _row_medians(flat, c_row, p.block, dz[iv] / np.maximum(dt_iv, 1e-9))
    r_pool = _pool(r_row, c_row, row_sid, row_blk)
    r = np.zeros(n)
    r[iv] = r_pool[row]
    r_own = np.zeros(n)
    r_own[iv] = np.nan_to_num(r_row)[row]
    jump = np.where(valid, dmz - r * span, 0.0)
    ck = (1.0 / kbs + 1.0 / kas) * (k / 2.0)
    # The noise scale of a block is measured with the block's own drift and time scale
    # (not the pooled ones), so it depends on that block alone: pooling then reaches
    # back exactly one block, which bounds what incremental re-evaluation needs.
    vm = valid[iv]
    fv = flat[vm]
    s_cnt = np.bincount(row[vm], minlength=n_rows)
    tau_row = _row_medians(fv, s_cnt, p.block, span[iv][vm])
    tau = np.ones(n)
    tau[iv] = np.maximum(np.nan_to_num(tau_row, nan=1.0), 1e-6)[row]
    norm = np.sqrt(ck + np.maximum(span, 0.0) / tau)
    u = np.abs((dmz - r_own * span) / norm)
    # A step lifts |J| on the 2k-1 intervals around it; in a short or step-rich block
    # that inflates the noise estimate. So measure it away from large single-interval
    # changes (> 6 robust sd; the mean |change| stands in when the median is 0), and
    # fall back to every interval when fewer than 8 remain.
    e_own = np.abs(dz - r_own * dt)
    e_iv = e_own[iv]
    e_med = _row_medians(flat, c_row, p.block, e_iv)
    e_mean = np.bincount(row, weights=e_iv, minlength=n_rows) / np.maximum(c_row, 1)
    e_scale = np.where(e_med > 0, 1.4826 * np.nan_to_num(e_med), e_mean)
    big = np.zeros(n, dtype=bool)
    big[iv] = e_iv > 6.0 * e_scale[row]
    # Routine gains: a block with several large single-interval gains (an account that
    # follows back in bursts, a steady stream of campaigns) makes such gains its normal
    # behaviour; a surge there must exceed ``routine_factor`` x their median size.
    gain = (dz - r_own * dt)[iv]
    big_gain = big[iv] & (gain > 0)
    g_cnt = np.bincount(row[big_gain], minlength=n_rows)
    g_med = _row_medians(flat[big_gain], g_cnt, p.block, gain[big_gain])
    # ... and in the block before it too: gains are routine when they are sustained, so a
    # regain campaign (a burst of gains after a quiet stretch) is still reported
    prev_row = np.zeros(n_rows, dtype=bool)
    prev_row[1:] = (row_sid[1:] == row_sid[:-1]) & (row_blk[1:] == row_blk[:-1] + 1)
    g_prev = np.zeros(n_rows, dtype=np.int64)
    g_prev[1:] = np.where(prev_row[1:], g_cnt[:-1], 0)
    m_prev = np.zeros(n_rows)
    m_prev[1:] = np.where(prev_row[1:], np.nan_to_num(g_med[:-1]), 0.0)
    is_routine = (g_cnt >= p.routine_min_steps) & (g_prev >= p.routine_min_steps + 1)
    routine = np.zeros(n)
    routine[iv] = np.where(is_routine, np.maximum(np.nan_to_num(g_med), m_prev), 0.0)[row]
    near = big.copy()
    in_blk = gidx % p.block  # dilate within the block only (keeps blocks independent)
    for o in range(1, min(k, n)):
        near[o:] |= big[:-o] & (pos[o:] >= o) & (in_blk[o:] >= o)
        near[:-o] |= big[o:] & (left[:-o] > o) & (in_blk[:-o] + o < p.block)
    quiet = vm & ~near[iv]
    q_cnt = np.bincount(row[quiet], minlength=n_rows)
    s_row = _row_medians(flat[quiet], q_cnt, p.block, u[iv][quiet])
    use_q = q_cnt >= 8
    if not use_q.all():  # rows with too few quiet intervals: every valid interval
        need = ~use_q
        sub = vm & need[row]
        new_id = np.cumsum(need) - 1
        sub_rows = new_id[row[sub]]
        s_all = _row_medians(sub_rows * p.block + (g_iv[sub] % p.block), s_cnt[need], p.block,
                             u[iv][sub])
        s_row[need] = s_all
    s_pool = _pool(1.4826 * s_row, np.where(use_q, q_cnt, s_cnt), row_sid, row_blk, square=True)
    sigma = np.full(n, p.noise_floor)
    sigma[iv] = np.maximum(s_pool[row], p.noise_floor)
    # Long gaps: organic change can wander away from the drift, so the scale grows with
    # the part of the gap beyond the usual spacing and with the drift itself.
    gap_row = _row_medians(flat, c_row, p.block, dt_iv)
    usual = np.ones(n)
    usual[iv] = np.maximum(2.0 * np.nan_to_num(gap_row, nan=0.5), 1.0)[row]
    # the longest gap the two windows straddle (not only this interval's): a short
    # interval next to a long gap must not borrow the gap's change without its doubt
    gap = dt.copy()
    shifted = np.zeros(n)
    for o in range(1, min(k, n)):
        shifted[o:] = dt[:-o]
        shifted[:o] = 0.0
        np.maximum(gap, np.where(pos >= o + 1, shifted, 0.0), out=gap)
        shifted[:-o] = dt[o:]
        shifted[-o:] = 0.0
        np.maximum(gap, np.where(left > o, shifted, 0.0), out=gap)
    excess = np.maximum(gap - usual, 0.0)
    drift_sd = (p.rate_uncertainty * np.abs(mz_b) * excess
                + p.drift_uncertainty * np.abs(r * span) * np.minimum(gap / 7.0, 1.0))
    sn = sigma * norm
    scale = np.sqrt(sn * sn + drift_sd * drift_sd)  # (np.hypot is 5x slower)
    score = np.where(valid, jump / scale, 0.0)
    resid = dz - r * dt
    return Scored(sid, y, gidx, t, dt, valid, jump, mz_b, score, r, scale, resid, dz, z, start, stop,
                  routine, outlier, local, y_raw)


def find_runs(s: Scored, mask: np.ndarray, p: SeriesParams) -> Candidates:
    """Peaks of runs of flagged intervals (same series, same sign, consecutive)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return Candidates.empty()
    sign = np.sign(s.jump[idx])
    brk = np.ones(len(idx), dtype=bool)
    brk[1:] = (
        (idx[1:] != idx[:-1] + 1)
        | (s.sid[idx][1:] != s.sid[idx][:-1])
        | (sign[1:] != sign[:-1])
        # split at block multiples so a run never reaches further back than one block
        # (keeps the incremental re-evaluation window bounded)
        | (s.gidx[idx][1:] % p.block == 0)
    )
    run = np.cumsum(brk) - 1
    n_runs = int(run[-1]) + 1
    # A step makes a triangle of J peaked at the step: localise on |J| (the score also
    # varies with each interval's gap, which would pull the peak sideways).
    a = np.abs(s.jump[idx])
    best = np.full(n_runs, -np.inf)
    np.maximum.at(best, run, a)
    best_at = np.flatnonzero(a == best[run])
    _, take = np.unique(run[best_at], return_index=True)  # first best interval per run
    peak = idx[best_at[take]]
    # 4. widen the window to neighbouring intervals carrying the same-sign change (a ramp:
    # a loss spread over several readings), within the peak's block
    lo = peak.copy()
    hi = peak.copy()
    jp = s.jump[peak]
    frac = 0.25 * np.abs(jp)
    go_lo = np.ones(len(peak), dtype=bool)
    go_hi = np.ones(len(peak), dtype=bool)
    start = s.series_start[peak]
    stop = s.series_stop[peak]
    blk = s.gidx[peak] // p.block
    last_i = len(s.y) - 1
    for _ in range(p.ramp_steps):
        if not (go_lo.any() or go_hi.any()):
            break
        c = lo - 1
        cc = np.clip(c, 0, last_i)
        ok = go_lo & (c - 1 >= start) & (s.gidx[cc] // p.block == blk)
        ok &= (np.sign(s.resid[cc]) == np.sign(jp)) & (np.abs(s.resid[cc]) >= frac)
        lo = np.where(ok, c, lo)
        go_lo &= ok
        c = hi + 1
        cc = np.clip(c, 0, last_i)
        ok = go_hi & (c < stop - 1) & (s.gidx[cc] // p.block == blk)  # never the last reading
        ok &= (np.sign(s.resid[cc]) == np.sign(jp)) & (np.abs(s.resid[cc]) >= frac)
        hi = np.where(ok, c, hi)
        go_hi &= ok
    # A ramp's size is the drift-corrected change over the whole window when that is
    # larger than the window jump at its steepest point.
    cr = np.concatenate([[0.0], np.cumsum(s.resid)])
    ramp = cr[hi + 1] - cr[lo]
    widened = (lo < peak) | (hi > peak)
    jp = np.where(widened & (np.abs(ramp) > np.abs(jp)) & (np.sign(ramp) == np.sign(jp)), ramp, jp)
    return Candidates(
        sid=s.sid[peak], gidx=s.gidx[peak], first=lo - 1, last=hi, peak=peak,
        jump=jp, level=s.level[peak], score=s.score[peak],
        rate=s.rate[peak], scale=s.scale[peak], net=_visible_change(s, lo - 1, hi, jp, p.window),
        reverted=np.zeros(len(peak), dtype=bool),
    )


def _visible_change(s: Scored, before: np.ndarray, after: np.ndarray, jump: np.ndarray,
                    k: int) -> np.ndarray:
    """Largest change the raw readings show across the window, in the jump's direction:
    for a drop, the highest of the ``k`` readings up to ``before`` minus the lowest of
    the ``k`` from ``after`` on (signed; <= 0 when the readings show no drop at all).
    It bounds the reported size: a glitch can only loosen the bound."""
    n = len(s.y)
    hi_b = np.full(len(before), -np.inf)
    lo_b = np.full(len(before), np.inf)
    hi_a = np.full(len(before), -np.inf)
    lo_a = np.full(len(before), np.inf)
    for o in range(k):
        ib = before - o
        ok = ib >= s.series_start[before]
        v = s.y[np.clip(ib, 0, n - 1)]
        hi_b = np.where(ok, np.maximum(hi_b, v), hi_b)
        lo_b = np.where(ok, np.minimum(lo_b, v), lo_b)
        ia = after + o
        ok = ia < s.series_stop[after]
        v = s.y[np.clip(ia, 0, n - 1)]
        hi_a = np.where(ok, np.maximum(hi_a, v), hi_a)
        lo_a = np.where(ok, np.minimum(lo_a, v), lo_a)
    return np.where(jump < 0, lo_a - hi_b, hi_a - lo_b)


def _nanmedian_cols(v: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN (few rows; NaN sort last)."""
    srt = np.sort(v, axis=0)
    cnt = np.isfinite(v).sum(axis=0)
    cols = np.arange(v.shape[1])
    lo = np.maximum((cnt - 1) // 2, 0)
    hi = np.maximum(cnt // 2, 0)
    return np.where(cnt > 0, 0.5 * (srt[lo, cols] + srt[np.minimum(hi, v.shape[0] - 1), cols]), 0.0)


def reverts(s: Scored, c: Candidates, p: SeriesParams) -> np.ndarray:
    """Candidates whose change is undone within ``revert_hours``: a reading after the
    window back at the level before it, or a reading before the window already at the
    level after it (two levels interleaved, longer runs than the outlier filter takes).
    Looks at most ``revert_look`` readings each way (bounded context for incremental
    detection). Levels are the means of the raw readings on each side, tolerance
    ``revert_tolerance`` of the change (and ``min_magnitude``)."""
    m = len(c)
    out = np.zeros(m, dtype=bool)
    if m == 0:
        return out
    n = len(s.y_raw)
    k = p.window
    vb = np.full((k, m), np.nan)
    va = np.full((k, m), np.nan)
    for o in range(k):  # the k readings on each side of the window (outliers replaced)
        ib = c.first - o
        vb[o] = np.where(ib >= s.series_start[c.peak], s.y[np.clip(ib, 0, n - 1)], np.nan)
        ia = c.last + o
        va[o] = np.where(ia < s.series_stop[c.peak], s.y[np.clip(ia, 0, n - 1)], np.nan)
    # medians, not means: with two levels interleaved a mean sits between them
    lv_b = _nanmedian_cols(vb)
    lv_a = _nanmedian_cols(va)
    tol = np.maximum(p.min_magnitude, p.revert_tolerance * np.abs(lv_a - lv_b))
    span = p.revert_hours * 3600.0
    t_first = s.t[c.first]
    t_last = s.t[c.last]
    for o in range(1, p.revert_look + 1):
        ia = c.last + o
        ok = ia < s.series_stop[c.peak]
        ia_c = np.clip(ia, 0, n - 1)
        ok &= (s.t[ia_c] - t_last) <= span
        # against the level carried forward by the drift: growth that makes a loss good
        # again over two days is not a reverting reading
        back = lv_b + c.rate * (s.t[ia_c] - t_first) / DAY
        out |= ok & (np.abs(s.y_raw[ia_c] - back) <= tol)
        ib = c.first - o
        ok = ib >= s.series_start[c.peak]
        ib_c = np.clip(ib, 0, n - 1)
        ok &= (t_first - s.t[ib_c]) <= span
        ahead = lv_a - c.rate * (t_last - s.t[ib_c]) / DAY
        out |= ok & (np.abs(s.y_raw[ib_c] - ahead) <= tol)
    return out


def event_mask(s: Scored, p: SeriesParams) -> np.ndarray:
    a = np.abs(s.jump)
    return (
        s.valid
        & ((s.jump <= 0) | (s.jump >= p.routine_factor * s.routine))
        # A drop is a reading lower than the one before (a surge, higher): growth that
        # merely slows against the drift is not reported, however far below it ends.
        & (np.sign(s.dz) == np.sign(s.jump))
        & (np.abs(s.score) >= p.z_threshold)
        & (a >= p.min_magnitude)
        & (a >= p.min_relative * np.abs(s.level))
    )


def purge_mask(s: Scored, p: SeriesParams) -> np.ndarray:
    a = -s.jump
    bracket = s.dt
    return (
        s.valid
        & (s.dz < 0)
        & (s.score <= -p.purge_z)
        & (a >= p.purge_min_magnitude)
        & (a >= p.purge_min_relative * np.abs(s.level))
        & (bracket <= p.max_bracket_days)
    )


def suppress(c: Candidates, p: SeriesParams) -> np.ndarray:
    """Keep-mask over candidates (sorted by series, then position): drops reverting
    drop/surge pairs and weaker same-sign peaks within ``window`` intervals of a stronger
    one (a run split at a block boundary)."""
    n = len(c)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    order = np.lexsort((c.gidx, c.sid))
    sid, g, j, sc = c.sid[order], c.gidx[order], c.jump[order], np.abs(c.score[order])
    same = sid[1:] == sid[:-1]
    close = same & (g[1:] - g[:-1] <= p.revert_obs)
    opposite = np.sign(j[1:]) != np.sign(j[:-1])
    similar = np.abs(np.abs(j[1:]) - np.abs(j[:-1])) <= p.revert_tolerance * np.maximum(
        np.abs(j[1:]), np.abs(j[:-1]))
    pair = close & opposite & similar
    k2 = np.ones(n, dtype=bool)
    k2[:-1] &= ~pair
    k2[1:] &= ~pair
    dup = same & (g[1:] - g[:-1] <= p.window) & ~opposite
    weaker_first = dup & (sc[:-1] < sc[1:])
    weaker_second = dup & ~(sc[:-1] < sc[1:])
    k2[:-1] &= ~weaker_first
    k2[1:] &= ~weaker_second
    keep[order] = k2
    return keep


def context_reach(p: SeriesParams) -> int:
    """How many readings away a reading can change an interval's numbers or an event's
    fate: the outlier filter (2R + 2), the glitch filter and window means (k + 3), the
    widening of a window (``ramp_steps``) and the look for a reverting change
    (``revert_look``) beyond it (k more for the levels compared)."""
    return (2 * p.outlier_reach + 2) + (p.window + 3) + p.ramp_steps + p.revert_look + p.window


def chunks(sid: np.ndarray, max_rows: int) -> Iterator[slice]:
    """Slices of whole series of about ``max_rows`` observations (bounds peak memory)."""
    n = len(sid)
    begin = 0
    while begin < n:
        end = min(begin + max_rows, n)
        if end < n:  # move the cut to the end of the series it falls in
            end = int(np.searchsorted(sid, sid[end - 1], side="right"))
        yield slice(begin, end)
        begin = end


def _one_chunk(sid: np.ndarray, t: np.ndarray, y: np.ndarray, sl: slice, offset: np.ndarray | None,
               p: SeriesParams, want_purge: bool, suppress_events: bool,
               ) -> tuple[Candidates, Candidates, np.ndarray, np.ndarray]:
    s = score_series(sid[sl], t[sl], y[sl], offset, p)
    ev = find_runs(s, event_mask(s, p), p)
    # The readings themselves must move by the minimum too (not only against the
    # drift): a fast-growing account that gains a little less is not a drop.
    net = np.abs(ev.net)
    ev = ev.take(np.flatnonzero((np.sign(ev.net) == np.sign(ev.jump)) & (net >= p.min_magnitude)
                                & (net >= p.min_relative * np.abs(ev.level))))
    # A reverted change still pairs with its opposite in ``suppress`` (two bad readings
    # in a row cancel out whichever test catches them); it is dropped after that.
    ev.reverted = reverts(s, ev, p)
    if suppress_events:
        ev = ev.take(np.flatnonzero(suppress(ev, p) & ~ev.reverted))
    # (purge candidates are not tested for reverting: their losses are small, and the
    # readings' own noise would "restore" many of them; outliers are already gone)
    pg = find_runs(s, purge_mask(s, p), p) if want_purge else Candidates.empty()
    for c in (ev, pg):
        c.first += sl.start
        c.last += sl.start
        c.peak += sl.start
    out = np.flatnonzero(s.outlier)
    return ev, pg, out + sl.start, s.local[out]


def detect_arrays(sid: np.ndarray, t: np.ndarray, y: np.ndarray, p: SeriesParams,
                  offset: np.ndarray | None = None, *, max_rows: int = 131_072,
                  want_purge: bool = True, suppress_events: bool = True,
                  threads: int | None = None, outliers: list[np.ndarray] | None = None,
                  ) -> tuple[Candidates, Candidates]:
    """Events and purge candidates over prepared arrays (see :func:`prepare`). Flat
    indices in the result (``first``, ``last``, ``peak``) point into the given arrays.

    Series are processed in chunks of about ``max_rows`` observations: that bounds memory,
    and chunks whose arrays fit in the CPU cache run about twice as fast. Chunks run on
    ``threads`` threads (default: the machine's cores, at most 4): the kernel is numpy
    calls that release the GIL, and on an otherwise idle 2-core machine two threads took
    2.0 s where one took 5.0 s (40,000 series). Results keep chunk order either way."""
    n_threads = threads if threads is not None else min(os.cpu_count() or 1, 4)
    slices = list(chunks(sid, max_rows))

    def run(sl: slice) -> tuple[Candidates, Candidates, np.ndarray, np.ndarray]:
        return _one_chunk(sid, t, y, sl, offset, p, want_purge, suppress_events)

    if n_threads > 1 and len(slices) > 1:
        with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="purgewatch-detect") as pool:
            done = list(pool.map(run, slices))
    else:
        done = [run(sl) for sl in slices]
    if outliers is not None:  # flat indices of the outlier readings, and their local level
        outliers.append(np.concatenate([d[2] for d in done]) if done else np.zeros(0, np.int64))
        outliers.append(np.concatenate([d[3] for d in done]) if done else np.zeros(0))
    return _concat([d[0] for d in done]), _concat([d[1] for d in done])


def _concat(parts: list[Candidates]) -> Candidates:
    if not parts:
        return Candidates.empty()
    return Candidates(**{k: np.concatenate([getattr(c, k) for c in parts]) for k in Candidates.empty().__dict__})
