"""The one HTTP client every connector uses.

It owns the politeness rules (per-host concurrency, spacing and header budgets, see
``ratelimit.py``) and the failure rules: timeouts, connection errors, 5xx, 429 and
unparseable bodies are retried with exponential backoff and full jitter, and when the
retries run out they surface as :class:`~purgewatch.errors.TransportError`, which
connectors turn into status ``unknown`` with the reason (DESIGN rule 1). Any other
answer (2xx, and 4xx other than 429) is the platform speaking and is returned as is.

Error messages name the method and URL only: request headers (where a bearer token
lives) are never echoed.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from purgewatch._version import __version__
from purgewatch.errors import RateLimited, TransportError
from purgewatch.net.clock import Clock, SystemClock, to_datetime
from purgewatch.net.ratelimit import HostLimiter

USER_AGENT = f"purgewatch/{__version__} (+research; evidence of account suspensions)"

Params = Any  # what httpx accepts as query params: a mapping or (key, value) pairs


@dataclass
class HostPolicy:
    """Politeness settings of one host (config ``[http.hosts."host"]``)."""

    concurrency: int = 4
    min_interval: float = 0.0              # seconds between request starts
    prior: tuple[int, float] | None = None  # (requests, window seconds) until headers say


@dataclass
class ApiResponse:
    url: str
    status_code: int
    headers: httpx.Headers
    body: bytes
    retrieved_at: datetime
    payload_hash: str

    def json(self) -> Any:
        """The decoded body; a body that is not JSON is a transport failure."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise TransportError(
                f"unparseable JSON (HTTP {self.status_code}, {len(self.body)} bytes) from {self.url}: {exc}"
            ) from None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class HostStats:
    requests: int = 0
    responses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    retries: int = 0


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _safe_url(url: str) -> str:
    """The URL for messages: no userinfo (credentials are never put in URLs, but a user
    could configure a base URL with them)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def backoff_delay(retry: int, *, base: float, cap: float, rng: random.Random, at_least: float = 0.0) -> float:
    """The wait before retry number ``retry`` (0 for the first): exponential backoff with
    full jitter, uniform(0, min(cap, base * 2**retry)), so clients that failed together
    do not retry together; never below ``at_least`` (a server's Retry-After) nor above
    ``cap``. The one backoff rule: the HTTP client and webhook delivery both use it."""
    return min(cap, max(at_least, rng.uniform(0, min(cap, base * 2**retry))))


class HttpClient:
    """Async GET with budgets, retries and honest failures."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_rate_wait: float = 960.0,
        hosts: Mapping[str, HostPolicy] | None = None,
        default_policy: HostPolicy | None = None,
        seed: int | None = None,
        stamp: Callable[[], float] | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        # When records are stamped (epoch s). The emulator's scenario clock can stand in
        # here while rate limits keep running on ``clock``.
        self.stamp: Callable[[], float] = stamp or self.clock.time
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_rate_wait = max_rate_wait
        self._policies = dict(hosts or {})
        self._default_policy = default_policy or HostPolicy()
        self._limiters: dict[str, HostLimiter] = {}
        self._rng = random.Random(seed)
        self.stats: dict[str, HostStats] = {}
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,  # never wander to another host on a server's say-so
            headers={"User-Agent": USER_AGENT},
        )

    def now(self) -> datetime:
        """The time to stamp on a record made now."""
        return to_datetime(self.stamp())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def limiter(self, host: str) -> HostLimiter:
        lim = self._limiters.get(host)
        if lim is None:
            p = self._policies.get(host, self._default_policy)
            lim = HostLimiter(
                self.clock, concurrency=p.concurrency, min_interval=p.min_interval, prior=p.prior
            )
            self._limiters[host] = lim
        return lim

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_max, rng=self._rng)

    async def get(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        bucket: str = "default",
        expect_json: bool | Literal["2xx"] = True,
        replay_header: str | None = None,
    ) -> ApiResponse:
        """GET ``url``; retries transport failures, raises TransportError when they persist.

        ``expect_json``: a 2xx/4xx body that does not parse counts as a failed attempt
        (truncated and malformed answers are usually transient); ``"2xx"`` checks only
        successful answers (a host whose refusals are HTML pages, like a web archive).
        ``replay_header``: an answer carrying this header is a replayed archived
        response (a web archive's ``Memento-Datetime``): its status, 429 and 5xx
        included, is the archived page's own and is returned as is, never taken as the
        archive throttling or failing."""
        host = _host(url)
        limiter = self.limiter(host)
        stats = self.stats.setdefault(host, HostStats())
        shown = _safe_url(str(httpx.URL(url, params=params)))
        reason = "no attempt made"
        attempt = 0
        throttled = 0
        while True:
            async with limiter.slot(bucket):
                stats.requests += 1
                try:
                    resp = await self._client.get(url, params=params, headers=headers)
                    body = resp.content
                except httpx.TimeoutException as exc:
                    reason = f"timeout ({type(exc).__name__})"
                    resp = None
                except httpx.HTTPError as exc:
                    reason = f"connection failure ({type(exc).__name__}: {exc})"
                    resp = None
                if resp is not None:
                    stats.responses[resp.status_code] = stats.responses.get(resp.status_code, 0) + 1
                    limiter.observe(bucket, resp.headers, resp.status_code)
            if resp is not None:
                shown = _safe_url(str(resp.url))
                code = resp.status_code
                if replay_header is not None and replay_header in resp.headers:
                    return self._answer(shown, resp, body)
                if code == 429:
                    throttled += 1
                    cap = _usage_cap(body)
                    if cap:
                        stats.failures += 1
                        raise RateLimited(f"usage cap exceeded ({cap}) at {host}: GET {shown}")
                    reset = limiter.budget(bucket).reset_at
                    wait = (reset - self.clock.time()) if reset else 0.0
                    if wait > self.max_rate_wait or throttled > self.retries + 1:
                        stats.failures += 1
                        raise RateLimited(
                            f"HTTP 429 Too Many Requests from {host} (reset in {wait:.0f}s): GET {shown}",
                            reset_at=reset,
                        )
                    # The limiter already holds further requests until the reset.
                    continue
                if code >= 500:
                    reason = f"HTTP {code} server error"
                else:
                    ok = True
                    if expect_json is True or (expect_json == "2xx" and 200 <= code < 300):
                        try:
                            json.loads(body)
                        except ValueError as exc:
                            ok = False
                            reason = f"unparseable JSON (HTTP {code}, {len(body)} bytes): {exc}"
                    if ok:
                        return self._answer(shown, resp, body)
            if attempt >= self.retries:
                stats.failures += 1
                raise TransportError(f"{reason} after {attempt + 1} attempts: GET {shown}")
            stats.retries += 1
            await self.clock.sleep(self._backoff(attempt))
            attempt += 1

    def _answer(self, shown: str, resp: httpx.Response, body: bytes) -> ApiResponse:
        return ApiResponse(
            url=shown,
            status_code=resp.status_code,
            headers=resp.headers,
            body=body,
            retrieved_at=self.now(),
            payload_hash=hashlib.sha256(body).hexdigest(),
        )


def _usage_cap(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("title") == "UsageCapExceeded":
        return f"{data.get('period', '?')} cap, scope {data.get('scope', '?')}"
    return None
