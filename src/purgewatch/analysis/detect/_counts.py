"""Waves in published totals (``status_counts``): a tracker's daily totals or a
platform's transparency numbers, scanned by the same detector as per-account transitions.

This module is only an input adapter. Each published series (one publisher, kind,
platform, group and period length) becomes the per-bin count series that
:func:`~purgewatch.analysis.detect._waves.scan_counts` already scans for transitions, with
one bin per period. Periods nobody published are *not covered* (unknown, not zero), so a
gap in a publication never reads as a lull before a wave. Categories of one period are
added up (a platform that splits its totals by policy still suspended their sum).

The events have the kinds of per-account waves (``suspension_wave``,
``reinstatement_wave``) and say where they come from: ``evidence.basis`` is
``published_totals``, with the publisher, the per-period counts and the stored rows
(``source_ref``) they rest on; ``account_id`` is null and no accounts are listed, since
totals name none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.analysis.detect._event import Event, iso
from purgewatch.analysis.detect._waves import WaveParams, scan_counts
from purgewatch.store import Store

_KIND = {"suspension": "suspension_wave", "reinstatement": "reinstatement_wave"}
_COLUMNS = ["platform", "period_start", "period_end", "kind", "count", "publisher", "group",
            "category", "source_ref"]


def load_counts(store: Store, *, platform: str | None = None) -> pa.Table:
    """Published totals as analyses see them (retracted batches hidden)."""
    t = store.read("status_counts", columns=_COLUMNS)
    if platform is not None and t.num_rows:
        t = t.filter(pc.equal(t["platform"], platform))
    return t


def _seconds(col: pa.ChunkedArray) -> np.ndarray:
    us = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(us, dtype=np.int64) // 1_000_000


def count_waves(totals: pa.Table, p: WaveParams) -> list[Event]:
    """Wave events found in published totals (see the module docs)."""
    if totals.num_rows == 0:
        return []
    start = _seconds(totals["period_start"])
    stop = _seconds(totals["period_end"])
    length = stop - start
    count = np.asarray(totals["count"].to_numpy(zero_copy_only=False), dtype=np.float64)
    cols = {c: totals[c].to_pylist() for c in ("platform", "kind", "publisher", "group", "source_ref")}
    keys = list(zip(cols["platform"], cols["kind"], cols["publisher"], cols["group"], length.tolist(),
                    strict=True))
    series: dict[tuple[str, str, str, str | None, int], list[int]] = {}
    for i, k in enumerate(keys):
        series.setdefault(k, []).append(i)
    out: list[Event] = []
    for (plat, kind, publisher, group, width), rows in sorted(series.items(), key=lambda kv: str(kv[0])):
        if kind not in _KIND or width <= 0:
            continue
        idx = np.asarray(rows)
        out += _scan_series(plat, _KIND[kind], publisher, group, int(width), start[idx], count[idx],
                            [cols["source_ref"][i] for i in rows], p)
    return out


def _scan_series(platform: str, kind: str, publisher: str, group: str | None, width: int,
                 start: np.ndarray, count: np.ndarray, refs: Sequence[str | None],
                 p: WaveParams) -> list[Event]:
    t0 = int(start.min())
    b = (start - t0) // width
    n_bins = int(b.max()) + 1
    counts = np.bincount(b, weights=count, minlength=n_bins)
    covered = np.zeros(n_bins, dtype=bool)
    covered[b] = True
    bursts = scan_counts(counts, covered, p, bin_hours=width / 3600.0)
    events = []
    for bu in bursts:
        inside = (b >= bu.start_bin) & (b < bu.stop_bin)
        days = list(range(bu.start_bin, bu.stop_bin))
        n_periods = max(int(covered[bu.start_bin:bu.stop_bin].sum()), 1)
        events.append(Event(
            kind=kind,
            platform=platform,
            account_id=None,
            group=group,
            start=float(t0 + bu.start_bin * width),
            end=float(t0 + bu.stop_bin * width),
            magnitude=float(bu.count),
            relative=None,  # totals do not say how many accounts could have been affected
            score=bu.llr,
            evidence={
                "basis": "published_totals",
                "publisher": publisher,
                "period_hours": width / 3600.0,
                "expected": round(bu.expected, 3),
                "dispersion": round(bu.dispersion, 3),
                "baseline_per_period": round(bu.expected / n_periods, 3),
                "bins": {"start": [iso(t0 + d * width) for d in days],
                         "count": counts[bu.start_bin:bu.stop_bin].astype(int).tolist(),
                         "published": covered[bu.start_bin:bu.stop_bin].tolist()},
                "by_group": {group if group is not None else "(no group)": int(bu.count)},
                "source_refs": sorted({r for r, m in zip(refs, inside.tolist(), strict=True)
                                       if m and r is not None}),
                "accounts": [],
                "accounts_total": int(bu.count),
            },
        ))
    return events
