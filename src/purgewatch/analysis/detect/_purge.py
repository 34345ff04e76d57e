"""The purge signature: many accounts losing followers in the same window.

Individually weak drops count here: every account contributes its drop *candidates* at a
looser threshold than a reported drop (``SeriesParams.purge_*``), placed at the middle of
the interval that brackets them (only short brackets, so the time is known). The
candidates of all accounts are binned and scanned for bursts against the trailing baseline
(``_scan.py``). A burst that hits at least ``min_accounts`` accounts and ``min_share`` of
the accounts observed across the window is one ``purge`` event naming every account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from purgewatch.analysis.detect._event import Event, iso, iso_many
from purgewatch.analysis.detect._scan import scan_bursts

HOUR = 3600.0


@dataclass(frozen=True)
class PurgeParams:
    """Thresholds of the purge detector."""

    bin_hours: float = 1.0
    max_window_hours: float = 72.0
    baseline_days: float = 28.0
    min_accounts: int = 5
    min_share: float = 0.02  # of the accounts observed before and after the window
    min_ratio: float = 3.0
    llr_threshold: float = 15.0
    merge_hours: float = 6.0  # windows closer than this are one event
    max_listed: int = 5000


def find_purges(cand_sid: np.ndarray, t_start: np.ndarray, t_end: np.ndarray,
                lost: np.ndarray, before: np.ndarray, series_first: np.ndarray,
                series_last: np.ndarray, accounts: list[tuple[str, str]], groups: np.ndarray,
                p: PurgeParams) -> list[Event]:
    """Purge events from per-account drop candidates (arrays of equal length)."""
    if len(cand_sid) < p.min_accounts:
        return []
    mid = 0.5 * (t_start + t_end)
    width = p.bin_hours * HOUR
    lo_t = float(min(series_first.min(), mid.min()))
    hi_t = float(max(series_last.max(), mid.max()))
    t0 = np.floor(lo_t / width) * width
    n_bins = int((hi_t - t0) // width) + 1
    b = ((mid - t0) // width).astype(np.int64).clip(0, n_bins - 1)
    counts = np.bincount(b, minlength=n_bins).astype(np.float64)
    widths = sorted({max(1, int(round(w / p.bin_hours)))
                     for w in (1, 2, 3, 6, 12, 24, 36, 48, 72, 96, 168) if w <= p.max_window_hours})
    bursts = scan_bursts(counts, np.ones(n_bins, dtype=bool), widths=widths,
                         baseline_bins=max(1, int(p.baseline_days * 24 / p.bin_hours)),
                         min_count=p.min_accounts, min_ratio=p.min_ratio,
                         llr_threshold=p.llr_threshold,
                         merge_bins=int(round(p.merge_hours / p.bin_hours)))
    out = []
    for bu in bursts:
        w0, w1 = t0 + bu.start_bin * width, t0 + bu.stop_bin * width
        inside = np.flatnonzero((b >= bu.start_bin) & (b < bu.stop_bin))
        # one entry per account: its largest candidate in the window
        order = np.lexsort((-lost[inside], cand_sid[inside]))
        inside = inside[order]
        firsts = np.concatenate([[True], cand_sid[inside][1:] != cand_sid[inside][:-1]])
        inside = inside[firsts]
        n_acc = len(inside)
        observed = int(((series_first <= w0) & (series_last >= w1)).sum())
        observed = max(observed, n_acc)
        if n_acc < p.min_accounts or n_acc < p.min_share * observed:
            continue
        names = np.array([f"{accounts[k][0]}\x00{accounts[k][1]}" for k in cand_sid[inside]])
        inside = inside[np.lexsort((names, -lost[inside]))]  # deterministic order
        breakdown: dict[str, int] = {}
        for g in groups[cand_sid[inside]].tolist():
            name = g if g is not None else "(no group)"
            breakdown[name] = breakdown.get(name, 0) + 1
        concentrated = _concentration(cand_sid[inside], groups, series_first, series_last, w0, w1)
        s_lo = float(np.max(t_start[inside]))
        s_hi = float(np.min(t_end[inside]))
        plats = sorted({accounts[k][0] for k in cand_sid[inside]})
        top = inside[: p.max_listed]
        starts_txt, ends_txt = iso_many(t_start[top]), iso_many(t_end[top])
        bf_l = np.round(before[top], 1).tolist()
        ls_l = np.round(lost[top]).astype(np.int64).tolist()  # whole followers
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_l = np.where(before[top] > 0, np.round(lost[top] / before[top], 6), np.nan).tolist()
        listed = [
            {"platform": accounts[k][0], "account_id": accounts[k][1], "group": groups[k],
             "start": a, "end": e, "before": bf, "lost": ls, "relative": None if r != r else r}
            for k, a, e, bf, ls, r in zip(cand_sid[top].tolist(), starts_txt, ends_txt, bf_l, ls_l,
                                          rel_l, strict=True)
        ]
        out.append(Event(
            kind="purge",
            platform=plats[0] if len(plats) == 1 else None,
            account_id=None,
            # A sweep that hits one camp's accounts and spares the others is not
            # "platform-wide": name the camp (evidence.concentration has the test).
            group=str(concentrated["group"]) if concentrated and concentrated["significant"] else None,
            # Each account's drop is bracketed by its own two readings; the sweep lies
            # where most brackets overlap (10 % of accounts may disagree).
            start=float(min(np.quantile(t_start[inside], 0.9), np.quantile(t_end[inside], 0.1))),
            end=float(max(np.quantile(t_start[inside], 0.9), np.quantile(t_end[inside], 0.1))),
            magnitude=float(n_acc),
            relative=n_acc / observed if observed else None,
            score=bu.llr,
            evidence={
                "accounts_observed": observed,
                "scan_window": {"start": iso(w0), "end": iso(w1)},
                "expected": round(bu.expected, 3),
                "dispersion": round(bu.dispersion, 3),
                "p_value": float(f"{bu.p_value:.3g}"),
                "followers_lost": int(np.round(lost[inside]).sum()),
                "median_relative_loss": round(float(np.median(lost[inside] / np.maximum(before[inside], 1))), 6),
                "common_window": {"start": iso(s_lo), "end": iso(s_hi)} if s_lo <= s_hi else None,
                "by_group": breakdown,
                "concentration": concentrated,
                "accounts": listed,
                "accounts_total": n_acc,
                "observed_at": ends_txt,
            },
        ))
    return out


def _concentration(hit_sids: np.ndarray, groups: np.ndarray, series_first: np.ndarray,
                   series_last: np.ndarray, w0: float, w1: float,
                   alpha: float = 0.05) -> dict[str, object] | None:
    """Is the purge concentrated in one group? The group with the largest share of its
    observed accounts hit, against all other observed accounts (Fisher exact, one-sided).
    None when fewer than two groups were observed across the window."""
    from scipy.stats import fisher_exact

    observed = (series_first <= w0) & (series_last >= w1)
    observed[hit_sids] = True
    names = np.array(["(no group)" if g is None else str(g) for g in groups.tolist()], dtype=object)
    present = sorted(set(names[observed].tolist()))
    if len(present) < 2:
        return None
    hit = np.zeros(len(groups), dtype=bool)
    hit[hit_sids] = True
    best: dict[str, object] | None = None
    for g in present:
        in_g = observed & (names == g)
        a, b = int((hit & in_g).sum()), int((~hit & in_g).sum())
        c, d = int((hit & observed & ~in_g).sum()), int((~hit & observed & ~in_g).sum())
        share = a / (a + b) if a + b else 0.0
        if best is None or share > float(best["share_hit"]):  # type: ignore[arg-type]
            p_value = float(fisher_exact([[a, b], [c, d]], alternative="greater")[1])
            best = {"group": g, "hit": a, "observed": a + b, "share_hit": round(share, 6),
                    "others_hit": c, "others_observed": c + d,
                    "others_share_hit": round(c / (c + d), 6) if c + d else None,
                    "p_value": p_value, "significant": p_value < alpha}
    return best
