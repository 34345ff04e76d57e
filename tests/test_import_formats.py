"""Other tools' formats: twarc2 (X API v2 users), Twitter v1.1 user objects, X
compliance-job results."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from purgewatch.errors import InputError
from purgewatch.sources.files import import_files
from purgewatch.store import Store

USER_JACK = {
    "id": "12", "username": "jack", "name": "jack", "created_at": "2006-03-21T20:50:14.000Z",
    "protected": False, "verified": True, "description": "<script>alert(1)</script>",
    "public_metrics": {"followers_count": 6000000, "following_count": 3, "tweet_count": 29000,
                       "listed_count": 1},
    "profile_image_url": "https://pbs.twimg.com/profile_images/1/x_normal.jpg",
}
RESPONSE = {
    "data": [USER_JACK],
    "includes": {"users": [{"id": "14", "username": "carol", "name": "Carol",
                            "public_metrics": {"followers_count": 1, "following_count": 1,
                                               "post_count": 5}}]},
    "errors": [
        {"value": "99", "detail": "User has been suspended: [99].", "title": "Forbidden",
         "resource_type": "user", "parameter": "ids", "resource_id": "99",
         "type": "https://api.twitter.com/2/problems/resource-not-found"},
        {"value": "98", "detail": "Could not find user with ids: [98].", "title": "Not Found Error",
         "resource_type": "user", "parameter": "ids", "resource_id": "98",
         "type": "https://api.twitter.com/2/problems/resource-not-found"},
        {"value": "ghost", "detail": "Could not find user with usernames: [ghost].",
         "title": "Not Found Error", "resource_type": "user", "parameter": "usernames",
         "resource_id": "ghost", "type": "https://api.twitter.com/2/problems/resource-not-found"},
    ],
    "__twarc": {"url": "https://api.twitter.com/2/users?ids=12,99,98", "version": "2.14.0",
                "retrieved_at": "2024-05-01T12:00:00+00:00"},
}
FLAT = {"id": "13", "username": "bob", "name": "Bob", "created_at": "2020-03-21T20:50:14.000Z",
        "public_metrics": {"followers_count": 5, "following_count": 3, "post_count": 2},
        "profile_image_url": "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png",
        "__twarc": {"retrieved_at": "2024-05-02T12:00:00+00:00"}}
FLAT_TWEET = {"id": "555", "text": "hi", "author_id": "15",
              "author": {"id": "15", "username": "dan", "public_metrics": {"followers_count": 9}},
              "__twarc": {"retrieved_at": "2024-05-03T12:00:00+00:00"}}


def test_twarc2_responses_and_flattened(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for obj in (RESPONSE, FLAT, FLAT_TWEET):
            fh.write(json.dumps(obj) + "\n")
    rep = import_files(store, "twarc2", [path])
    # profiles: jack, carol, 99, 98, bob, dan (the username error is skipped); dan's tweet
    # as a post, and its read
    assert rep.imported == 8 and rep.tables == {"profiles": 6, "posts": 1, "post_reads": 1}
    assert any("no user id" in n for n in rep.notes)
    rows = {r["account_id"]: r for r in store.read("profiles").to_pylist()}
    jack = rows["12"]
    assert jack["handle"] == "jack" and jack["posts_count"] == 29000
    assert jack["followers_count"] == 6000000 and jack["verified"] is True
    assert jack["observed_at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert jack["created_at"] == datetime(2006, 3, 21, 20, 50, 14, tzinfo=UTC)
    assert jack["description"] == "<script>alert(1)</script>"  # data, kept verbatim
    assert jack["source"] == "import:twarc2" and jack["source_ref"] == f"{path}:1"
    assert rows["14"]["posts_count"] == 5  # post_count (newer API name)
    assert rows["99"]["status"] == "suspended" and "suspended" in rows["99"]["detail"]
    assert rows["98"]["status"] == "not_found"
    assert rows["13"]["default_profile_image"] is True
    assert rows["13"]["observed_at"] == datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert rows["15"]["handle"] == "dan"
    assert import_files(store, "twarc2", [path]).imported == 0


TIMELINE = {
    "data": [
        {"id": "1001", "text": "A targeted attack on our voices. #WeWillNotBeSilenced", "author_id": "12",
         "created_at": "2024-04-30T18:00:00.000Z", "lang": "en", "edit_history_tweet_ids": ["1001"],
         "entities": {"hashtags": [{"start": 41, "end": 61, "tag": "WeWillNotBeSilenced"}]}},
        {"id": "1002", "text": "RT @carol: Double the followers we lost", "author_id": "12",
         "created_at": "2024-04-30T19:00:00.000Z", "lang": "en",
         "referenced_tweets": [{"type": "retweeted", "id": "900"}],
         "entities": {"mentions": [{"start": 3, "end": 9, "username": "carol", "id": "14"}]}},
        {"id": "1003", "text": "Indeed", "author_id": "12", "created_at": "2024-04-30T20:00:00.000Z",
         "referenced_tweets": [{"type": "quoted", "id": "900"}, {"type": "replied_to", "id": "1001"}]},
    ],
    "includes": {"users": [USER_JACK],
                 "tweets": [{"id": "900", "text": "Double the followers we lost", "author_id": "14",
                             "created_at": "2024-04-30T17:00:00.000Z"}]},
    "meta": {"result_count": 3, "newest_id": "1003", "oldest_id": "1001"},
    "__twarc": {"url": "https://api.twitter.com/2/users/12/tweets", "retrieved_at": "2024-05-01T12:00:00+00:00"},
}


def test_twarc2_tweets_are_kept_as_posts_with_their_authors(store: Store, tmp_path: Path) -> None:
    from purgewatch.analysis.posts import deleted_posts

    path = tmp_path / "timeline.jsonl"
    path.write_text(json.dumps(TIMELINE) + "\n")
    rep = import_files(store, "twarc2", [path])
    assert rep.tables == {"profiles": 1, "posts": 4, "post_reads": 2}
    posts = {r["post_id"]: r for r in store.read("posts").to_pylist()}
    assert posts["1001"]["account_id"] == "12" and posts["1001"]["hashtags"] == '["wewillnotbesilenced"]'
    assert posts["1001"]["created_at"] == datetime(2024, 4, 30, 18, tzinfo=UTC)
    assert posts["1001"]["observed_at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert posts["1001"]["text_sha256"] is not None and len(posts["1001"]["text_sha256"]) == 64
    assert posts["1002"]["repost_of"] == "900" and posts["1002"]["mentions"] == '["carol"]'
    assert posts["1003"]["quote_of"] == "900" and posts["1003"]["reply_to"] == "1001"
    assert posts["900"]["account_id"] == "14"  # the referenced tweet, as its author's post
    assert posts["1001"]["source"] == "import:twarc2" and posts["1001"]["source_ref"] == f"{path}:1"
    # provenance as for the users of the same line: the hash of the raw response line
    jack = store.read("profiles").to_pylist()[0]
    assert posts["1001"]["payload_hash"] == jack["payload_hash"] is not None
    reads = store.read("post_reads").to_pylist()
    assert {r["account_id"] for r in reads} == {"12", "14"} and not any(r["complete"] for r in reads)
    # A file is never evidence of a deletion, and a second import adds nothing.
    assert deleted_posts(store)["deleted"] == []
    assert import_files(store, "twarc2", [path]).imported == 0


def test_twarc2_into_observations(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(FLAT) + "\n")
    import_files(store, "twarc2", [path], table="observations")
    assert store.read("observations").num_rows == 1 and store.read("profiles").num_rows == 0


def test_twarc2_without_time_needs_observed_at(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({k: v for k, v in FLAT.items() if k != "__twarc"}) + "\n")
    with pytest.raises(InputError, match="--observed-at") as info:
        import_files(store, "twarc2", [path])
    assert info.value.location is not None and info.value.location.line == 1
    rep = import_files(store, "twarc2", [path], observed_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert rep.imported == 1


def test_twarc2_garbage_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(FLAT) + "\n" + json.dumps({"foo": 1}) + "\n")
    with pytest.raises(InputError) as info:
        import_files(store, "twarc2", [path])
    assert info.value.location is not None and info.value.location.line == 2
    assert store.read("profiles").num_rows == 0


V1 = {"id": 1297437077403885568, "id_str": "1297437077403885568", "screen_name": "JenniferFishpaw",
      "name": "Jennifer", "statuses_count": 0, "followers_count": 0, "friends_count": 44,
      "created_at": "Sun Aug 23 07:35:11 +0000 2020", "verified": False, "protected": True,
      "default_profile_image": False, "description": None}


def test_v1_json_array_and_jsonl(store: Store, tmp_path: Path) -> None:
    arr = tmp_path / "users.json"
    arr.write_text(json.dumps([V1, {**V1, "id_str": "5", "id": 5, "protected": False}]))
    when = datetime(2024, 5, 1, tzinfo=UTC)
    assert import_files(store, "v1-users", [arr], observed_at=when).imported == 2
    rows = {r["account_id"]: r for r in store.read("profiles").to_pylist()}
    big = rows["1297437077403885568"]  # id_str: no float rounding
    assert big["status"] == "protected" and big["following_count"] == 44
    assert big["created_at"] == datetime(2020, 8, 23, 7, 35, 11, tzinfo=UTC)
    assert rows["5"]["status"] == "active"
    jl = tmp_path / "users.jsonl"
    jl.write_text(json.dumps({**V1, "id_str": "6", "suspended": True,
                              "retrieved_at": "2024-06-01T00:00:00Z"}) + "\n")
    import_files(store, "v1-users", [jl])
    six = next(r for r in store.read("profiles").to_pylist() if r["account_id"] == "6")
    assert six["status"] == "suspended" and six["observed_at"] == datetime(2024, 6, 1, tzinfo=UTC)


CRESCI_LIKE = (
    '"id","name","screen_name","statuses_count","followers_count","friends_count","created_at",'
    '"default_profile_image","protected","verified","description","updated"\n'
    '"80479674","YI YUAN","yi_twitts","29","19","255","Wed Oct 07 03:19:21 +0000 2009",,,NULL,'
    '"real estate sales ","2013-06-12 18:38:35"\n'
    '"82487179","Marcos","marcos_peca","1408","208","866","Wed Oct 14 23:40:17 +0000 2009","1","1",,'
    '"multi\nline","2013-06-12 18:38:35"\n'
)


def test_v1_csv_cresci_layout(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "users_x.csv"
    path.write_text(CRESCI_LIKE)
    # `updated` has no zone: refused, naming the file's own column
    with pytest.raises(InputError) as info:
        import_files(store, "v1-users", [path])
    assert info.value.location is not None and info.value.location.column == "updated"
    rep = import_files(store, "v1-users", [path], observed_at=datetime(2016, 3, 15, tzinfo=UTC))
    assert rep.imported == 2
    rows = {r["account_id"]: r for r in store.read("profiles").to_pylist()}
    assert rows["80479674"]["handle"] == "yi_twitts" and rows["80479674"]["verified"] is None
    assert rows["82487179"]["status"] == "protected"
    assert rows["82487179"]["default_profile_image"] is True
    assert rows["82487179"]["source_ref"] == f"{path}:3"


def test_x_compliance(store: Store, tmp_path: Path) -> None:
    lines = [
        {"id": "1", "action": "delete", "created_at": "2019-01-01T00:00:00.000Z",
         "redacted_at": "2024-05-01T10:00:00.000Z", "reason": "suspended"},
        {"id": "2", "action": "delete", "created_at": "2019-01-01T00:00:00.000Z",
         "redacted_at": "2024-05-01T11:00:00.000Z", "reason": "scrub_geo"},
        {"id": "3", "action": "delete", "created_at": "2019-01-01T00:00:00.000Z",
         "redacted_at": "2024-05-01T11:00:00.000Z", "reason": "Withheld"},
        {"id": "4", "action": "delete", "created_at": "2019-01-01T00:00:00.000Z",
         "redacted_at": "2024-05-01T12:00:00.000Z", "reason": "deactivated"},
    ]
    path = tmp_path / "compliance.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rep = import_files(store, "x-compliance", [path])
    assert rep.imported == 3 and any("scrub_geo" in n for n in rep.notes)
    ev = {r["account_id"]: r for r in store.read("status_events").to_pylist()}
    assert ev["1"]["status"] == "suspended" and ev["1"]["at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert ev["3"]["status"] == "unknown" and ev["3"]["status_raw"] == "Withheld"
    assert ev["4"]["status"] == "deactivated" and ev["4"]["source"] == "import:x-compliance"
    assert ev["4"]["source_ref"] == f"{path}:4"
    assert import_files(store, "x-compliance", [path]).imported == 0

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**lines[0], "redacted_at": "2024-05-01 10:00"}) + "\n")
    with pytest.raises(InputError) as info:
        import_files(store, "x-compliance", [bad])
    assert info.value.location is not None and info.value.location.column == "redacted_at"
