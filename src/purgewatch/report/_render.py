"""Publish findings: one self-contained HTML file, a JSON bundle and a CSV bundle.

The HTML makes no network request and runs no script: charts are inline SVG, the style
sheet is inline and allowed by its SHA-256 in a strict Content-Security-Policy, and the
machine-readable findings ride along in a non-executable ``application/json`` block.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from purgewatch.errors import InputError
from purgewatch.findings import (
    Findings,
    display_name,
    extra_sections,
    gather_findings,
    iso,
    sections_of,
)
from purgewatch.report import _svg
from purgewatch.report._jsonout import json_parts
from purgewatch.safetext import csv_cell, json_for_html, visible
from purgewatch.store import Store
from purgewatch.timefmt import human_span, human_time, zone

BREAKDOWN_ORDER = ("suspended", "takendown", "deleted", "deactivated", "unfollowed", "suspended_or_deleted",
                   "not_found", "unknown")


# --------------------------------------------------------------------------- jinja
@lru_cache(maxsize=1)
def stylesheet() -> str:
    return resources.files("purgewatch.report").joinpath("templates/style.css").read_text("utf-8")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def report_csp() -> str:
    """No script at all, no network, the one inline style sheet allowed by hash."""
    return (
        "default-src 'none'; script-src 'none'; "
        f"style-src {csp_hash(stylesheet())}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.4g}"
    return visible(v, 200)


def _pct(v: Any) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return f"{v * 100:.1f}%"
    return "—"


def _cell(v: Any) -> str:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) or x is None for x in v):
        return f"[{_fmt(v[0])}, {_fmt(v[1])}]"
    if isinstance(v, list):
        return visible(", ".join(_fmt(x) for x in v[:20]) + (f" … ({len(v)} items)" if len(v) > 20 else ""), 400)
    if isinstance(v, dict):
        return visible(json.dumps(v, ensure_ascii=False, sort_keys=True), 400)
    return _fmt(v)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def table_rows(value: Any) -> list[dict[str, Any]]:
    """Any analysis answer as rows of scalars (for generic tables and CSV)."""
    if isinstance(value, list):
        if all(isinstance(x, dict) for x in value):
            return [_flatten(x) for x in value]
        return [{"value": x} for x in value]
    if isinstance(value, dict):
        if all(isinstance(x, dict) for x in value.values()) and value:
            return [{"key": k, **_flatten(v)} for k, v in value.items()]
        return [{"key": k, "value": v} for k, v in _flatten(value).items()]
    return [{"value": value}]


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("purgewatch.report", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    register_filters(env)
    return env


# Column and key names as an editor would write them (anything else: see ``words``).
_WORDS = {
    "account_id": "account id", "shared_lost": "followers lost by both", "their_lost": "followers they lost",
    "jaccard": "overlap (Jaccard)", "share_of_lost": "share of this drop", "outcome_count": "with outcome",
    "ci_low": "95% interval, low", "ci_high": "95% interval, high", "rate": "rate", "p_value": "p-value",
    "p_value_adjusted": "p-value (Holm-adjusted)", "n": "accounts", "first_position": "first position",
    "last_position": "last position", "in_span": "created in the span", "span_start": "span starts",
    "span_end": "span ends", "null_share": "share expected by chance", "lost_breakdown": "what became of the lost",
    "verdict_numbers": "numbers behind the verdict", "net_change": "net change", "ci": "95% interval",
    "ci_method": "interval method", "rate_ratio": "rate ratio", "n_refs": "rows", "tool_versions": "tool versions",
    "payload_hashes": "distinct payloads", "first_retrieved": "first retrieved", "last_retrieved": "last retrieved",
    "batch_id": "batch", "started_at": "started", "committed_at": "committed", "source_ref": "request / file:line",
    "young_share": "share under 30 days old", "gain_ratio": "gain vs usual", "count_source": "counts from",
}


def words(key: Any) -> str:
    """A raw key (``effect.rate_ratio_ci_method``) as words (``effect: rate ratio interval method``)."""
    parts = [p for p in str(key).split(".") if p]
    out = []
    for p in parts:
        w = _WORDS.get(p)
        if w is None:
            w = " ".join({"ci": "interval", "p": "p", "pct": "%"}.get(t, t) for t in p.split("_"))
        out.append(w)
    return ": ".join(out) if out else str(key)


@jinja2.pass_context
def _when(ctx: Any, v: Any) -> Markup:
    """A time for readers (``Thu 21 May 2026, 13:36 UTC`` in the report's zone), with the
    ISO time for machines in ``datetime`` and as the hover title."""
    if isinstance(v, list | tuple):
        if len(v) == 2 and v[0] and v[1]:
            text = human_span(v[0], v[1], ctx.get("tz"))
            a, b = iso(v[0]) or "", iso(v[1]) or ""
            return Markup('<time datetime="{0}" title="{0} – {1}">{2}</time>').format(a, b, text)
        v = v[0] if v else None
    if v is None or v == "":
        return Markup("—")
    tz = ctx.get("tz")
    if isinstance(v, str) and (tz is None or isinstance(tz, str)):
        return _when_text(v, tz)
    stamp = iso(v) or str(v)
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(stamp, human_time(v, tz))


@functools.lru_cache(maxsize=65_536)
def _when_text(v: str, tz: str | None) -> Markup:
    """``when`` of an ISO string: a report cites the same few times (an import's retrieval
    time, a day's readings) thousands of times; each is parsed and formatted once."""
    stamp = iso(v) or str(v)
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(stamp, human_time(v, tz))


def register_filters(env: jinja2.Environment) -> None:
    env.filters["vis"] = lambda v, limit=280: visible(v, limit)
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    env.filters["cell"] = _cell
    env.filters["columns"] = _columns
    env.filters["tablerows"] = table_rows
    env.filters["flatrows"] = lambda v: table_rows(v if isinstance(v, dict) else {"value": v})
    env.filters["words"] = words
    env.filters["when"] = _when
    env.filters["name"] = display_name


# --------------------------------------------------------------------------- charts
def estimate(g: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(rate, low, high) from a compare group, whatever the interval key is called."""
    rate = g.get("rate")
    lo = hi = None
    for key in ("ci", "rate_ci", "interval", "ci95", "wilson"):
        v = g.get(key)
        if isinstance(v, list | tuple) and len(v) == 2:
            lo, hi = v
        elif isinstance(v, dict):
            lo, hi = v.get("low", v.get("lo")), v.get("high", v.get("hi"))
    for lk, hk in (("ci_low", "ci_high"), ("low", "high"), ("rate_low", "rate_high"), ("lo", "hi")):
        if lo is None and lk in g:
            lo, hi = g.get(lk), g.get(hk)
    num = lambda x: float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None  # noqa: E731
    return num(rate), num(lo), num(hi)


def build_charts(findings: Findings | dict[str, Any], *, href_prefix: str = "#") -> dict[str, Any]:
    """Every chart of the report (inline SVG), from the findings or their JSON document."""
    f = _doc(findings)
    events = {e["id"]: e for e in f["events"]}
    charts: dict[str, Any] = {
        "timeline": _svg.timeline_chart(
            f["timeline"], [e for e in f["events"] if e.get("shown", True) and e["kind"] in ("suspension_wave", "reinstatement_wave", "purge")],
            label="Status changes per day and detected waves", href_prefix=href_prefix,
            span=(f["summary"].get("first_observation"), f["summary"].get("last_observation")),
        ),
        "accounts": {},
        "explain": {},
    }
    cited = {r["ref"] for r in f["observations"] if r.get("cited", True)}
    for a in f["accounts"]:
        if not a.get("series_shown", True):
            continue
        charts["accounts"][a["key"]] = _svg.series_chart(
            a["series"], [events[i] for i in a["events"] if i in events],
            label=f"Followers of {display_name(a)} ({a['platform']})", href_prefix=href_prefix, cited=cited,
        )
    for x in f["explain"]:
        res = x.get("result") or {}
        bd = res.get("lost_breakdown") or {}
        parts = [(k, float(bd.get(k) or 0)) for k in BREAKDOWN_ORDER if k in bd]
        parts += [(k, float(v)) for k, v in sorted(bd.items()) if k not in BREAKDOWN_ORDER and isinstance(v, int | float)]
        charts["explain"][x["event"]] = _svg.stacked_bar(
            parts, label=f"What became of the followers {display_name(x)} lost ({x['event']})")
    charts["bots"] = {x["event"]: bot_charts((x.get("result") or {}).get("bot_likeness")) for x in f["explain"]}
    charts["compare"] = [compare_chart(c) for c in f.get("compare") or []]
    charts["forensics"] = {x["event"]: forensics_charts(x) for x in f.get("forensics") or []}
    return charts


def bot_charts(b: dict[str, Any] | None) -> list[tuple[str, Markup]]:
    """Bot-likeness of the lost followers beside the remaining ones and the model's
    genuine reference (explain's ``bot_likeness``): the share scoring as bots with its
    95% interval, and the lost followers' score histogram."""
    if not b or not (b.get("lost") or {}).get("scored"):
        return []
    rows = []
    for key, name in (("lost", "lost"), ("remaining", "remaining"), ("genuine_reference", "genuine ref.")):
        d = b.get(key) or {}
        ci = d.get("share_bot_ci") or [None, None]
        if d.get("scored"):
            rows.append({"label": f"{name} (n={d['scored']})", "value": d.get("share_bot"), "lo": ci[0], "hi": ci[1]})
    t = b.get("threshold")
    hist = (b.get("lost") or {}).get("histogram") or []
    bars = [(f"{i / len(hist):.1f}–{(i + 1) / len(hist):.1f}", float(v)) for i, v in enumerate(hist)]
    return [
        (f"Share scoring as bots (score ≥ {t})", _svg.interval_chart(rows, label=f"Share scoring as bots (score ≥ {t}), with 95% interval")),
        ("Scores of the lost followers", _svg.bar_chart(bars, label="Bot-likeness scores of the lost followers", height=160)),
    ]


def compare_chart(c: dict[str, Any], href_prefix: str = "#") -> Markup:
    rows = []
    for g in c.get("groups", []) or []:
        if not isinstance(g, dict):
            continue
        rate, lo, hi = estimate(g)
        fid = (c.get("facts") or {}).get(str(g.get("group")))
        rows.append({"label": str(g.get("group")), "value": rate, "lo": lo, "hi": hi, "href": f"{href_prefix}{fid}" if fid else None})
    return _svg.interval_chart(rows, label=f"Share of accounts with outcome “{c.get('outcome')}”, by group, with 95% interval")


def forensics_charts(x: dict[str, Any]) -> list[tuple[str, Markup]]:
    """Creation-date profiles of lost/remaining/gained followers and the Follower-Factory
    scatter, for one explained drop."""
    out: list[tuple[str, Markup]] = []
    creation = x.get("creation") or {}
    for name in ("lost", "remaining", "gained"):
        st = (creation.get("sets") or {}).get(name)
        if not st or not st.get("accounts"):
            continue
        prof = st.get("profile") or {}
        batch_periods = {str(b.get("peak"))[:10] for b in st.get("batches") or []}
        bars = [(str(k)[:10], float(v)) for k, v in sorted(prof.items())]
        title = f"Creation dates of {name} followers (n={st.get('accounts'):,}; {len(st.get('batches') or [])} batch(es), in orange)"
        out.append((title, _svg.bar_chart(bars, label=title, highlight=batch_periods, y_label="accounts created",
                                          x_label="creation date (period start)")))
    order = x.get("order") or {}
    pts_d = order.get("points") or {}
    pts = []
    for pos, created in zip(pts_d.get("position") or [], pts_d.get("created_at") or [], strict=False):
        t = _svg._epoch(created)
        if t is not None:
            pts.append((float(pos), t))
    if pts:
        title = f"Follower order vs account creation date ({order.get('followers', 0):,} followers; {len(order.get('bands') or [])} dense band(s))"
        out.append((title, _svg.scatter_chart(pts, label=title, x_label="follower order (oldest → newest)", y_label="account created", y_is_time=True)))
    return out


# --------------------------------------------------------------------------- outputs
def render_html(findings: Findings, *, generated_at: str, title: str | None = None,
                tz: str | None = None) -> str:
    """The report page; times for readers in ``tz`` (an IANA zone; default UTC)."""
    zone(tz)  # an unknown zone is refused before any work
    doc = _doc(findings)  # the templates read the JSON document
    env = environment()
    tpl = env.get_template("report.html.j2")
    view, hidden = html_view(doc)
    # Look-ups by id for the template: a filter over every event per charted account
    # (or every fact per group) costs accounts x events, seconds on a large store.
    event_at = {e["id"]: i for i, e in enumerate(view["events"])}
    fact_of = {x["id"]: x for x in view["facts"]}
    return tpl.render(
        f=view,
        events_named=lambda ids: [view["events"][i] for i in sorted({event_at[x] for x in ids if x in event_at})],
        fact_value=lambda fid: fact_of[fid]["value"],
        hidden_accounts=hidden,
        charts=build_charts(view),
        css=Markup(stylesheet()),
        csp=report_csp(),
        title=title or "Accounts that vanished: evidence report",
        fact_href="#",
        account_link=_report_account_link(view),
        explain_link=_report_explain_link(view),
        names=account_display_names(doc),
        generated_at=generated_at,
        tz=tz or "UTC",
        findings_json=_embedded(doc),
        sections=sections_of(doc),
    )


MAX_HTML_OTHER_ACCOUNTS = 1000  # rows of the page's "Other accounts" table


def html_view(f: dict[str, Any], limit: int | None = None) -> tuple[dict[str, Any], int]:
    """What the HTML page shows of the findings, and how many accounts it leaves to the
    bundles. Accounts without a chart beyond ``limit`` (those no shown event, explanation
    or forensics item names go first) are left out of the page, with their latest-reading
    fact and the stored rows only that fact cites: the page grows with what the findings
    cite, not with the accounts watched. The JSON and CSV bundles keep everything."""
    limit = MAX_HTML_OTHER_ACCOUNTS if limit is None else limit
    rest = [a for a in f["accounts"] if not a.get("series_shown", True)]
    if len(rest) <= limit:
        return f, 0
    named = {(e.get("platform"), e.get("account_id")) for e in f["events"] if e.get("shown", True)}
    named |= {(x.get("platform"), x.get("account_id")) for x in [*f["explain"], *(f.get("forensics") or [])]}
    keep = [a for a in rest if (a["platform"], a["account_id"]) in named]
    keep_keys = {a["key"] for a in keep}
    keep += [a for a in rest if a["key"] not in keep_keys][:max(0, limit - len(keep))]
    keep_keys = {a["key"] for a in keep}
    hidden = [a for a in rest if a["key"] not in keep_keys]
    hidden_facts = {(a.get("latest") or {}).get("fact") for a in hidden} - {None}
    facts = [x for x in f["facts"] if x["id"] not in hidden_facts]
    shown_refs = {r for x in facts for r in x.get("refs") or []}
    hidden_refs = {r for x in f["facts"] if x["id"] in hidden_facts for r in x.get("refs") or []} - shown_refs
    view = dict(f)
    view["accounts"] = [a for a in f["accounts"] if a.get("series_shown", True) or a["key"] in keep_keys]
    view["facts"] = facts
    view["observations"] = [r for r in f["observations"] if r["ref"] not in hidden_refs]
    return view, len(hidden)


def account_display_names(f: Findings | dict[str, Any]) -> dict[tuple[str, str], str]:
    """(platform, account_id) -> ``Label (@handle)`` for every named account of the findings."""
    accounts = f.accounts if isinstance(f, Findings) else f["accounts"]
    return {(a["platform"], a["account_id"]): display_name(a) for a in accounts if a.get("handle") or a.get("label")}


def _doc(findings: Findings | dict[str, Any]) -> dict[str, Any]:
    """The findings' JSON document (what the templates, the bundles and the charts read)."""
    return findings.to_json() if isinstance(findings, Findings) else findings


def _report_account_link(f: dict[str, Any]) -> Callable[[dict[str, Any]], str | None]:
    anchors = {(a["platform"], a["account_id"]): a["anchor"] for a in f["accounts"]}

    def link(d: dict[str, Any]) -> str | None:
        anchor = anchors.get((d.get("platform"), d.get("account_id"))) or d.get("anchor")
        return f"#{anchor}" if anchor else None

    return link


def _report_explain_link(f: dict[str, Any]) -> Callable[[dict[str, Any]], str | None]:
    explained = {x["event"] for x in f["explain"]}
    return lambda e: f"#x-{e['id']}" if e.get("id") in explained else None


EMBED_LIMIT = 600_000  # characters of findings JSON embedded in the HTML


def _embedded(findings: dict[str, Any]) -> Markup:
    """The findings inside the HTML without their bulk (chart series, follower-order
    points, appendix and provenance rows, which the page shows as tables or the JSON and
    CSV bundles hold); a pointer to the JSON bundle when even that would bloat it."""
    digest = dict(findings)
    digest["accounts"] = [{k: v for k, v in a.items() if k != "series"} for a in findings["accounts"]]
    digest["forensics"] = [
        {**x, "order": {k: v for k, v in (x.get("order") or {}).items() if k != "points"}} if x.get("order") else x
        for x in findings.get("forensics") or []
    ]
    for key in ("observations", "snapshots", "provenance", "transitions"):
        digest.pop(key, None)
    digest["omitted"] = ("account series, follower-order points, stored rows, status changes and provenance: "
                         "see the JSON bundle (findings.json) and the CSV tables written beside this file")
    encoded = json_for_html(digest)
    if len(encoded) <= EMBED_LIMIT:
        return encoded
    return json_for_html({"format": findings.get("format"), "version": findings.get("version"),
                          "omitted": f"{len(encoded):,} characters of findings: see the JSON bundle written beside this file"})


def findings_json(findings: Findings, *, generated_at: str) -> str:
    """The JSON bundle: the findings document with its generation time."""
    return "".join(_findings_json_parts(findings, generated_at=generated_at))


def _findings_json_parts(findings: Findings | dict[str, Any], *, generated_at: str) -> Iterator[str]:
    """:func:`findings_json` in pieces of about a megabyte: written as they come, a large
    bundle is never held whole (nor the million small strings it is encoded from)."""
    # the bytes json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=1,
    # allow_nan=False) writes, encoded without its generator chain (see _jsonout)
    yield from json_parts({"generated_at": generated_at, **_doc(findings)})
    yield "\n"


def _csv(rows: Iterable[dict[str, Any]], cols: Sequence[str] | None = None) -> str:
    rows = list(rows)
    cols = list(cols) if cols else _columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_csv_value(r.get(c)) for c in cols])
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, list):
        return csv_cell(" ".join(str(x) for x in v))
    if isinstance(v, dict):
        return csv_cell(json.dumps(v, ensure_ascii=False, sort_keys=True))
    return csv_cell(v)


def csv_bundle(findings: Findings) -> dict[str, str]:
    """File name -> CSV text. ``ref``/``refs`` columns point at rows of observations.csv
    (and snapshots.csv), the same references the HTML links to."""
    f = _doc(findings)
    s = f["summary"]
    summary_rows = [{"key": k, "value": v} for k, v in _flatten({k: v for k, v in s.items() if k != "sentences"}).items()]
    explain_rows = []
    for x in f["explain"]:
        res = x.get("result") or {}
        row = {k: x.get(k) for k in ("event", "platform", "account_id", "handle", "label", "group", "start", "end", "fact",
                                     "error")}
        row.update({"lost": res.get("lost"), "gained": res.get("gained"), "verdict": res.get("verdict")})
        for k, v in sorted((res.get("lost_breakdown") or {}).items()):
            row[f"lost_{k}"] = v
        row["refs"] = x.get("refs", [])
        explain_rows.append(row)
    compare = f.get("compare") or []
    out = {
        "summary.csv": _csv(summary_rows, ["key", "value"]),
        "facts.csv": _csv(f["facts"], ["id", "label", "value", "n_refs", "refs"]),
        "events.csv": _csv(
            [{**e, "evidence": e.get("evidence")} for e in f["events"]],
            ["id", "kind", "platform", "account_id", "handle", "label", "group", "start", "end", "magnitude", "relative",
             "score", "fact", "refs", "evidence"],
        ),
        "accounts.csv": _csv(
            [
                {
                    **{k: a.get(k) for k in ("key", "platform", "account_id", "handle", "display_name", "group", "label", "n_observations")},
                    **{f"latest_{k}": (a.get("latest") or {}).get(k) for k in ("t", "status", "followers", "ref", "fact")},
                    "events": a["events"],
                }
                for a in f["accounts"]
            ]
        ),
        "series.csv": _csv(
            [{"platform": a["platform"], "account_id": a["account_id"], **p} for a in f["accounts"] for p in a["series"]],
            ["platform", "account_id", "t", "followers", "status", "ref"],
        ),
        "timeline.csv": _csv(f["timeline"], ["day", "group", "suspended", "reinstated", "suspended_or_deleted"]),
        "transitions.csv": _csv(f["transitions"], ["ref", "table", "platform", "account_id", "group", "at", "from", "to", "direction"]),
        "explain.csv": _csv(explain_rows),
        "compare_groups.csv": _csv([{"outcome": c.get("outcome"), **g} for c in compare for g in table_rows(c.get("groups") or [])]),
        "compare_tests.csv": _csv([{"outcome": c.get("outcome"), **t} for c in compare for t in table_rows(c.get("tests") or [])]),
        "observations.csv": _csv(f["observations"], ["ref", "cited", "table", "platform", "account_id", "at", "status", "followers_count", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"]),
        "snapshots.csv": _csv(f["snapshots"], ["ref", "snapshot_id", "platform", "account_id", "observed_at", "partial", "n_followers", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"]),
        "runs.csv": _csv(f["provenance"]["runs"], ["batch_id", "started_at", "committed_at", "command", "source", "source_ref", "tool_version", "rows", "note"]),
        "sources.csv": _csv(f["provenance"]["sources"], ["table", "source", "rows", "first_retrieved", "last_retrieved", "payload_hashes", "tool_versions"]),
    }
    fx = f.get("forensics") or []
    out["forensics_creation_batches.csv"] = _csv(
        [{"event": x["event"], "platform": x["platform"], "account_id": x["account_id"], "set": name, **b}
         for x in fx for name, st in sorted(((x.get("creation") or {}).get("sets") or {}).items()) for b in st.get("batches") or []],
        ["event", "platform", "account_id", "set", "start", "end", "count", "expected", "ratio", "p_value", "share", "peak", "peak_count"],
    )
    out["forensics_order_bands.csv"] = _csv(
        [{"event": x["event"], "platform": x["platform"], "account_id": x["account_id"], **b}
         for x in fx for b in (x.get("order") or {}).get("bands") or []],
        ["event", "platform", "account_id", "first_position", "last_position", "size", "in_span", "span_start", "span_end", "share", "null_share"],
    )
    out["forensics_regain.csv"] = _csv(
        [{"event": x["event"], **{k: v for k, v in _flatten(x.get("regain") or {}).items() if k != "batches"}} for x in fx if x.get("regain")],
        ["event", "platform", "account_id", "verdict", "gained", "baseline_gain_median", "gain_ratio", "abnormal_gain", "young_share", "young_share_baseline", "young_p_value", "batch_share", "reasons"],
    )
    for section in extra_sections():  # extra sections (purgewatch.findings.Section)
        if section.name not in f:
            continue
        value = f[section.name]
        if section.tables is not None:  # the section's own files
            out.update({name: _csv(rows, cols) for name, (rows, cols) in section.tables(value).items()})
        else:  # its rows, one file
            out[f"{section.name}.csv"] = _csv(table_rows(value.get("rows", []) if isinstance(value, dict) else value))
    return out


@dataclass
class ReportFiles:
    html: Path
    json: Path
    csv_dir: Path
    generated_at: str

    def to_json(self) -> dict[str, str]:
        return {"html": str(self.html), "json": str(self.json), "csv": str(self.csv_dir), "generated_at": self.generated_at}


def generation_time(explicit: str | datetime | None = None) -> str:
    """The report's one timestamp: explicit, else SOURCE_DATE_EPOCH (reproducible builds),
    else now."""
    if explicit is not None:
        return iso(explicit) or str(explicit)
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde:
        try:
            return iso(datetime.fromtimestamp(int(sde), UTC)) or ""
        except ValueError as exc:
            raise InputError(f"SOURCE_DATE_EPOCH={sde!r} is not a Unix time in seconds") from exc
    return iso(datetime.now(UTC).replace(microsecond=0)) or ""


def output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """``FILE.html`` -> FILE.html, FILE.json, FILE-csv/; anything else is a directory ->
    DIR/report.html, DIR/findings.json, DIR/csv/."""
    p = Path(out)
    if p.suffix.lower() in (".html", ".htm"):
        if p.exists() and p.is_dir():
            raise InputError(f"{p} is a directory", hint="give a file name ending in .html or a directory")
        return p, p.with_suffix(".json"), p.with_name(p.stem + "-csv")
    if p.exists() and not p.is_dir():
        raise InputError(f"{p} exists and is not a directory", hint="use --out REPORT.html or --out DIR")
    return p / "report.html", p / "findings.json", p / "csv"


def _write(path: Path, text: str | Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        if isinstance(text, str):
            fh.write(text)
        else:
            fh.writelines(text)
    os.replace(tmp, path)


def write_report(
    store: Store,
    out: str | os.PathLike[str],
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    groups: Iterable[str] | None = None,
    title: str | None = None,
    generated_at: str | datetime | None = None,
    progress: Callable[[str], None] | None = None,
    tz: str | None = None,
) -> ReportFiles:
    """Gather the findings of ``store`` and write the HTML report with its JSON and CSV
    bundles. Same store and options -> byte-identical files, apart from ``generated_at``.
    Times in the HTML's text are shown in ``tz`` (default UTC); JSON and CSV stay ISO UTC."""
    zone(tz)
    html_path, json_path, csv_dir = output_paths(out)
    findings = gather_findings(store, start=start, end=end, groups=groups, progress=progress)
    if progress is not None:
        progress("writing the report")
    stamp = generation_time(generated_at)
    doc: Any = findings.to_json()  # converted once for the three renderers
    _write(html_path, render_html(doc, generated_at=stamp, title=title, tz=tz))
    _write(json_path, _findings_json_parts(doc, generated_at=stamp))
    for name, text in csv_bundle(doc).items():
        _write(csv_dir / name, text)
    return ReportFiles(html_path, json_path, csv_dir, stamp)
