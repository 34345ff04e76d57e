"""Alerts: a signed webhook POST when detection fires during `purgewatch watch`.

One JSON body serves three kinds of receiver at once:

* any HTTP endpoint: ``type``, ``id``, ``event`` (the FORMATS.md event), ``sent_at``;
* a Slack incoming webhook: ``text`` (mrkdwn, with ``& < >`` escaped as Slack requires);
* Matrix (a hookshot generic webhook, or the body of an ``m.room.message``):
  ``text``/``html`` and ``msgtype``/``body``/``format``/``formatted_body``.

Signature: ``X-PurgeWatch-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``
with the shared secret (GitHub's scheme; the body carries ``sent_at`` so a receiver can
refuse replays). ``X-PurgeWatch-Delivery`` is the event identity, stable across retries.

Delivery: retried with exponential backoff and jitter on network errors, 5xx and 429
(honouring ``Retry-After``); other 4xx answers are not retried within a round. Dedupe:
an event's identity (kind, platform, account, group, window start) is written to
``STORE/state/alerts.json`` once a receiver accepted it (2xx), so the watch loop can
hand the whole detection list over after every cycle and each event goes out once, even
across restarts. Events that failed stay pending and are tried again next cycle, up to
``max_rounds`` cycles.

Deleted posts of watched accounts go out the same way, as events of kind ``post_deleted``
(:func:`purgewatch.analysis.post_context.deletion_alerts`; one per post): the message names
the account, says when the post was last seen and first missing, and quotes its archived
text shortened.

Attacker-controlled text never reaches a receiver unescaped, and the webhook URL (which
is itself a secret for Slack) and the secret are never logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from markupsafe import escape

from purgewatch.errors import ConfigError
from purgewatch.model import TOOL_VERSION
from purgewatch.net.http import backoff_delay
from purgewatch.safetext import visible
from purgewatch.timefmt import human_span

log = logging.getLogger("purgewatch.alerts")

ENV_URL = "PURGEWATCH_WEBHOOK_URL"
ENV_SECRET = "PURGEWATCH_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-PurgeWatch-Signature"
DELIVERY_HEADER = "X-PurgeWatch-Delivery"
STATE_FILE = "alerts.json"


@dataclass(frozen=True)
class AlertConfig:
    """Where and how to deliver. ``kinds``/``min_score`` filter what is worth a message."""

    url: str
    secret: str | None = None
    attempts: int = 5                 # tries per event per round
    backoff: float = 0.5              # first wait, doubled each retry (with jitter)
    max_backoff: float = 30.0
    timeout: float = 10.0
    max_rounds: int = 5               # cycles an undeliverable event is retried
    kinds: frozenset[str] | None = None
    min_score: float | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("the webhook URL must be an http(s) URL", hint=f"set {ENV_URL}=https://...")
        if self.attempts < 1:
            raise ConfigError("alert attempts must be at least 1")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AlertConfig | None:
        """From ``PURGEWATCH_WEBHOOK_URL`` / ``PURGEWATCH_WEBHOOK_SECRET``; None when unset."""
        e = os.environ if env is None else env
        url = e.get(ENV_URL)
        if not url:
            return None
        return cls(url=url, secret=e.get(ENV_SECRET) or None)

    @property
    def host(self) -> str:
        """For logs: the receiver's host only (Slack webhook paths are secrets)."""
        return urlsplit(self.url).hostname or "?"


@dataclass
class AlertReport:
    sent: list[str] = field(default_factory=list)
    duplicates: int = 0
    filtered: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "duplicates": self.duplicates, "filtered": self.filtered,
                "failed": self.failed, "abandoned": self.abandoned}


def event_json(event: Any) -> dict[str, Any]:
    data = event.to_json() if hasattr(event, "to_json") else event
    if not isinstance(data, dict):
        raise TypeError(f"not a detection event: {type(event).__name__}")
    return data


def event_identity(event: Any) -> str:
    """Stable id of an event: what happened, to whom, when it began. A later detection
    run that widens the window's end (a wave still growing) is the same event."""
    e = event_json(event)
    key = [e.get("kind"), e.get("platform"), e.get("account_id"), e.get("group"), e.get("start")]
    if e.get("kind") == "post_deleted":
        # one alert per post (an account may delete several posts between two reads)
        key = [e.get("kind"), e.get("platform"), e.get("account_id"), e.get("post_id")]
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:32]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): constant-time check of the signature header."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


_KIND_WORDS = {
    "follower_drop": "follower drop",
    "follower_surge": "follower surge",
    "suspension_wave": "suspension wave",
    "reinstatement_wave": "reinstatement wave",
    "purge": "platform-wide purge",
    "post_deleted": "post deleted",
}


def _slack_escape(text: str) -> str:
    # Slack's three control characters; escaping '<' also disarms <!channel> and links.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _defang_mentions(text: str) -> str:
    # Matrix notifies a whole room for "@room"; Slack for <!here> (escaped above anyway).
    return text.replace("@room", "@\u2024room").replace("@channel", "@\u2024channel").replace("@here", "@\u2024here")


def message_text(e: dict[str, Any]) -> str:
    """One plain sentence about the event (attacker-controlled parts made visible and
    clipped; escaping for each receiver is applied after)."""
    kind = _KIND_WORDS.get(str(e.get("kind")), str(e.get("kind")))
    if e.get("kind") == "post_deleted":
        return _deletion_text(e, kind)
    verb = " gained " if e.get("kind") == "follower_surge" else " lost "
    from purgewatch.queries import AccountName  # lazily: ibis is heavy for a webhook sender

    name = AccountName(e.get("handle"), e.get("label")).text(e.get("account_id"))
    who = visible(name, 160) + verb if e.get("account_id") else ""
    where = visible(e.get("platform"), 30)
    group = f" (group {visible(e.get('group'), 60)})" if e.get("group") else ""
    mag = e.get("magnitude")
    rel = e.get("relative")
    size = f"{mag:,.0f}" if isinstance(mag, int | float) and not isinstance(mag, bool) else visible(mag, 20)
    share = f" ({rel * 100:.1f}%)" if isinstance(rel, int | float) else ""
    unit = "followers" if str(e.get("kind")).startswith("follower") else "accounts"
    return _defang_mentions(
        f"PurgeWatch: {kind} on {where}{group}: {who}{size} {unit}{share}, "
        f"{_when(e.get('start'), e.get('end'))} (score {e.get('score')})."
    )


def _deletion_text(e: dict[str, Any], kind: str) -> str:
    """A deleted post of a watched account: who, when it was last seen and first missing,
    and the archived text shortened (analysis/post_context.deletion_sentence)."""
    from purgewatch.analysis.post_context import deletion_sentence  # lazily, as above

    where = visible(e.get("platform"), 30)
    group = f" (group {visible(e.get('group'), 60)})" if e.get("group") else ""
    fields = {k: e.get(k) for k in ("account_id", "created_at", "last_seen", "first_missing")}
    try:
        sentence = deletion_sentence({**fields, "handle": visible(e.get("handle"), 80) or None,
                                      "label": visible(e.get("label"), 80) or None,
                                      "text": visible(e.get("text"), 400)}, limit=160)
    except (ValueError, TypeError):
        sentence = f"{visible(e.get('account_id'), 120)} deleted post {visible(e.get('post_id'), 80)}."
    return _defang_mentions(f"PurgeWatch: {kind} on {where}{group}: {sentence}")


def _when(start: Any, end: Any) -> str:
    """The window in words (UTC); the ISO times stay in the payload's ``event``."""
    try:
        return human_span(start, end)
    except (ValueError, TypeError):
        return f"between {visible(start, 40)} and {visible(end, 40)}"


def payload(event: Any, *, sent_at: str | None = None) -> dict[str, Any]:
    e = event_json(event)
    text = message_text(e)
    html = str(escape(text))
    return {
        "type": "purgewatch.detection",
        "id": event_identity(e),
        "tool_version": TOOL_VERSION,
        "sent_at": sent_at or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "event": e,
        # Slack incoming webhook
        "text": _slack_escape(text),
        # Matrix hookshot generic webhook
        "html": html,
        # Matrix m.room.message content
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    }


class _StateFile:
    """``STORE/state/alerts.json`` under an exclusive lock (read-modify-write)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        self.lock_path = state_dir / (STATE_FILE + ".lock")

    @contextlib.contextmanager
    def locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            data = {}
        data.setdefault("sent", {})
        data.setdefault("failed", {})
        return data  # type: ignore[no-any-return]

    def save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class Alerter:
    """Deliver detection events to one webhook, each once.

    ``store_dir``: the evidence store directory (state goes to ``STORE/state/``).
    ``transport``: an httpx transport (tests use ``httpx.MockTransport``)."""

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        config: AlertConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.state = _StateFile(Path(store_dir) / "state")
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.Client(transport=transport, timeout=config.timeout, follow_redirects=False,
                                    headers={"User-Agent": f"PurgeWatch/{TOOL_VERSION} (+alerts)"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Alerter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wanted(self, e: dict[str, Any]) -> bool:
        if self.config.kinds is not None and e.get("kind") not in self.config.kinds:
            return False
        score = e.get("score")
        return not (self.config.min_score is not None and isinstance(score, int | float) and score < self.config.min_score)

    def notify(self, events: Iterable[Any]) -> AlertReport:
        """Send every wanted event not yet delivered. Safe to call with the whole
        detection list after each cycle."""
        report = AlertReport()
        with self.state.locked():
            st = self.state.load()
            seen: set[str] = set()
            for ev in events:
                e = event_json(ev)
                ident = event_identity(e)
                if ident in st["sent"] or ident in seen:
                    report.duplicates += 1
                    continue
                seen.add(ident)
                if not self.wanted(e):
                    report.filtered += 1
                    continue
                fail = st["failed"].get(ident, {})
                if fail.get("rounds", 0) >= self.config.max_rounds:
                    report.abandoned.append(ident)
                    continue
                ok, detail = self._deliver(e, ident)
                if ok:
                    st["sent"][ident] = {"at": _now(), "kind": e.get("kind"), "status": detail}
                    st["failed"].pop(ident, None)
                    report.sent.append(ident)
                else:
                    st["failed"][ident] = {"rounds": fail.get("rounds", 0) + 1, "last_error": detail, "at": _now()}
                    report.failed[ident] = detail
                    log.warning("alert not delivered", extra={"alert_id": ident, "host": self.config.host, "error": detail})
                self.state.save(st)  # after each event: a crash never re-sends a delivered one
        return report

    __call__ = notify

    def _deliver(self, e: dict[str, Any], ident: str) -> tuple[bool, str]:
        body = json.dumps(payload(e), ensure_ascii=False, sort_keys=True, allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: ident, "X-PurgeWatch-Event": str(e.get("kind"))}
        if self.config.secret:
            headers[SIGNATURE_HEADER] = sign(self.config.secret, body)
        detail = "not attempted"
        for attempt in range(1, self.config.attempts + 1):
            wait: float | None = None
            try:
                resp = self._client.post(self.config.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                detail = f"{type(exc).__name__}"
            else:
                if 200 <= resp.status_code < 300:
                    return True, f"HTTP {resp.status_code}"
                detail = f"HTTP {resp.status_code}"
                if resp.status_code == 429 or resp.status_code >= 500:
                    wait = _retry_after(resp.headers.get("retry-after"))
                else:
                    return False, detail  # the receiver refused this body: retrying won't help now
            if attempt < self.config.attempts:
                self._sleep(backoff_delay(attempt - 1, base=self.config.backoff, cap=self.config.max_backoff,
                                          rng=self._rng, at_least=wait or 0.0))
        return False, detail + f" after {self.config.attempts} attempts"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class BackgroundAlerter:
    """The watch-loop hook: ``hook(events)`` returns at once; a worker thread delivers,
    so a slow receiver never stalls collection. ``close()`` waits for the queue."""

    def __init__(self, alerter: Alerter) -> None:
        self.alerter = alerter
        self._queue: queue.Queue[list[Any] | None] = queue.Queue()
        self.reports: list[AlertReport] = []
        self._thread = threading.Thread(target=self._run, name="purgewatch-alerts", daemon=True)
        self._thread.start()

    def __call__(self, events: Iterable[Any]) -> None:
        self._queue.put([event_json(e) for e in events])

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.reports.append(self.alerter.notify(item))
            except Exception as exc:  # noqa: BLE001 - an alert failure must never stop watching
                log.error("alert delivery crashed", extra={"error": f"{type(exc).__name__}: {exc}"})

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self.alerter.close()


def alert_hook(store_dir: str | os.PathLike[str], config: AlertConfig | None = None) -> BackgroundAlerter | None:
    """The ``on_detections`` hook for the watch loop, configured from the environment
    when no config is given; None when no webhook is configured."""
    cfg = config or AlertConfig.from_env()
    if cfg is None:
        return None
    return BackgroundAlerter(Alerter(store_dir, cfg))
