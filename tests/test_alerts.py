"""Alerts: signed webhook, Slack/Matrix payload, retries, dedupe persisted in the store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from purgewatch.alerts import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    AlertConfig,
    Alerter,
    BackgroundAlerter,
    alert_hook,
    event_identity,
    payload,
    verify,
)
from purgewatch.errors import ConfigError
from test_report_data import build_store

SECRET = "s3cret-for-tests-only"
EVENT: dict[str, Any] = {
    "kind": "follower_drop", "platform": "x", "account_id": "1001", "group": "government",
    "start": "2026-03-05T12:00:00Z", "end": "2026-03-05T18:00:00Z", "magnitude": 5978,
    "relative": 0.0497, "score": 41.2, "evidence": {"times": ["2026-03-05T12:00:00Z"], "values": [120_000]},
}
HOSTILE: dict[str, Any] = dict(
    EVENT, account_id="<script>alert(1)</script>@room <!channel>", group='"><img src=x onerror=alert(1)>\u202e',
)


class Recorder:
    """A MockTransport handler answering from a script of status codes (or exceptions)."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        if isinstance(step, tuple):
            return httpx.Response(step[0], headers=step[1])
        return httpx.Response(step, json={"ok": step < 300})


def make(tmp_path: Path, script: list[Any], **cfg: Any) -> tuple[Alerter, Recorder, list[float]]:
    rec = Recorder(script)
    sleeps: list[float] = []
    config = AlertConfig(url="https://hooks.example.invalid/T000/B000/XXXX", secret=SECRET, **cfg)
    return Alerter(tmp_path, config, transport=httpx.MockTransport(rec), sleep=sleeps.append), rec, sleeps


def test_signed_json_post_with_slack_and_matrix_fields(tmp_path: Path) -> None:
    alerter, rec, _ = make(tmp_path, [200])
    report = alerter.notify([EVENT])
    assert report.sent == [event_identity(EVENT)]
    (req,) = rec.requests
    assert req.method == "POST" and req.headers["content-type"] == "application/json"
    assert verify(SECRET, req.content, req.headers[SIGNATURE_HEADER])
    assert not verify("wrong", req.content, req.headers[SIGNATURE_HEADER])
    assert req.headers[DELIVERY_HEADER] == event_identity(EVENT)
    body = json.loads(req.content)
    assert body["event"] == EVENT                        # the FORMATS.md event, unchanged
    assert "follower drop" in body["text"] and "5,978" in body["text"]
    assert body["msgtype"] == "m.notice" and body["format"] == "org.matrix.custom.html"
    assert body["body"] and body["formatted_body"] == body["html"]


def test_hostile_strings_are_escaped_for_every_receiver(tmp_path: Path) -> None:
    body = payload(HOSTILE)
    for key in ("text", "html", "formatted_body"):
        assert "<script>" not in body[key] and "<img" not in body[key] and "<!channel>" not in body[key]
    assert "&lt;script&gt;" in body["text"]               # Slack's own escaping
    assert "&lt;script&gt;" in body["html"]
    assert "@room" not in body["body"]                    # no room-wide Matrix ping
    assert "\u202e" not in body["text"] and "⟨U+202E⟩" in body["body"]
    assert body["event"]["account_id"] == HOSTILE["account_id"]  # the data itself stays exact


def test_retries_5xx_and_429_then_succeeds(tmp_path: Path) -> None:
    alerter, rec, sleeps = make(tmp_path, [503, (429, {"Retry-After": "7"}), 200], backoff=0.01)
    report = alerter.notify([EVENT])
    assert report.sent and len(rec.requests) == 3
    assert len(sleeps) == 2 and sleeps[1] >= 7.0          # Retry-After honoured
    assert rec.requests[0].content == rec.requests[2].content  # same body, same signature


def test_network_errors_are_retried(tmp_path: Path) -> None:
    alerter, rec, sleeps = make(tmp_path, [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 204])
    assert alerter.notify([EVENT]).sent
    assert len(rec.requests) == 3 and len(sleeps) == 2


def test_4xx_is_not_retried_within_a_round_and_abandoned_after_max_rounds(tmp_path: Path) -> None:
    alerter, rec, sleeps = make(tmp_path, [400] * 10, max_rounds=2)
    r1 = alerter.notify([EVENT])
    assert r1.failed and not r1.sent and len(rec.requests) == 1 and not sleeps
    r2 = alerter.notify([EVENT])                          # next cycle: tried again
    assert r2.failed and len(rec.requests) == 2
    r3 = alerter.notify([EVENT])
    assert r3.abandoned == [event_identity(EVENT)] and len(rec.requests) == 2


def test_gives_up_after_attempts_and_retries_next_round(tmp_path: Path) -> None:
    alerter, rec, _ = make(tmp_path, [500, 500, 500, 200], attempts=3, backoff=0.0)
    assert alerter.notify([EVENT]).failed
    assert len(rec.requests) == 3
    assert alerter.notify([EVENT]).sent                   # the pending event goes out next cycle


def test_dedupe_within_a_call_across_calls_and_across_restarts(tmp_path: Path) -> None:
    alerter, rec, _ = make(tmp_path, [])
    other = dict(EVENT, kind="suspension_wave", account_id=None, magnitude=40)
    widened = dict(EVENT, end="2026-03-05T23:00:00Z", magnitude=6100)  # same event, later run
    r = alerter.notify([EVENT, EVENT, other])
    assert len(r.sent) == 2 and r.duplicates == 1
    r = alerter.notify([EVENT, widened, other])
    assert r.sent == [] and r.duplicates == 3
    restarted, rec2, _ = make(tmp_path, [])
    assert restarted.notify([EVENT, other]).sent == [] and rec2.requests == []
    state = json.loads((tmp_path / "state" / "alerts.json").read_text())
    assert set(state["sent"]) == {event_identity(EVENT), event_identity(other)}
    assert len(rec.requests) == 2


def test_filters_by_kind_and_score(tmp_path: Path) -> None:
    alerter, rec, _ = make(tmp_path, [], kinds=frozenset({"suspension_wave"}), min_score=10.0)
    weak_wave = dict(EVENT, kind="suspension_wave", score=2.0)
    strong_wave = dict(EVENT, kind="suspension_wave", score=20.0, start="2026-03-05T14:30:00Z")
    r = alerter.notify([EVENT, weak_wave, strong_wave])
    assert r.filtered == 2 and r.sent == [event_identity(strong_wave)]


def test_no_hook_without_a_configured_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PURGEWATCH_WEBHOOK_URL", raising=False)
    assert alert_hook(tmp_path) is None


def test_config_validation_and_env() -> None:
    with pytest.raises(ConfigError):
        AlertConfig(url="javascript:alert(1)")
    with pytest.raises(ConfigError):
        AlertConfig(url="file:///etc/passwd")
    assert AlertConfig.from_env({}) is None
    cfg = AlertConfig.from_env({"PURGEWATCH_WEBHOOK_URL": "https://h.example.invalid/x", "PURGEWATCH_WEBHOOK_SECRET": "k"})
    assert cfg is not None and cfg.secret == "k" and cfg.host == "h.example.invalid"


# ------------------------------------------------------------ a real local receiver
@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], Callable[[int], None]]]:
    """An HTTP server on 127.0.0.1 that records what it receives (and can fail first)."""
    got: list[dict[str, Any]] = []
    fail_first = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fail_first[0] > 0:
                fail_first[0] -= 1
                self.send_response(502)
                self.end_headers()
                return
            got.append({"body": body, "headers": dict(self.headers), "path": self.path})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()

    def set_fail(n: int) -> None:
        fail_first[0] = n

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got, set_fail
    finally:
        server.shutdown()
        server.server_close()


def test_local_receiver_gets_signed_alerts_for_real_detections(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]], Callable[[int], None]]
) -> None:
    from purgewatch.analysis.detect import detect

    url, got, set_fail = receiver
    store = build_store(tmp_path / "store")
    events = detect(store)
    assert any(e.to_json()["kind"] == "suspension_wave" for e in events)
    set_fail(1)                                           # first delivery hits a 502
    alerter = Alerter(store.path, AlertConfig(url=url, secret=SECRET, backoff=0.01))
    report = alerter.notify(events)
    assert len(report.sent) == len({event_identity(e) for e in events}) and not report.failed
    assert len(got) == len(report.sent)
    for item in got:
        headers = {k.lower(): v for k, v in item["headers"].items()}
        assert verify(SECRET, item["body"], headers[SIGNATURE_HEADER.lower()])
        body = json.loads(item["body"])
        assert body["id"] == headers[DELIVERY_HEADER.lower()]
    kinds = {json.loads(i["body"])["event"]["kind"] for i in got}
    assert {e.to_json()["kind"] for e in events} == kinds
    assert alerter.notify(detect(store)).sent == []       # the next cycle re-sends nothing
    alerter.close()


def test_background_hook_does_not_block_and_flushes_on_close(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]], Callable[[int], None]]
) -> None:
    url, got, _ = receiver
    hook = alert_hook(tmp_path, AlertConfig(url=url, secret=SECRET))
    assert isinstance(hook, BackgroundAlerter)
    hook([EVENT])
    hook([EVENT, dict(EVENT, kind="purge", account_id=None)])
    hook.close()
    assert len(got) == 2
    assert sum(len(r.sent) for r in hook.reports) == 2
