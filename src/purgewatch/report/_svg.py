"""Inline SVG charts generated on the server (no JavaScript, no external request).

Every chart is a plain ``<svg>`` string built from numbers; every piece of text that
could come from data goes through :func:`purgewatch.safetext.html_text`. Points and
bands are links (``<a href="#o-…">``) to the data appendix rows they stand for, so a
reader can click from a dot on a line to the observation behind it. Output is
deterministic: coordinates are rounded to 0.1 px and nothing depends on the clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from markupsafe import Markup

from purgewatch.safetext import html_text

# A restrained palette readable in print and by colour-blind readers (Okabe–Ito).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
EVENT_FILL = {
    "follower_drop": "#D55E00",
    "follower_surge": "#009E73",
    "suspension_wave": "#D55E00",
    "reinstatement_wave": "#0072B2",
    "purge": "#CC79A7",
}
_STEPS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
          14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400, 730 * 86400, 1826 * 86400]


def _epoch(t: Any) -> float | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if pd.isna(ts):
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return float(ts.value) / 1e9


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if not math.isnan(x) else "0"


def _time_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[tuple[float, str]]:
    """Ticks on round times (UTC): hours, days, then calendar months or years for long
    spans, labelled in one format per axis."""
    span = max(hi - lo, 1.0)
    step = next((s for s in _STEPS if span / s <= max_ticks), _STEPS[-1])
    if step >= 30 * 86400:
        return _calendar_ticks(lo, hi, step)
    first = math.ceil(lo / step) * step
    if step < 86400:
        fmt = "%H:%M" if span <= 86400 else "%a %d %b %H:%M"
    else:
        fmt = "%a %d %b" if step <= 2 * 86400 else "%d %b %Y"  # the weekday: "the Thursday wave"
    out: list[tuple[float, str]] = []
    t = float(first)
    while t <= hi + 1e-9:
        out.append((t, pd.Timestamp(t, unit="s", tz="UTC").strftime(fmt)))
        t += step
    return out


def _calendar_ticks(lo: float, hi: float, step: float) -> list[tuple[float, str]]:
    """Month starts every k months (``Mar 2024``), or year starts every k years (``2024``)."""
    start = pd.Timestamp(lo, unit="s", tz="UTC")
    end = pd.Timestamp(hi, unit="s", tz="UTC")
    out: list[tuple[float, str]] = []
    if step >= 365 * 86400:
        k = max(1, round(step / (365 * 86400)))
        year = start.year + (1 if (start.month, start.day, start.hour) != (1, 1, 0) else 0)
        year = year + (-year % k)
        while year <= end.year:
            out.append((pd.Timestamp(year=year, month=1, day=1, tz="UTC").value / 1e9, str(year)))
            year += k
        return out
    k = max(1, round(step / (30 * 86400)))
    m = start.year * 12 + start.month - 1 + (0 if (start.day, start.hour, start.minute) == (1, 0, 0) else 1)
    m = m + (-m % k)
    while True:
        t = pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1, tz="UTC")
        if t > end:
            return out
        out.append((t.value / 1e9, t.strftime("%b %Y")))
        m += k


def _nice_ticks(lo: float, hi: float, n: int = 5, *, integer: bool = False) -> list[float]:
    """Round ticks covering [lo, hi]; ``integer``: whole-number steps only (counts)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    steps = [m * mag for m in (1, 2, 2.5, 5, 10)]
    if integer:
        steps = [max(1.0, st) for st in steps if st >= 1 and float(st).is_integer()] or [1.0]
    step = next((st for st in steps if st >= raw), steps[-1])
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    ticks = []
    v = start
    while v <= stop + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """One format for every tick of an axis: the same unit (k, M or none) and the same
    number of decimals, chosen from the largest tick and the values."""
    if not ticks:
        return []
    top = max(abs(t) for t in ticks)
    div, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e4 else (1.0, "")
    scaled = [t / div for t in ticks]
    # the fewest decimals that show every tick exactly (0, 250k, 500k -> 0.00M, 0.25M, 0.50M)
    decimals = next((d for d in range(7) if all(abs(v * 10**d - round(v * 10**d)) < 1e-6 for v in scaled)), 6)
    return [f"{v:,.{decimals}f}{suffix}" for v in scaled]


def _num(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.4g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.4g}k"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:.3g}"


def _svg_open(width: int, height: int, label: str, cls: str) -> str:
    return (
        f'<svg class="chart {cls}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{html_text(label)}">'
        f"<title>{html_text(label)}</title>"
    )


def empty_chart(message: str, width: int = 720, height: int = 60) -> Markup:
    return Markup(
        _svg_open(width, height, message, "empty")
        + f'<text x="10" y="34" font-size="13" fill="#555">{html_text(message)}</text></svg>'
    )


def series_chart(
    series: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    *,
    label: str,
    width: int = 720,
    height: int = 230,
    href_prefix: str = "#",
    cited: set[str] | None = None,
) -> Markup:
    """Follower count over time; dots link to observations, bands mark detected events,
    crosses mark observations whose status was not ``active``. With ``cited``, only the
    observations in it are drawn as linked dots (the others are on the line, unlinked:
    a report's appendix holds the rows it cites, not every reading)."""
    pts: list[tuple[float, dict[str, Any]]] = []
    for p in series:
        tp = _epoch(p["t"])
        if tp is not None:
            pts.append((tp, p))
    counted = [(t, p) for t, p in pts if p.get("followers") is not None]
    if not pts:
        return empty_chart(f"{label}: no observations in range")
    ml, mr, mt, mb = 64, 12, 22, 30
    pw, ph = width - ml - mr, height - mt - mb
    times = [t for t, _ in pts] + [x for e in events for x in (_epoch(e.get("start")), _epoch(e.get("end"))) if x is not None]
    tlo, thi = min(times), max(times)
    if thi - tlo < 1:
        tlo, thi = tlo - 3600, thi + 3600
    vals = [float(p["followers"]) for _, p in counted] or [0.0]
    vlo, vhi = min(vals), max(vals)
    pad = max((vhi - vlo) * 0.08, 1.0)
    yt = _nice_ticks(max(vlo - pad, 0.0) if vlo >= 0 else vlo - pad, vhi + pad, integer=True)
    ylo, yhi = yt[0], yt[-1] if yt[-1] > yt[0] else yt[0] + 1

    def x(t: float) -> float:
        return ml + (t - tlo) / (thi - tlo) * pw

    def y(v: float) -> float:
        return mt + ph - (v - ylo) / (yhi - ylo) * ph

    out = [_svg_open(width, height, label, "series")]
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbf8" stroke="#d9d9d4"/>')
    out.append(_axis_title(ml, mt, "followers"))
    for v, lab in zip(yt, _tick_labels(yt), strict=True):
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="#e6e6e1"/>')
        out.append(f'<text x="{ml - 6}" y="{_f(y(v) + 4)}" font-size="11" text-anchor="end" fill="#444">{lab}</text>')
    out.append(f'<text x="{ml + pw}" y="{height - 2}" font-size="10" text-anchor="end" fill="#666">time (UTC)</text>')
    for t, lab in _time_ticks(tlo, thi):
        out.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#888"/>')
        out.append(f'<text x="{_f(x(t))}" y="{mt + ph + 17}" font-size="11" text-anchor="middle" fill="#444">{html_text(lab)}</text>')
    for e in events:
        s, en = _epoch(e.get("start")), _epoch(e.get("end"))
        if s is None or en is None:
            continue
        x0, x1 = x(s), x(en)
        w = max(x1 - x0, 3.0)
        fill = EVENT_FILL.get(str(e.get("kind")), "#999")
        tip = f"{str(e.get('kind')).replace('_', ' ')} {e.get('id')}: {_num(float(e.get('magnitude') or 0))} ({e.get('start')} – {e.get('end')})"
        out.append(
            f'<a href="{href_prefix}{html_text(e.get("id"))}" class="event-band">'
            f'<rect x="{_f(x0)}" y="{mt}" width="{_f(w)}" height="{ph}" fill="{fill}" fill-opacity="0.18" stroke="{fill}" stroke-opacity="0.6">'
            f"<title>{html_text(tip)}</title></rect></a>"
        )
    if len(counted) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{_f(x(t))},{_f(y(float(p['followers'])))}" for i, (t, p) in enumerate(counted))
        out.append(f'<path d="{path}" fill="none" stroke="#0072B2" stroke-width="1.6"/>')
    dense = len(pts) > 800
    for t, p in pts:
        # linked: the rows the report cites (``cited``: its appendix lists exactly these);
        # without that set, the point's own "cited" key decides
        linked = bool(p.get("cited", True)) if cited is None else p.get("ref") in cited
        if not linked and p.get("status") in (None, "active"):
            continue  # on the line; not a row this report cites
        ref = html_text(p.get("ref"))
        tip = html_text(f"{p['t']}: {p.get('followers') if p.get('followers') is not None else 'no count'} ({p.get('status')})")
        if p.get("status") not in (None, "active"):
            yy = y(float(p["followers"])) if p.get("followers") is not None else mt + ph - 6
            mark = (f'<path d="M{_f(x(t) - 4)},{_f(yy - 4)} l8,8 m0,-8 l-8,8" stroke="#D55E00" stroke-width="2"/>'
                    f'<circle cx="{_f(x(t))}" cy="{_f(yy)}" r="6" fill="transparent"><title>{tip}</title></circle>')
            out.append(f'<a href="{href_prefix}{ref}" class="obs-point">{mark}</a>' if linked else mark)
        elif p.get("followers") is not None and not dense:
            out.append(
                f'<a href="{href_prefix}{ref}" class="obs-point"><circle cx="{_f(x(t))}" cy="{_f(y(float(p["followers"])))}" r="2.6" fill="#0072B2">'
                f"<title>{tip}</title></circle></a>"
            )
    out.append("</svg>")
    return Markup("".join(out))


def timeline_chart(
    daily: Sequence[dict[str, Any]],
    waves: Sequence[dict[str, Any]],
    *,
    label: str,
    span: tuple[Any, Any] | None = None,
    width: int = 720,
    height: int = 240,
    href_prefix: str = "#",
) -> Markup:
    """Status changes per day and group: suspensions above the axis, reinstatements below;
    detected waves as bands."""
    if not daily and not waves:
        return empty_chart(f"{label}: no status changes in range")
    groups = sorted({d["group"] for d in daily})
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    days = sorted({d["day"] for d in daily})
    times = [_epoch(d + "T00:00:00Z") or 0.0 for d in days]
    times += [x for w in waves for x in (_epoch(w.get("start")), _epoch(w.get("end"))) if x is not None]
    if span is not None:
        times += [x for x in (_epoch(span[0]), _epoch(span[1])) if x is not None]
    tlo = math.floor(min(times) / 86400) * 86400
    thi = math.floor(max(times) / 86400) * 86400 + 86400
    ml, mr, mt, mb = 56, 12, 24, 46
    pw, ph = width - ml - mr, height - mt - mb
    up: dict[str, float] = {}
    down: dict[str, float] = {}
    for d in daily:
        up[d["day"]] = up.get(d["day"], 0) + d["suspended"]
        down[d["day"]] = down.get(d["day"], 0) + d["reinstated"]
    vmax = max([1.0, *up.values(), *down.values()])
    has_down = any(down.values())
    top = _nice_ticks(0, vmax)[-1]
    mid = mt + (ph / 2 if has_down else ph)
    scale = (ph / 2 if has_down else ph) / top

    def x(t: float) -> float:
        return ml + (t - tlo) / (thi - tlo) * pw

    out = [_svg_open(width, height, label, "timeline")]
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbf8" stroke="#d9d9d4"/>')
    for w in waves:
        s, en = _epoch(w.get("start")), _epoch(w.get("end"))
        if s is None or en is None:
            continue
        fill = EVENT_FILL.get(str(w.get("kind")), "#999")
        tip = f"{w.get('kind')} {w.get('id')}: {w.get('magnitude')} accounts ({w.get('start')} – {w.get('end')})"
        out.append(
            f'<a href="{href_prefix}{html_text(w.get("id"))}" class="event-band"><rect x="{_f(x(s))}" y="{mt}" width="{_f(max(x(en) - x(s), 3.0))}" height="{ph}" '
            f'fill="{fill}" fill-opacity="0.15" stroke="{fill}" stroke-opacity="0.7"><title>{html_text(tip)}</title></rect></a>'
        )
    ticks = _nice_ticks(0, top)
    for v, lab in zip(ticks, _tick_labels(ticks), strict=True):
        yy = mid - v * scale
        out.append(f'<text x="{ml - 6}" y="{_f(yy + 4)}" font-size="11" text-anchor="end" fill="#444">{lab}</text>')
        if has_down and v > 0:
            out.append(f'<text x="{ml - 6}" y="{_f(mid + v * scale + 4)}" font-size="11" text-anchor="end" fill="#444">{lab}</text>')
    bar_w = max(pw / max((thi - tlo) / 86400, 1) * 0.8, 1.5)
    stack_up: dict[str, float] = {}
    stack_down: dict[str, float] = {}
    for d in sorted(daily, key=lambda r: (r["day"], r["group"])):
        t = _epoch(d["day"] + "T00:00:00Z") or 0.0
        xx = x(t) + 1
        c = colour[d["group"]]
        if d["suspended"]:
            base = stack_up.get(d["day"], 0.0)
            hgt = d["suspended"] * scale
            out.append(
                f'<rect x="{_f(xx)}" y="{_f(mid - base - hgt)}" width="{_f(bar_w)}" height="{_f(hgt)}" fill="{c}">'
                f"<title>{html_text(d['day'])} {html_text(d['group'])}: {d['suspended']} suspended</title></rect>"
            )
            stack_up[d["day"]] = base + hgt
        if d["reinstated"]:
            base = stack_down.get(d["day"], 0.0)
            hgt = d["reinstated"] * scale
            out.append(
                f'<rect x="{_f(xx)}" y="{_f(mid + base)}" width="{_f(bar_w)}" height="{_f(hgt)}" fill="{c}" fill-opacity="0.55">'
                f"<title>{html_text(d['day'])} {html_text(d['group'])}: {d['reinstated']} reinstated</title></rect>"
            )
            stack_down[d["day"]] = base + hgt
    out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_f(mid)}" y2="{_f(mid)}" stroke="#333"/>')
    out.append(_axis_title(ml, mt, "accounts per day (UTC days)"))
    out.append(f'<text x="{ml + 4}" y="{mt + 12}" font-size="11" fill="#333">suspended ↑</text>')
    if has_down:
        out.append(f'<text x="{ml + 4}" y="{mt + ph - 4}" font-size="11" fill="#333">reinstated ↓</text>')
    for t, lab in _time_ticks(tlo, thi):
        out.append(f'<text x="{_f(x(t))}" y="{mt + ph + 15}" font-size="11" text-anchor="middle" fill="#444">{html_text(lab)}</text>')
    lx = ml
    for g in groups:
        out.append(f'<rect x="{_f(lx)}" y="{height - 14}" width="10" height="10" fill="{colour[g]}"/>')
        out.append(f'<text x="{_f(lx + 14)}" y="{height - 5}" font-size="11" fill="#333">{html_text(g, 40)}</text>')
        lx += 24 + 7 * min(len(g), 40)
    out.append("</svg>")
    return Markup("".join(out))


def interval_chart(
    rows: Sequence[dict[str, Any]],
    *,
    label: str,
    width: int = 720,
    percent: bool = True,
) -> Markup:
    """Dot-and-whisker: an estimate per row with its 95% interval."""
    rows = [r for r in rows if isinstance(r.get("value"), int | float)]
    if not rows:
        return empty_chart(f"{label}: no estimates")
    ml, mr, mt, mb = 160, 20, 10, 42
    rh = 26
    height = mt + mb + rh * len(rows)
    pw = width - ml - mr
    vals = [float(v) for r in rows for v in (r.get("value"), r.get("lo"), r.get("hi")) if isinstance(v, int | float)]
    lo = min(0.0, *vals)
    hi = max(vals) if max(vals) > lo else lo + 1
    ticks = _nice_ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]

    def x(v: float) -> float:
        return ml + (v - lo) / (hi - lo) * pw

    out = [_svg_open(width, height, label, "intervals")]
    labels = _tick_labels([t * 100 for t in ticks]) if percent else _tick_labels(ticks)
    for t, lab in zip(ticks, labels, strict=True):
        out.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="{mt}" y2="{height - mb}" stroke="#e6e6e1"/>')
        txt = f"{lab}%" if percent else lab
        out.append(f'<text x="{_f(x(t))}" y="{height - mb + 16}" font-size="11" text-anchor="middle" fill="#444">{txt}</text>')
    title = "share of the group's accounts (dot) with its 95% interval (line)" if percent else "estimate with its 95% interval"
    out.append(f'<text x="{ml + pw}" y="{height - 4}" font-size="10" text-anchor="end" fill="#666">{title}</text>')
    for i, r in enumerate(rows):
        cy = mt + rh * i + rh / 2
        c = PALETTE[i % len(PALETTE)]
        out.append(f'<text x="{ml - 8}" y="{_f(cy + 4)}" font-size="12" text-anchor="end" fill="#222">{html_text(r.get("label"), 24)}</text>')
        if isinstance(r.get("lo"), int | float) and isinstance(r.get("hi"), int | float):
            out.append(f'<line x1="{_f(x(float(r["lo"])))}" x2="{_f(x(float(r["hi"])))}" y1="{_f(cy)}" y2="{_f(cy)}" stroke="{c}" stroke-width="2"/>')
        v = float(r["value"])
        tip = f"{r.get('label')}: {v * 100:.2f}%" if percent else f"{r.get('label')}: {v:.4g}"
        dot = f'<circle cx="{_f(x(v))}" cy="{_f(cy)}" r="5" fill="{c}"><title>{html_text(tip)}</title></circle>'
        if r.get("href"):
            dot = f'<a href="{html_text(r["href"])}">{dot}</a>'
        out.append(dot)
    out.append("</svg>")
    return Markup("".join(out))


def stacked_bar(parts: Sequence[tuple[str, float]], *, label: str, width: int = 720, height: int = 56) -> Markup:
    """One horizontal bar split into labelled parts (e.g. the fates of lost followers)."""
    total = sum(max(float(v), 0.0) for _, v in parts)
    if total <= 0:
        return empty_chart(f"{label}: nothing to break down")
    out = [_svg_open(width, height, label, "stacked")]
    x0 = 0.0
    legend_x = 0.0
    for i, (name, v) in enumerate(parts):
        w = max(float(v), 0.0) / total * width
        c = PALETTE[i % len(PALETTE)]
        if w > 0:
            out.append(f'<rect x="{_f(x0)}" y="0" width="{_f(w)}" height="26" fill="{c}"><title>{html_text(name)}: {_num(float(v))}</title></rect>')
        x0 += w
        out.append(f'<rect x="{_f(legend_x)}" y="36" width="10" height="10" fill="{c}"/>')
        txt = f"{name} {_num(float(v))}"
        out.append(f'<text x="{_f(legend_x + 14)}" y="45" font-size="11" fill="#333">{html_text(txt, 40)}</text>')
        legend_x += 22 + 6.5 * len(txt)
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(
    bars: Sequence[tuple[str, float]], *, label: str, width: int = 720, height: int = 200, highlight: set[str] | None = None,
    y_label: str = "accounts", x_label: str = "", max_bars: int = 72,
) -> Markup:
    """Vertical bars with category labels (histograms of creation dates and the like).
    More than ``max_bars`` categories are merged into runs of neighbours (summed), so a
    chart stays readable and small; the merged bar is labelled with its first category."""
    if not bars:
        return empty_chart(f"{label}: no data")
    bars = _merge_bars(bars, max_bars, highlight)
    highlight = {name for name, _ in bars if name.endswith("*")} | (highlight or set())
    ml, mr, mt, mb = 56, 10, 22, 40
    pw, ph = width - ml - mr, height - mt - mb
    top = _nice_ticks(0, max(1.0, *(float(v) for _, v in bars)))[-1]
    bw = pw / len(bars)
    out = [_svg_open(width, height, label, "bars")]
    out.append(_axis_title(ml, mt, y_label))
    ticks = _nice_ticks(0, top)
    for v, lab in zip(ticks, _tick_labels(ticks), strict=True):
        yy = mt + ph - v / top * ph
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_f(yy)}" y2="{_f(yy)}" stroke="#e6e6e1"/>')
        out.append(f'<text x="{ml - 6}" y="{_f(yy + 4)}" font-size="11" text-anchor="end" fill="#444">{lab}</text>')
    if x_label:
        out.append(f'<text x="{ml + pw}" y="{height - 2}" font-size="10" text-anchor="end" fill="#666">{html_text(x_label)}</text>')
    every = max(1, math.ceil(len(bars) / 12))
    for i, (name, v) in enumerate(bars):
        h = float(v) / top * ph
        c = "#D55E00" if name in highlight else "#0072B2"
        name = name.rstrip("*")
        out.append(
            f'<rect x="{_f(ml + i * bw + 1)}" y="{_f(mt + ph - h)}" width="{_f(max(bw - 2, 1))}" height="{_f(h)}" fill="{c}">'
            f"<title>{html_text(name)}: {_num(float(v))}</title></rect>"
        )
        if i % every == 0 and ml + i * bw + bw / 2 + 30 <= width:  # never clipped at the right edge
            out.append(f'<text x="{_f(ml + i * bw + bw / 2)}" y="{mt + ph + 14}" font-size="10" text-anchor="middle" fill="#444">{html_text(name.split(" – ")[0], 16)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _merge_bars(bars: Sequence[tuple[str, float]], max_bars: int, highlight: set[str] | None) -> list[tuple[str, float]]:
    """Runs of neighbouring categories summed into at most ``max_bars`` bars, named
    ``first – last``; a run holding a highlighted category is marked with a trailing ``*``."""
    if len(bars) <= max_bars:
        return [(n + ("*" if highlight and n in highlight else ""), float(v)) for n, v in bars]
    size = math.ceil(len(bars) / max_bars)
    out = []
    for i in range(0, len(bars), size):
        run = bars[i:i + size]
        name = run[0][0] if len(run) == 1 else f"{run[0][0]} – {run[-1][0]}"
        hot = bool(highlight) and any(n in highlight for n, _ in run)  # type: ignore[operator]
        out.append((name + ("*" if hot else ""), float(sum(float(v) for _, v in run))))
    return out


def _axis_title(ml: float, mt: float, text: str) -> str:
    """A y-axis title set horizontally above the axis (never on top of the tick labels)."""
    return f'<text x="{_f(ml - 6)}" y="{_f(mt - 8)}" font-size="10" text-anchor="start" fill="#666">{html_text(text)}</text>'


def scatter_chart(
    points: Sequence[tuple[float, float]], *, label: str, x_label: str, y_label: str, x_is_time: bool = False, y_is_time: bool = False,
    width: int = 720, height: int = 260,
) -> Markup:
    """Scatter (e.g. follower order vs account creation date: bought followers form bands)."""
    if not points:
        return empty_chart(f"{label}: no data")
    ml, mr, mt, mb = 80, 12, 22, 40
    pw, ph = width - ml - mr, height - mt - mb
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    xlo, xhi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    yt = _nice_ticks(min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1)
    ylo, yhi = yt[0], yt[-1]
    out = [_svg_open(width, height, label, "scatter")]
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbf8" stroke="#d9d9d4"/>')

    def x(v: float) -> float:
        return ml + (v - xlo) / (xhi - xlo) * pw

    def y(v: float) -> float:
        return mt + ph - (v - ylo) / (yhi - ylo) * ph

    if y_is_time:
        ylo, yhi = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 86400
        pad_t = (yhi - ylo) * 0.03
        ylo, yhi = ylo - pad_t, yhi + pad_t
        for v, lab in _time_ticks(ylo, yhi, max_ticks=6):
            out.append(f'<text x="{ml - 6}" y="{_f(y(v) + 4)}" font-size="11" text-anchor="end" fill="#444">{html_text(lab)}</text>')
    else:
        for v, lab in zip(yt, _tick_labels(yt), strict=True):
            out.append(f'<text x="{ml - 6}" y="{_f(y(v) + 4)}" font-size="11" text-anchor="end" fill="#444">{lab}</text>')
    if x_is_time:
        for t, lab in _time_ticks(xlo, xhi):
            out.append(f'<text x="{_f(x(t))}" y="{mt + ph + 15}" font-size="11" text-anchor="middle" fill="#444">{html_text(lab)}</text>')
    else:
        xt = [v for v in _nice_ticks(xlo, xhi) if xlo <= v <= xhi]
        for v, lab in zip(xt, _tick_labels(xt), strict=True):
            out.append(f'<text x="{_f(x(v))}" y="{mt + ph + 15}" font-size="11" text-anchor="middle" fill="#444">{lab}</text>')
    # Points binned to 2 px cells and drawn as one path per density tier: a dense band
    # stays dark, and 5,000 points cost kilobytes, not a megabyte of <rect>s.
    cells: dict[tuple[int, int], int] = {}
    for px, py in points:
        c = (int(x(px) // 2), int(y(py) // 2))
        cells[c] = cells.get(c, 0) + 1
    tiers = [(1, 1, 0.45), (2, 3, 0.7), (4, 1 << 62, 1.0)]
    for lo_n, hi_n, alpha in tiers:
        d = "".join(f"M{cx * 2} {cy * 2}h2v2h-2z" for (cx, cy), n in sorted(cells.items()) if lo_n <= n <= hi_n)
        if d:
            out.append(f'<path d="{d}" fill="#0072B2" fill-opacity="{alpha}"/>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#333">{html_text(x_label)}</text>')
    out.append(_axis_title(ml, mt, y_label))
    out.append("</svg>")
    return Markup("".join(out))

