"""Words beside the numbers: posts after a suspension wave per camp, the call that
preceded a follower surge and its reposts, deleted posts (report JSON and HTML, web
pages, alerts, the demo story), on the report tests' two-camp store plus imported posts
and logged reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from starlette.testclient import TestClient

from purgewatch.alerts import AlertConfig, Alerter, event_identity, payload
from purgewatch.analysis.post_context import (
    deletion_alerts,
    excerpt,
    post_context,
    post_ref,
    post_url,
)
from purgewatch.demo import demo_story
from purgewatch.report import ReportFiles, write_report
from purgewatch.sources.files import import_files
from purgewatch.store import Store
from purgewatch.web import create_app
from test_report_data import build_store

HEADER = "platform,account_id,post_id,created_at,observed_at,text,url,lang,repost_of,hashtags\n"
LEADER_ATTACK = "This is a targeted attack on our movement: they suspended our supporters overnight."
LEADER_CALL = "We lost 6,000 followers to this purge. Win them back: follow everyone who follows us! #FollowBack"
DELETED = "The platform works for our enemies <script>alert('x')</script>: this purge is censorship."
# (platform, account, post id, created, observed, text, url, repost_of)
POSTS = [
    ("x", "1001", "501", "2026-03-03T09:00:00Z", "2026-03-06T00:00:00Z", "Good morning from the capital.", "", ""),
    ("x", "1001", "502", "2026-03-05T16:00:00Z", "2026-03-06T00:00:00Z", LEADER_ATTACK, "https://x.com/leader/status/502", ""),
    ("x", "1001", "503", "2026-03-05T18:00:00Z", "2026-03-06T00:00:00Z", DELETED, "", ""),
    ("x", "1001", "504", "2026-03-07T10:00:00Z", "2026-03-09T00:00:00Z", LEADER_CALL, "", ""),
    # three accounts outside the watchlist repost the call before the burst
    ("x", "7001", "601", "2026-03-07T11:00:00Z", "2026-03-09T00:00:00Z", "RT @leader: " + LEADER_CALL, "", "504"),
    ("x", "7002", "602", "2026-03-07T12:30:00Z", "2026-03-09T00:00:00Z", "RT @leader: " + LEADER_CALL, "", "504"),
    ("x", "7003", "603", "2026-03-07T15:00:00Z", "2026-03-09T00:00:00Z", "RT @leader: " + LEADER_CALL, "", "504"),
    ("bluesky", "did:plc:gov4", "at://did:plc:gov4/app.bsky.feed.post/3kaaa", "2026-03-06T08:00:00Z",
     "2026-03-09T00:00:00Z", "Censorship on X today: dozens of our accounts suspended.", "", ""),
    ("x", "2001", "701", "2026-03-06T12:00:00Z", "2026-03-09T00:00:00Z", "Lovely day at the market in the old town.", "", ""),
    ("x", "2002", "801", "2026-03-01T12:00:00Z", "2026-03-09T00:00:00Z", "Party meeting next week.", "", ""),
]


def _csv_cell(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _read(store: Store, platform: str, account: str, at: str, ids: list[str], *, complete: bool = True,
          answer: str = "ok", start: str = "2026-03-01T00:00:00Z") -> None:
    ts = datetime.fromisoformat(at.replace("Z", "+00:00"))
    row = {
        "platform": [platform], "account_id": [account], "read_at": [ts],
        "window_start": [datetime.fromisoformat(start.replace("Z", "+00:00"))], "window_end": [ts],
        "complete": [complete], "answer": [answer], "post_id": [None],
        "post_ids": pa.array([ids], pa.list_(pa.string())), "source": ["test"],
        "source_ref": [f"https://emulator.invalid/{platform}/timeline?id={account}&t={at}"],
    }
    store.append("post_reads", pa.table(row), command="test", source="test")


def add_posts(store: Store, tmp_path: Path) -> None:
    """The posts through `import posts` (the FORMATS.md CSV), then complete listings of
    the accounts read: the leader's of 9 March no longer holds post 503."""
    lines = [",".join([p, a, _csv_cell(pid), c, o, _csv_cell(t), u, "en", r, ""]) for p, a, pid, c, o, t, u, r in POSTS]
    f = tmp_path / "posts.csv"
    f.write_text(HEADER + "\n".join(lines) + "\n")
    rep = import_files(store, "posts", [f])
    assert rep.imported == len(POSTS)
    _read(store, "x", "1001", "2026-03-09T00:00:00Z", ["501", "502", "504"])
    _read(store, "bluesky", "did:plc:gov4", "2026-03-09T00:00:00Z", ["at://did:plc:gov4/app.bsky.feed.post/3kaaa"])
    _read(store, "x", "2001", "2026-03-09T00:00:00Z", ["701"])
    _read(store, "x", "2002", "2026-03-09T00:00:00Z", ["801"])
    # the suspended ministry and governor could not be read; opp3 was never read
    _read(store, "x", "1002", "2026-03-09T00:00:00Z", [], answer="account_unavailable")
    _read(store, "x", "1003", "2026-03-09T00:00:00Z", [], answer="account_unavailable")


@pytest.fixture(scope="module")
def posts_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("posts-ctx")
    store = build_store(root / "store", snapshots=False, regain=8_000)
    add_posts(store, root)
    return store


@pytest.fixture(scope="module")
def report(posts_store: Store, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(posts_store, tmp_path_factory.mktemp("posts-report") / "out",
                        generated_at="2026-11-29T10:00:00Z")


@pytest.fixture(scope="module")
def findings(report: ReportFiles) -> dict[str, Any]:
    return json.loads(report.json.read_text())  # type: ignore[no-any-return]


def test_a_store_without_posts_says_nothing(tmp_path: Path) -> None:
    store = build_store(tmp_path / "s", snapshots=False)
    assert post_context(store, []) == {"available": False}
    files = write_report(store, tmp_path / "out", generated_at="2026-11-29T10:00:00Z")
    html = files.html.read_text()
    assert 'id="posts"' not in html and "Deleted posts" not in html and "Its posts around" not in html
    assert json.loads(files.json.read_text())["posts"] == {"available": False}
    assert not list(files.csv_dir.glob("posts_*.csv"))
    assert not any("post" in line.lower() for line in demo_story(json.loads(files.json.read_text())))
    assert deletion_alerts(store) == []


def test_after_the_wave_each_camp_spoke_or_stayed_silent_never_silent_when_unread(findings: dict[str, Any]) -> None:
    P = findings["posts"]
    assert P["available"] is True
    (w,) = P["waves"]
    assert w["kind"] == "suspension_wave" and w["window"]["from"] == w["start"]
    # three days after the wave, cut at the last read (9 March)
    assert w["window"]["to"] <= "2026-03-09T00:00:00Z"
    g = {x["group"]: x for x in w["groups"]}
    gov, opp = g["government"], g["opposition"]
    assert {d["account_id"] for d in gov["spoke"]} == {"1001", "did:plc:gov4"}
    assert {d["account_id"] for d in gov["unread"]} == {"1002", "1003"}   # suspended: not read, not silent
    assert gov["silent"] == []
    assert opp["spoke"] == []
    assert {d["account_id"]: d["other_posts"] for d in opp["silent"]} == {"2001": 1, "2002": 0}
    assert [d["account_id"] for d in opp["unread"]] == ["did:plc:opp3"]
    assert gov["share_spoke"] == 1.0 and opp["share_spoke"] == 0.0
    assert w["tests"] and w["tests"][0]["groups"] == ["government", "opposition"]
    leader = next(d for d in gov["spoke"] if d["account_id"] == "1001")
    assert leader["label"] == "head of state" and leader["handle"] == "leader"
    quoted = [P["posts"][r] for r in leader["posts"]]
    assert [p["post_id"] for p in quoted] == ["502", "503", "504"]
    assert quoted[0]["text"] == LEADER_ATTACK and quoted[0]["url"] == "https://x.com/leader/status/502"
    assert quoted[1]["deleted"] is True and quoted[0]["deleted"] is False


def test_the_surge_is_shown_with_the_call_that_preceded_it_and_its_reposts(findings: dict[str, Any]) -> None:
    P = findings["posts"]
    surge = next(e for e in findings["events"] if e["kind"] == "follower_surge" and e["account_id"] == "1001")
    (s,) = [x for x in P["surges"] if x["event"] == surge["id"]]
    call = post_ref("x", "1001", "504")
    assert s["calls"] == [call] and call in s["posts"]
    assert P["posts"][call]["text"] == LEADER_CALL
    (rp,) = s["reposts"]
    assert rp["of"] == call and rp["n"] == 3 and rp["accounts"] == 3 and rp["watched"] == 0
    assert [d["account_id"] for d in rp["by"]] == ["7001", "7002", "7003"]
    assert rp["first"] == "2026-03-07T11:00:00Z"


def test_an_accounts_timeline_holds_its_posts_around_each_event(findings: dict[str, Any]) -> None:
    tl = findings["posts"]["timelines"]
    items = tl["x:1001"]["items"]
    kinds = [i["kind"] for i in items if "kind" in i]
    assert kinds == ["follower_drop", "suspension_wave", "follower_surge"]   # in time order
    posts = [i["post"] for i in items if "post" in i]
    # each post once, oldest first, between the events it follows
    assert posts == [post_ref("x", "1001", p) for p in ("502", "503", "504")]
    order = [i.get("kind") or i["post"] for i in items]
    assert order.index("suspension_wave") < order.index(post_ref("x", "1001", "502"))
    assert order.index(post_ref("x", "1001", "504")) < order.index("follower_surge")
    assert post_ref("x", "1001", "501") not in posts   # 3 March: more than 2 days before the drop
    # in the wave's days, an account's posts about it: the journalist's; not the
    # opposition leader's day at the market
    gov4 = "at://did:plc:gov4/app.bsky.feed.post/3kaaa"
    assert [i["post"] for i in tl["bluesky:did:plc:gov4"]["items"] if "post" in i] == [post_ref("bluesky", "did:plc:gov4", gov4)]
    assert "x:2001" not in tl
    assert "x:7001" not in tl   # not in the report's accounts


def test_deleted_posts_carry_the_archived_text_and_both_reads(findings: dict[str, Any]) -> None:
    (d,) = findings["posts"]["deleted"]
    assert (d["account_id"], d["post_id"]) == ("1001", "503")
    assert d["last_seen"] == "2026-03-06T00:00:00Z" and d["first_missing"] == "2026-03-09T00:00:00Z"
    assert d["first_missing_evidence"] == "https://emulator.invalid/x/timeline?id=1001&t=2026-03-09T00:00:00Z"
    assert d["last_seen_evidence"] and "posts.csv" in d["last_seen_evidence"]   # the import read that held it
    assert findings["posts"]["posts"][d["ref"]]["text"] == DELETED


def test_report_html_shows_words_beside_numbers(report: ReportFiles) -> None:
    html = report.html.read_text()
    tree = HTMLParser(html)
    sec = tree.css_first("section#posts")
    assert sec is not None
    text = sec.text()
    assert "who spoke about it" in text
    assert "Silent" in text and "Not read" in text
    assert "targeted attack on our movement" in text
    assert "call to follow" in text and "Reposted or quoted 3 times by 3 accounts" in text
    dele = tree.css_first("#posts-deleted")
    assert dele is not None
    table = tree.css_first("table.deleted")
    assert table is not None
    row = table.css("tbody tr")[0].text()
    assert "The platform works for our enemies" in row and "Mon 9 Mar 2026" in row and "Fri 6 Mar 2026" in row
    # hostile post text is inert; addresses are text, never links out
    assert "<script>alert('x')</script>" not in html and "&lt;script&gt;" in html
    assert all((a.attributes.get("href") or "").startswith("#") for a in tree.css("a[href]"))
    assert "https://x.com/leader/status/502" in sec.text()
    # every excerpt links to its post's full entry; the nav links to the section
    ids = {n.attributes["id"] for n in tree.css("[id]")}
    for a in sec.css("blockquote.post a[href]"):
        assert (a.attributes["href"] or "")[1:] in ids
    assert tree.css_first("nav.toc a[href='#posts']") is not None
    card = tree.css_first("article#" + next(a for a in json.loads(report.json.read_text())["accounts"]
                                             if a["account_id"] == "1001")["anchor"])
    assert card is not None and "Its posts around the events" in card.text()
    assert "Win them back" in card.text()


@pytest.fixture(scope="module")
def client(posts_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(posts_store), base_url="http://127.0.0.1") as c:
        yield c


def test_web_posts_page_and_account_timeline(client: TestClient) -> None:
    r = client.get("/posts")
    assert r.status_code == 200
    tree = HTMLParser(r.text)
    assert not tree.css("script")
    for a in tree.css("a[href]"):
        assert (a.attributes["href"] or "").startswith(("/", "#"))
    text = tree.body.text() if tree.body else ""
    assert "who spoke about it" in text and "Deleted posts" in text and "call to follow" in text
    assert "&lt;script&gt;alert" in r.text
    # reposters outside the watchlist are named, not linked to an account page they lack
    assert not tree.css("a[href='/accounts/x/7001']") and "7001" in text
    acc = client.get("/accounts/x/1001")
    assert acc.status_code == 200 and "Its posts around the events" in acc.text
    links = [a.attributes["href"] or "" for a in HTMLParser(acc.text).css("blockquote.post > a")]
    assert links and all(h.startswith("/posts#post-") for h in links)
    ids = {n.attributes["id"] for n in tree.css("[id]")}
    assert all(h.split("#", 1)[1] in ids for h in links)
    assert client.get("/api/findings").json()["posts"]["available"] is True


def test_web_posts_page_without_posts_says_so(tmp_path: Path) -> None:
    store = build_store(tmp_path / "s", snapshots=False)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
        r = c.get("/posts")
        assert r.status_code == 200 and "No posts are stored" in r.text
        assert "Its posts around" not in c.get("/accounts/x/1001").text


def test_demo_story_tells_who_spoke_the_call_and_the_deleted_post(findings: dict[str, Any]) -> None:
    story = demo_story(findings)
    wave = next(line for line in story if line.startswith("In the days after the wave"))
    assert "2 of the 2 government accounts read spoke about it (head of state (@leader): \u201cThis is a targeted attack" in wave
    assert "the opposition camp stayed silent (2 of 2 accounts read, none mentioned it); 1 not read" in wave
    call = next(line for line in story if "called on supporters" in line)
    assert "head of state (@leader)" in call and "Win them back" in call and "reposted or quoted 3 times by 3 accounts" in call
    gone = next(line for line in story if "deleted a post" in line)
    assert "last seen Friday 6 March 2026, 00:00 UTC" in gone and "first missing Monday 9 March 2026, 00:00 UTC" in gone
    assert gone.endswith("this purge is censorship.\u201d")   # one full stop, inside the quote
    # the call comes before the regain line, the deletion after
    assert story.index(wave) < story.index(call) < story.index(gone)


# ------------------------------------------------------------------------ alerts
class _Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200)


def _alerter(tmp_path: Path) -> tuple[Alerter, _Recorder]:
    rec = _Recorder()
    return Alerter(tmp_path, AlertConfig(url="https://hooks.example.invalid/x", secret="s"),
                   transport=httpx.MockTransport(rec), sleep=lambda _s: None), rec


def _small(tmp_path: Path) -> Store:
    store = Store.init(tmp_path / "store")
    wl = tmp_path / "wl.csv"
    wl.write_text("platform,account,group,label\nx,1001,government,The Leader\n")
    import_files(store, "watchlist", [wl])
    p = tmp_path / "p.csv"
    p.write_text(HEADER + "\n".join([
        'x,1001,1,2026-03-05T10:00:00Z,2026-03-06T00:00:00Z,"' + "A long statement about the attack " * 12 + '",,en,,',
        "x,1001,2,2026-03-05T12:00:00Z,2026-03-06T00:00:00Z,Still here,,en,,",
        "x,9999,3,2026-03-05T12:00:00Z,2026-03-06T00:00:00Z,Not watched,,en,,",
    ]) + "\n")
    import_files(store, "posts", [p])
    return store


def test_no_alert_from_an_incomplete_read_or_a_failed_one(tmp_path: Path) -> None:
    store = _small(tmp_path)
    _read(store, "x", "1001", "2026-03-07T00:00:00Z", ["2"], complete=False)         # cut short
    _read(store, "x", "1001", "2026-03-07T01:00:00Z", [], answer="error")             # transport failure
    _read(store, "x", "1001", "2026-03-07T02:00:00Z", [], answer="account_unavailable")
    _read(store, "x", "1001", "2026-03-07T03:00:00Z", [])                             # empty listing
    _read(store, "x", "9999", "2026-03-07T03:00:00Z", [])
    assert deletion_alerts(store) == []
    alerter, rec = _alerter(tmp_path)
    assert alerter.notify(deletion_alerts(store)).sent == [] and rec.bodies == []


def test_a_deletion_by_a_watched_account_is_alerted_once(tmp_path: Path) -> None:
    store = _small(tmp_path)
    _read(store, "x", "1001", "2026-03-08T00:00:00Z", ["2"])          # complete: post 1 is gone
    _read(store, "x", "9999", "2026-03-08T00:00:00Z", ["99"])         # gone too, but not watched
    (ev,) = deletion_alerts(store)
    assert ev["kind"] == "post_deleted" and ev["post_id"] == "1" and ev["label"] == "The Leader"
    alerter, rec = _alerter(tmp_path)
    assert len(alerter.notify([ev]).sent) == 1
    assert alerter.notify(deletion_alerts(store)).duplicates == 1       # the next cycle: not again
    (body,) = rec.bodies
    assert body["event"]["post_id"] == "1" and body["type"] == "purgewatch.detection"
    text = body["text"]
    assert text.startswith("PurgeWatch: post deleted on x (group government): The Leader deleted a post published Thu 5 Mar 2026, 10:00 UTC")
    assert "last seen Fri 6 Mar 2026, 00:00 UTC, first missing Sun 8 Mar 2026, 00:00 UTC" in text
    assert "A long statement about the attack" in text and "…" in text and len(text) < 400
    # another deleted post of the same account at the same moment is a different alert
    assert event_identity(ev) != event_identity({**ev, "post_id": "2"})


def test_hostile_post_text_in_an_alert_is_escaped() -> None:
    ev = {"kind": "post_deleted", "platform": "x", "account_id": "1", "post_id": "9", "label": "L", "group": "g",
          "created_at": "2026-03-05T10:00:00Z", "last_seen": "2026-03-06T00:00:00Z",
          "first_missing": "2026-03-07T00:00:00Z", "start": "2026-03-07T00:00:00Z",
          "text": "<!channel> @room <script>x</script>\u202e"}
    body = payload(ev)
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]
    assert "@room" not in body["body"] and "<script>" not in body["html"]
    assert "\u202e" not in body["body"]


def test_helpers() -> None:
    assert excerpt("a b c", 10) == "a b c"
    assert excerpt("word " * 100, 20).endswith("…") and len(excerpt("word " * 100, 20)) <= 21
    assert post_url("x", "1", "123") == "https://x.com/i/web/status/123"
    assert post_url("bluesky", "did:plc:a", "at://did:plc:a/app.bsky.feed.post/3k") == "https://bsky.app/profile/did:plc:a/post/3k"
    assert post_url("x", "1", "123", "javascript:alert(1)") == "https://x.com/i/web/status/123"
    assert post_url("mastodon", "1@m", "5") is None
    assert post_ref("x", "1", "2") == post_ref("x", "1", "2") != post_ref("x", "1", "3")


def test_the_watch_loop_detection_hands_deletions_to_the_alerts(tmp_path: Path) -> None:
    from purgewatch.cli._collect_cmds import _detect_and_deletions

    store = _small(tmp_path)
    assert [e for e in _detect_and_deletions(store) if isinstance(e, dict)] == []
    _read(store, "x", "1001", "2026-03-08T00:00:00Z", ["2"])
    deletions = [e for e in _detect_and_deletions(store) if isinstance(e, dict) and e.get("kind") == "post_deleted"]
    assert [(e["account_id"], e["post_id"]) for e in deletions] == [("1001", "1")]


def test_csv_bundle_holds_the_posts_tables(report: ReportFiles) -> None:
    import csv

    def rows(name: str) -> list[dict[str, str]]:
        with open(report.csv_dir / name, newline="") as fh:
            return list(csv.DictReader(fh))

    waves = rows("posts_waves.csv")
    states = {(r["group"], r["account_id"]): r["state"] for r in waves}
    assert states[("opposition", "2001")] == "silent" and states[("opposition", "did:plc:opp3")] == "not_read"
    assert states[("government", "1001")] == "spoke" and states[("government", "1002")] == "not_read"
    (gone,) = rows("posts_deleted.csv")
    assert gone["post_id"] == "503" and gone["first_missing"] == "2026-03-09T00:00:00Z" and "enemies" in gone["text"]
    call = [r for r in rows("posts_surges.csv") if r["call"] == "True"]
    assert len(call) == 1 and call[0]["reposts"] == "3"
    quoted = {r["post_id"]: r for r in rows("posts_quoted.csv")}
    assert quoted["503"]["deleted"] == "True" and quoted["502"]["url"] == "https://x.com/leader/status/502"



def test_reposts_that_vanish_with_their_original_are_told_with_it() -> None:
    from purgewatch.findings import deleted_lines

    def post(ref: str, account: str, post_id: str, handle: str, repost_of: str | None) -> dict[str, object]:
        return {"ref": ref, "platform": "x", "account_id": account, "post_id": post_id, "handle": handle,
                "label": None, "created_at": "2026-05-24T19:00:00Z", "text": "Double the followers we lost",
                "repost_of": repost_of}

    cited = {"r1": post("r1", "2", "11", "MinFinance", "10"), "o": post("o", "1", "10", "Leader", None),
             "r2": post("r2", "3", "12", "MinHealth", "10"), "r3": post("r3", "4", "13", "Fan", "99")}
    gone = [{"ref": k, "platform": "x", "account_id": p["account_id"], "post_id": p["post_id"],
             "created_at": p["created_at"], "last_seen": "2026-05-27T01:00:00Z",
             "first_missing": "2026-05-27T13:00:00Z"} for k, p in cited.items()]
    lines = deleted_lines({"available": True, "posts": cited, "deleted": gone})
    # The original first, its two reposts with it; a repost of a post not deleted on its own line.
    assert lines[0].startswith("@Leader deleted a post") and "With it, 2 reposts disappeared (@MinFinance, @MinHealth)" in lines[0]
    assert lines[1].startswith("A repost by @Fan") and "disappeared" in lines[1]
    assert len(lines) == 2
