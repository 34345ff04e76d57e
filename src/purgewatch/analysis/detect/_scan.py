"""Burst (scan-statistic) search over binned event counts, shared by the wave and purge
detectors.

Each candidate window [s, s+w) is scored with Kulldorff's Poisson log-likelihood ratio
``C ln(C/E) - (C - E)`` (divided by the stream's overdispersion, see
:func:`overdispersion`) where C is the count in the window and E the count expected from
the *trailing* baseline rate (mean per covered bin over the ``baseline_bins`` before the
window). A trailing baseline makes a wave "a departure from the recent rate": a sustained
new rate is reported once, where it starts, not every day after. Windows are picked
greedily (best first, no overlap), so the narrowest window holding the burst wins: adding
empty bins only raises E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Burst:
    start_bin: int
    stop_bin: int  # exclusive
    count: float
    expected: float
    llr: float
    dispersion: float = 1.0  # quasi-Poisson factor the LLR was divided by

    @property
    def p_value(self) -> float:
        """Tail probability of a count at least this large under the baseline:
        P(X >= C/phi) for X ~ Poisson(E/phi) (the quasi-Poisson stream scaled to unit
        dispersion; the regularized incomplete gamma function extends it to non-integer
        counts). One window's p-value: the scan looks at many windows, which is why the
        threshold is calibrated on null series (docs/detect.md), not read off this."""
        from scipy.special import gammainc

        if self.count <= 0:
            return 1.0
        return float(gammainc(self.count / self.dispersion, self.expected / self.dispersion))


# Mean of a chi-square(1) variable below its 99th percentile: what the trimmed mean of
# squared Pearson residuals is when counts really are Poisson.
_TRIMMED_CHI2_MEAN = 0.9248


def overdispersion(counts: np.ndarray, expected: np.ndarray) -> float:
    """Quasi-Poisson dispersion of bin counts around their expected values (>= 1).

    Real status streams are burstier than Poisson (a tracker that checks accounts in
    batches, a connector that catches up after an outage): dividing the LLR by this
    factor keeps those batches from being reported as waves. Estimated from squared
    Pearson residuals of bins expecting at least 2 events, top 1 % trimmed (the waves
    themselves); with fewer than 48 such bins the stream is taken as Poisson."""
    ok = expected >= 2.0
    if ok.sum() < 48:
        return 1.0
    r2 = (counts[ok] - expected[ok]) ** 2 / expected[ok]
    cut = np.quantile(r2, 0.99)
    return float(max(1.0, r2[r2 <= cut].mean() / _TRIMMED_CHI2_MEAN))


def _llr(count: np.ndarray, expected: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = count * np.log(count / expected) - (count - expected)
    out[~(count > expected)] = 0.0
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def scan_bursts(
    counts: np.ndarray,
    covered: np.ndarray,
    *,
    widths: Sequence[int],
    baseline_bins: int,
    min_count: float,
    min_ratio: float,
    llr_threshold: float,
    max_bursts: int = 100,
    merge_bins: int = 0,
) -> list[Burst]:
    """Non-overlapping windows whose count is a significant excess over the baseline."""
    counts = np.asarray(counts, dtype=np.float64)
    covered = np.asarray(covered, dtype=bool)
    n = len(counts)
    if n == 0 or counts.sum() <= 0:
        return []
    cc = np.concatenate([[0.0], np.cumsum(counts)])
    cv = np.concatenate([[0.0], np.cumsum(covered.astype(np.float64))])
    starts = np.arange(n)
    # Trailing baseline per window start: events per covered bin in [s - B, s).
    lo = np.maximum(starts - baseline_bins, 0)
    base_n = cc[starts] - cc[lo]
    base_cov = cv[starts] - cv[lo]
    global_rate = cc[-1] / max(cv[-1], 1.0)
    # With too little history (the start of the data), fall back to the overall rate, and
    # never let the rate fall below half an event per baseline period (a zero rate would
    # make any single event infinitely surprising).
    floor = 0.5 / max(baseline_bins, 1)
    short = base_cov < baseline_bins / 4
    with np.errstate(divide="ignore", invalid="ignore"):
        trailing = np.where(short, global_rate, base_n / base_cov)
    rate = np.maximum(trailing, floor)
    phi = overdispersion(counts[covered], rate[covered])
    widths = sorted({int(w) for w in widths if 0 < int(w) <= n})
    scores = np.zeros((len(widths), n))
    counts_w = np.zeros((len(widths), n))
    expect_w = np.zeros((len(widths), n))
    for wi, w in enumerate(widths):
        stop = np.minimum(starts + w, n)
        c = cc[stop] - cc[starts]
        cov_w = (cv[stop] - cv[starts]).clip(min=1.0)
        # Where the fallback (overall) rate is used, a window's own events are not its
        # baseline: with a short history a single burst would otherwise mask itself.
        outside = np.maximum(cc[-1] - c, 0.0) / np.maximum(cv[-1] - cov_w, 1.0)
        e = np.where(short, np.maximum(outside, floor), rate) * cov_w
        s = _llr(c, e) / phi
        ok = (c >= min_count) & (c >= min_ratio * e) & (s >= llr_threshold) & (starts + w <= n)
        scores[wi] = np.where(ok, s, 0.0)
        counts_w[wi] = c
        expect_w[wi] = e
    out: list[Burst] = []
    for _ in range(max_bursts):
        flat = int(np.argmax(scores))
        wi, s0 = divmod(flat, n)
        if scores[wi, s0] <= 0:
            break
        w = widths[wi]
        out.append(Burst(s0, s0 + w, float(counts_w[wi, s0]), float(expect_w[wi, s0]),
                         float(scores[wi, s0]), phi))
        for wj, w2 in enumerate(widths):  # drop every window overlapping the chosen one
            scores[wj, max(0, s0 - w2 + 1): s0 + w] = 0.0
    # A wave longer than the window that caught it leaves significant fringes next to it:
    # merge windows closer than ``merge_bins`` into one burst.
    out.sort(key=lambda b: b.start_bin)
    merged: list[Burst] = []
    for bu in out:
        if merged and bu.start_bin <= merged[-1].stop_bin + merge_bins:
            m = merged[-1]
            s0, s1 = m.start_bin, max(m.stop_bin, bu.stop_bin)
            c = float(cc[s1] - cc[s0])
            e = float(rate[s0] * max(cv[s1] - cv[s0], 1.0))
            merged[-1] = Burst(s0, s1, c, e, float(_llr(np.array([c]), np.array([e]))[0]) / phi, phi)
        else:
            merged.append(bu)
    return merged
