"""The emulator against the platforms' own client libraries, and every recorded Bluesky
fixture against the official lexicon models.

The tests of the emulator's shapes elsewhere were written by the same hands as the
emulator and the connectors, so a shared misreading of a platform passes them all. Here
the judges are other people's code: ``atproto`` (models generated from the lexicons,
validated strictly, string formats included), ``Mastodon.py`` (its Link-header paging and
its errors by status) and ``tweepy`` (X API v2 responses, partial errors included).
Loopback only: the libraries' requests go to the emulator.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from purgewatch.sim import Emulator, load_scenario, truth, truth_followers_at

atproto_client = pytest.importorskip("atproto_client", reason="test extra: pip install -e '.[test]'")
mastodon = pytest.importorskip("mastodon", reason="test extra: pip install -e '.[test]'")
tweepy = pytest.importorskip("tweepy", reason="test extra: pip install -e '.[test]'")
requests = pytest.importorskip("requests", reason="a dependency of tweepy")

from atproto_client import Client as AtprotoClient  # noqa: E402
from atproto_client import models  # noqa: E402
from atproto_client.exceptions import RequestErrorBase  # noqa: E402
from atproto_client.models.utils import get_or_create  # noqa: E402

pytest_plugins = ["purgewatch.sim.testing"]

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
THURSDAY = datetime(2026, 3, 5, 14, tzinfo=UTC)
AFTER_WAVE = THURSDAY + timedelta(hours=2)
TOKEN = "conformance-token"
DID_PLC = re.compile(r"^did:plc:[a-z2-7]{24}$")
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return truth(load_scenario("small"))


@pytest.fixture(scope="module")
def ids(doc: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["account_id"] for a in doc["accounts"]}


def strict(data: Any, model: Any) -> Any:
    """Validate like the SDK does, and the lexicon string formats (did, handle, datetime,
    tid, at-uri) on top."""
    return get_or_create(data, model, strict=True, strict_string_format=True)


# =================================================================== Bluesky
def test_atproto_client_reads_the_emulator_appview_and_relay(emulator: Emulator, ids: dict[str, str]) -> None:
    client = AtprotoClient(base_url=emulator.url("bluesky"))
    leader = ids["bluesky:leader.bsky.social"]
    ministry = ids["bluesky:ministry-interior.bsky.social"]
    p = client.app.bsky.actor.get_profile({"actor": "leader.bsky.social"})
    assert p.did == leader and p.followers_count and p.followers_count > 0
    got = client.app.bsky.actor.get_profiles({"actors": [leader, ministry]})
    assert {x.did for x in got.profiles} == {leader, ministry}
    # Paging with the SDK's own models, to the end of the list.
    seen: list[str] = []
    cursor = None
    while True:
        page = client.app.bsky.graph.get_followers({"actor": leader, "limit": 100, "cursor": cursor})
        seen += [f.did for f in page.followers]
        cursor = page.cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and len(seen) >= p.followers_count * 0.5
    rs = client.com.atproto.sync.get_repo_status({"did": leader})
    assert rs.active is True and rs.status is None and rs.rev is not None and TID.match(rs.rev)
    # Unknown DID at the relay: 404 RepoNotFound, as indigo's relay answers.
    with pytest.raises(RequestErrorBase) as exc:
        client.com.atproto.sync.get_repo_status({"did": "did:plc:" + "c" * 24})
    assert exc.value.response is not None and exc.value.response.status_code == 404
    assert exc.value.response.content.error == "RepoNotFound"
    assert exc.value.response.content.message == "account not found"
    emulator.clock.set(AFTER_WAVE)
    with pytest.raises(RequestErrorBase) as exc:
        client.app.bsky.actor.get_profile({"actor": ministry})
    assert exc.value.response is not None and exc.value.response.status_code == 400
    assert (exc.value.response.content.error, exc.value.response.content.message) == (
        "AccountTakedown", "Account has been suspended")
    rs = client.com.atproto.sync.get_repo_status({"did": ministry})
    assert rs.active is False and rs.status == "takendown"


def test_every_emulator_bluesky_answer_validates_against_the_lexicons(emulator: Emulator, ids: dict[str, str]) -> None:
    b = emulator.url("bluesky")
    leader = ids["bluesky:leader.bsky.social"]
    dids = [v for k, v in ids.items() if k.startswith("bluesky:")]
    assert dids and all(DID_PLC.match(d) for d in dids)
    with httpx.Client(timeout=5) as c:
        for when in (THURSDAY - timedelta(hours=1), AFTER_WAVE, datetime(2026, 3, 15, tzinfo=UTC)):
            emulator.clock.set(when)
            body = c.get(f"{b}/xrpc/app.bsky.actor.getProfiles", params=[("actors", d) for d in dids]).json()
            strict(body, models.AppBskyActorGetProfiles.Response)
            for d in dids:
                r = c.get(f"{b}/xrpc/com.atproto.sync.getRepoStatus", params={"did": d})
                assert r.status_code == 200
                strict(r.json(), models.ComAtprotoSyncGetRepoStatus.Response)
                r = c.get(f"{b}/xrpc/app.bsky.actor.getProfile", params={"actor": d})
                if r.status_code == 200:
                    strict(r.json(), models.AppBskyActorDefs.ProfileViewDetailed)
                else:
                    assert set(r.json()) == {"error", "message"}
            r = c.get(f"{b}/xrpc/app.bsky.graph.getFollowers", params={"actor": leader, "limit": 100})
            strict(r.json(), models.AppBskyGraphGetFollowers.Response)


def _frames(url: str, n: int, timeout: float = 1.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with connect(url, open_timeout=5) as ws:
        while len(out) < n:
            try:
                out.append(json.loads(ws.recv(timeout=timeout)))
            except TimeoutError:
                break
    return out


def test_jetstream_account_events_are_the_relays_account_events(emulator: Emulator, ids: dict[str, str]) -> None:
    """v1 and v2 frames as bluesky-social/jetstream defines them, the inner ``account``
    object a valid ``com.atproto.sync.subscribeRepos#account``."""
    ministry = ids["bluesky:ministry-interior.bsky.social"]
    emulator.clock.set(AFTER_WAVE)
    cursor = int(THURSDAY.timestamp() * 1e6)
    v1 = _frames(f"{emulator.jetstream_url}?wantedDids={ministry}&cursor={cursor}", 1)
    assert len(v1) == 1 and v1[0]["kind"] == "account" and isinstance(v1[0]["time_us"], int)
    acct = strict(v1[0]["account"], models.ComAtprotoSyncSubscribeRepos.Account)
    assert acct.did == ministry and acct.active is False and acct.status == "takendown"
    url2 = emulator.jetstream_url.replace("/subscribe", "/xrpc/network.bsky.jetstream.subscribeEvents")
    v2 = _frames(f"{url2}?dids={ministry}&kinds=account&cursor={cursor}", 1)
    assert len(v2) == 1
    payload = v2[0]["payload"]
    assert v2[0]["$type"] == "message" and payload["$type"] == "network.bsky.jetstream.subscribeEvents#account"
    assert "time_us" not in payload and isinstance(payload["seq"], int) and payload["seq"] < 10**15
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", payload["time"])
    assert strict(payload["account"], models.ComAtprotoSyncSubscribeRepos.Account).status == "takendown"
    # v2 resumes from its own seq too (a cursor below 1e15).
    again = _frames(f"{url2}?dids={ministry}&kinds=account&cursor={payload['seq']}", 1)
    assert again and again[0]["payload"]["seq"] == payload["seq"]


def _bluesky_fixture_bodies() -> list[tuple[str, int, Any]]:
    data = json.loads((RECORDED / "bluesky.json").read_text())
    return [(ex["url"], ex["status"], ex["body"]) for ex in data["exchanges"]]


MODELS = {
    "app.bsky.actor.getProfiles": "AppBskyActorGetProfiles",
    "app.bsky.actor.getProfile": "AppBskyActorDefs.ProfileViewDetailed",
    "app.bsky.graph.getFollowers": "AppBskyGraphGetFollowers",
    "com.atproto.sync.getRepoStatus": "ComAtprotoSyncGetRepoStatus",
}


@pytest.mark.parametrize("url,status,body", _bluesky_fixture_bodies(), ids=lambda v: str(v)[:60])
def test_recorded_bluesky_answers_validate_against_the_lexicons(url: str, status: int, body: Any) -> None:
    nsid = url.split("/xrpc/")[1].split("?")[0]
    text = json.dumps(body)
    for did in re.findall(r"did:[a-z]+:[A-Za-z0-9._:%-]+", text + " " + url):
        assert DID_PLC.match(did), f"not a well-formed did:plc: {did}"
    if status != 200:
        assert set(body) == {"error", "message"} and body["error"][0].isupper()
        return
    name = MODELS[nsid]
    model = getattr(models, name.split(".")[0])
    for part in name.split(".")[1:]:
        model = getattr(model, part)
    if "." not in name:
        model = model.Response
    strict(body, model)


# ================================================================== Mastodon
def test_mastodon_py_reads_the_emulator(emulator: Emulator, ids: dict[str, str], doc: dict[str, Any]) -> None:
    m = mastodon.Mastodon(api_base_url=emulator.url("mastodon", "gov.social"), version_check_mode="none",
                          request_timeout=5)
    minister = ids["mastodon:minister@gov.social"].split("@")[0]
    a = m.account_lookup("minister")
    assert str(a["id"]) == minister and a["followers_count"] > 0 and not a.get("suspended")
    assert m.account(minister)["acct"] == "minister"
    with pytest.raises(mastodon.MastodonNotFoundError) as exc:
        m.account("1")
    assert "Record not found" in str(exc.value)
    # Followers through Mastodon.py's own Link-header paging.
    when = datetime(2026, 3, 4, 12, tzinfo=UTC)
    emulator.clock.set(when)
    page = m.account_followers(minister, limit=80)
    got: list[str] = []
    while page:
        got += [str(f["id"]) for f in page]
        page = m.fetch_next(page)
    want = truth_followers_at(doc, "mastodon", ids["mastodon:minister@gov.social"], when)
    assert sorted(got) == sorted(w.split("@")[0] for w in want)
    # The moderator sweep: 200, suspended, counts kept; 30 days on, counts zeroed, record kept.
    emulator.clock.set(AFTER_WAVE)
    s = m.account(minister)
    assert s["suspended"] is True and s["display_name"] == "" and s["followers_count"] > 0
    assert m.account_followers(minister) == []
    emulator.clock.set(AFTER_WAVE + timedelta(days=31))
    s = m.account(minister)
    assert s["suspended"] is True
    assert (s["followers_count"], s["following_count"], s["statuses_count"]) == (0, 0, 0)


# ========================================================================= X
class _ToEmulator(requests.adapters.HTTPAdapter):
    """Sends tweepy's requests for api.twitter.com to the emulator on loopback."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        request.url = request.url.replace("https://api.twitter.com", self.base, 1)
        return super().send(request, *args, **kwargs)


def _tweepy(emulator: Emulator) -> Any:
    client = tweepy.Client(bearer_token=TOKEN)
    client.session.mount("https://api.twitter.com", _ToEmulator(emulator.url("x")))
    return client


def test_tweepy_reads_users_errors_and_followers(emulator: Emulator, ids: dict[str, str], doc: dict[str, Any]) -> None:
    client = _tweepy(emulator)
    x_ids = [v for k, v in ids.items() if k.startswith("x:")]
    fields = ["created_at", "protected", "verified", "public_metrics"]
    r = client.get_users(ids=x_ids, user_fields=fields)
    assert {u.id for u in r.data} == {int(i) for i in x_ids} and not r.errors
    assert all(isinstance(u.public_metrics["followers_count"], int) for u in r.data)
    emulator.clock.set(AFTER_WAVE)
    r = client.get_users(ids=[*x_ids, "1"], user_fields=fields)
    errors = {e["value"]: e for e in r.errors}
    assert errors["1"]["title"] == "Not Found Error"
    suspended = [e for e in r.errors if e["title"] == "Forbidden"]
    assert suspended, "the wave suspended watched X accounts"
    for e in r.errors:
        assert e["type"] == "https://api.twitter.com/2/problems/resource-not-found"
        assert {"value", "detail", "title", "resource_type", "parameter", "resource_id", "type"} <= set(e)
    assert all(e["detail"].startswith("User has been suspended: [") for e in suspended)
    # Followers through tweepy's Paginator (pagination_token / next_token).
    when = datetime(2026, 3, 4, 12, tzinfo=UTC)
    emulator.clock.set(when)
    target = next(v for k, v in ids.items() if k.startswith("x:") and not errors.get(v))
    got: list[str] = []
    for page in tweepy.Paginator(client.get_users_followers, target, max_results=100):
        got += [str(u.id) for u in page.data or []]
    assert sorted(got) == sorted(truth_followers_at(doc, "x", target, when))
    with pytest.raises(tweepy.BadRequest) as exc:
        client.get_users(ids=["not-a-number"])
    assert exc.value.response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"


# ==================================================================== posts
AFTER_CALL = datetime(2026, 3, 8, 12, tzinfo=UTC)
AFTER_DELETION = datetime(2026, 3, 9, 18, tzinfo=UTC)


def test_atproto_reads_author_feeds_with_reposts_quotes_and_paging(emulator: Emulator, ids: dict[str, str]) -> None:
    client = AtprotoClient(base_url=emulator.url("bluesky"))
    emulator.clock.set(AFTER_CALL)
    leader = ids["bluesky:leader.bsky.social"]
    # Paging by cursor with the SDK's own models, which validate every item.
    seen: list[str] = []
    cursor = None
    while True:
        page = client.app.bsky.feed.get_author_feed({"actor": leader, "limit": 3, "cursor": cursor})
        seen += [item.post.uri for item in page.feed]
        cursor = page.cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 5
    # Every answer validates strictly against the lexicon models, string formats included.
    for actor in (ids["bluesky:opp-leader.bsky.social"], ids["bluesky:opp-mp.bsky.social"], leader):
        for flt in ("posts_with_replies", "posts_no_replies", "posts_and_author_threads"):
            body = httpx.get(f"{emulator.url('bluesky')}/xrpc/app.bsky.feed.getAuthorFeed",
                             params={"actor": actor, "filter": flt}).json()
            strict(body, models.AppBskyFeedGetAuthorFeed.Response)
    # A repost: the original in `post`, the reposter in the #reasonRepost reason.
    feed = client.app.bsky.feed.get_author_feed({"actor": ids["bluesky:opp-leader.bsky.social"]}).feed
    reposts = [f for f in feed if f.reason is not None]
    assert reposts and all(models.is_record_type(r.reason, models.AppBskyFeedDefs.ReasonRepost) for r in reposts)
    assert reposts[0].reason.by.did == ids["bluesky:opp-leader.bsky.social"]
    assert reposts[0].post.author.did == leader
    # A quote: the record embeds the quoted post; the view shows it.
    feed = client.app.bsky.feed.get_author_feed({"actor": ids["bluesky:opp-mp.bsky.social"]}).feed
    quotes = [f for f in feed if f.post.embed is not None]
    assert quotes and quotes[0].post.embed.record.author.did == leader
    # A taken-down actor: the AppView's own refusal, not an empty feed.
    with pytest.raises(RequestErrorBase) as exc:
        client.app.bsky.feed.get_author_feed({"actor": ids["bluesky:ministry-interior.bsky.social"]})
    assert exc.value.response.content.error == "InvalidRequest"
    assert exc.value.response.content.message == "Profile not found"
    # getPosts leaves a deleted post out.
    own = [i.post for i in client.app.bsky.feed.get_author_feed({"actor": leader}).feed if i.reason is None]
    uris = [p.uri for p in own][:25]
    assert any(p.record.text.startswith("Double the followers") for p in own[:25])
    emulator.clock.set(AFTER_DELETION)
    got = client.app.bsky.feed.get_posts({"uris": uris})
    assert 0 < len(got.posts) == len(uris) - 1


def test_mastodon_py_reads_account_statuses_with_boosts_and_paging(emulator: Emulator, ids: dict[str, str]) -> None:
    m = mastodon.Mastodon(api_base_url=emulator.url("mastodon", "mastodon.social"), version_check_mode="none",
                          request_timeout=5)
    emulator.clock.set(AFTER_CALL)
    quiet = ids["mastodon:quiet@mastodon.social"].split("@")[0]
    page = m.account_statuses(quiet, limit=2)
    got: list[Any] = []
    while page:
        got += page
        page = m.fetch_next(page)
    assert len(got) == len({s["id"] for s in got}) >= 3
    assert [s["created_at"] for s in got] == sorted((s["created_at"] for s in got), reverse=True)
    boosts = [s for s in got if s["reblog"] is not None]
    assert len(boosts) == 1 and boosts[0]["content"] == ""
    assert "targeted attack" in boosts[0]["reblog"]["content"]
    assert boosts[0]["reblog"]["account"]["acct"] == "journalist"
    assert all(isinstance(s["created_at"], datetime) for s in got)  # Mastodon.py parsed the times
    # A suspended account: 200 and [] (Api::V1::Accounts::StatusesController#load_statuses).
    gov = mastodon.Mastodon(api_base_url=emulator.url("mastodon", "gov.social"), version_check_mode="none",
                            request_timeout=5)
    minister = ids["mastodon:minister@gov.social"].split("@")[0]
    assert gov.account(minister)["suspended"] is True
    assert gov.account_statuses(minister) == []


def test_tweepy_reads_user_tweets_with_retweets_quotes_and_errors(emulator: Emulator, ids: dict[str, str]) -> None:
    client = _tweepy(emulator)
    emulator.clock.set(AFTER_CALL)
    opp = ids["x:opp_x"]
    fields = ["created_at", "lang", "referenced_tweets", "entities", "author_id"]
    got: list[Any] = []
    for page in tweepy.Paginator(client.get_users_tweets, opp, max_results=5, tweet_fields=fields,
                                 start_time=AFTER_CALL - timedelta(days=5)):
        got += page.data or []
    assert len(got) == len({t.id for t in got}) > 5
    assert all(t.created_at >= AFTER_CALL - timedelta(days=5) for t in got)
    kinds = {r.type for t in got for r in (t.referenced_tweets or [])}
    assert kinds == {"retweeted", "quoted"}
    rt = next(t for t in got if t.referenced_tweets and t.referenced_tweets[0].type == "retweeted")
    assert rt.text.startswith("RT @leader_x: ") and rt.entities["mentions"][0]["username"] == "leader_x"
    tag = rt.entities["hashtags"][0]
    assert rt.text[tag["start"]:tag["end"]] == "#" + tag["tag"]
    # Suspended and protected accounts: 200 with errors, no data.
    r = client.get_users_tweets(ids["x:interior_x"])
    assert r.data is None and r.errors[0]["title"] == "Forbidden"
    r = client.get_users_tweets(ids["x:private_x"])
    assert r.data is None and r.errors[0]["title"] == "Authorization Error"
    with pytest.raises(tweepy.BadRequest):
        client.get_users_tweets(opp, max_results=1)
    # The deleted call: GET /2/tweets answers Not Found Error for it (and its retweet).
    emulator.clock.set(AFTER_DELETION)
    r = client.get_tweets([t.id for t in got], tweet_fields=fields)
    missing = {e["value"] for e in r.errors}
    assert len(missing) == 1 and {e["title"] for e in r.errors} == {"Not Found Error"}
    assert str(rt.id) in missing and len(r.data) == len(got) - 1
