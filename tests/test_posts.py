"""Posts: import (versions, reads), search by camp (spoke / silent / unread), deletions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from purgewatch.analysis.posts import deleted_posts, parse_query, search_posts
from purgewatch.cli import cli
from purgewatch.errors import InputError
from purgewatch.sources.files import import_files
from purgewatch.store import Store

HEADER = "platform,account_id,post_id,created_at,observed_at,text,url,lang,hashtags\n"
ROWS = [
    'x,100,1,2026-03-05T10:00:00Z,2026-03-06T00:00:00Z,"This is a targeted attack on our movement",https://x.com/l/status/1,en,"[""#Attack""]"',
    'x,100,2,2026-03-05T12:00:00Z,2026-03-06T00:00:00Z,"Double the followers we lost! #FollowBack",,en,',
    'x,101,3,2026-03-05T13:00:00Z,2026-03-06T00:00:00Z,"An ATTACK on democracy, no less.",,en,',
    'x,200,4,2026-03-04T09:00:00Z,2026-03-06T00:00:00Z,"Lunch with the attackers of boredom",,en,',
    'x,200,5,2026-03-05T09:00:00Z,2026-03-06T00:00:00Z,"Un ataque contra nosotros",,es,',
]
WATCHLIST = "platform,account,group,label\nx,100,government,Leader\nx,101,government,Minister\nx,200,opposition,Rival\nx,300,opposition,Quiet\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def posts_store(store: Store, tmp_path: Path) -> Store:
    import_files(store, "watchlist", [_write(tmp_path, "wl.csv", WATCHLIST)])
    import_files(store, "posts", [_write(tmp_path, "posts.csv", HEADER + "\n".join(ROWS) + "\n")])
    return store


def test_import_stores_each_version_once_with_its_text_hash(posts_store: Store, tmp_path: Path) -> None:
    posts = posts_store.read("posts")
    assert posts.num_rows == 5
    import hashlib

    row = [r for r in posts.to_pylist() if r["post_id"] == "1"][0]
    assert row["text_sha256"] == hashlib.sha256(row["text"].encode()).hexdigest()
    assert json.loads(row["hashtags"]) == ["attack"]
    # The same posts read again a day later: nothing new is stored, but the read is logged.
    again = (HEADER + "\n".join(ROWS) + "\n").replace("2026-03-06T00:00:00Z", "2026-03-07T00:00:00Z")
    rep = import_files(posts_store, "posts", [_write(tmp_path, "again.csv", again)])
    assert rep.imported == 0 and rep.duplicates == 5
    assert posts_store.read("posts").num_rows == 5
    reads = posts_store.read("post_reads").to_pylist()
    assert len(reads) == 6  # accounts 100, 101, 200 on two days
    assert all(r["complete"] is False for r in reads)  # a file never says it listed everything
    # An edit is a new version.
    edited = HEADER + ROWS[0].replace("2026-03-06T00:00:00Z", "2026-03-08T00:00:00Z").replace(
        "targeted attack", "coordinated attack") + "\n"
    rep = import_files(posts_store, "posts", [_write(tmp_path, "edit.csv", edited)])
    assert rep.imported == 1
    versions = [r["text"] for r in posts_store.read("posts").to_pylist() if r["post_id"] == "1"]
    assert sorted(versions) == ["This is a coordinated attack on our movement",
                                "This is a targeted attack on our movement"]


def test_a_list_cell_that_is_not_a_json_array_is_refused_with_its_line(store: Store, tmp_path: Path) -> None:
    bad = HEADER + ROWS[0] + "\n" + ROWS[1].replace(",en,", ",en,#notjson") + "\n"
    with pytest.raises(InputError) as err:
        import_files(store, "posts", [_write(tmp_path, "bad.csv", bad)])
    assert "hashtags" in str(err.value) and ":3" in str(err.value)
    assert store.read("posts").num_rows == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("attack", {"1", "3"}),                    # whole words, any case; not "attackers"
        ("attack democracy", {"3"}),               # AND
        ("democracy OR lunch", {"3", "4"}),        # OR
        ('"targeted attack"', {"1"}),              # phrase
        ('"attack targeted"', set()),              # phrase order matters
        ("#followback", {"2"}),                    # hashtag from the text
        ("#attack", {"1"}),                        # hashtag from the platform's list
        ("attack -democracy", {"1"}),              # exclusion
        ("ataque lang:es", {"5"}),                 # language
        ("'); DROP TABLE posts; --", set()),       # text is data, never SQL
    ],
)
def test_query_syntax(posts_store: Store, query: str, expected: set[str]) -> None:
    answer = search_posts(posts_store, query)
    assert {p["post_id"] for p in answer["posts"]} == expected
    assert posts_store.read("posts").num_rows == 5


def test_spoke_silent_and_unread_per_camp(posts_store: Store) -> None:
    window = {"start": datetime(2026, 3, 5, tzinfo=UTC), "end": datetime(2026, 3, 6, tzinfo=UTC)}
    # Imported files are incomplete reads: they show who spoke, never who was silent.
    imported = {g["group"]: g for g in search_posts(posts_store, "attack", **window)["groups"]}
    assert (imported["opposition"]["silent"], imported["opposition"]["unread"]) == (0, 2)
    assert imported["government"]["spoke"] == 2 and imported["government"]["share_spoke"] is None
    # Complete listings of the Leader (100) and Rival (200) covering the window, holding
    # what each had published.
    for account, ids in (("100", ["1", "2"]), ("200", ["4", "5"])):
        _read(posts_store, account, "2026-03-06T12:00:00Z", ids, start="2026-03-01T00:00:00Z")
    answer = search_posts(posts_store, "attack", **window)
    groups = {g["group"]: g for g in answer["groups"]}
    gov, opp = groups["government"], groups["opposition"]
    assert (gov["accounts"], gov["spoke"], gov["silent"], gov["unread"]) == (2, 2, 0, 0)
    # The Minister spoke but was read only by the import: a speaker, not in the share.
    assert (gov["read"], gov["share_spoke"], gov["spoke_unread"]) == (1, 1.0, 1)
    assert any("that spoke were not read completely" in w for w in answer["warnings"])
    # Rival (200) was read completely over the window and did not mention it; Quiet (300)
    # was never read: unread, not silent.
    assert (opp["accounts"], opp["spoke"], opp["silent"], opp["unread"]) == (2, 0, 1, 1)
    assert opp["share_spoke"] == 0.0 and gov["share_spoke"] == 1.0
    assert len(answer["tests"]) == 1 and answer["tests"][0]["groups"] == ["government", "opposition"]
    assert any("not read" in w for w in answer["warnings"])
    assert {p["label"] for p in answer["posts"]} == {"Leader", "Minister"}
    assert all(p["group"] == "government" for p in answer["posts"])


def test_query_errors_are_clear() -> None:
    with pytest.raises(InputError, match="empty query"):
        parse_query("   ")
    with pytest.raises(InputError, match="OR needs a term"):
        parse_query("attack OR")
    with pytest.raises(InputError, match="nothing to look for"):
        parse_query("-attack lang:en")


def _read(store: Store, account: str, at: str, ids: list[str], *, complete: bool = True,
          answer: str = "ok", post_id: str | None = None, start: str = "2026-03-01T00:00:00Z") -> None:
    ts = datetime.fromisoformat(at.replace("Z", "+00:00"))
    row = {
        "platform": ["x"], "account_id": [account], "read_at": [ts],
        "window_start": [datetime.fromisoformat(start.replace("Z", "+00:00"))], "window_end": [ts],
        "complete": [complete], "answer": [answer], "post_id": [post_id],
        "post_ids": pa.array([ids], pa.list_(pa.string())), "source": ["test"],
        "source_ref": [f"read {account} {at}"],
    }
    store.append("post_reads", pa.table(row), command="test", source="test")


def test_deleted_needs_a_later_complete_listing_that_covers_the_post(posts_store: Store) -> None:
    assert deleted_posts(posts_store)["deleted"] == []
    # Incomplete, empty and failed reads are never evidence.
    _read(posts_store, "100", "2026-03-07T00:00:00Z", ["2"], complete=False)
    _read(posts_store, "100", "2026-03-07T06:00:00Z", [])
    _read(posts_store, "100", "2026-03-07T07:00:00Z", [], answer="account_unavailable")
    assert deleted_posts(posts_store)["deleted"] == []
    # A complete listing that holds post 2 but not post 1: post 1 is gone.
    _read(posts_store, "100", "2026-03-08T00:00:00Z", ["2"])
    gone = deleted_posts(posts_store)["deleted"]
    assert [d["post_id"] for d in gone] == ["1"]
    assert gone[0]["first_missing"] == "2026-03-08T00:00:00Z"
    assert gone[0]["last_seen"] == "2026-03-06T00:00:00Z"
    assert gone[0]["text"] == "This is a targeted attack on our movement"
    assert search_posts(posts_store, '"targeted attack"')["posts"][0]["deleted"] is True


def test_a_post_listed_again_was_not_deleted_and_not_found_is_evidence(posts_store: Store) -> None:
    _read(posts_store, "200", "2026-03-07T00:00:00Z", ["5"])          # 4 missing...
    _read(posts_store, "200", "2026-03-08T00:00:00Z", ["4", "5"])     # ...but back: flaky
    assert deleted_posts(posts_store)["deleted"] == []
    # Asked for directly and answered "not found".
    _read(posts_store, "101", "2026-03-09T00:00:00Z", [], answer="not_found", post_id="3")
    gone = deleted_posts(posts_store)["deleted"]
    assert [(d["account_id"], d["post_id"]) for d in gone] == [("101", "3")]


def test_a_listing_whose_window_does_not_cover_the_post_says_nothing(posts_store: Store) -> None:
    _read(posts_store, "200", "2026-03-07T00:00:00Z", ["5"], start="2026-03-05T00:00:00Z")
    assert deleted_posts(posts_store)["deleted"] == []   # post 4 (Mar 4) is outside the window


def test_cli_posts_search_and_deleted(posts_store: Store) -> None:
    res = CliRunner().invoke(cli, ["posts", "search", "attack", "--store", str(posts_store.path), "--json"])
    assert res.exit_code == 0, res.output
    answer = json.loads(res.output)
    assert {"query", "window", "groups", "tests", "warnings", "posts"} <= set(answer)
    assert {"platform", "account_id", "handle", "label", "group", "post_id", "created_at", "text", "url",
            "deleted"} <= set(answer["posts"][0])
    res = CliRunner().invoke(cli, ["posts", "search", "attack", "--store", str(posts_store.path), "--format", "table"])
    assert res.exit_code == 0 and "government" in res.output
    res = CliRunner().invoke(cli, ["posts", "search", "attack", "--store", str(posts_store.path)])  # piped: TSV
    assert res.exit_code == 0
    assert res.output.splitlines()[:2] == ["group\taccounts\tspoke\tsilent\tunread\tread\tshare_spoke",
                                           "government\t2\t2\t0\t0\t0\t"]  # imported: no complete read
    res = CliRunner().invoke(cli, ["posts", "deleted", "--store", str(posts_store.path), "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == {"deleted": []}


def test_a_store_without_posts_answers_empty(store: Store) -> None:
    answer = search_posts(store, "attack")
    assert answer["posts"] == [] and answer["groups"] == []
    assert deleted_posts(store) == {"deleted": []}


def test_jsonl_lists_are_arrays_and_gz_works(store: Store, tmp_path: Path) -> None:
    import gzip

    line = ('{"platform":"x","account_id":"1","post_id":"9","created_at":"2026-01-01T00:00:00Z",'
            '"observed_at":"2026-01-02T00:00:00Z","text":"hi #Tag","hashtags":["#Tag"],"mentions":[]}\n')
    p = tmp_path / "posts.jsonl.gz"
    p.write_bytes(gzip.compress(line.encode()))
    rep = import_files(store, "posts", [p])
    assert rep.imported == 1
    (row,) = store.read("posts").to_pylist()
    assert json.loads(row["hashtags"]) == ["tag"] and json.loads(row["mentions"]) == []
    # a non-list column stays scalar-only
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line.replace('"text":"hi #Tag"', '"text":["hi"]'))
    with pytest.raises(InputError, match="text"):
        import_files(store, "posts", [bad])


def test_each_read_of_a_file_covers_its_oldest_post_and_lists_its_posts_in_file_order(
        store: Store, tmp_path: Path) -> None:
    rows = [
        "x,7,c,2026-03-02T00:00:00Z,2026-03-10T00:00:00Z,third",
        "x,7,a,,2026-03-10T00:00:00Z,undated",
        "x,8,z,2026-03-01T00:00:00Z,2026-03-10T00:00:00Z,other account",
        "x,7,b,2026-03-01T00:00:00Z,2026-03-10T00:00:00Z,oldest",
        "x,7,d,2026-03-09T00:00:00Z,2026-03-11T00:00:00Z,read the next day",
        "x,9,e,,2026-03-10T00:00:00Z,only undated",
    ]
    import_files(store, "posts", [_write(tmp_path, "p.csv", HEADER.split(",url")[0] + "\n" + "\n".join(rows) + "\n")])
    reads = sorted(store.read("post_reads").to_pylist(), key=lambda r: (r["account_id"], r["read_at"]))
    got = [(r["account_id"], r["read_at"].day, r["window_start"] and r["window_start"].day, r["post_ids"],
            r["source_ref"].rsplit(":", 1)[1]) for r in reads]
    assert got == [("7", 10, 1, ["c", "a", "b"], "2"), ("7", 11, 9, ["d"], "6"), ("8", 10, 1, ["z"], "4"),
                   ("9", 10, None, ["e"], "7")]
    assert all(r["window_end"] == r["read_at"] and r["answer"] == "ok" for r in reads)


def test_posts_are_stored_in_publication_order_so_a_window_skips_row_groups(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    from purgewatch.store import _store

    monkeypatch.setitem(_store._CLUSTERED, "posts", ("created_at", 4))
    days = [9, 3, 7, 1, 5, 2, 8, 4, 6, 10]
    rows = [f"x,1,{d},2026-03-{d:02d}T12:00:00Z,2026-03-11T00:00:00Z,post of day {d} attack" for d in days]
    import_files(store, "posts", [_write(tmp_path, "p.csv", HEADER.split(",url")[0] + "\n" + "\n".join(rows) + "\n")])
    (path,) = store.files("posts")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    created = pq.read_table(path, columns=["created_at"]).column(0).to_pylist()
    assert created == sorted(created)
    answer = search_posts(store, "attack", start=datetime(2026, 3, 5, tzinfo=UTC), end=datetime(2026, 3, 7, tzinfo=UTC))
    assert [p["post_id"] for p in answer["posts"]] == ["6", "5"] and answer["matches"] == 2


def test_views_read_a_column_older_files_lack_as_null(posts_store: Store) -> None:
    """A store written before a column was added still answers (the column reads as null)."""
    import pyarrow.parquet as pq

    (path,) = posts_store.files("posts")
    pq.write_table(pq.read_table(path).drop_columns(["url", "mentions"]), path)
    con = posts_store.duckdb(["posts"])
    assert con.execute("SELECT count(*), count(url), count(mentions) FROM posts").fetchone() == (5, 0, 0)
    answer = search_posts(posts_store, '"targeted attack"')
    assert [(p["post_id"], p["url"]) for p in answer["posts"]] == [("1", None)]


def test_deleted_of_one_account_and_of_a_search_read_only_that_evidence(posts_store: Store) -> None:
    _read(posts_store, "100", "2026-03-08T00:00:00Z", ["2"])                     # 1 gone
    _read(posts_store, "101", "2026-03-09T00:00:00Z", [], answer="not_found", post_id="3")
    assert [d["post_id"] for d in deleted_posts(posts_store, account_id="101")["deleted"]] == ["3"]
    assert [d["post_id"] for d in deleted_posts(posts_store, account_id="100")["deleted"]] == ["1"]
    assert deleted_posts(posts_store, account_id="200")["deleted"] == []
    flags = {p["post_id"]: p["deleted"] for p in search_posts(posts_store, "attack")["posts"]}
    assert flags == {"1": True, "3": True}
    assert search_posts(posts_store, "attack", limit=1)["posts"][0]["post_id"] == "3"   # newest first


def test_a_post_without_text_contains_no_word(store: Store, tmp_path: Path) -> None:
    rows = ['x,1,1,2026-03-05T10:00:00Z,2026-03-06T00:00:00Z,,,en,"[""#Tag""]"',
            'x,1,2,2026-03-05T11:00:00Z,2026-03-06T00:00:00Z,"#tag and a word",,en,']
    import_files(store, "posts", [_write(tmp_path, "p.csv", HEADER + "\n".join(rows) + "\n")])
    assert [r["text"] for r in store.read("posts").to_pylist() if r["post_id"] == "1"] == [None]
    assert {p["post_id"] for p in search_posts(store, "#tag -word")["posts"]} == {"1"}
    assert {p["post_id"] for p in search_posts(store, "#tag")["posts"]} == {"1", "2"}
    assert search_posts(store, "-word lang:en OR word")["matches"] == 2


def test_a_watchlist_without_labels_answers_null_labels(store: Store, tmp_path: Path) -> None:
    """Review finding (benchmarks/posts.py with a watchlist): NaN labels broke --json."""
    import_files(store, "watchlist", [_write(tmp_path, "wl.csv", "platform,account,group\nx,100,a\nx,200,b\n")])
    import_files(store, "posts", [_write(tmp_path, "posts.csv", HEADER + "\n".join(ROWS) + "\n")])
    res = CliRunner().invoke(cli, ["posts", "search", "attack", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    answer = json.loads(res.output)
    assert [(p["post_id"], p["group"], p["label"]) for p in answer["posts"]] == [("3", None, None), ("1", "a", None)]
    # An imported file shows who spoke, never who was silent (its reads are incomplete).
    assert [(g["group"], g["spoke"], g["silent"], g["unread"]) for g in answer["groups"]] == [("a", 1, 0, 0), ("b", 0, 0, 1)]
