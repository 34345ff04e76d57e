"""The local web UI and JSON API (Starlette) over a live evidence store.

Read-only by default. The store is append-only and readers resolve its files per
request, so the UI keeps working while `purgewatch watch` writes; results are cached
per store *fingerprint* (the list of committed batches), so a new batch shows on the
next request and nothing is recomputed while the store is unchanged.

Security: every page carries a strict Content-Security-Policy (no script at all; the
one inline style sheet allowed by its hash), `nosniff`, no framing, no referrer. Host
headers other than the bound address are refused (DNS-rebinding defence). Write
endpoints exist only when a write token is configured, and need
``Authorization: Bearer <token>`` (a header a browser never adds by itself, so a
hostile page cannot forge the request).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purgewatch._version import __version__
from purgewatch.errors import AnalysisError, InputError, PurgeWatchError, StoreError
from purgewatch.report import _svg
from purgewatch.report._findings import account_observations, gather_findings, plain
from purgewatch.report._render import (
    account_display_names,
    compare_chart,
    csp_hash,
    register_filters,
    stylesheet,
)
from purgewatch.store import Store, _layout
from purgewatch.timefmt import parse_zoned

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
PAGE_WAIT = 2.5  # seconds a page waits for the findings of a large store before answering
SMALL_STORE_ROWS = 250_000  # below this many stored rows, pages always wait (fast anyway)


def web_csp() -> str:
    return (
        "default-src 'none'; script-src 'none'; "
        f"style-src {csp_hash(stylesheet())}; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Adds the same protective headers to every response (pages, API, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", web_csp().encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.headers if k not in names
                ]
            await send(message)

        await self.app(scope, receive, wrapped)


class _Cache:
    """Results keyed by the store's fingerprint (its generation and committed batches); a
    new committed batch invalidates. Single-flight: however many requests arrive while a
    result is being computed, it is computed once and every request waits for that one
    computation (50 cold requests used to start 50 computations and gigabytes of memory).
    The last complete result of each key is kept across store changes so a page can show
    it (labelled) while the new one is computed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._items: dict[Any, Any] = {}
        self._flight: dict[Any, _Flight] = {}
        self._last: dict[Any, tuple[tuple[str, ...], Any, float]] = {}  # key -> (fingerprint, value, seconds)
        self.computations = 0  # how many computations ran (tests, diagnostics)

    def fingerprint(self) -> tuple[str, ...]:
        gen = _layout.current_generation(self.store.path)
        return (gen.name, *(b.name for b in _layout.committed_batches(gen)))

    def _start(self, key: Any, compute: Callable[[], Any]) -> tuple[tuple[str, ...], _Flight | None, Any]:
        """(fingerprint, flight to wait on or None, ready value)."""
        fp = self.fingerprint()
        with self._lock:
            if fp != self._key:
                self._key, self._items, self._flight = fp, {}, {}
            if key in self._items:
                return fp, None, self._items[key]
            flight = self._flight.get(key)
            if flight is None:
                flight = self._flight[key] = _Flight()
                self.computations += 1
                threading.Thread(target=self._run, args=(fp, key, compute, flight), daemon=True,
                                 name="purgewatch-web-compute").start()
        return fp, flight, None

    def _run(self, fp: tuple[str, ...], key: Any, compute: Callable[[], Any], flight: _Flight) -> None:
        import time

        t0 = time.perf_counter()
        try:
            value = compute()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            flight.error = exc
        else:
            flight.value = value
            with self._lock:
                if fp == self._key:
                    self._items[key] = value
                self._last[key] = (fp, value, time.perf_counter() - t0)
        finally:
            with self._lock:
                if self._flight.get(key) is flight:
                    del self._flight[key]
            flight.done.set()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value for the current store (waits for the one computation in flight)."""
        _, flight, value = self._start(key, compute)
        if flight is None:
            return value
        return flight.wait(None)

    def get_or_stale(self, key: Any, compute: Callable[[], Any], wait: float) -> tuple[Any, bool]:
        """(value, fresh): the current value when it is ready within ``wait`` seconds,
        else the last complete value of an earlier store state (fresh = False), else waits
        for the current one. Raises :class:`_Pending` when there is nothing to show yet."""
        _, flight, value = self._start(key, compute)
        if flight is None:
            return value, True
        if flight.done.wait(wait):
            return flight.wait(0), True
        with self._lock:
            last = self._last.get(key)
        if last is not None:
            return last[1], False
        raise _Pending(flight.started)

    def last_seconds(self, key: Any) -> float | None:
        with self._lock:
            last = self._last.get(key)
        return None if last is None else last[2]


class _Flight:
    """One computation in progress; requests wait on ``done``."""

    def __init__(self) -> None:
        import time

        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.started = time.time()

    def wait(self, timeout: float | None) -> Any:
        self.done.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.value


class _Pending(Exception):
    """The findings are being computed and there is no earlier result to show."""

    def __init__(self, started: float) -> None:
        super().__init__("computing")
        self.started = started


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.PackageLoader("purgewatch.web", "templates"), jinja2.PackageLoader("purgewatch.report", "templates")]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    register_filters(env)
    env.filters["q"] = lambda v: quote(str(v), safe="")  # a path segment from data
    return env


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


def _json(obj: Any, status: int = 200) -> Response:
    body = json.dumps(plain(obj), ensure_ascii=False, allow_nan=False, indent=1)
    return Response(body, status_code=status, media_type="application/json")


def _error_status(exc: PurgeWatchError) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, AnalysisError):
        return 422
    if isinstance(exc, StoreError):
        return 503
    return 500


def create_app(
    store: Store | str | Path,
    *,
    write_token: str | None = None,
    bind_host: str = "127.0.0.1",
    allowed_hosts: list[str] | None = None,
    page_wait: float | None = PAGE_WAIT,
    warm: bool = True,
) -> Starlette:
    """The ASGI app. ``write_token`` enables the write endpoints (Bearer auth).

    Findings are computed once per store change on a background thread (started with
    the server when ``warm``). A page waits at most ``page_wait`` seconds for them on a
    large store, then shows the last complete findings, labelled as from an earlier state
    of the store, or a self-reloading "being computed" page (503, Retry-After); ``None``
    always waits. The API always answers with the current state."""
    st = store if isinstance(store, Store) else Store.open(store)
    cache = _Cache(st)
    env = _env()
    hosts = allowed_hosts or sorted({*LOOPBACK_HOSTS, bind_host})
    small: list[bool] = []

    def compute_findings() -> dict[str, Any]:
        return gather_findings(st)

    def findings() -> dict[str, Any]:
        """The findings of the current store state (the API: always current)."""
        return cache.get("findings", compute_findings)  # type: ignore[no-any-return]

    def is_small() -> bool:
        # A small store computes in well under the page budget: its pages always wait for
        # the current state (so a page never shows an earlier one without need).
        if not small:
            rows = sum(v.get("rows", 0) for v in st.stats().values())
            small.append(rows < SMALL_STORE_ROWS)
        return small[0]

    def page_findings(request: Request) -> dict[str, Any]:
        """The findings for a page: the current ones when ready within ``page_wait``
        seconds, else the last complete ones (the page says so), else a 'computing' page."""
        last = cache.last_seconds("findings")
        if page_wait is None or is_small() or (last is not None and last <= page_wait):
            return findings()
        value, fresh = cache.get_or_stale("findings", compute_findings, page_wait)
        request.state.stale_findings = not fresh
        return value  # type: ignore[no-any-return]

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        from purgewatch.timefmt import zone

        tz = request.query_params.get("tz") or "UTC"
        try:
            zone(tz)  # an unknown zone is a 400 with the reason, not a silent UTC
        except InputError:
            if template != "error.html.j2":
                raise
            tz = "UTC"  # the error page itself (which says what was wrong with ?tz=)
        stale = bool(getattr(request.state, "stale_findings", False))
        html = env.get_template(template).render(
            request_path=request.url.path, css=Markup(stylesheet()), version=__version__,
            writable=write_token is not None, fact_href="/evidence#", account_link=account_url,
            explain_link=explain_url, tz=tz, stale=stale, refresh=5 if stale else None, **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def param_time(request: Request, name: str) -> str | None:
        v = request.query_params.get(name) or None
        if v is None:
            return None
        try:
            parse_zoned(v)
        except (ValueError, PurgeWatchError) as exc:
            raise InputError(f"?{name}={v!r} is not an ISO 8601 time with a zone ({exc})") from None
        return v

    # ------------------------------------------------------------------ pages
    def overview(request: Request) -> Response:
        f = page_findings(request)
        timeline = _svg.timeline_chart(
            f["timeline"], [e for e in f["events"] if e.get("shown", True) and e["kind"] in ("suspension_wave", "reinstatement_wave", "purge")],
            label="Status changes per day and detected waves", href_prefix="/events#",
            span=(f["summary"].get("first_observation"), f["summary"].get("last_observation")),
        )
        return page(request, "overview.html.j2", f=f, timeline=timeline)

    def watchlists(request: Request) -> Response:
        f = page_findings(request)
        groups: dict[str, list[dict[str, Any]]] = {}
        for a in f["accounts"]:
            groups.setdefault(str(a["group"]), []).append(a)
        return page(request, "watchlists.html.j2", f=f, groups=sorted(groups.items()))

    def accounts(request: Request) -> Response:
        from purgewatch.report._findings import display_name

        f = page_findings(request)
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
        return page(request, "accounts.html.j2", f=f, table=table)

    def account(request: Request) -> Response:
        f = page_findings(request)
        platform, account_id = request.path_params["platform"], request.path_params["account_id"]
        a = next((x for x in f["accounts"] if x["platform"] == platform and x["account_id"] == account_id), None)
        if a is None:
            return page(request, "error.html.j2", status=404, message=f"{platform}:{account_id} is not a watched or observed account")
        evs = [e for e in f["events"] if e["id"] in a["events"]]
        rows = cache.get(("observations", platform, account_id), lambda: account_observations(st, platform, account_id))
        from purgewatch.report._findings import display_name

        chart = _svg.series_chart(rows, evs, label=f"Followers of {display_name(a)}", href_prefix="#")
        drops = [x for x in f["explain"] if x["platform"] == platform and x["account_id"] == account_id]
        return page(request, "account.html.j2", f=f, a=a, events=evs, chart=chart, rows=rows, drops=drops)

    def events(request: Request) -> Response:
        from purgewatch.report._findings import display_name

        f = page_findings(request)
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
        return page(request, "events.html.j2", f=f, table=table, kinds=kinds, kind=kind)

    def explain_page(request: Request) -> Response:
        f = page_findings(request)
        q = request.query_params
        result = error = None
        if q.get("account"):
            try:
                result = explain_answer(q.get("account", ""), q.get("platform") or None, param_time(request, "from"), param_time(request, "to"))
            except PurgeWatchError as exc:
                error = str(exc)
        chart = None
        if result:
            bd = result.get("lost_breakdown") or {}
            chart = _svg.stacked_bar([(k, float(v or 0)) for k, v in bd.items()], label="What became of the lost followers")
        return page(request, "explain.html.j2", f=f, result=result, error=error, chart=chart, q=dict(q),
                    names=account_display_names(f))

    def compare_page(request: Request) -> Response:
        q = request.query_params
        outcome = q.get("outcome") or "suspended"
        result = error = None
        try:
            result = compare_answer(outcome, param_time(request, "from"), param_time(request, "to"))
        except PurgeWatchError as exc:
            error = str(exc)
        chart = compare_chart(result, href_prefix="/evidence#") if result else None
        return page(request, "compare.html.j2", result=result, error=error, chart=chart, outcome=outcome, q=dict(q))

    def evidence(request: Request) -> Response:
        f = page_findings(request)
        return page(request, "evidence.html.j2", f=f, names=account_display_names(f))

    # ------------------------------------------------------------------ analyses
    def explain_answer(account: str, platform: str | None, start: str | None, end: str | None) -> dict[str, Any]:
        from purgewatch.analysis.explain import explain

        return cache.get(  # type: ignore[no-any-return]
            ("explain", account, platform, start, end),
            lambda: plain(explain(st, account, platform=platform, start=start, end=end)),
        )

    def compare_answer(outcome: str, start: str | None, end: str | None, by: str = "group") -> dict[str, Any]:
        from purgewatch.analysis.compare import OUTCOMES, compare_store

        if outcome not in OUTCOMES:
            raise InputError(f"unknown outcome {outcome!r}", hint=f"one of: {', '.join(OUTCOMES)}")
        if by not in ("group", "label"):
            raise InputError(f"unknown grouping {by!r}", hint="group or label")
        return cache.get(  # type: ignore[no-any-return]
            ("compare", outcome, start, end, by),
            lambda: plain(compare_store(st, by=by, outcome=outcome, start=start, end=end)),
        )

    # ------------------------------------------------------------------ API
    def api_watchlist(request: Request) -> Response:
        from purgewatch.watchlist import current_watchlist

        return _json({"watchlist": current_watchlist(st).to_pylist()})

    def api_accounts(request: Request) -> Response:
        from purgewatch.queries import latest_accounts

        q = request.query_params
        return _json({"accounts": latest_accounts(st, platform=q.get("platform") or None, group=q.get("group") or None).to_pylist()})

    def api_history(request: Request) -> Response:
        from purgewatch.queries import account_history

        q = request.query_params
        plat, account_id, table = account_history(
            st, request.path_params["account"], platform=q.get("platform") or None,
            since=_dt(param_time(request, "from")), until=_dt(param_time(request, "to")),
        )
        from purgewatch.queries import account_names

        name = account_names(st, [(plat, account_id)]).get((plat, account_id))
        return _json({"platform": plat, "account_id": account_id, "handle": name.handle if name else None,
                      "label": name.label if name else None, "observations": table.to_pylist()})

    def api_events(request: Request) -> Response:
        f = findings()
        if not f["availability"]["detect"].startswith("ok"):
            return _json({"error": f["availability"]["detect"]}, 503)
        keys = ("kind", "platform", "account_id", "group", "start", "end", "magnitude", "relative", "score", "evidence",
                "handle", "label")
        return _json({"events": [{k: e.get(k) for k in keys} | {"id": e["id"], "refs": e.get("refs", [])} for e in f["events"]]})

    def api_explain(request: Request) -> Response:
        q = request.query_params
        return _json(explain_answer(request.path_params["account"], q.get("platform") or None, param_time(request, "from"), param_time(request, "to")))

    def api_compare(request: Request) -> Response:
        q = request.query_params
        return _json(compare_answer(q.get("outcome") or "suspended", param_time(request, "from"), param_time(request, "to"), q.get("by") or "group"))

    def api_findings(request: Request) -> Response:
        return _json(findings())

    def api_openapi(request: Request) -> Response:
        from purgewatch.web._openapi import openapi_document

        return _json(openapi_document(writable=write_token is not None))

    def authorised(request: Request) -> Response | None:
        if write_token is None:
            return _json({"error": "this server is read-only; start it with --write-token to enable writes"}, 403)
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), write_token.encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def api_watchlist_add(request: Request) -> Response:
        denied = authorised(request)
        if denied is not None:
            return denied
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _json({"error": "send a JSON body with Content-Type: application/json"}, 415)
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "the body is not valid JSON"}, 400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("platform", "account", "group")):
            return _json({"error": "expected {\"platform\": str, \"account\": str, \"group\": str, \"label\": str?}"}, 400)
        label = body.get("label")
        if label is not None and not isinstance(label, str):
            return _json({"error": "label must be a string"}, 400)
        from purgewatch.watchlist import add_to_watchlist

        change = await run_in_threadpool(add_to_watchlist, st, body["platform"], body["account"], body["group"], label)
        return _json(change.as_dict(), 201 if change.added else 200)

    def api_watchlist_remove(request: Request) -> Response:
        denied = authorised(request)
        if denied is not None:
            return denied
        from purgewatch.watchlist import remove_from_watchlist

        change = remove_from_watchlist(st, request.path_params["platform"], request.path_params["account"])
        return _json(change.as_dict())

    async def on_pending(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Pending)
        import time

        took = time.time() - exc.started
        html = env.get_template("error.html.j2").render(
            request_path=request.url.path, css=Markup(stylesheet()), version=__version__,
            writable=write_token is not None, stale=False, refresh=5,
            message=f"The findings of this store are being computed ({took:.0f} s so far; once per "
                    "change of the store, however many pages are asked for). This page reloads itself.")
        return HTMLResponse(html, status_code=503, headers={"Retry-After": "5"})

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PurgeWatchError)
        status = _error_status(exc)
        if request.url.path.startswith("/api/"):
            return _json({"error": str(exc)}, status)
        return page(request, "error.html.j2", status=status, message=str(exc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start computing the findings as the server starts, not when the first visitor
        # arrives (the computation runs on its own thread; requests join it).
        if warm:
            cache._start("findings", compute_findings)
        yield

    routes = [
        Route("/", overview),
        Route("/watchlists", watchlists),
        Route("/accounts", accounts),
        Route("/accounts/{platform}/{account_id:path}", account),
        Route("/events", events),
        Route("/explain", explain_page),
        Route("/compare", compare_page),
        Route("/evidence", evidence),
        Route("/posts", lambda r: page(r, "posts.html.j2", f=page_findings(r))),  # report/_posts.py
        Route("/api/openapi.json", api_openapi),
        Route("/api/watchlist", api_watchlist, methods=["GET"]),
        Route("/api/watchlist", api_watchlist_add, methods=["POST"]),
        Route("/api/watchlist/{platform}/{account:path}", api_watchlist_remove, methods=["DELETE"]),
        Route("/api/accounts", api_accounts),
        Route("/api/history/{account:path}", api_history),
        Route("/api/events", api_events),
        Route("/api/explain/{account:path}", api_explain),
        Route("/api/compare", api_compare),
        Route("/api/findings", api_findings),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={PurgeWatchError: on_error, _Pending: on_pending},
        lifespan=lifespan,
    )
    app.state.store = st
    app.state.cache = cache
    return app


def _dt(v: str | None) -> Any:
    return None if v is None else parse_zoned(v).to_pydatetime()  # type: ignore[union-attr]
