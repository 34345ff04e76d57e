"""The demo end to end: its report's findings must match the scenario's ground truth,
and its terminal story must match the findings.

One run (about two minutes on this 2-core machine) feeds every check below. It is the
command a new user types, in a subprocess, from a working folder, with a relative
``--out`` named like the packaged scenario (``demo``), into a folder left behind by an
interrupted run: each of those once broke the README's first command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from purgewatch.demo import MARKER, demo_state, format_p, human_time, prepare_out_dir, run_demo
from purgewatch.queries import AccountName, latest_accounts
from purgewatch.store import Store

pytestmark = pytest.mark.slow

WAVE_START = datetime.fromisoformat("2026-05-21T14:00:00+00:00")
REGAIN_START = datetime.fromisoformat("2026-05-25T08:00:00+00:00")
SRC = Path(__file__).resolve().parents[1] / "src"


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass
class Run:
    cwd: Path
    out: Path
    stdout: str
    stderr: str
    interrupted_stderr: str
    seconds: float
    events: list[dict[str, Any]]
    store: Path
    report_html: Path


def _cli(cwd: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env.pop("PURGEWATCH_STORE", None)
    return [sys.executable, "-m", "purgewatch", "demo", "--out", "demo"], env


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("demo-cwd")
    argv, env = _cli(cwd)
    # First a run interrupted (Ctrl-C) once it has started writing its folder ...
    first = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (cwd / "demo" / "store").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    first.send_signal(signal.SIGINT)
    _, interrupted_err = first.communicate(timeout=120)
    assert first.returncode == 130, interrupted_err
    assert demo_state(cwd / "demo") == "running"
    # ... then the same command again, as a user would retry it.
    t0 = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - t0
    assert done.returncode == 0, done.stderr[-3000:]
    out = cwd / "demo"
    findings = json.loads((out / "report" / "findings.json").read_text())
    return Run(cwd, out, done.stdout, done.stderr, interrupted_err, seconds, findings["events"],
               out / "store", out / "report" / "report.html")


@pytest.fixture(scope="module")
def demo(run: Run) -> tuple[Run, dict[str, Any], dict[str, Any]]:
    truth = json.loads((run.out / "truth.json").read_text())
    findings = json.loads((run.out / "report" / "findings.json").read_text())
    return run, truth, findings


def _leader(truth: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in truth["accounts"] if a["key"] == "x:PresidentLeader")


def test_demo_writes_a_report_and_stays_offline(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    result, _, _ = demo
    html = result.report_html.read_text()
    assert "<html" in html.lower()
    assert "http://" not in html.split("</head>")[0] and "https://" not in html.split("</head>")[0]
    assert result.seconds < 600


def test_demo_report_is_small_and_tells_the_story_first(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    import re

    from selectolax.lexbor import LexborHTMLParser

    result, _, findings = demo
    raw = result.report_html.read_bytes()
    assert len(raw) <= 2_000_000, f"the demo report is {len(raw):,} bytes"
    html = raw.decode("utf-8")
    lede = LexborHTMLParser(html).css_first("#summary p.lede")
    assert lede is not None
    text = lede.text()
    # who (label and @handle), how many, when (weekday, UTC), and what share were suspended
    assert "The Leader (@PresidentLeader) lost" in text
    assert re.search(r"On (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} \w{3} \d{4}, \d\d:\d\d", text) and "UTC" in text
    leader_x = next(x for x in findings["explain"] if x.get("handle") == "PresidentLeader")
    if (leader_x.get("result") or {}).get("lost"):
        assert re.search(r"\d+% are accounts the platform suspended", text)
    else:  # the follower lists read did not bracket the drop (a loaded machine): said, not guessed
        assert "Who left cannot be told" in text and "suspended" not in text.split("Who left")[1].split(".")[0]
    assert findings["summary"]["key_figures"]
    # no float artefacts anywhere, and no raw keys as table headers
    artefact = re.compile(r"\d\d:\d\d:\d\d\.\d{7,}")
    assert not artefact.search(html) and not artefact.search((result.report_html.parent / "findings.json").read_text())
    assert "rows ({n})" not in html and "<th>effect.rate_ratio_ci_method</th>" not in html


def test_store_holds_every_suspension_of_a_watched_account(
    demo: tuple[Run, dict[str, Any], dict[str, Any]],
) -> None:
    result, truth, _ = demo
    suspended = {
        (c["platform"], c["account_id"]): c["status"]
        for c in truth["status_changes"]
        if c["watched"] and _t(c["at"]) < _t("2026-05-27T00:00:00Z")
    }
    assert len(suspended) == 5
    latest = {(r["platform"], r["account_id"]): r for r in latest_accounts(Store(result.store)).to_pylist()}
    for key, status in suspended.items():
        assert latest[key]["status"] == status, (key, latest[key]["status"], status)
    # and no other observed account is recorded as suspended or taken down (the lost
    # followers whose fates were resolved are accounts too, known from profiles)
    others = {k for k, r in latest.items()
              if r["n_observations"] and r["status"] in ("suspended", "takendown")} - set(suspended)
    assert others == set()


def test_demo_collects_the_camps_posts_and_the_deleted_call(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    from purgewatch.analysis.posts import deleted_posts, search_posts

    result, truth, _ = demo
    store = Store(result.store)
    reads = store.read("post_reads").to_pandas()
    assert len(reads) and reads["complete"].any() and set(reads["platform"]) == {"bluesky", "x"}
    # the accounts suspended in the wave are unavailable, never an empty listing
    assert (reads["answer"] == "account_unavailable").any()
    assert not reads[reads["answer"] == "account_unavailable"]["complete"].any()
    got = search_posts(store, '"targeted attack"', start=_t("2026-05-21T14:00:00Z"), end=_t("2026-05-23T00:00:00Z"))
    by = {g["group"]: g for g in got["groups"]}
    assert by["government"]["spoke"] >= 4 and by["opposition"]["spoke"] == 0 and by["opposition"]["silent"] >= 5
    # the Leader's call, deleted on the Wednesday morning: found deleted, with the
    # retweets X removed with it, and nothing else
    call = next(p for p in truth["posts"] if p["key"] == "leader-call")
    expected = {call["post_id"]} | {p["post_id"] for p in truth["posts"] if p["repost_of"] == call["post_id"]}
    gone = deleted_posts(store)["deleted"]
    assert {d["post_id"] for d in gone} == expected
    assert all(_t(d["last_seen"]) < _t(call["deleted_at"]) <= _t(d["first_missing"]) for d in gone)


def test_leader_drop_detected_in_the_wave_window_with_the_right_size(
    demo: tuple[Run, dict[str, Any], dict[str, Any]],
) -> None:
    result, truth, _ = demo
    leader = _leader(truth)
    lost_truth = sum(d["lost"] for d in truth["drops"] if d["key"] == "x:PresidentLeader")
    drops = [e for e in result.events if e["kind"] == "follower_drop" and e["account_id"] == leader["account_id"]]
    assert len(drops) == 1
    drop = drops[0]
    assert _t(drop["start"]) <= WAVE_START + (_t(drop["end"]) - _t(drop["start"]))
    assert _t(drop["start"]) < _t("2026-05-21T15:00:00Z") and _t(drop["end"]) > WAVE_START
    # counts also move with organic growth and unfollows: within 15% of the truth
    assert abs(drop["magnitude"] - lost_truth) <= 0.15 * lost_truth, (drop["magnitude"], lost_truth)
    assert drop["group"] == "government"


def test_only_the_government_camp_is_hit(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    result, truth, findings = demo
    group = {(a["platform"], a["account_id"]): a["group"] for a in truth["accounts"]}
    for e in result.events:
        if e["kind"] == "follower_drop":
            assert group[(e["platform"], e["account_id"])] == "government", e
    # the sweep of followers is named as concentrated on the government camp
    purges = [e for e in result.events if e["kind"] == "purge"]
    assert purges and all(e["group"] == "government" for e in purges), purges
    waves = [e for e in result.events if e["kind"] == "suspension_wave"]
    assert waves, "no suspension wave detected"
    assert all(e["group"] in (None, "government") for e in waves)
    cmp_suspended = next(c for c in findings["compare"] if "suspend" in json.dumps(c.get("outcome", c)).lower())
    rates = {g["group"]: g for g in cmp_suspended["groups"]}
    assert rates["government"]["outcome_count"] == 5
    assert rates["opposition"]["outcome_count"] == 0


def test_explain_verdict_is_platform_enforcement(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    _, truth, findings = demo
    leader = _leader(truth)
    lost_truth = sum(d["lost"] for d in truth["drops"] if d["key"] == "x:PresidentLeader")
    ex = next(x for x in findings["explain"] if x["account_id"] == leader["account_id"])["result"]
    assert ex["verdict"] == "platform_enforcement"
    # the snapshot diff also counts organic unfollows between the two lists
    assert abs(ex["lost"] - lost_truth) <= 0.1 * lost_truth, (ex["lost"], lost_truth)
    assert ex["lost_breakdown"]["suspended"] >= 0.9 * lost_truth


def test_regain_campaign_is_found(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    result, truth, findings = demo
    leader = _leader(truth)
    surges = [
        e
        for e in result.events
        if e["kind"] == "follower_surge" and e["account_id"] == leader["account_id"] and _t(e["start"]) >= REGAIN_START - (_t(e["end"]) - _t(e["start"]))
    ]
    regain = next(
        (f.get("regain") for f in findings["forensics"] if f["account_id"] == leader["account_id"]), None
    )
    assert surges, "no follower surge of the leader after the campaign started"
    assert regain is not None and regain["verdict"] == "regain_campaign", regain


def test_a_retry_starts_the_interrupted_run_over_and_ends_cleanly(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    run, _, _ = demo
    assert "starting over in" in run.stderr and "interrupted demo run" in run.stderr
    assert demo_state(run.out) == "complete"
    # no traceback, no uvicorn "ERROR: Exception in ASGI application" at exit
    assert "Traceback" not in run.stderr and "ERROR" not in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.interrupted_stderr, run.interrupted_stderr[-3000:]


def test_progress_and_story_name_accounts_not_ids(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    run, truth, _ = demo
    explaining = [ln for ln in run.stderr.splitlines() if ln.startswith("explaining the drop of")]
    assert len(explaining) == sum(1 for e in run.events if e["kind"] == "follower_drop")
    ids = [a["account_id"] for a in truth["accounts"]]
    for text in explaining:
        assert "(@" in text, text
    assert "(@" in _story(run)[0]
    for text in explaining + _story(run):
        assert not any(i in text for i in ids), text


def _story(run: Run) -> list[str]:
    return [ln[4:] for ln in run.stdout.splitlines() if ln.startswith("  - ")]


def test_the_story_is_the_analyses_own_answers(demo: tuple[Run, dict[str, Any], dict[str, Any]]) -> None:
    run, _, findings = demo
    story = _story(run)
    # 5 to 8 lines of numbers, and the words beside them when the store holds posts
    assert 5 <= len(story) <= 13, run.stdout
    acc = {(a["platform"], a["account_id"]): a for a in findings["accounts"]}
    drops = [e for e in findings["events"] if e["kind"] == "follower_drop"]
    top = max(drops, key=lambda e: e["magnitude"])
    leader = acc[(top["platform"], top["account_id"])]
    start, end = _t(top["start"]), _t(top["end"])
    # who lost how many, when (weekday, UTC)
    assert story[0].startswith(f"{leader['label']} (@{leader['handle']}) lost {round(top['magnitude']):,} followers")
    assert f"{start:%A} {start.day} {start:%B %Y}, between {start:%H:%M} and {end:%H:%M} UTC" in story[0]
    # what share of the lost were suspended: explain's own answer for that drop
    ex = next(x["result"] for x in findings["explain"]
              if (x["platform"], x["account_id"]) == (top["platform"], top["account_id"]))
    if ex["lost"]:
        gone = ex["lost_breakdown"]["suspended"] + ex["lost_breakdown"]["takendown"]
        assert f"{ex['lost']:,} followers gone, {gone:,} of them ({gone / ex['lost']:.0%})" in story[1]
        assert ex["verdict"].replace("_", " ") in story[1]
    else:  # a run starved of CPU may not read the lists around the drop: said, not guessed
        assert story[1].startswith("What became of those followers cannot be said from this run: ")
        assert ex["evidence"]["reasons"][0] in story[1]
    assert f"{len(drops)} watched accounts lost followers" in story[2]
    # the camp comparison with its p-value: compare's own answer
    sus = next(c for c in findings["compare"] if c["outcome"] == "suspended")
    g = {x["group"]: x for x in sus["groups"]}
    line = next(ln for ln in story if "suspended" in ln and "camp" in ln)
    assert f"{g['government']['outcome_count']} of its {g['government']['accounts']} accounts" in line
    assert f"{g['opposition']['outcome_count']} of {g['opposition']['accounts']} in the opposition camp" in line
    assert f"p = {format_p(sus['tests'][0]['p_value'])}" in line
    # the regain campaign: forensics' own answer, told for each campaign forensics found and
    # for no other (that the scenario's campaign is found is test_regain_campaign_is_found's)
    campaigns = [f for f in findings["forensics"] if (f.get("regain") or {}).get("verdict") == "regain_campaign"]
    told = [ln for ln in story if ln.startswith("Then a regain campaign")]
    assert len(told) == len(campaigns), (told, [f["account_id"] for f in campaigns])
    for f, ln in zip(campaigns, told, strict=True):
        rg = f["regain"]
        who = acc[(f["platform"], f["account_id"])]
        assert f"{who['label']} (@{who['handle']}) gained {rg['gained']:,} followers" in ln
        assert f"{rg['young_share']:.0%} of them" in ln
    # posts (when the run collected them): who spoke after each wave, each deletion
    posts = findings.get("posts") or {}
    waves = [w for w in posts.get("waves") or [] if w["groups"]]
    assert len([ln for ln in story if ln.startswith("In the days after the wave")]) == len(waves)
    cited = posts.get("posts") or {}
    gone = [{**cited[d["ref"]], **d} for d in posts.get("deleted") or []]
    # A repost that vanished with its deleted original is told with it, not on its own line.
    originals = {(d["platform"], d["post_id"]) for d in gone if not d.get("repost_of")}
    folded = [d for d in gone if d.get("repost_of") and (d["platform"], d["repost_of"]) in originals]
    own = [d for d in gone if not d.get("repost_of")]
    told_lines = [ln for ln in story if " deleted a post " in ln or ln.startswith("A repost by ")]
    assert len(told_lines) == min(3, len(gone) - len(folded))
    for d in own[:3]:
        who = AccountName(d.get("handle"), d.get("label")).text(d["account_id"])
        with_it = [r for r in folded if r["repost_of"] == d["post_id"]]
        assert any(ln.startswith(f"{who} deleted a post") and f"first missing {human_time(d['first_missing'])}" in ln
                   and (not with_it or f"With it, {len(with_it)} repost" in ln) for ln in story)
    # then where the report is and how to serve it, as paths typed from where the user is
    assert "report: demo/report/report.html" in run.stdout
    assert "purgewatch serve --store demo/store" in run.stdout and "purgewatch demo --serve" in run.stdout


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    from purgewatch.errors import ConfigError

    with pytest.raises(ConfigError, match="not empty"):
        run_demo(tmp_path)
    assert (tmp_path / "x").read_text() == "keep me"
    assert not (tmp_path / MARKER).exists()


def test_an_earlier_demo_folder_is_cleared_of_its_own_files_only(tmp_path: Path) -> None:
    from purgewatch.errors import ConfigError

    out = tmp_path / "run"
    prepare_out_dir(out)
    assert demo_state(out) == "running"
    (out / "store").mkdir()
    (out / "store" / "part.parquet").write_bytes(b"x")
    (out / "watchlist.csv").write_text("platform,account,group\n")
    said: list[str] = []
    prepare_out_dir(out, said.append)
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    assert said and "interrupted" in said[0]
    # a file the demo does not write makes it refuse, touching nothing
    (out / "store").mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="other files"):
        prepare_out_dir(out)
    assert (out / "notes.txt").read_text() == "mine" and (out / "store").is_dir()
