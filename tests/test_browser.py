"""The report file and the web UI in a real headless Chromium (Debian's, driven by
playwright; no browser is ever downloaded): charts render, links resolve, no console
errors, and no script from a hostile name runs. Screenshots go to artifacts/screenshots/.

Skips with a reason when /usr/bin/chromium (or the playwright package) is absent;
.ci/run installs chromium.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from purgewatch.report import ReportFiles
from test_report_data import fixture_full_app, fixture_full_report, fixture_full_store  # noqa: F401

CHROMIUM = os.environ.get("PURGEWATCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's `chromium`; .ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")

# What every page must satisfy, evaluated in the page.
CHECKS_JS = """() => {
  const charts = [...document.querySelectorAll('svg.chart')];
  const visible = charts.filter(s => s.closest('details:not([open])') === null);
  const sizes = visible.map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; });
  const ids = new Set([...document.querySelectorAll('[id]')].map(e => e.id));
  const local = [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1));
  return {
    charts: charts.length,
    zeroSize: sizes.filter(([w, h]) => !(w > 0 && h > 0)).length,
    shapes: document.querySelectorAll('svg.chart path, svg.chart rect, svg.chart circle').length,
    brokenLocal: local.filter(h => !ids.has(decodeURIComponent(h))).slice(0, 5),
    localLinks: local.length,
    pwned: typeof window.__pwned !== 'undefined' || typeof window.alert_ran !== 'undefined',
    scripts: [...document.scripts].map(s => s.type),
    bodyFont: getComputedStyle(document.body).fontFamily,
  };
}"""


class Browser:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.page = ctx.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def open(self, url: str) -> dict[str, Any]:
        self.console.clear()
        self.page.goto(url, wait_until="load")
        result: dict[str, Any] = self.page.evaluate(CHECKS_JS)
        return result


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1280, "height": 900}, offline=False,
        )
        try:
            yield Browser(ctx)
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def published(full_report: ReportFiles, full_app: Starlette) -> Iterator[tuple[Path, str]]:
    """The report file, and the web UI served by uvicorn on 127.0.0.1 in a thread."""
    import uvicorn

    files = full_report
    server = uvicorn.Server(uvicorn.Config(full_app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield files.html, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _assert_clean(b: Browser, r: dict[str, Any], where: str, charts: bool = True) -> None:
    if charts:
        assert r["charts"] > 0 and r["shapes"] > 0, (where, r)
    assert r["zeroSize"] == 0, (where, r)
    assert r["brokenLocal"] == [], (where, r["brokenLocal"])
    assert r["pwned"] is False and b.dialogs == [], (where, b.dialogs)
    assert [t for t in r["scripts"] if t != "application/json"] == [], where
    assert b.console == [], (where, b.console)
    assert "Georgia" in r["bodyFont"] or "Serif" in r["bodyFont"], ("the hashed style sheet applied", r["bodyFont"])


def test_report_file_renders_offline_and_links_resolve(browser: Browser, published: tuple[Path, str]) -> None:
    html, _ = published
    SHOTS.mkdir(parents=True, exist_ok=True)
    r = browser.open(html.as_uri())
    _assert_clean(browser, r, "report")
    assert r["charts"] >= 10 and r["localLinks"] > 100
    assert all(u.startswith(("file:", "data:")) for u in browser.requests), "the report made a network request"
    page = browser.page
    page.screenshot(path=str(SHOTS / "report_top.png"))
    # the first screen tells the story: the lede and the key figures, above the fold
    first = page.evaluate("""() => ['p.lede', '.figures'].map(q => {
        const e = document.querySelector(q); if (!e) return null;
        const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })""")
    assert all(x is not None and 0 < x[0] and x[1] < 900 for x in first), first
    lede = page.inner_text("p.lede")
    assert "head of state (@leader)" in lede and "Thu 5 Mar 2026" in lede and "UTC" in lede
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
        "a table or chart is wider than the page"
    # a number in the summary leads to its evidence, and on to the stored row
    page.click("#summary a.num >> nth=1")
    fact_id = page.evaluate("location.hash").lstrip("#")
    assert fact_id.startswith("f-") and page.is_visible(f"tr[id='{fact_id}']")
    page.click(f"tr[id='{fact_id}'] a >> nth=0")
    row_id = page.evaluate("location.hash").lstrip("#")
    assert row_id.startswith(("o-", "s-", "p-", "n-")) and page.evaluate(f"document.getElementById('{row_id}').matches(':target')")
    # a dot on a chart links to the observation behind it
    page.click("svg.series a.obs-point >> nth=5")
    assert page.evaluate("location.hash").startswith("#o-")
    for section in ("accounts", "explain", "compare", "forensics"):
        page.locator(f"#{section}").scroll_into_view_if_needed()
        page.evaluate(f"document.getElementById('{section}').scrollIntoView()")
        page.screenshot(path=str(SHOTS / f"report_{section}.png"))
    assert browser.console == [] and browser.dialogs == []


def test_web_ui_pages_render_and_navigate(browser: Browser, published: tuple[Path, str]) -> None:
    _, base = published
    for path, shot in (("/", "web_overview"), ("/accounts", "web_accounts"), ("/accounts/x/1001", "web_account"),
                       ("/accounts/x/1003", "web_hostile_account"), ("/compare", "web_compare"),
                       ("/explain?platform=x&account=1001", "web_explain")):
        r = browser.open(base + path)
        _assert_clean(browser, r, path, charts=path != "/accounts")
        browser.page.screenshot(path=str(SHOTS / f"{shot}.png"))
    for path in ("/watchlists", "/events", "/evidence"):
        browser.open(base + path)
        assert browser.console == [] and browser.dialogs == [], path
    # navigation: accounts list -> an account page -> its evidence rows
    page = browser.page
    page.goto(base + "/accounts")
    page.click("a[href='/accounts/x/1001']")
    assert page.url.endswith("/accounts/x/1001") and page.locator("svg.series a.obs-point").count() == 40
    page.click("svg.series a.obs-point >> nth=3")
    assert page.evaluate("document.querySelector(':target') !== null")
    assert browser.dialogs == []


def test_web_ui_event_to_account_to_explain_in_two_clicks(browser: Browser, published: tuple[Path, str]) -> None:
    _, base = published
    page = browser.page
    browser.open(base + "/events")
    page.screenshot(path=str(SHOTS / "web_events.png"))
    row = page.locator("tr[id^='e-']", has_text="follower drop").first
    row.locator("a[href^='/accounts/']").first.click()                   # click 1: the account page
    assert page.url.endswith("/accounts/x/1001")
    page.screenshot(path=str(SHOTS / "web_account.png"))
    page.locator("a.button[href^='/explain?']").first.click()              # click 2: explain its drop
    assert "/explain?" in page.url and "account=1001" in page.url
    # the numbers are on the first screen, without scrolling
    boxes = page.evaluate("""() => [...document.querySelectorAll('#result .figure')].map(e => {
        const r = e.getBoundingClientRect(); return [r.top, r.bottom, e.innerText]; })""")
    assert len(boxes) == 4 and all(0 < top and bottom < 900 for top, bottom, _ in boxes), boxes
    assert "followers lost" in boxes[0][2]
    page.screenshot(path=str(SHOTS / "web_explain.png"))
    # search by handle, then sort by followers (server-side; plain links, no script)
    browser.open(base + "/accounts")
    page.fill("input[name='q']", "@leader")
    page.click("form.search button")
    assert "q=%40leader" in page.url and page.locator("tbody tr").count() >= 1
    assert all("leader" in t.lower() for t in page.locator("tbody tr td:first-child").all_inner_texts())
    page.click("th a.sort[href*='sort=followers']")
    assert "sort=followers" in page.url and "q=%40leader" in page.url
    assert browser.console == [] and browser.dialogs == []


def test_csp_would_stop_a_script_that_slipped_through(browser: Browser, published: tuple[Path, str], tmp_path: Path) -> None:
    """Defence in depth: if an escaping bug ever let markup through, the report's CSP
    still refuses to run it (and says so on the console)."""
    html, _ = published
    tampered = tmp_path / "tampered.html"
    text = html.read_text("utf-8").replace(
        "<main>", '<main><script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">', 1
    )
    tampered.write_text(text, "utf-8")
    browser.console.clear()
    browser.page.goto(tampered.as_uri(), wait_until="load")
    assert browser.page.evaluate("typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in m for m in browser.console), browser.console


def test_screenshots_were_written() -> None:
    names = {p.name for p in SHOTS.glob("*.png")} if SHOTS.is_dir() else set()
    for n in ("report_top.png", "report_accounts.png", "web_overview.png", "web_account.png", "web_events.png",
              "web_explain.png"):
        assert n in names, n
        assert (SHOTS / n).stat().st_size > 10_000


