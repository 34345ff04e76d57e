"""`purgewatch demo`: the whole tool, end to end, offline, in a few minutes.

It starts the platform emulator with the packaged ``demo`` scenario (two camps on X and
Bluesky; a Thursday-afternoon suspension wave in the government camp's audience; a regain
campaign days later) on an accelerated clock, runs the real connectors and the real watch
loop against it, then detects, explains, compares and writes the evidence report.

Nothing here analyses anything itself: it only wires the library's parts together, the
same parts a user runs one by one (see docs/demo.md).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from purgewatch._version import __version__
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector, Progress
from purgewatch.errors import ConfigError
from purgewatch.queries import AccountName
from purgewatch.sim import CyclePacer, Emulator, SimClock, load_scenario, write_watchlist
from purgewatch.sources.files import import_files
from purgewatch.store import Store
from purgewatch.timefmt import to_utc

# The part of the scenario the demo watches: three days of ordinary life before the
# Thursday wave, the wave, and the regain campaign's bursts that follow.
WATCH_FROM = datetime(2026, 5, 18, 0, 0, tzinfo=UTC)
WATCH_TO = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)

# Scenario seconds per wall second: 10.5 scenario days in roughly 90 wall seconds.
DEFAULT_SPEED = 10_000.0


@dataclass
class DemoResult:
    out_dir: Path
    store: Path
    report_html: Path
    report_json: Path
    truth: Path
    watchlist: Path
    seconds: dict[str, float] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    # Scenario µs at which each watch-loop cycle began, by cycle key ("demo/status").
    cycles: dict[str, list[int]] = field(default_factory=dict)


def _accelerated_budgets(limits: dict[str, tuple[int, float]], speed: float) -> dict[str, tuple[int, float]]:
    """The scenario's budgets on windows short enough for an accelerated clock.

    Scaling a window exactly by ``speed`` (a 15-minute window at 10,000x is 0.09 wall s)
    is below what wall-clock rate limiting resolves, so windows are shrunk by
    ``speed / 60`` (at least 1 s): the same request counts per window, which at 10,000x is
    1/60 of the real budget per scenario hour. The collector still has to budget."""
    return {k: (n, max(window * 60.0 / speed, 1.0)) for k, (n, window) in limits.items()}


def _config(emu: Emulator, out: Path, watchlist: Path, speed: float) -> dict[str, Any]:
    # Cadences are wall seconds: one status pass per scenario hour, one follower-list
    # pass per 12 scenario hours, one read of every account's posts of the last week per
    # 12 scenario hours (the window is scenario time; reading them more often took
    # request slots the follower lists need).
    return {
        "collect": {
            "status_every": 3600.0 / speed,
            "followers_every": 12 * 3600.0 / speed,
            "batch": 100,
            "detect": False,  # detection runs once at the end, on the whole record
            "sim_clock_url": f"{emu.base_url}/_sim/clock",
        },
        "http": {"timeout": 3.0, "retries": 4, "backoff_base": 0.05, "max_rate_wait": 30.0, "concurrency": 4},
        "watchlists": [{"name": "demo", "file": str(watchlist), "followers": True, "posts": True,
                        "posts_every": 12 * 3600.0 / speed, "posts_window": "7d"}],
        "platforms": {
            "bluesky": {
                "appview_url": emu.url("bluesky"),
                "relay_url": emu.url("bluesky"),
                "jetstream_url": emu.jetstream_url,
                "stream": True,
            },
            "x": {"base_url": emu.url("x"), "bearer_token": "demo-token-not-a-secret"},
        },
    }


# The demo marks the folders it creates: a retry after an interrupted run (Ctrl-C, a
# closed laptop) starts its own folder over, while a folder it did not create is never
# touched. The marker records whether the run finished.
MARKER = ".purgewatch-demo.json"
# What a demo run writes into its folder: all that a restart may remove.
_OWN_ENTRIES = {MARKER, MARKER + ".tmp", "store", "report", "watchlist.csv", "truth.json"}


def demo_state(out_dir: str | Path) -> str | None:
    """``"complete"`` or ``"running"`` when ``out_dir`` is a folder the demo made (a
    finished or an interrupted run), else None."""
    marker = Path(out_dir) / MARKER
    try:
        doc = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    state = doc.get("state") if isinstance(doc, dict) else None
    return state if state in ("complete", "running") else None


def prepare_out_dir(out: Path, say: Callable[[str], None] = lambda _msg: None) -> None:
    """Make ``out`` ready for a run: absent or empty, or the demo's own earlier folder
    (cleared of exactly what a run writes); anything else is refused untouched."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder", hint="give --out a new directory")
    if out.exists() and any(out.iterdir()):
        state = demo_state(out)
        if state is None:
            raise ConfigError(
                f"{out} is not empty and was not made by purgewatch demo",
                hint="give --out a new directory, or add --force to replace it",
            )
        foreign = sorted(p.name for p in out.iterdir() if p.name not in _OWN_ENTRIES)
        if foreign:
            raise ConfigError(
                f"{out} holds an earlier demo run and other files ({', '.join(foreign[:5])})",
                hint="move those files away, give --out a new directory, or add --force to replace it",
            )
        say(f"starting over in {out} (it held {'a finished' if state == 'complete' else 'an interrupted'} demo run)")
        for entry in out.iterdir():
            if entry.name == MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    _write_marker(out, "running")


def _write_marker(out: Path, state: str) -> None:
    doc = {"tool": "purgewatch demo", "version": __version__, "state": state,
           "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    tmp = out / (MARKER + ".tmp")
    tmp.write_text(json.dumps(doc) + "\n")
    tmp.replace(out / MARKER)


def run_demo(
    out_dir: str | Path,
    *,
    speed: float = DEFAULT_SPEED,
    watch_from: datetime = WATCH_FROM,
    watch_to: datetime = WATCH_TO,
    faults: bool = True,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _msg: None,
    generated_at: str | datetime | None = None,
) -> DemoResult:
    """Run the demo into ``out_dir``: absent, empty, or the demo's own earlier folder
    (which it starts over); a relative path is taken from the current directory."""
    # One absolute path from here on: the collect config resolves relative file names
    # against its base folder, which would double a relative ``out``.
    out = Path(out_dir).absolute()
    prepare_out_dir(out, say)
    seconds: dict[str, float] = {}
    t_all = time.monotonic()

    scenario = load_scenario("demo")
    watchlist = out / "watchlist.csv"
    write_watchlist(scenario, watchlist)
    store = Store.init(out / "store")
    import_files(store, "watchlist", [watchlist])

    origin_us = int(watch_from.timestamp() * 1_000_000)
    # Paced, not merely accelerated: scenario time waits for the collector's cycles, so
    # on a slow machine the demo takes longer instead of reading less (docs/demo.md).
    clock = SimClock.paced(origin_us, speed)
    pacer = CyclePacer(clock)
    emu = Emulator(
        scenario, clock=clock, faults=faults, limits=True, budgets=_accelerated_budgets(scenario.limits, speed)
    )
    with emu:
        say(f"emulator on {emu.base_url} (scenario clock x{speed:,.0f}, faults {'on' if faults else 'off'})")
        cfg = config_from_dict(_config(emu, out, watchlist, speed), base_dir=out)
        collector = Collector(store, cfg, progress=progress, pacer=pacer)
        t0 = time.monotonic()
        try:
            asyncio.run(_watch_until(collector, emu, watch_to))
        finally:
            pacer.close()  # look-ups and the report run on a free clock
        seconds["watch"] = time.monotonic() - t0

        from purgewatch.analysis.detect import detect
        t0 = time.monotonic()
        events = [e.to_json() for e in detect(store)]
        seconds["detect"] = time.monotonic() - t0

        # Explaining a drop needs the fate of each lost follower: look them up live
        # (stored as profiles evidence), as `purgewatch explain --resolve` does.
        t0 = time.monotonic()
        drops = [e for e in events if e["kind"] == "follower_drop"]
        for e in drops:
            who = AccountName(e.get("handle"), e.get("label")).text(f"{e['platform']}:{e['account_id']}")
            say(f"explaining the drop of {who} (looking up lost followers)")
            _explain_with_lookups(store, cfg, e)
        seconds["explain"] = time.monotonic() - t0
        requests = emu.stats()

    truth_path = out / "truth.json"
    _write_truth(scenario, truth_path)

    from purgewatch.report import write_report

    t0 = time.monotonic()
    say("writing the report (detect, explain, compare, forensics over the whole record)")
    files = write_report(
        store, out / "report", title="PurgeWatch demo: the Thursday wave", generated_at=generated_at
    )
    seconds["report"] = time.monotonic() - t0
    seconds["total"] = time.monotonic() - t_all
    _write_marker(out, "complete")
    return DemoResult(
        out_dir=out,
        store=store.path,
        report_html=files.html,
        report_json=files.json,
        truth=truth_path,
        watchlist=watchlist,
        seconds=seconds,
        events=events,
        requests=requests,
        cycles={k: list(v) for k, v in pacer.started.items()},
    )


async def _watch_until(collector: Collector, emu: Emulator, until: datetime) -> None:
    """Run the watch loop until the scenario clock passes ``until``."""
    stop = asyncio.Event()
    until_us = int(until.timestamp() * 1_000_000)

    async def stopper() -> None:
        while emu.clock.now_us() < until_us:
            await asyncio.sleep(0.2)
        stop.set()

    task = asyncio.create_task(stopper())
    try:
        await collector.watch(stop=stop)
    finally:
        task.cancel()


def _explain_with_lookups(store: Store, cfg: Any, event: dict[str, Any]) -> None:
    from purgewatch.analysis.explain import explain
    from purgewatch.collect.resolve import fate_resolver

    # The drop's own window, as the report will explain it (the lists wholly read before
    # it and the first read after it); look-ups go through the collector's connector, so
    # they share its rate budgets and are stamped with the emulator's scenario time.
    explain(store, event["account_id"], platform=event["platform"], start=event["start"],
            end=event["end"], resolve=fate_resolver(store, config=cfg))


# ------------------------------------------------------------------ the story
def demo_story(findings: dict[str, Any]) -> list[str]:
    """The case in a few plain sentences, every number taken from the findings the report
    was built from (its ``findings.json``): the largest drop and when it happened, what
    the follower lists say became of the lost followers, how the camps compare, and the
    regain campaign. Parts the analyses could not answer are left out, not invented."""
    accounts = {(a["platform"], a["account_id"]): a for a in findings.get("accounts") or []}

    def name(platform: str, account_id: str) -> str:
        a = accounts.get((platform, account_id)) or {}
        return AccountName(a.get("handle") or None, a.get("label") or None).text(f"{platform}:{account_id}")

    events = findings.get("events") or []
    lines: list[str] = []
    drops = sorted((e for e in events if e["kind"] == "follower_drop" and e.get("account_id")),
                   key=lambda e: -float(e.get("magnitude") or 0))
    if not drops:
        return ["No follower drop was detected."]
    top = drops[0]
    key = (top["platform"], top["account_id"])
    who = name(*key)
    rel = f" ({float(top['relative']):.1%} of its audience)" if top.get("relative") is not None else ""
    lines.append(f"{who} lost {round(float(top['magnitude'])):,} followers{rel} on "
                 f"{when_span(top['start'], top['end'])}.")
    ex = next((x.get("result") for x in findings.get("explain") or []
               if (x.get("platform"), x.get("account_id")) == key and x.get("result")), None)
    if ex and not ex.get("lost"):
        why = ((ex.get("evidence") or {}).get("reasons") or ["no follower lost between the lists read"])[0]
        lines.append(f"What became of those followers cannot be said from this run: {why}.")
    elif ex:
        brk = ex.get("lost_breakdown") or {}
        enforced = int(brk.get("suspended", 0)) + int(brk.get("takendown", 0))
        verdict = str(ex.get("verdict", "")).replace("_", " ")
        lines.append(f"Its follower lists before and after: {int(ex['lost']):,} followers gone, "
                     f"{enforced:,} of them ({enforced / int(ex['lost']):.0%}) suspended or taken down "
                     f"by the platform; verdict: {verdict}.")
    if len(drops) > 1:
        camps = sorted({str(e.get("group")) for e in drops})
        where = (f"all in the {camps[0]} camp" if len(camps) == 1 else f"in the camps {', '.join(camps)}")
        others = "; ".join(f"{name(e['platform'], e['account_id'])} {round(float(e['magnitude'])):,}"
                           for e in drops[1:4])
        more = f"; and {len(drops) - 4} more" if len(drops) > 4 else ""
        lines.append(f"{len(drops)} watched accounts lost followers in those hours, {where}: "
                     f"also {others}{more}.")
    for c in findings.get("compare") or []:
        line = _camp_line(c)
        if line:
            lines.append(line)
    # Words beside the numbers, when the store holds posts (nothing is said otherwise).
    from purgewatch.findings import call_lines, deleted_lines, wave_lines

    posts = findings.get("posts") or {}
    lines += wave_lines(posts, when=human_time)
    called: set[tuple[str, str]] = set()
    for fx in findings.get("forensics") or []:
        rg = fx.get("regain") or {}
        if rg.get("verdict") != "regain_campaign":
            continue
        acct = (fx["platform"], fx["account_id"])
        surges = sorted((e for e in events if e["kind"] == "follower_surge"
                         and (e.get("platform"), e.get("account_id")) == acct), key=lambda e: e["start"])
        since = f"from {human_time(surges[0]['start'])}" if surges else "after the drop"
        until = (rg.get("regain_window") or {}).get("to")
        by = f" by {human_time(until)}" if until else ""
        ratio = f" ({float(rg['gain_ratio']):.1f}\u00d7 its usual gain)" if rg.get("gain_ratio") is not None else ""
        young = (f", {float(rg['young_share']):.0%} of them accounts less than {_young_days():g} days old"
                 if rg.get("young_share") is not None else "")
        n_s = f"; {len(surges)} follower surge{'s' if len(surges) != 1 else ''} detected" if surges else ""
        lines.append(f"Then a regain campaign: {since}, {name(*acct)} gained {int(rg['gained']):,} "
                     f"followers{by}{ratio}{young}{n_s}.")
        lines += call_lines(posts, acct, when=human_time)
        called.add(acct)
    surging = dict.fromkeys((s["platform"], s["account_id"]) for s in posts.get("surges") or [])
    lines += [line for acct in surging if acct not in called for line in call_lines(posts, acct, when=human_time)][:2]
    lines += deleted_lines(posts, when=human_time)
    return lines


_TEST_NAMES = {"fisher_exact": "Fisher exact", "chi2": "chi-squared", "permutation": "permutation"}


def _camp_line(c: dict[str, Any]) -> str | None:
    groups = c.get("groups") or []
    if len(groups) < 2:
        return None
    outcome = str(c.get("outcome"))
    what = {"suspended": "had accounts suspended", "drop": "lost followers"}.get(outcome, f"had outcome {outcome!r}")
    tests = [t for t in c.get("tests") or [] if t.get("p_value") is not None]
    p = ""
    if len(groups) == 2 and tests:
        t = tests[0]
        p = f" ({_test_name(t.get('p_value_test'))} p = {format_p(float(t['p_value']))})"
    elif (c.get("global_test") or {}).get("p_value") is not None:
        g = c["global_test"]
        p = f" ({_test_name(g.get('test'))} p = {format_p(float(g['p_value']))})"
    hit = [g for g in groups if int(g["outcome_count"]) > 0]
    if len(hit) == 1:
        h = hit[0]
        rest = ", ".join(f"{int(g['outcome_count'])} of {int(g['accounts'])} in the {g['group']} camp"
                         for g in groups if g is not h)
        return (f"Only the {h['group']} camp {what}: {int(h['outcome_count'])} of its "
                f"{int(h['accounts'])} accounts, against {rest}{p}.")
    counts = ", ".join(f"{g['group']} {int(g['outcome_count'])} of {int(g['accounts'])}" for g in groups)
    return f"Accounts that {what}, by camp: {counts}{p}."


def _test_name(raw: Any) -> str:
    return _TEST_NAMES.get(str(raw), str(raw or "test").replace("_", " "))


def _young_days() -> float:
    from purgewatch.analysis.forensics import REGAIN_YOUNG_DAYS

    return REGAIN_YOUNG_DAYS


def format_p(p: float) -> str:
    """A p-value as a reader wants it: two significant digits, no false zero."""
    return f"{p:.2g}" if p >= 1e-4 else "< 0.0001"


def _parse(value: str | datetime) -> datetime:
    t = to_utc(value)  # event times written by detect: always present
    assert t is not None
    return t


def human_time(value: str | datetime) -> str:
    """``Thursday 21 May 2026, 13:56 UTC``."""
    t = _parse(value)
    return f"{t:%A} {t.day} {t:%B %Y}, {t:%H:%M} UTC"


def when_span(start: str | datetime, end: str | datetime) -> str:
    """``Thursday 21 May 2026, between 13:56 and 21:09 UTC`` (dates repeated when they differ)."""
    a, b = _parse(start), _parse(end)
    if a.date() == b.date():
        return f"{a:%A} {a.day} {a:%B %Y}, between {a:%H:%M} and {b:%H:%M} UTC"
    return f"{human_time(a)} to {human_time(b)}"


def _write_truth(scenario: Any, path: Path) -> None:
    from purgewatch.sim import truth

    path.write_text(json.dumps(truth(scenario), sort_keys=True) + "\n")


__all__ = ["DEFAULT_SPEED", "MARKER", "WATCH_FROM", "WATCH_TO", "DemoResult", "demo_state", "demo_story", "format_p", "human_time",
           "prepare_out_dir", "run_demo", "when_span"]
