"""Inline SVG charts generated on the server (no JavaScript, no external request).

Every chart is a plain ``<svg>`` string built from numbers; every piece of text that
could come from data goes through :func:`purgewatch.report._safe.html_text`. Points and
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

from purgewatch.report._safe import html_text

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
    span = max(hi - lo, 1.0)
    step = next((s for s in _STEPS if span / s <= max_ticks), _STEPS[-1])
    first = math.ceil(lo / step) * step
    fmt = "%H:%M" if step < 86400 and span <= 86400 else ("%m-%d %H:%M" if step < 86400 else "%Y-%m-%d")
    out: list[tuple[float, str]] = []
    t = float(first)
    while t <= hi + 1e-9:
        out.append((t, pd.Timestamp(t, unit="s", tz="UTC").strftime(fmt)))
        t += step
    return out


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    ticks = []
    v = start
    while v <= stop + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


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
    height: int = 220,
    href_prefix: str = "#",
) -> Markup:
    """Follower count over time; dots link to observations (only those marked ``cited``
    when points carry that key: the others are on the line), bands mark detected events,
    crosses mark observations whose status was not ``active``."""
    pts: list[tuple[float, dict[str, Any]]] = []
    for p in series:
        tp = _epoch(p["t"])
        if tp is not None:
            pts.append((tp, p))
    counted = [(t, p) for t, p in pts if p.get("followers") is not None]
    if not pts:
        return empty_chart(f"{label}: no observations in range")
    ml, mr, mt, mb = 64, 12, 12, 28
    pw, ph = width - ml - mr, height - mt - mb
    times = [t for t, _ in pts] + [x for e in events for x in (_epoch(e.get("start")), _epoch(e.get("end"))) if x is not None]
    tlo, thi = min(times), max(times)
    if thi - tlo < 1:
        tlo, thi = tlo - 3600, thi + 3600
    vals = [float(p["followers"]) for _, p in counted] or [0.0]
    vlo, vhi = min(vals), max(vals)
    pad = max((vhi - vlo) * 0.08, 1.0)
    yt = _nice_ticks(max(vlo - pad, 0.0) if vlo >= 0 else vlo - pad, vhi + pad)
    ylo, yhi = yt[0], yt[-1] if yt[-1] > yt[0] else yt[0] + 1

    def x(t: float) -> float:
        return ml + (t - tlo) / (thi - tlo) * pw

    def y(v: float) -> float:
        return mt + ph - (v - ylo) / (yhi - ylo) * ph

    out = [_svg_open(width, height, label, "series")]
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbf8" stroke="#d9d9d4"/>')
    for v in yt:
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="#e6e6e1"/>')
        out.append(f'<text x="{ml - 6}" y="{_f(y(v) + 4)}" font-size="11" text-anchor="end" fill="#444">{_num(v)}</text>')
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
        tip = f"{e.get('kind')} {e.get('id')}: {e.get('magnitude')} ({e.get('start')} – {e.get('end')})"
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
        ref = html_text(p.get("ref"))
        tip = html_text(f"{p['t']}: {p.get('followers') if p.get('followers') is not None else 'no count'} ({p.get('status')})")
        if p.get("status") not in (None, "active"):
            yy = y(float(p["followers"])) if p.get("followers") is not None else mt + ph - 6
            mark = (f'<path d="M{_f(x(t) - 4)},{_f(yy - 4)} l8,8 m0,-8 l-8,8" stroke="#D55E00" stroke-width="2"/>'
                    f'<circle cx="{_f(x(t))}" cy="{_f(yy)}" r="6" fill="transparent"><title>{tip}</title></circle>')
            out.append(f'<a href="{href_prefix}{ref}" class="obs-point">{mark}</a>' if p.get("cited", True) else mark)
        elif p.get("followers") is not None and not dense and p.get("cited", True):
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
    ml, mr, mt, mb = 56, 12, 14, 46
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
    for v in _nice_ticks(0, top):
        yy = mid - v * scale
        out.append(f'<text x="{ml - 6}" y="{_f(yy + 4)}" font-size="11" text-anchor="end" fill="#444">{_num(v)}</text>')
        if has_down and v > 0:
            out.append(f'<text x="{ml - 6}" y="{_f(mid + v * scale + 4)}" font-size="11" text-anchor="end" fill="#444">{_num(v)}</text>')
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
    ml, mr, mt, mb = 160, 20, 10, 30
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
    for t in ticks:
        out.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="{mt}" y2="{height - mb}" stroke="#e6e6e1"/>')
        txt = f"{t * 100:.4g}%" if percent else _num(t)
        out.append(f'<text x="{_f(x(t))}" y="{height - mb + 16}" font-size="11" text-anchor="middle" fill="#444">{txt}</text>')
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
    bars: Sequence[tuple[str, float]], *, label: str, width: int = 720, height: int = 200, highlight: set[str] | None = None
) -> Markup:
    """Vertical bars with category labels (histograms of creation dates and the like)."""
    if not bars:
        return empty_chart(f"{label}: no data")
    ml, mr, mt, mb = 56, 10, 10, 40
    pw, ph = width - ml - mr, height - mt - mb
    top = _nice_ticks(0, max(1.0, *(float(v) for _, v in bars)))[-1]
    bw = pw / len(bars)
    out = [_svg_open(width, height, label, "bars")]
    for v in _nice_ticks(0, top):
        yy = mt + ph - v / top * ph
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_f(yy)}" y2="{_f(yy)}" stroke="#e6e6e1"/>')
        out.append(f'<text x="{ml - 6}" y="{_f(yy + 4)}" font-size="11" text-anchor="end" fill="#444">{_num(v)}</text>')
    every = max(1, math.ceil(len(bars) / 12))
    for i, (name, v) in enumerate(bars):
        h = float(v) / top * ph
        c = "#D55E00" if highlight and name in highlight else "#0072B2"
        out.append(
            f'<rect x="{_f(ml + i * bw + 1)}" y="{_f(mt + ph - h)}" width="{_f(max(bw - 2, 1))}" height="{_f(h)}" fill="{c}">'
            f"<title>{html_text(name)}: {_num(float(v))}</title></rect>"
        )
        if i % every == 0:
            out.append(f'<text x="{_f(ml + i * bw + bw / 2)}" y="{mt + ph + 14}" font-size="10" text-anchor="middle" fill="#444">{html_text(name, 16)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def scatter_chart(
    points: Sequence[tuple[float, float]], *, label: str, x_label: str, y_label: str, x_is_time: bool = False, y_is_time: bool = False,
    width: int = 720, height: int = 260,
) -> Markup:
    """Scatter (e.g. follower order vs account creation date: bought followers form bands)."""
    if not points:
        return empty_chart(f"{label}: no data")
    ml, mr, mt, mb = 64, 12, 10, 40
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
        for v in yt:
            out.append(f'<text x="{ml - 6}" y="{_f(y(v) + 4)}" font-size="11" text-anchor="end" fill="#444">{_num(v)}</text>')
    if x_is_time:
        for t, lab in _time_ticks(xlo, xhi):
            out.append(f'<text x="{_f(x(t))}" y="{mt + ph + 15}" font-size="11" text-anchor="middle" fill="#444">{html_text(lab)}</text>')
    else:
        for v in _nice_ticks(xlo, xhi):
            if xlo <= v <= xhi:
                out.append(f'<text x="{_f(x(v))}" y="{mt + ph + 15}" font-size="11" text-anchor="middle" fill="#444">{_num(v)}</text>')
    for px, py in points[:20000]:
        out.append(f'<rect x="{_f(x(px))}" y="{_f(y(py))}" width="1.6" height="1.6" fill="#0072B2"/>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#333">{html_text(x_label)}</text>')
    out.append(f'<text x="12" y="{mt + ph / 2}" font-size="11" text-anchor="middle" fill="#333" transform="rotate(-90 12 {_f(mt + ph / 2)})">{html_text(y_label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))

