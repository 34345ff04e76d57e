"""The HTML pages of the web UI: renderers of the findings (purgewatch.findings) with the
report's filters and charts, plus server-side tables (search, sort, paging, no script)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from purgewatch.errors import InputError, PurgeWatchError
from purgewatch.findings import account_observations, display_name, sections_of
from purgewatch.model import TOOL_VERSION
from purgewatch.report import (
    account_display_names,
    compare_chart,
    series_chart,
    stacked_bar,
    stylesheet,
    timeline_chart,
)
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned, zone
from purgewatch.web._analyses import Analyses
from purgewatch.web._cache import Pending, ResultCache
from purgewatch.web._findings import WebFindings
from purgewatch.web._preview import store_preview

SMALL_STORE_ROWS = 250_000  # below this many stored rows, pages always wait (fast anyway)
# With no findings to show at all, a page waits this long before showing the store's
# preview instead: a large store's first computation takes minutes, not seconds.
PREVIEW_AFTER = 0.5
WAVE_KINDS = ("suspension_wave", "reinstatement_wave", "purge")


PAGE_SIZE = 50


def account_url(d: dict[str, Any]) -> str | None:
    """The account page of an account, event, drop or sentence part (None without an id)."""
    if not d.get("account_id") or not d.get("platform"):
        return None
    return f"/accounts/{quote(str(d['platform']), safe='')}/{quote(str(d['account_id']), safe='')}"


def explain_url(e: dict[str, Any]) -> str | None:
    """Explain of a follower change over its window (drops and surges of one account)."""
    if not e.get("account_id") or not str(e.get("kind", "")).startswith("follower_"):
        return None
    q = {"platform": e.get("platform") or "", "account": e["account_id"], "from": e.get("start") or "",
         "to": e.get("end") or ""}
    return "/explain?" + urlencode({k: v for k, v in q.items() if v})


class Table:
    """Server-side search, sort and paging of a list of rows (no script on the page:
    every header and pager is a plain link carrying the state in its query string)."""

    def __init__(self, request: Request, rows: list[dict[str, Any]], keys: dict[str, Callable[[dict[str, Any]], Any]],
                 default: str, *, search: Callable[[dict[str, Any]], str] | None = None, descending: bool = False,
                 extra: dict[str, str] | None = None) -> None:
        q = request.query_params
        self.path = request.url.path
        self.q = (q.get("q") or "").strip()
        self.extra = {k: v for k, v in (extra or {}).items() if v}
        asked = q.get("sort")
        self.sort: str = asked if asked is not None and asked in keys else default
        self.dir = q.get("dir") if q.get("dir") in ("asc", "desc") else ("desc" if descending and self.sort == default else "asc")
        if self.q and search is not None:
            needle = self.q.lstrip("@").lower()
            rows = [r for r in rows if needle in search(r).lower()]
        key = keys[self.sort]
        present = [r for r in rows if key(r) is not None]
        missing = [r for r in rows if key(r) is None]  # no value: last, whatever the direction
        present.sort(key=key, reverse=self.dir == "desc")
        self.total = len(rows)
        self.pages = max(1, -(-self.total // PAGE_SIZE))
        try:
            self.page = min(max(1, int(q.get("page") or 1)), self.pages)
        except ValueError:
            raise InputError(f"?page={q.get('page')!r} is not a page number") from None
        start = (self.page - 1) * PAGE_SIZE
        self.rows = (present + missing)[start:start + PAGE_SIZE]
        self.first = start + 1 if self.total else 0
        self.last = start + len(self.rows)

    def href(self, **changes: Any) -> str:
        state = {"q": self.q, "sort": self.sort, "dir": self.dir, "page": self.page, **self.extra, **changes}
        return self.path + "?" + urlencode({k: v for k, v in state.items() if v not in ("", None)})

    def sort_href(self, key: str) -> str:
        flip = "desc" if self.sort == key and self.dir == "asc" else "asc"
        return self.href(sort=key, dir=flip, page=1)

    def arrow(self, key: str) -> str:
        return ("▲" if self.dir == "asc" else "▼") if self.sort == key else ""


def param_time(request: Request, name: str) -> str | None:
    """An ISO time with a zone from the query string (400 with the reason otherwise)."""
    v = request.query_params.get(name) or None
    if v is None:
        return None
    try:
        parse_zoned(v)
    except (ValueError, PurgeWatchError) as exc:
        raise InputError(f"?{name}={v!r} is not an ISO 8601 time with a zone ({exc})") from None
    return v


@dataclass
class Pages:
    """One method per page. ``page_wait``: seconds a page of a large store waits for the
    current findings before showing earlier ones or the store's preview (None: wait)."""

    store: Store
    env: jinja2.Environment
    cache: ResultCache
    findings: WebFindings
    analyses: Analyses
    page_wait: float | None
    writable: bool

    def __post_init__(self) -> None:
        self._small: bool | None = None

    # ------------------------------------------------------------------ plumbing
    def is_small(self) -> bool:
        # A small store computes in well under the page budget: its pages always wait for
        # the current state (so a page never shows an earlier one without need).
        if self._small is None:
            self._small = sum(v.get("rows", 0) for v in self.store.stats().values()) < SMALL_STORE_ROWS
        return self._small

    def page_findings(self, request: Request) -> dict[str, Any]:
        """The findings for a page: the current ones when ready within ``page_wait``
        seconds, else the last complete ones (the page says so), else :class:`Pending`."""
        last = self.cache.last_seconds("findings")
        if self.page_wait is None or self.is_small() or (last is not None and last <= self.page_wait):
            return self.findings.current().doc
        view, fresh = self.findings.for_page(self.page_wait, None if self.findings.persisted_now() else PREVIEW_AFTER)
        request.state.stale_findings = not fresh
        return view.doc

    def render(self, request: Request, template: str, status: int = 200, *, refresh: int | None = None,
               headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
        tz = request.query_params.get("tz") or "UTC"
        try:
            zone(tz)  # an unknown zone is a 400 with the reason, not a silent UTC
        except InputError:
            if template != "error.html.j2":
                raise
            tz = "UTC"  # the error page itself (which says what was wrong with ?tz=)
        stale = bool(getattr(request.state, "stale_findings", False))
        html = self.env.get_template(template).render(
            request_path=request.url.path, css=Markup(stylesheet()), version=TOOL_VERSION,
            writable=self.writable, fact_href="/evidence#", account_link=account_url,
            explain_link=explain_url, tz=tz, stale=stale, refresh=refresh or (5 if stale else None), **ctx,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def pending(self, request: Request, exc: Pending) -> Response:
        """While the first findings of a large store are computed: what the store holds
        (counts, watchlist, latest observations), 503 with Retry-After, reloading itself."""
        took = time.time() - exc.started
        message = (f"The findings of this store are being computed ({took:.0f} s so far; once per change of "
                   "the store, however many pages are asked for). This page reloads itself.")
        preview = self.cache.get("preview", self.preview)
        return self.render(request, "preview.html.j2", 503, refresh=5, headers={"Retry-After": "5"},
                           message=message, p=preview)

    def preview(self) -> dict[str, Any]:
        return store_preview(self.store)

    def warm(self) -> None:
        """Start the work a first visitor needs: the preview of a large store (a second),
        then the findings (minutes on a large store; read back from disk when persisted)."""
        if not self.is_small() and not self.findings.persisted_now():  # else read back in a second
            self.cache.start("preview", self.preview)
            self.findings.before_gathering = lambda: self.cache.get("preview", self.preview)
        self.findings.seed_from_disk()
        self.findings.start()

    # ------------------------------------------------------------------ pages
    def overview(self, request: Request) -> Response:
        f = self.page_findings(request)
        timeline = timeline_chart(
            f["timeline"], [e for e in f["events"] if e.get("shown", True) and e["kind"] in WAVE_KINDS],
            label="Status changes per day and detected waves", href_prefix="/events#",
            span=(f["summary"].get("first_observation"), f["summary"].get("last_observation")),
        )
        return self.render(request, "overview.html.j2", f=f, timeline=timeline, sections=sections_of(f))

    def watchlists(self, request: Request) -> Response:
        f = self.page_findings(request)
        groups: dict[str, list[dict[str, Any]]] = {}
        for a in f["accounts"]:
            groups.setdefault(str(a["group"]), []).append(a)
        return self.render(request, "watchlists.html.j2", f=f, groups=sorted(groups.items()))

    def accounts(self, request: Request) -> Response:
        f = self.page_findings(request)
        latest = lambda a: a.get("latest") or {}  # noqa: E731
        table = Table(request, f["accounts"], {
            "name": lambda a: display_name(a).lower(),
            "platform": lambda a: a["platform"],
            "group": lambda a: a.get("group"),
            "status": lambda a: latest(a).get("status"),
            "followers": lambda a: latest(a).get("followers"),
            "seen": lambda a: latest(a).get("t"),
            "observations": lambda a: a["n_observations"],
            "events": lambda a: len(a["events"]),
        }, "name", search=lambda a: " ".join(str(a.get(k) or "") for k in ("label", "handle", "display_name", "account_id")))
        return self.render(request, "accounts.html.j2", f=f, table=table)

    def account(self, request: Request) -> Response:
        f = self.page_findings(request)
        platform, account_id = request.path_params["platform"], request.path_params["account_id"]
        a = next((x for x in f["accounts"] if x["platform"] == platform and x["account_id"] == account_id), None)
        if a is None:
            return self.render(request, "error.html.j2", status=404,
                               message=f"{platform}:{account_id} is not a watched or observed account")
        evs = [e for e in f["events"] if e["id"] in a["events"]]
        rows = self.cache.get(("observations", platform, account_id),
                              lambda: account_observations(self.store, platform, account_id))
        chart = series_chart(rows, evs, label=f"Followers of {display_name(a)}", href_prefix="#")
        drops = [x for x in f["explain"] if x["platform"] == platform and x["account_id"] == account_id]
        return self.render(request, "account.html.j2", f=f, a=a, events=evs, chart=chart, rows=rows, drops=drops)

    def events(self, request: Request) -> Response:
        f = self.page_findings(request)
        kind = request.query_params.get("kind") or ""
        rows = [e for e in f["events"] if e.get("shown") and (not kind or e["kind"] == kind)]
        table = Table(request, rows, {
            "when": lambda e: e.get("start"),
            "kind": lambda e: e["kind"],
            "account": lambda e: display_name(e).lower() if e.get("account_id") else None,
            "group": lambda e: e.get("group"),
            "size": lambda e: e.get("magnitude"),
            "share": lambda e: e.get("relative"),
            "score": lambda e: e.get("score"),
        }, "when", search=lambda e: " ".join(str(e.get(k) or "") for k in ("label", "handle", "account_id", "group", "kind")),
            extra={"kind": kind})
        kinds = sorted({e["kind"] for e in f["events"]})
        return self.render(request, "events.html.j2", f=f, table=table, kinds=kinds, kind=kind)

    def explain(self, request: Request) -> Response:
        f = self.page_findings(request)
        q = request.query_params
        result = error = None
        if q.get("account"):
            try:
                result = self.analyses.explain(q.get("account", ""), q.get("platform") or None,
                                               param_time(request, "from"), param_time(request, "to"))
            except PurgeWatchError as exc:
                error = str(exc)
        chart = None
        if result:
            bd = result.get("lost_breakdown") or {}
            chart = stacked_bar([(k, float(v or 0)) for k, v in bd.items()], label="What became of the lost followers")
        return self.render(request, "explain.html.j2", f=f, result=result, error=error, chart=chart, q=dict(q),
                           names=account_display_names(f))

    def compare(self, request: Request) -> Response:
        q = request.query_params
        outcome = q.get("outcome") or "suspended"
        result = error = None
        try:
            result = self.analyses.compare(outcome, param_time(request, "from"), param_time(request, "to"))
        except PurgeWatchError as exc:
            error = str(exc)
        chart = compare_chart(result, href_prefix="/evidence#") if result else None
        return self.render(request, "compare.html.j2", result=result, error=error, chart=chart, outcome=outcome, q=dict(q))

    def evidence(self, request: Request) -> Response:
        f = self.page_findings(request)
        return self.render(request, "evidence.html.j2", f=f, names=account_display_names(f))

    def posts(self, request: Request) -> Response:
        return self.render(request, "posts.html.j2", f=self.page_findings(request))

    def routes(self) -> list[tuple[str, Callable[[Request], Response]]]:
        return [
            ("/", self.overview), ("/watchlists", self.watchlists), ("/accounts", self.accounts),
            ("/accounts/{platform}/{account_id:path}", self.account), ("/events", self.events),
            ("/explain", self.explain), ("/compare", self.compare), ("/evidence", self.evidence),
            ("/posts", self.posts),
        ]
