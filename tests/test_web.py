"""The web UI and JSON API, driven in-process (no sockets): pages, security headers,
hostile names, the API mirroring the CLI's --json answers, OpenAPI, write auth, a live
writer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from starlette.applications import Starlette
from starlette.testclient import TestClient

from purgewatch.cli import cli
from purgewatch.findings import plain
from purgewatch.model import TABLE_SCHEMAS
from purgewatch.store import Store
from purgewatch.web import create_app, web_csp
from test_report_data import HOSTILE_NAMES, T0, build_store, fixture_full_app, fixture_full_store  # noqa: F401

TOKEN = "a-long-random-test-token-0123456789"
PAGES = ["/", "/watchlists", "/accounts", "/accounts/x/1003", "/accounts/bluesky/did:plc:opp3", "/events",
         "/explain", "/explain?platform=x&account=1001", "/compare", "/compare?outcome=drop", "/evidence"]


@pytest.fixture(scope="module")
def store(full_store: Store) -> Store:
    return full_store


@pytest.fixture(scope="module")
def client(full_app: Starlette) -> Iterator[TestClient]:
    with TestClient(full_app, base_url="http://127.0.0.1") as c:
        yield c


def _json_cli(*args: str) -> Any:
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_pages_render_with_strict_security_headers(client: TestClient) -> None:
    for url in PAGES:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == web_csp()
        assert "script-src 'none'" in web_csp() and "frame-ancestors 'none'" in web_csp()
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        tree = HTMLParser(r.text)
        assert not tree.css("script, iframe, object, embed, base, img"), url
        assert [a for n in tree.css("*") for a in n.attributes if a.lower().startswith("on")] == []
        for a in tree.css("a[href]"):
            href = a.attributes["href"] or ""
            assert href.startswith(("/", "#")), (url, href)


def test_in_page_links_resolve(client: TestClient) -> None:
    for url in ("/accounts/x/1001", "/evidence", "/accounts"):
        tree = HTMLParser(client.get(url).text)
        ids = {n.attributes["id"] for n in tree.css("[id]")}
        local = [a.attributes["href"] or "" for a in tree.css("a[href^='#']")]
        assert local or url != "/accounts/x/1001"
        assert all(h[1:] in ids for h in local), url
    # every /evidence#ref used on an account page exists on the evidence page
    ev_ids = {n.attributes["id"] for n in HTMLParser(client.get("/evidence").text).css("[id]")}
    acc = HTMLParser(client.get("/accounts/x/1001").text)
    refs = [(a.attributes["href"] or "").split("#", 1)[1] for a in acc.css("a[href^='/evidence#']")]
    assert refs and all(r in ev_ids for r in refs)


def test_hostile_names_are_escaped_in_pages(client: TestClient) -> None:
    for url in ("/accounts", "/watchlists", "/accounts/x/1003", "/accounts/x/2002", "/accounts/bluesky/did:plc:opp3"):
        html = client.get(url).text
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html
        assert "\u202e" not in html and "\x00" not in html
        assert 'href="javascript' not in html.lower()
    page = client.get("/accounts/x/1003").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "__pwned" not in page and "clipped]" in page
    assert "⟨U+202E⟩" in client.get("/accounts/x/2002").text
    # lists name accounts by watchlist label and @handle; the profile's own (hostile) name is on its page
    assert "Minister 🇺🇳🔥 of Truth" in client.get("/accounts/bluesky/did:plc:opp3").text


def test_charts_render_on_pages(client: TestClient) -> None:
    tree = HTMLParser(client.get("/accounts/x/1001").text)
    svg = tree.css_first("svg.series")
    assert svg is not None and len(svg.css("a.obs-point")) == 40 and svg.css("a.event-band")
    assert HTMLParser(client.get("/").text).css("svg.timeline rect")
    assert HTMLParser(client.get("/compare").text).css("svg.intervals circle")
    assert HTMLParser(client.get("/explain?platform=x&account=1001").text).css("svg.stacked rect")


def test_api_mirrors_the_cli_json_answers(client: TestClient, store: Store) -> None:
    s = ["--store", str(store.path)]
    assert client.get("/api/accounts").json() == _json_cli("accounts", *s)
    assert client.get("/api/watchlist").json() == _json_cli("watchlist", "list", *s)
    assert client.get("/api/history/1001?platform=x").json() == _json_cli("history", "1001", "--platform", "x", *s)
    window = ["--from", "2026-03-05T12:00:00Z", "--to", "2026-03-05T18:00:00Z"]
    api = client.get("/api/explain/1001", params={"platform": "x", "from": window[1], "to": window[3]}).json()
    assert api == _json_cli("explain", "1001", "--platform", "x", *window, *s)
    assert api["lost"] == 200 and api["verdict"] == "platform_enforcement"
    cmp = client.get("/api/compare", params={"outcome": "suspended"}).json()
    assert cmp == _json_cli("compare", "--by", "group", "--outcome", "suspended", *s)


def test_api_events_is_the_detect_answer(client: TestClient, store: Store) -> None:
    from purgewatch.analysis.detect import detect

    api = client.get("/api/events").json()["events"]
    lib = [plain(e.to_json()) for e in detect(store)]
    keys = ("kind", "platform", "account_id", "group", "start", "end", "magnitude", "relative", "score", "evidence",
            "handle", "label")
    assert sorted(({k: e[k] for k in keys} for e in api), key=json.dumps) == sorted(lib, key=json.dumps)
    assert all(e["refs"] for e in api)


def test_api_errors_are_json_with_status(client: TestClient) -> None:
    r = client.get("/api/explain/nobody")
    assert r.status_code in (400, 422) and "error" in r.json()
    r = client.get("/api/compare", params={"outcome": "vanished"})
    assert r.status_code == 400 and "vanished" in r.json()["error"]
    r = client.get("/api/history/1001", params={"from": "yesterday"})
    assert r.status_code == 400
    r = client.get("/accounts/x/nope")
    assert r.status_code == 404 and "nope" in r.text
    assert client.get("/api/accounts").headers["content-security-policy"] == web_csp()


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["version"]
    app = client.app
    routes = {r.path for r in app.routes if r.path.startswith("/api/")}  # type: ignore[attr-defined]
    documented = {p.replace("{account}", "{account:path}") for p in doc["paths"]}
    normalised = {p.replace("{account:path}", "{account}") for p in routes}
    assert normalised <= {p.replace("{account:path}", "{account}") for p in documented}
    text = json.dumps(doc)
    for ref in {r.split('"')[0] for r in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in doc["components"]["schemas"], ref
    assert doc["paths"]["/api/watchlist"]["post"]["security"] == [{"bearer": []}]


def test_read_only_by_default(client: TestClient) -> None:
    r = client.post("/api/watchlist", json={"platform": "x", "account": "42", "group": "g"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 403
    assert client.delete("/api/watchlist/x/1001").status_code == 403


def test_refuses_foreign_host_headers(store: Store) -> None:
    with TestClient(create_app(store), base_url="http://evil.example") as c:
        assert c.get("/").status_code == 400
    with TestClient(create_app(store), base_url="http://localhost:8765") as c:
        assert c.get("/api/openapi.json").status_code == 200


@pytest.fixture
def fast_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store whose heavy analyses are switched off (what is under test is the web)."""
    for mod in ("purgewatch.analysis.compare", "purgewatch.analysis.explain", "purgewatch.analysis.forensics"):
        monkeypatch.setitem(sys.modules, mod, None)
    return build_store(tmp_path / "s", snapshots=False)


def test_write_token_guards_watchlist_edits(fast_store: Store) -> None:
    hostile = HOSTILE_NAMES[0]
    body = {"platform": "x", "account": hostile, "group": "government", "label": HOSTILE_NAMES[1]}
    with TestClient(create_app(fast_store, write_token=TOKEN), base_url="http://127.0.0.1") as c:
        before = c.get("/watchlists").text
        assert c.post("/api/watchlist", json=body).status_code == 401
        assert c.post("/api/watchlist", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/api/watchlist", json=body, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert c.post("/api/watchlist", content="platform=x", headers={**auth, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
        assert c.post("/api/watchlist", json={"platform": "x"}, headers=auth).status_code == 400
        r = c.post("/api/watchlist", json=body, headers=auth)
        assert r.status_code == 201 and r.json()["added"] == 1
        after = c.get("/watchlists").text                 # the page sees the new batch at once
        assert after != before and "&lt;script&gt;alert(1)&lt;/script&gt;" in after and hostile not in after
        listed = c.get("/api/watchlist").json()["watchlist"]
        assert any(w["account"] == hostile for w in listed)   # the API returns the exact data
        link = next(a.attributes["href"] for a in HTMLParser(after).css("a[href^='/accounts/x/']") if "%3Cscript" in (a.attributes["href"] or ""))
        assert link == "/accounts/x/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
        r = c.delete(f"/api/watchlist/x/{hostile}", headers=auth)
        assert r.status_code == 200 and r.json()["removed"] == 1
        assert not any(w["account"] == hostile for w in c.get("/api/watchlist").json()["watchlist"])


def test_pages_keep_working_while_a_writer_writes(fast_store: Store) -> None:
    schema = TABLE_SCHEMAS["observations"]
    with TestClient(create_app(fast_store), base_url="http://127.0.0.1") as c:
        n0 = sum(a["n_observations"] for a in c.get("/api/findings").json()["accounts"])
        with fast_store.writer(command="test", source="test") as w:   # holds the writer lock
            for i in range(3):
                rows = pa.table({
                    "platform": ["x"], "account_id": ["1001"], "status": ["active"], "followers_count": [115_000 + i],
                    "observed_at": pa.array([T0.replace(year=2026, month=3, day=20 + i)], schema.field("observed_at").type),
                })
                w.add("observations", rows)
                w.commit()
                assert c.get("/accounts").status_code == 200   # readers never wait for the writer
                n = sum(a["n_observations"] for a in c.get("/api/findings").json()["accounts"])
                assert n == n0 + i + 1                          # each committed batch shows at once


def test_serve_verb_binds_loopback_and_checks_the_token(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    monkeypatch.delenv("PURGEWATCH_WRITE_TOKEN", raising=False)
    res = CliRunner().invoke(cli, ["serve", "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8765
    from purgewatch.cli import main

    with pytest.raises(SystemExit) as exc:                 # through the CLI's error mapping
        main(["serve", "--store", str(store.path), "--write-token", "short"])
    assert exc.value.code == 4 and "too short" in capsys.readouterr().err
    res = CliRunner().invoke(cli, ["serve", "--store", str(store.path)], env={"PURGEWATCH_WRITE_TOKEN": TOKEN})
    assert res.exit_code == 0 and "read-write" in res.output


def test_event_to_account_page_to_explain_in_two_clicks(client: TestClient) -> None:
    events = HTMLParser(client.get("/events").text)
    row = next(r for r in events.css("tr[id^='e-']") if "follower drop" in r.text())
    account = row.css_first("a[href^='/accounts/']").attributes["href"]
    assert account == "/accounts/x/1001" and "head of state" in row.text() and "@leader" in row.text()
    page = HTMLParser(client.get(account or "").text)                       # click 1
    explain = page.css_first("a.button[href^='/explain?']").attributes["href"] or ""
    assert "account=1001" in explain and "from=" in explain and "to=" in explain
    result = HTMLParser(client.get(explain).text)                            # click 2
    figures = [f.text() for f in result.css("#result .figure")]
    assert any("followers lost" in f for f in figures) and any("verdict" in f for f in figures)
    # the event row also links straight to explain, and the overview names link to account pages
    assert row.css_first("a[href^='/explain?']") is not None
    overview = HTMLParser(client.get("/").text)
    assert overview.css_first("#summary a[href='/accounts/x/1001']") is not None


def test_accounts_search_and_sort(client: TestClient) -> None:
    def names(url: str) -> list[str]:
        tree = HTMLParser(client.get(url).text)
        return [r.css_first("td").text() for r in tree.css("tbody tr") if r.css_first("a")]

    hits = names("/accounts?q=%40leader")
    assert hits and all("leader" in h.lower() for h in hits)
    assert names("/accounts?q=head+of+state") == [h for h in hits if "head of state" in h]   # labels too
    assert "No account matches" in client.get("/accounts?q=no-such-name").text
    tree = HTMLParser(client.get("/accounts?sort=followers&dir=desc").text)
    counts = [int(c.text().replace(",", "")) for c in tree.css("tbody tr td:nth-child(5)") if c.text().strip("—")]
    assert len(counts) >= 3 and counts == sorted(counts, reverse=True)
    head = tree.css_first("th a.sort[href*='sort=followers']").attributes["href"] or ""
    assert "dir=asc" in head                                                  # a second click flips it
    assert client.get("/accounts?page=x").status_code == 400
    bad = client.get("/accounts?tz=Mars/Olympus")
    assert bad.status_code == 400 and "unknown time zone" in bad.text
    paris = client.get("/accounts/x/1001?tz=Europe/Paris").text
    assert " CET</time>" in paris and 'datetime="2026-03-' in paris


def test_tables_page_on_the_server() -> None:
    from starlette.requests import Request

    from purgewatch.web._pages import PAGE_SIZE, Table

    rows = [{"n": i, "name": f"acc{i:03d}"} for i in range(2 * PAGE_SIZE + 20)]

    def table(query: str) -> Table:
        req = Request({"type": "http", "path": "/accounts", "query_string": query.encode(), "headers": []})
        return Table(req, rows, {"n": lambda r: r["n"], "name": lambda r: r["name"]}, "name",
                     search=lambda r: r["name"])

    t = table("sort=n&dir=desc&page=3")
    assert (t.pages, t.page, t.total, len(t.rows)) == (3, 3, 120, 20)
    assert [r["n"] for r in t.rows][:2] == [19, 18] and (t.first, t.last) == (101, 120)
    assert t.href(page=2) == "/accounts?sort=n&dir=desc&page=2"
    assert table("page=99").page == 3                                          # clamped, not empty
    s = table("q=acc11")
    assert [r["n"] for r in s.rows] == list(range(110, 120)) and s.pages == 1
    assert "q=acc11" in s.sort_href("n")


def test_findings_are_computed_once_however_many_requests_arrive(tmp_path: Path) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from purgewatch.web._cache import Pending as _Pending

    st = Store.init(tmp_path / "s")
    cache = create_app(st, warm=False).state.cache
    calls: list[int] = []

    def slow() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.3)
        return {"n": len(calls)}

    with ThreadPoolExecutor(20) as ex:              # 20 cold requests at once
        answers = list(ex.map(lambda _: cache.get("findings", slow), range(20)))
    assert calls == [1] and answers == [{"n": 1}] * 20 and cache.computations == 1
    assert cache.get("findings", slow) == {"n": 1}  # served from the cache

    # a page that cannot wait: nothing computed yet -> "being computed"; later, after a
    # store change, the last complete answer (marked not fresh) while the new one runs
    gate = threading.Event()

    def blocked() -> str:
        gate.wait(10)
        return "current"

    with pytest.raises(_Pending):
        cache.get_or_stale("page", blocked, 0.05)
    gate.set()
    assert cache.get("page", blocked) == "current"
    gate.clear()
    schema = TABLE_SCHEMAS["observations"]
    with st.writer(command="test", source="test") as w:
        w.add("observations", pa.table({
            "platform": ["x"], "account_id": ["1"], "status": ["active"], "followers_count": [1],
            "observed_at": pa.array([T0], schema.field("observed_at").type)}))
    value, fresh = cache.get_or_stale("page", blocked, 0.05)
    assert (value, fresh) == ("current", False)
    gate.set()
    assert cache.get("page", blocked) == "current" and cache.computations == 3
