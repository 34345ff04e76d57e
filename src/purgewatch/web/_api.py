"""The JSON API of the web UI (docs/web.md; /api/openapi.json describes it). The API
always answers with the current state of the store (it waits for the findings)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from purgewatch.findings import plain
from purgewatch.queries import account_record, latest_accounts
from purgewatch.store import Store
from purgewatch.timefmt import parse_zoned
from purgewatch.watchlist import add_to_watchlist, current_watchlist, remove_from_watchlist
from purgewatch.web._analyses import Analyses
from purgewatch.web._findings import WebFindings
from purgewatch.web._pages import param_time

EVENT_KEYS = ("kind", "platform", "account_id", "group", "start", "end", "magnitude", "relative", "score", "evidence",
              "handle", "label")


def json_response(obj: Any, status: int = 200) -> Response:
    body = json.dumps(plain(obj), ensure_ascii=False, allow_nan=False, indent=1)
    return Response(body, status_code=status, media_type="application/json")


def _dt(v: str | None) -> Any:
    return None if v is None else parse_zoned(v).to_pydatetime()  # type: ignore[union-attr]


@dataclass
class Api:
    store: Store
    findings: WebFindings
    analyses: Analyses
    write_token: str | None

    def watchlist(self, request: Request) -> Response:
        return json_response({"watchlist": current_watchlist(self.store).to_pylist()})

    def accounts(self, request: Request) -> Response:
        q = request.query_params
        return json_response({"accounts": latest_accounts(self.store, platform=q.get("platform") or None,
                                                          group=q.get("group") or None).to_pylist()})

    def history(self, request: Request) -> Response:
        q = request.query_params
        return json_response(account_record(self.store, request.path_params["account"], platform=q.get("platform") or None,
                                            since=_dt(param_time(request, "from")), until=_dt(param_time(request, "to"))))

    def events(self, request: Request) -> Response:
        f = self.findings.current().findings
        if not f.availability["detect"].startswith("ok"):
            return json_response({"error": f.availability["detect"]}, 503)
        return json_response({"events": [{k: e.get(k) for k in EVENT_KEYS} | {"id": e["id"], "refs": e.get("refs", [])}
                                         for e in f.events]})

    def explain(self, request: Request) -> Response:
        q = request.query_params
        return json_response(self.analyses.explain(request.path_params["account"], q.get("platform") or None,
                                                   param_time(request, "from"), param_time(request, "to")))

    def compare(self, request: Request) -> Response:
        q = request.query_params
        return json_response(self.analyses.compare(q.get("outcome") or "suspended", param_time(request, "from"),
                                                   param_time(request, "to"), q.get("by") or "group"))

    def all_findings(self, request: Request) -> Response:
        return json_response(self.findings.current().doc)

    def openapi(self, request: Request) -> Response:
        from purgewatch.web._openapi import openapi_document

        return json_response(openapi_document(writable=self.write_token is not None))

    # ------------------------------------------------------------------ writes
    def _authorised(self, request: Request) -> Response | None:
        if self.write_token is None:
            return json_response({"error": "this server is read-only; start it with --write-token to enable writes"}, 403)
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.write_token.encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return None

    async def watchlist_add(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return json_response({"error": "send a JSON body with Content-Type: application/json"}, 415)
        try:
            body = await request.json()
        except ValueError:
            return json_response({"error": "the body is not valid JSON"}, 400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("platform", "account", "group")):
            return json_response({"error": "expected {\"platform\": str, \"account\": str, \"group\": str, \"label\": str?}"}, 400)
        label = body.get("label")
        if label is not None and not isinstance(label, str):
            return json_response({"error": "label must be a string"}, 400)
        change = await run_in_threadpool(add_to_watchlist, self.store, body["platform"], body["account"], body["group"], label)
        return json_response(change.as_dict(), 201 if change.added else 200)

    def watchlist_remove(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        change = remove_from_watchlist(self.store, request.path_params["platform"], request.path_params["account"])
        return json_response(change.as_dict())

    def routes(self) -> list[Route]:
        get: list[tuple[str, Callable[[Request], Any]]] = [
            ("/api/openapi.json", self.openapi), ("/api/watchlist", self.watchlist), ("/api/accounts", self.accounts),
            ("/api/history/{account:path}", self.history), ("/api/events", self.events),
            ("/api/explain/{account:path}", self.explain), ("/api/compare", self.compare),
            ("/api/findings", self.all_findings),
        ]
        return [
            *(Route(path, fn, methods=["GET"]) for path, fn in get),
            Route("/api/watchlist", self.watchlist_add, methods=["POST"]),
            Route("/api/watchlist/{platform}/{account:path}", self.watchlist_remove, methods=["DELETE"]),
        ]
