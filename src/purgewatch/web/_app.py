"""The local web UI and JSON API (Starlette) over a live evidence store: the wiring.

The pages (``_pages.py``) and the API (``_api.py``) render the findings
(purgewatch.findings) computed once per store change and persisted across restarts
(``_findings.py``); while the first findings of a large store are computed, pages show
what the store holds (``_preview.py``).

Read-only by default. The store is append-only and readers resolve its files per
request, so the UI keeps working while `purgewatch watch` writes.

Security: every page carries a strict Content-Security-Policy (no script at all; the
one inline style sheet allowed by its hash), `nosniff`, no framing, no referrer. Host
headers other than the bound address are refused (DNS-rebinding defence). Write
endpoints exist only when a write token is configured, and need
``Authorization: Bearer <token>`` (a header a browser never adds by itself, so a
hostile page cannot forge the request).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purgewatch.errors import AnalysisError, InputError, PurgeWatchError, StoreError
from purgewatch.findings import FindingsCache
from purgewatch.report import csp_hash, register_filters, stylesheet
from purgewatch.store import Store
from purgewatch.web._analyses import Analyses
from purgewatch.web._api import Api, json_response
from purgewatch.web._cache import Pending, ResultCache
from purgewatch.web._findings import WebFindings
from purgewatch.web._pages import Pages

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
PAGE_WAIT = 2.5  # seconds a page waits for the findings of a large store before answering


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
    cache_dir: str | os.PathLike[str] | None = None,
    persist: bool = True,
) -> Starlette:
    """The ASGI app. ``write_token`` enables the write endpoints (Bearer auth).

    Findings are computed once per store change on a background thread (started with
    the server when ``warm``) and persisted (``persist``) in ``cache_dir`` (default
    ``STORE/derived/findings``), so a restarted server reads them back. A page waits at
    most ``page_wait`` seconds for them on a large store, then shows the last complete
    findings, labelled as from an earlier state of the store, or, before any, what the
    store holds (counts, watchlist, latest observations) on a self-reloading page (503,
    Retry-After); ``None`` always waits. The API always answers with the current state."""
    st = store if isinstance(store, Store) else Store.open(store)
    cache = ResultCache(st)
    findings = WebFindings(st, cache, FindingsCache(st, cache_dir) if persist else None)
    analyses = Analyses(st, cache)
    env = _env()
    pages = Pages(st, env, cache, findings, analyses, page_wait, write_token is not None)
    api = Api(st, findings, analyses, write_token)

    async def on_pending(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Pending)
        return pages.pending(request, exc)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PurgeWatchError)
        status = _error_status(exc)
        if request.url.path.startswith("/api/"):
            return json_response({"error": str(exc)}, status)
        return pages.render(request, "error.html.j2", status=status, message=str(exc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start computing (or reading back) the findings as the server starts, not when
        # the first visitor arrives; until then pages may show an earlier persisted result.
        if warm:
            pages.warm()
        yield

    app = Starlette(
        routes=[*(Route(path, fn) for path, fn in pages.routes()), *api.routes()],
        middleware=[Middleware(SecurityHeaders),
                    Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or sorted({*LOOPBACK_HOSTS, bind_host}))],
        exception_handlers={PurgeWatchError: on_error, Pending: on_pending},
        lifespan=lifespan,
    )
    app.state.store = st
    app.state.cache = cache
    app.state.findings = findings
    return app
