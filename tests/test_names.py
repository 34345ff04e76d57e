"""Names, not ids: one account resolver (id or handle; a handle held by several accounts
over time is answered with the list; "no such account"), handle and label on every
detect event and explain answer, and times as people read them (UTC by default, --tz)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from _cli import run
from purgewatch.analysis.detect import detect
from purgewatch.analysis.explain import explain
from purgewatch.errors import AnalysisError, InputError
from purgewatch.model import TABLE_SCHEMAS
from purgewatch.queries import account_names, resolve_account
from purgewatch.store import Store
from purgewatch.timefmt import human_span, human_time, iso_utc, to_utc
from test_report_data import fixture_full_store  # noqa: F401

T = datetime(2012, 1, 26, 10, 0, tzinfo=UTC)   # a Thursday


# ------------------------------------------------------------------ times
def test_iso_has_no_float_artefacts() -> None:
    # a float of seconds or a nanosecond timestamp rounds to the microsecond, then the
    # shortest exact fraction is written
    assert iso_utc(1327746372.381999969) == "2012-01-28T10:26:12.382Z"
    assert iso_utc("2012-01-28T10:26:12.381999969Z") == "2012-01-28T10:26:12.382Z"
    import numpy as np
    import pandas as pd

    assert iso_utc(pd.Timestamp("2012-01-28T10:26:12.381999969Z")) == "2012-01-28T10:26:12.382Z"
    assert iso_utc(np.datetime64("2012-01-28T10:26:12.381999969")) == "2012-01-28T10:26:12.382Z"
    assert iso_utc("2012-01-28T10:26:12Z") == "2012-01-28T10:26:12Z"
    assert iso_utc("2012-01-28T11:26:12.123456+01:00") == "2012-01-28T10:26:12.123456Z"
    assert iso_utc(None) is None and iso_utc(pd.NaT) is None


def test_human_times_carry_weekday_and_zone() -> None:
    assert human_time(T) == "Thu 26 Jan 2012, 10:00 UTC"
    assert human_time("2012-01-26T10:26:12.381999969Z") == "Thu 26 Jan 2012, 10:26 UTC"
    assert human_time(T, "Europe/Paris") == "Thu 26 Jan 2012, 11:00 CET"
    assert human_time(T + timedelta(days=180), "Europe/Paris").endswith("CEST")
    assert human_span(T, T + timedelta(hours=6, minutes=40)) == "Thu 26 Jan 2012, 10:00–16:40 UTC"
    assert human_span(T, T + timedelta(days=1)) == "Thu 26 Jan 2012, 10:00 UTC – Fri 27 Jan 2012, 10:00 UTC"
    # a span that stays on one UTC day can cross midnight in the reader's zone
    assert human_span(T.replace(hour=22), T.replace(hour=23), "Asia/Tokyo") == (
        "Fri 27 Jan 2012, 07:00–08:00 JST")
    assert human_time(None) == "—"
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        human_time(T, "Mars/Olympus")
    assert to_utc(1327572000) == T


# ------------------------------------------------------------------ the resolver
def _obs(account_id: str, handle: str, days: list[int], label_platform: str = "x") -> list[dict[str, object]]:
    return [{"platform": label_platform, "account_id": account_id, "observed_at": T + timedelta(days=d),
             "status": "active", "followers_count": 100 + d, "handle": handle, "source": "test"} for d in days]


@pytest.fixture(scope="module")
def reused(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """@Herald was held by account 11 in January, renamed away, then registered by 22."""
    store = Store.init(tmp_path_factory.mktemp("names") / "store")
    rows = _obs("11", "Herald", [0, 1, 2]) + _obs("11", "OldHerald", [3, 4]) + _obs("22", "herald", [5, 6])
    rows += _obs("33", "solo", [0, 1]) + _obs("did:plc:solo", "solo.bsky.social", [0], "bluesky")
    schema = TABLE_SCHEMAS["observations"]
    cols = {f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema if any(f.name in r for r in rows)}
    watch = pa.table({"platform": ["x", "x"], "account": ["22", "solo"], "group": ["press", "press"],
                      "label": ["The Herald (new)", "Solo Daily"]})
    from purgewatch.watchlist import import_watchlist

    with store.writer(command="test", source="test") as w:
        w.add("observations", pa.table(cols))
    import_watchlist(store, watch)
    return store


def test_one_resolver_takes_ids_and_handles(reused: Store) -> None:
    assert resolve_account(reused, "33") == ("x", "33")
    assert resolve_account(reused, "solo") == ("x", "33")
    assert resolve_account(reused, "@SOLO") == ("x", "33")            # @ and case do not matter
    assert resolve_account(reused, "OldHerald") == ("x", "11")         # any handle it ever held
    assert resolve_account(reused, "did:plc:solo") == ("bluesky", "did:plc:solo")


def test_a_handle_held_by_several_accounts_is_answered_with_the_list(reused: Store) -> None:
    with pytest.raises(InputError) as info:
        resolve_account(reused, "herald")
    msg = str(info.value)
    assert "held by 2 accounts over time" in msg
    assert "x:11" in msg and "x:22 (The Herald (new))" in msg          # ids, with the label when known
    assert "Thu 26 Jan 2012" in msg and "Tue 31 Jan 2012" in msg        # when each held it
    assert "give the account id" in msg
    with pytest.raises(InputError, match="held by 2 accounts"):
        resolve_account(reused, "herald", platform="x")                # --platform does not pick either


def test_no_such_account(reused: Store) -> None:
    with pytest.raises(InputError, match="no such account: 'nobody'"):
        resolve_account(reused, "nobody")
    with pytest.raises(InputError, match="no such account: 'solo' on platform 'mastodon'"):
        resolve_account(reused, "solo", platform="mastodon")


def test_explain_tells_no_such_account_from_no_snapshots(reused: Store) -> None:
    with pytest.raises(InputError, match="no such account"):
        explain(reused, "nobody")
    with pytest.raises(AnalysisError, match="no follower snapshots stored for x account 33 \\(solo\\)"):
        explain(reused, "solo")                                        # it exists; its lists were never read


def test_names_are_the_latest_handle_and_the_watchlist_label(reused: Store) -> None:
    names = account_names(reused)
    assert names[("x", "11")].handle == "OldHerald" and names[("x", "11")].label is None
    assert names[("x", "22")].text() == "The Herald (new) (@herald)"
    # a watchlist entry written as a handle still labels the account that holds it
    assert names[("x", "33")].label == "Solo Daily"
    assert names[("x", "11")].text("11") == "@OldHerald"


# ------------------------------------------------------------------ detect / explain / CLI
def test_detect_events_carry_handle_and_label_and_take_a_handle(full_store: Store) -> None:
    by_id = [e.to_json() for e in detect(full_store, accounts=["1001"])]
    by_handle = [e.to_json() for e in detect(full_store, accounts=["@Leader"])]
    assert by_id and by_id == by_handle
    drop = next(e for e in by_id if e["kind"] == "follower_drop")
    assert (drop["handle"], drop["label"]) == ("leader", "head of state")
    waves = [e.to_json() for e in detect(full_store, kinds=["suspension_wave"])]
    assert waves and all(e["handle"] is None and e["label"] is None for e in waves)  # population kinds
    with pytest.raises(InputError, match="no such account"):
        detect(full_store, accounts=["nobody"])


def test_explain_answers_name_the_account_and_its_overlaps(full_store: Store) -> None:
    res = explain(full_store, "leader")
    assert (res["account_id"], res["handle"], res["label"]) == ("1001", "leader", "head of state")
    assert all("handle" in o and "label" in o for o in res["overlap"])


def test_cli_detect_account_by_handle_and_human_times(full_store: Store, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    store = str(full_store.path)
    assert run(["detect", "--store", store, "--account", "leader", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert events and all(e["account_id"] == "1001" and e["handle"] == "leader" for e in events)
    assert all(e["start"].endswith("Z") for e in events)                 # JSON stays ISO UTC
    assert run(["detect", "--store", store, "--account", "leader", "--tz", "Europe/Paris", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "head of state (@leader)" in out and "CET" in out and "1001" in out
    assert run(["detect", "--store", store, "--account", "nobody"]) == 2
    assert "no such account: 'nobody'" in capsys.readouterr().err


def test_cli_explain_and_history_resolve_the_same_way(full_store: Store, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    store = str(full_store.path)
    assert run(["explain", "nobody", "--store", store]) == 2
    err = capsys.readouterr().err
    assert "no such account" in err and "follower snapshots" not in err
    assert run(["explain", "@leader", "--store", store, "--format", "table"]) == 0
    assert "head of state (@leader) [1001]" in capsys.readouterr().out
    assert run(["history", "leader", "--store", store, "--json"]) == 0
    hist = json.loads(capsys.readouterr().out)
    assert (hist["account_id"], hist["handle"], hist["label"]) == ("1001", "leader", "head of state")
    assert run(["forensics", "regain", "nobody", "--store", store]) == 2
    assert "no such account" in capsys.readouterr().err


def test_report_tz_changes_the_text_not_the_data(full_store: Store, tmp_path: Path) -> None:
    from purgewatch.report import write_report

    utc = write_report(full_store, tmp_path / "utc", generated_at="2026-03-12T09:00:00Z")
    paris = write_report(full_store, tmp_path / "paris", generated_at="2026-03-12T09:00:00Z", tz="Europe/Paris")
    a, b = utc.html.read_text("utf-8"), paris.html.read_text("utf-8")
    assert "Thu 12 Mar 2026, 09:00 UTC" in a and "Thu 12 Mar 2026, 10:00 CET" in b
    assert 'datetime="2026-03-12T09:00:00Z"' in a and 'datetime="2026-03-12T09:00:00Z"' in b  # ISO for machines
    assert utc.json.read_text() == paris.json.read_text()
    import csv

    rows = list(csv.DictReader((utc.csv_dir / "events.csv").open(encoding="utf-8")))
    drop = next(r for r in rows if r["kind"] == "follower_drop")
    assert (drop["account_id"], drop["handle"], drop["label"]) == ("1001", "leader", "head of state")
    assert drop["start"].endswith("Z")                                   # CSV stays ISO UTC
    with pytest.raises(InputError, match="unknown time zone"):
        write_report(full_store, tmp_path / "bad", tz="Nowhere/Land")


def test_alert_messages_name_the_account_and_say_when_in_words() -> None:
    from purgewatch.alerts import message_text

    e = {"kind": "follower_drop", "platform": "x", "account_id": "4722", "handle": "PresidentLeader",
         "label": "The Leader", "group": "government", "start": "2026-05-21T13:36:15.035Z",
         "end": "2026-05-21T15:24:36.516Z", "magnitude": 5998, "relative": 0.114, "score": 3.2}
    text = message_text(e)
    assert "The Leader (@PresidentLeader) lost 5,998 followers" in text
    assert "Thu 21 May 2026, 13:36–15:24 UTC" in text and "4722" not in text
    assert "4722 lost" in message_text({**e, "handle": None, "label": None})   # nameless: the id
