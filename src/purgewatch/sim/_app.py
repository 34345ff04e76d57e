"""The ASGI app: routing, rate-limit headers and 429s, fault injection, the Jetstream
websocket and the ``/_sim`` control endpoints. Platform answers come from ``_platforms``.

Starlette is used because it is already a dependency (the web UI uses it), it speaks
HTTP and websockets in one app, and uvicorn runs it in a background thread for tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from purgewatch.sim import _platforms as P
from purgewatch.sim._clock import US, SimClock, iso_ms, to_us
from purgewatch.sim._limits import FaultPlan, FixedWindowLimiter, Verdict
from purgewatch.sim._scenario import Scenario
from purgewatch.sim._world import World

JETSTREAM_REPLAY_US = 36 * 3600 * US
JETSTREAM_SEQ0 = 30_000_000_000  # the relay's seq of an #account event
V2_SEQ0 = 1_000_000  # Jetstream v2's own seq of the first event
MAX_WANTED_DIDS = 10_000
MALFORMED_BODY = (b"<html><head><title>Just a moment...</title></head>"
                  b"<body>Checking your browser before accessing the site.</body></html>")


class PartialResponse:
    """Headers and part of the body, then the connection is dropped (a "reset").

    Returning before the body is complete makes uvicorn close the transport, which the
    client sees as a connection closed mid-message.
    """

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.body = body
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hdrs = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        hdrs += [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": hdrs})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 3], "more_body": True})


class EmulatorState:
    """Everything the handlers share; one per running server."""

    def __init__(self, world: World, clock: SimClock, *, faults: bool, limits: bool,
                 budgets: dict[str, tuple[int, float]] | None = None,
                 wall: Callable[[], float] | None = None, scenario: Scenario | None = None) -> None:
        self.world = world
        # the scenario as given: worlds are cached by content digest, so a scenario that
        # differs only in faults or limits shares its world but not these settings
        self.scenario = scenario or world.scenario
        self.clock = clock
        self.limits_enabled = limits
        kwargs = {"wall": wall} if wall is not None else {}
        self.limiter = FixedWindowLimiter(dict(budgets or self.scenario.limits), **kwargs)
        self.faults = FaultPlan(self.scenario, enabled=faults)
        self.requests: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.fault_counts: dict[str, Counter[str]] = {}
        self.x_calls = 0
        self.ws_connections = 0
        # Set when the emulator stops: held answers and open streams end at once, so the
        # server never has to cancel a handler (which uvicorn logs as an ASGI error).
        self.closing = threading.Event()
        self._truth: dict[str, Any] | None = None

    def stats(self) -> dict[str, Any]:
        plats = set(self.requests) | set(self.rate_limited) | set(self.fault_counts)
        return {p: {"requests": self.requests[p], "rate_limited": self.rate_limited[p],
                    "faults": dict(self.fault_counts.get(p, {}))} for p in sorted(plats)}

    def count_fault(self, platform: str, kind: str) -> None:
        self.fault_counts.setdefault(platform, Counter())[kind] += 1


# ------------------------------------------------------------------ headers
def _limit_headers(platform: str, v: Verdict) -> dict[str, str]:
    if platform == "bluesky":
        return {"RateLimit-Limit": str(v.limit), "RateLimit-Remaining": str(v.remaining),
                "RateLimit-Reset": str(int(v.reset_epoch)), "RateLimit-Policy": f"{v.limit};w={int(v.window)}"}
    if platform == "mastodon":
        reset = datetime.fromtimestamp(v.reset_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"X-RateLimit-Limit": str(v.limit), "X-RateLimit-Remaining": str(v.remaining),
                "X-RateLimit-Reset": reset}
    return {"x-rate-limit-limit": str(v.limit), "x-rate-limit-remaining": str(v.remaining),
            "x-rate-limit-reset": str(int(v.reset_epoch))}


TOO_MANY = {
    "bluesky": {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
    "mastodon": {"error": "Too many requests"},
    "x": {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
}
USAGE_CAP = {"title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap",
             "type": "https://api.twitter.com/2/problems/usage-capped", "period": "Monthly",
             "scope": "Product", "status": 429}


def _server_error(platform: str, n: int) -> Response:
    status = (500, 502, 503)[n % 3]
    if platform == "bluesky":
        body: Any = {"error": "UpstreamFailure" if status != 500 else "InternalServerError",
                     "message": "Upstream Failure" if status != 500 else "Internal Server Error"}
        return JSONResponse(body, status)
    if platform == "mastodon":
        if status == 500:
            return JSONResponse({"error": "We're sorry, but something went wrong on our end."}, 500)
        return Response(f"<html><body><h1>{status} Bad Gateway</h1></body></html>", status,
                        media_type="text/html")
    if status == 500:
        return JSONResponse({"errors": [{"message": "Internal error", "code": 131}]}, 500)
    return JSONResponse({"title": "Service Unavailable", "detail": "Service Unavailable",
                         "type": "about:blank", "status": 503}, 503)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# ----------------------------------------------------------------- plumbing
Handler = Callable[[int, int], P.Reply]  # (scenario time, request number) -> reply


async def _serve(state: EmulatorState, platform: str, buckets: list[str], handler: Handler) -> Any:
    """Limits, then faults, then the platform's answer."""
    t = state.clock.now_us()
    state.requests[platform] += 1
    headers: dict[str, str] = {}
    if state.limits_enabled:
        if platform == "x" and state.scenario.x_usage_cap is not None:
            state.x_calls += 1
            if state.x_calls > state.scenario.x_usage_cap:
                state.rate_limited[platform] += 1
                return JSONResponse(USAGE_CAP, 429)
        verdicts = [state.limiter.hit(b) for b in buckets]
        shown = verdicts[-1]
        for v in verdicts:
            if not v.allowed:
                shown = v
        headers = _limit_headers(platform, shown)
        if not all(v.allowed for v in verdicts):
            state.rate_limited[platform] += 1
            return JSONResponse(TOO_MANY[platform], 429, headers=headers)
    n, fault = state.faults.next_request(platform, t)
    if fault is not None:
        state.count_fault(platform, fault)
    if fault == "timeout":
        await _hold(state, state.faults.timeout_delay(platform))
        if state.closing.is_set():
            return JSONResponse({"error": "emulator stopping"}, 503, headers={"Connection": "close"})
    if fault == "http_5xx":
        resp = _server_error(platform, n)
        resp.headers.update(headers)
        return resp
    reply = handler(t, n)
    body = _dumps(reply.body)
    headers.update(reply.headers)
    if fault == "reset":
        return PartialResponse(body, headers)
    if fault == "malformed_json":
        return Response(MALFORMED_BODY, 200, headers=headers, media_type="application/json")
    if fault == "truncated_json":
        return Response(body[: max(1, len(body) // 2)], 200, headers=headers, media_type="application/json")
    return Response(body, reply.status, headers=headers, media_type="application/json; charset=utf-8")


def build_app(state: EmulatorState) -> Starlette:
    world = state.world

    def plat(name: str) -> Any:
        if name not in world.platforms:
            return None
        return world[name]

    # ------------------------------------------------------------- Bluesky
    async def xrpc(request: Request) -> Any:
        w = plat("bluesky")
        nsid = request.path_params["nsid"]
        q = request.query_params
        if w is None:
            return JSONResponse({"error": "MethodNotImplemented", "message": "no bluesky in this scenario"}, 501)

        def handle(t: int, n: int) -> P.Reply:
            if nsid == "app.bsky.actor.getProfile":
                return P.bsky_get_profile(w, t, q.get("actor"))
            if nsid == "app.bsky.actor.getProfiles":
                return P.bsky_get_profiles(w, t, q.getlist("actors"))
            if nsid == "app.bsky.graph.getFollowers":
                return P.bsky_get_followers(w, t, q.get("actor"), q.get("limit"), q.get("cursor"))
            if nsid == "app.bsky.feed.getAuthorFeed":
                return P.bsky_author_feed(w, t, q.get("actor"), q.get("limit"), q.get("cursor"), q.get("filter"))
            if nsid == "app.bsky.feed.getPosts":
                return P.bsky_get_posts(w, t, q.getlist("uris"))
            if nsid == "com.atproto.sync.getRepoStatus":
                odd = state.faults.side_fault("bluesky", "unknown_status", n, t)
                if odd:
                    state.count_fault("bluesky", "unknown_status")
                return P.bsky_repo_status(w, t, q.get("did"), odd)
            return P.xrpc_error("MethodNotImplemented", "Method Not Implemented", 501)

        return await _serve(state, "bluesky", ["bluesky"], handle)

    async def jetstream(ws: WebSocket) -> None:
        await _jetstream(state, ws, v2=False)

    async def jetstream_v2(ws: WebSocket) -> None:
        await _jetstream(state, ws, v2=True)

    # ------------------------------------------------------------ Mastodon
    async def masto_no_route(request: Request) -> Any:
        return JSONResponse({"error": "Not Found"}, 404)

    def masto_world(request: Request) -> tuple[Any, str]:
        inst = request.path_params["instance"]
        w = plat("mastodon")
        if w is None or inst not in w.instances:
            return None, inst
        return w, inst

    def masto_base(request: Request, inst: str) -> str:
        return f"{request.url.scheme}://{request.url.netloc}/mastodon/{inst}"

    def paging(request: Request) -> bool:
        return any(k in request.query_params for k in ("max_id", "since_id", "min_id"))

    async def masto_lookup(request: Request) -> Any:
        w, inst = masto_world(request)
        if w is None:
            return JSONResponse({"error": f"unknown instance {inst}"}, 404)
        acct = request.query_params.get("acct")
        return await _serve(state, "mastodon", [f"mastodon:{inst}"],
                            lambda t, n: P.masto_lookup(w, t, inst, acct))

    async def masto_account(request: Request) -> Any:
        w, inst = masto_world(request)
        if w is None:
            return JSONResponse({"error": f"unknown instance {inst}"}, 404)
        ident = request.path_params["acct_id"]
        return await _serve(state, "mastodon", [f"mastodon:{inst}"],
                            lambda t, n: P.masto_get(w, t, inst, ident))

    async def masto_accounts(request: Request) -> Any:
        w, inst = masto_world(request)
        if w is None:
            return JSONResponse({"error": f"unknown instance {inst}"}, 404)
        ids = request.query_params.getlist("id[]") or request.query_params.getlist("id")
        return await _serve(state, "mastodon", [f"mastodon:{inst}"],
                            lambda t, n: P.masto_batch(w, t, inst, ids))

    async def masto_followers(request: Request) -> Any:
        w, inst = masto_world(request)
        if w is None:
            return JSONResponse({"error": f"unknown instance {inst}"}, 404)
        ident = request.path_params["acct_id"]
        q = request.query_params
        buckets = [f"mastodon:{inst}"] + ([f"mastodon_paging:{inst}"] if paging(request) else [])
        base = masto_base(request, inst)
        return await _serve(state, "mastodon", buckets,
                            lambda t, n: P.masto_followers(w, t, inst, base, ident, q.get("limit"), q.get("max_id"),
                                                           q.get("since_id"), q.get("min_id")))

    async def masto_statuses(request: Request) -> Any:
        w, inst = masto_world(request)
        if w is None:
            return JSONResponse({"error": f"unknown instance {inst}"}, 404)
        ident = request.path_params["acct_id"]
        q = request.query_params
        buckets = [f"mastodon:{inst}"] + ([f"mastodon_paging:{inst}"] if paging(request) else [])
        base = masto_base(request, inst)
        return await _serve(state, "mastodon", buckets,
                            lambda t, n: P.masto_statuses(w, t, inst, base, ident, q.get("limit"), q.get("max_id"),
                                                          q.get("since_id"), q.get("min_id"),
                                                          q.get("exclude_reblogs"), q.get("exclude_replies")))

    # ------------------------------------------------------------------- X
    def x_auth(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return JSONResponse({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                 "detail": "Unauthorized"}, 401)
        return None

    def x_world(request: Request) -> tuple[Any, Response | None]:
        """The X world, or the answer refusing the request (no token, or no X here)."""
        w = plat("x")
        denied = x_auth(request)
        if denied is not None or w is None:
            return None, denied or JSONResponse({"title": "Not Found"}, 404)
        return w, None

    async def x_users(request: Request) -> Any:
        w, refused = x_world(request)
        if refused is not None:
            return refused
        q = request.query_params
        return await _serve(state, "x", ["x_lookup"],
                            lambda t, n: P.x_lookup(w, t, "ids", q.get("ids"), q.get("user.fields")))

    async def x_users_by(request: Request) -> Any:
        w, refused = x_world(request)
        if refused is not None:
            return refused
        q = request.query_params
        return await _serve(state, "x", ["x_lookup"],
                            lambda t, n: P.x_lookup(w, t, "usernames", q.get("usernames"), q.get("user.fields")))

    async def x_followers(request: Request) -> Any:
        w, refused = x_world(request)
        if refused is not None:
            return refused
        q = request.query_params
        uid = request.path_params["uid"]
        return await _serve(state, "x", ["x_followers"],
                            lambda t, n: P.x_followers(w, t, uid, q.get("max_results"),
                                                       q.get("pagination_token"), q.get("user.fields")))

    async def x_user_tweets(request: Request) -> Any:
        w, refused = x_world(request)
        if refused is not None:
            return refused
        q = request.query_params
        uid = request.path_params["uid"]
        return await _serve(state, "x", ["x_tweets"],
                            lambda t, n: P.x_user_tweets(w, t, uid, q.get("max_results"), q.get("pagination_token"),
                                                         q.get("start_time"), q.get("end_time"), q.get("exclude"),
                                                         q.get("tweet.fields")))

    async def x_tweets(request: Request) -> Any:
        w, refused = x_world(request)
        if refused is not None:
            return refused
        q = request.query_params
        return await _serve(state, "x", ["x_tweets_lookup"],
                            lambda t, n: P.x_tweets_lookup(w, t, q.get("ids"), q.get("tweet.fields")))

    # ------------------------------------------------------------- control
    async def clock(request: Request) -> Any:
        c = state.clock
        if request.method == "POST":
            q = request.query_params
            try:
                if "advance" in q:
                    c.advance(float(q["advance"]))
                elif "set" in q:
                    c.set(to_us(datetime.fromisoformat(q["set"].replace("Z", "+00:00"))))
                else:
                    return JSONResponse({"error": "give advance=<seconds> or set=<ISO time>"}, 400)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        now = c.now_us()
        doc = {"now": iso_ms(now), "now_us": now, "speed": c.speed, "manual": c.manual_mode,
               "start": iso_ms(state.scenario.start_us), "end": iso_ms(state.scenario.end_us)}
        if c.paced_mode:
            # A paced clock stops at its lowest hold: a client extrapolating from
            # now_us at speed must not stamp past it (net/simtime.py).
            doc["paced"] = True
            doc["held_until_us"] = c.held_until_us()
        return JSONResponse(doc)

    async def stats(request: Request) -> Any:
        return JSONResponse(state.stats())

    async def truth_ep(request: Request) -> Any:
        from purgewatch.sim._truth import truth_of_world

        if state._truth is None:
            state._truth = truth_of_world(world)
        return JSONResponse(state._truth)

    routes = [
        Route("/bsky/xrpc/{nsid}", xrpc),
        WebSocketRoute("/bsky/jetstream/subscribe", jetstream),
        WebSocketRoute("/bsky/jetstream/xrpc/network.bsky.jetstream.subscribeEvents", jetstream_v2),
        Route("/mastodon/{instance}/api/v1/accounts/lookup", masto_lookup),
        Route("/mastodon/{instance}/api/v1/accounts", masto_accounts),
        Route("/mastodon/{instance}/api/v1/accounts/{acct_id}", masto_account),
        Route("/mastodon/{instance}/api/v1/accounts/{acct_id}/followers", masto_followers),
        Route("/mastodon/{instance}/api/v1/accounts/{acct_id}/statuses", masto_statuses),
        # Any other path under an instance: Mastodon's own 404 for a route it does not have.
        Route("/mastodon/{instance}/{rest:path}", masto_no_route),
        Route("/x/2/users", x_users),
        Route("/x/2/users/by", x_users_by),
        Route("/x/2/users/{uid}/followers", x_followers),
        Route("/x/2/users/{uid}/tweets", x_user_tweets),
        Route("/x/2/tweets", x_tweets),
        Route("/_sim/clock", clock, methods=["GET", "POST"]),
        Route("/_sim/stats", stats),
        Route("/_sim/truth", truth_ep),
    ]
    budgets = state.limiter.budgets
    # per-instance Mastodon buckets share the scenario's Mastodon budgets
    w = plat("mastodon")
    for inst in (w.instances if w is not None else ()):
        budgets[f"mastodon:{inst}"] = budgets["mastodon"]
        budgets[f"mastodon_paging:{inst}"] = budgets["mastodon_paging"]
    return Starlette(routes=routes)


async def _hold(state: EmulatorState, seconds: float) -> None:
    """Sleep ``seconds``, or less if the emulator is stopping."""
    end = time.monotonic() + seconds
    while not state.closing.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


async def _jetstream(state: EmulatorState, ws: WebSocket, *, v2: bool) -> None:
    """Jetstream account events as the scenario clock reaches them, replayed from a cursor.

    v1 (``/subscribe``, ``wantedDids``): a too-old cursor is clamped silently. v2
    (``subscribeEvents``, ``dids``, ``kinds``): a too-old cursor is refused with 400
    ``CursorTooOld`` before the upgrade.
    """
    w = state.world.platforms.get("bluesky")
    q = ws.query_params
    wanted = q.getlist("dids" if v2 else "wantedDids")
    now = state.clock.now_us()
    cursor_s = q.get("cursor")
    cursor = int(cursor_s) if cursor_s and cursor_s.lstrip("-").isdigit() else None
    too_old = False
    if v2 and cursor is not None:
        if cursor >= 10**15:  # a time (µs)
            too_old = cursor < now - JETSTREAM_REPLAY_US
        else:  # Jetstream's own seq: older than the first event still in the window
            all_times = _events(state)[0]
            too_old = cursor - V2_SEQ0 < int(np.searchsorted(all_times, now - JETSTREAM_REPLAY_US, side="left"))
    if too_old:
        await ws.send_denial_response(JSONResponse(
            {"error": "CursorTooOld", "message": "cursor is older than the replay window"}, 400))
        return
    await ws.accept()
    if w is None:
        await ws.close(code=1011)
        return
    if len(wanted) > MAX_WANTED_DIDS:
        await ws.close(code=1008, reason=f"too many wantedDids (max {MAX_WANTED_DIDS})")
        return
    kinds = q.getlist("kinds")
    times, idx, codes = _events(state)
    seqs = JETSTREAM_SEQ0 + np.arange(len(times), dtype=np.int64)
    order = np.arange(len(times), dtype=np.int64)  # Jetstream v2's own seq, before filtering
    if wanted or (v2 and kinds and "account" not in kinds):
        want = {k for k in (w.index_of_id(d) for d in wanted) if k is not None}
        if v2 and kinds and "account" not in kinds:
            want = set()
        keep = np.isin(idx, np.fromiter(want, np.int64, len(want)))
        times, idx, codes, seqs, order = times[keep], idx[keep], codes[keep], seqs[keep], order[keep]
    if v2 and cursor is not None and cursor < 10**15:
        # v2 reads a cursor below 1e15 as its own seq, at or above as a time (µs)
        pos = int(np.searchsorted(order, cursor - V2_SEQ0, side="left"))
    elif cursor is not None:
        start = max(cursor, now - JETSTREAM_REPLAY_US)  # v1: too old is clamped silently
        pos = int(np.searchsorted(times, start, side="left"))
    else:
        pos = int(np.searchsorted(times, now, side="right"))
    state.ws_connections += 1
    conn = state.ws_connections
    receiver: asyncio.Task[Any] = asyncio.ensure_future(ws.receive())
    sent = 0
    try:
        while True:
            if state.closing.is_set():
                await ws.close(code=1001, reason="emulator stopping")
                return
            now = state.clock.now_us()
            while pos < len(times) and times[pos] <= now:
                t, k = int(times[pos]), int(idx[pos])
                n = int(seqs[pos])
                odd = state.faults.side_fault("bluesky", "unknown_status", n, t)
                if odd:
                    state.count_fault("bluesky", "unknown_status")
                frame = P.jetstream_frame(w, k, t, int(codes[pos]), n, odd)
                if v2:
                    frame = P.jetstream_v2_frame(frame, V2_SEQ0 + int(order[pos]))
                await ws.send_text(json.dumps(frame, separators=(",", ":")))
                pos += 1
                sent += 1
                # drawn per (connection, frame): a client resuming from this frame's cursor
                # must not meet the same disconnect forever
                if state.faults.side_fault("bluesky", "disconnect", conn * 1_000_003 + sent, t):
                    state.count_fault("bluesky", "disconnect")
                    await ws.close(code=1011, reason="upstream hiccup")
                    return
            wait = 0.05
            if pos < len(times):
                until = state.clock.wall_seconds_until(int(times[pos]))
                if until is not None:
                    wait = min(0.25, max(0.001, until))
            done, _ = await asyncio.wait({receiver}, timeout=wait)
            if done:
                msg = receiver.result()
                if msg.get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(ws.receive())  # client chatter is ignored
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        if not receiver.done():
            receiver.cancel()


def _events(state: EmulatorState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cache = getattr(state, "_events_cache", None)
    if cache is None:
        cache = state.world["bluesky"].status_events()
        state._events_cache = cache  # type: ignore[attr-defined]
    return cache  # type: ignore[no-any-return]

