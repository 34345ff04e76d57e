"""Detection: per-account drops/surges, waves, purges, incremental == batch, CLI shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from purgewatch.analysis.detect import (
    Detector,
    DetectParams,
    detect,
    detect_series,
    make_params,
)
from purgewatch.cli import cli
from purgewatch.errors import InputError
from purgewatch.store import Store

DAY = 86400.0
T0 = 1_700_000_000.0
TS = pa.timestamp("us", tz="UTC")


def organic(n: int = 200, *, level: float = 20_000, growth: float = 30.0, noise: float = 8.0,
            seed: int = 0, gap_at: int | None = None, gap_days: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """Daily-ish readings with daily/weekly rhythm in the growth and observation noise."""
    rng = np.random.default_rng(seed)
    dt = rng.gamma(4.0, 0.25, n)
    if gap_at is not None:
        dt[gap_at] = gap_days
    td = np.cumsum(dt)
    y = level + growth * (td + 0.6 * np.sin(2 * np.pi * td) / (2 * np.pi)
                          + 0.4 * np.sin(2 * np.pi * td / 7) / (2 * np.pi / 7))
    y += rng.normal(0, noise, n)
    return T0 + td * DAY, np.round(y)


def events_for(t: np.ndarray, y: np.ndarray, **kw: float) -> list:
    return detect_series(np.zeros(len(t), dtype=np.int64), t, y, params=make_params(**kw), purge=False)


# ---------------------------------------------------------------- per-account kernel
def test_step_drop_found_in_narrow_window() -> None:
    t, y = organic()
    y[120:] -= 600  # 3 % drop between readings 119 and 120
    ev = events_for(t, y)
    assert [e.kind for e in ev] == ["follower_drop"]
    e = ev[0]
    assert e.start == pytest.approx(t[119]) and e.end == pytest.approx(t[120])
    assert e.magnitude == pytest.approx(600, rel=0.1)
    assert e.relative == pytest.approx(600 / y[119], rel=0.1)
    j = e.to_json()
    assert j["start"].endswith("Z") and j["account_id"] == "0"
    assert set(j) == {"kind", "platform", "account_id", "group", "start", "end", "magnitude",
                      "relative", "score", "evidence", "handle", "label"}
    assert len(j["evidence"]["observed_at"]) == len(j["evidence"]["followers"]) >= 4


def test_surge_found() -> None:
    t, y = organic(seed=2)
    y[80:] += 2000
    ev = events_for(t, y)
    assert [e.kind for e in ev] == ["follower_surge"]
    assert ev[0].start == pytest.approx(t[79])


@pytest.mark.parametrize("seed", range(5))
def test_organic_growth_with_rhythm_is_quiet(seed: int) -> None:
    t, y = organic(n=365, seed=seed, growth=200.0, noise=15.0)
    assert events_for(t, y) == []


@pytest.mark.parametrize("glitch", ["zero", "other_account", "rounded"])
def test_single_reverting_glitch_is_ignored(glitch: str) -> None:
    t, y = organic(seed=3, level=123_456, noise=3.0)
    y = y.copy()
    if glitch == "zero":
        y[100] = 0
    elif glitch == "other_account":
        y[100] = 4_321
    else:
        y[100] = round(y[100] / 1000) * 1000  # "123K"
    assert events_for(t, y) == []


def test_two_bad_readings_in_a_row_cancel_out() -> None:
    t, y = organic(seed=4)
    y[100:102] = 0
    assert events_for(t, y) == []


def test_glitch_at_the_last_reading_waits_for_confirmation() -> None:
    t, y = organic(seed=5)
    y[-1] = 0
    assert events_for(t, y) == []
    y2 = np.concatenate([y[:-1], [y[-2] - 900, y[-2] - 900]])
    t2 = np.concatenate([t[:-1], [t[-1], t[-1] + DAY]])
    ev = events_for(t2, y2)
    assert [e.kind for e in ev] == ["follower_drop"]


def test_long_gap_with_organic_change_is_quiet_but_a_jump_across_it_fires() -> None:
    t, y = organic(seed=6, gap_at=100, gap_days=60, growth=40)
    assert events_for(t, y) == []
    y = y.copy()
    y[100:] -= 15_000  # 70 % across two months: more than organic change could explain
    ev = events_for(t, y)
    assert [e.kind for e in ev] == ["follower_drop"]
    assert ev[0].start == pytest.approx(t[99])


def test_duplicates_and_shuffled_rows_give_the_same_answer() -> None:
    t, y = organic(seed=7)
    y[90:] -= 700
    ref = [e.to_json() for e in events_for(t, y)]
    rng = np.random.default_rng(0)
    dup = rng.choice(len(t), 20, replace=False)
    t2 = np.concatenate([t, t[dup]])
    y2 = np.concatenate([y, y[dup]])
    perm = rng.permutation(len(t2))
    got = [e.to_json() for e in events_for(t2[perm], y2[perm])]
    assert got == ref and len(ref) == 1


def test_thresholds_are_configurable() -> None:
    t, y = organic(seed=8)
    y[100:] -= 150  # 0.75 %, about 6x the noise
    assert len(events_for(t, y)) == 1
    assert events_for(t, y, min_relative=0.01) == []
    assert events_for(t, y, z_threshold=1e6) == []


def test_unknown_parameter_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown detection parameter"):
        make_params(zz_top=1)
    assert make_params(wave_min_size=9).waves.min_size == 9
    assert make_params(purge_min_accounts=9).purge.min_accounts == 9
    assert make_params(purge_z=2.5).series.purge_z == 2.5


# ---------------------------------------------------------------- store-level
def _obs_rows(n_accounts: int, *, purge_at: int | None = None, seed: int = 0,
              drop: tuple[int, int, float] | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("platform", "account_id", "observed_at", "status",
                                             "followers_count")}
    for a in range(n_accounts):
        t, y = organic(n=120, level=float(rng.uniform(5e3, 5e4)), growth=float(rng.uniform(5, 50)),
                       noise=5.0, seed=seed * 1000 + a)
        t = T0 + (np.arange(120) + rng.uniform(0, 0.5, 120)) * DAY  # roughly daily, shared clock
        if purge_at is not None and a % 2 == 0:
            y[purge_at:] -= np.round(y[purge_at] * 0.03)
        if drop is not None and a == drop[0]:
            y[drop[1]:] -= np.round(y[drop[1]] * drop[2])
        rows["platform"] += ["x"] * 120
        rows["account_id"] += [f"acc{a}"] * 120
        rows["observed_at"] += [datetime.fromtimestamp(v, UTC) for v in t]
        rows["status"] += ["active"] * 120
        rows["followers_count"] += [int(v) for v in y]
    return pa.table(rows, schema=pa.schema([("platform", pa.string()), ("account_id", pa.string()),
                                            ("observed_at", TS), ("status", pa.string()),
                                            ("followers_count", pa.int64())]))


def _status_rows(n: int = 400, *, wave_at: float = T0 + 50 * DAY, wave_size: int = 40,
                 seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    acc, at, status = [], [], []
    for _ in range(60):  # background: a few suspensions spread over 100 days
        acc.append(f"s{rng.integers(0, n)}")
        at.append(T0 + rng.uniform(0, 100) * DAY)
        status.append("suspended")
    for i in range(wave_size):  # a wave: 40 accounts of group "red" within 3 hours
        acc.append(f"s{2 * i}")
        at.append(wave_at + rng.uniform(0, 3 * 3600))
        status.append("suspended")
    return pa.table({"platform": ["x"] * len(acc), "account_id": acc,
                     "at": pa.array([datetime.fromtimestamp(v, UTC) for v in at], TS),
                     "status": status})


def _watchlist(n: int = 400) -> pa.Table:
    return pa.table({"platform": ["x"] * n, "account": [f"s{i}" for i in range(n)],
                     "account_id": [f"s{i}" for i in range(n)],
                     "group": ["red" if i % 2 == 0 else "blue" for i in range(n)],
                     "action": ["add"] * n,
                     "at": pa.array([datetime.fromtimestamp(T0, UTC)] * n, TS)})


@pytest.fixture
def filled(store: Store) -> Store:
    with store.writer(command="test", source="test") as w:
        w.add("observations", _obs_rows(24, purge_at=70, drop=(5, 30, 0.1)))
        w.add("status_events", _status_rows())
        w.add("watchlist", _watchlist())
    return store


def test_detect_over_store_finds_each_kind(filled: Store) -> None:
    events = detect(filled)
    kinds = [e.kind for e in events]
    purges = [e for e in events if e.kind == "purge"]
    assert len(purges) == 1
    named = {a["account_id"] for a in purges[0].evidence["accounts"]}
    assert named == {f"acc{a}" for a in range(0, 24, 2)}
    assert purges[0].magnitude == 12
    drops = [e for e in events if e.kind == "follower_drop" and e.account_id == "acc5"]
    assert len(drops) == 1 and drops[0].relative == pytest.approx(0.1, rel=0.15)
    waves = [e for e in events if e.kind == "suspension_wave"]
    assert {w.group for w in waves} == {None, "red"}
    whole = next(w for w in waves if w.group is None)
    # a few wave accounts were already suspended (no transition): 35+ of 40 remain
    assert whole.evidence["by_group"]["red"] >= 35
    assert whole.start >= T0 + 50 * DAY - 1 and whole.end <= T0 + 50 * DAY + 3 * 3600 + 1
    assert "follower_surge" not in kinds
    # filters
    assert {e.kind for e in detect(filled, kinds=["purge"])} == {"purge"}
    only5 = detect(filled, accounts=["acc5"])
    assert {e.account_id for e in only5 if e.account_id} == {"acc5"}
    assert all(e.kind in ("follower_drop", "purge") for e in only5)
    assert [e.group for e in detect(filled, kinds=["suspension_wave"], group="red")] == ["red"]
    assert detect(filled, start=T0 + 200 * DAY) == []


@pytest.mark.parametrize(("camp_of", "expected_group"), [
    (lambda a: "gov" if a % 2 == 0 else "opp", "gov"),          # the purged half is one camp
    (lambda a: "gov" if a % 4 in (0, 1) else "opp", None),      # it hits both camps alike
])
def test_purge_names_a_camp_only_when_concentrated_in_it(
    store: Store, camp_of: Callable[[int], str], expected_group: str | None
) -> None:
    wl = pa.table({"platform": ["x"] * 24, "account": [f"acc{a}" for a in range(24)],
                   "account_id": [f"acc{a}" for a in range(24)],
                   "group": [camp_of(a) for a in range(24)], "action": ["add"] * 24,
                   "at": pa.array([datetime.fromtimestamp(T0, UTC)] * 24, TS)})
    with store.writer(command="test", source="test") as w:
        w.add("observations", _obs_rows(24, purge_at=70))
        w.add("watchlist", wl)
    purge = next(e for e in detect(store) if e.kind == "purge")
    conc = purge.evidence["concentration"]
    assert purge.group == expected_group
    if expected_group == "gov":
        assert conc["hit"] == 12 and conc["others_hit"] == 0 and conc["p_value"] < 0.001
    else:
        assert conc["significant"] is False


def test_incremental_equals_batch(filled: Store) -> None:
    batch = [e.to_json() for e in detect(filled)]
    obs = filled.read("observations")
    obs = obs.take(pa.array(np.argsort(obs["observed_at"].to_numpy(), kind="stable")))
    groups = {("x", f"s{i}"): ("red" if i % 2 == 0 else "blue") for i in range(400)}
    det = Detector(groups=groups)
    status = filled.read("status_events")
    cuts = np.linspace(0, obs.num_rows, 9).astype(int)
    seen: list[dict] = []
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        new = det.update(observations=obs.slice(a, b - a), status_events=status if i == 3 else None)
        seen += [e.to_json() for e in new]
    inc = [e.to_json() for e in det.events()]
    key = lambda j: json.dumps(j, sort_keys=True)  # noqa: E731
    assert sorted(map(key, inc)) == sorted(map(key, batch))
    assert det.late_rows == 0 and det.inexact_accounts == 0
    # every final event was announced by some update
    assert {key(j) for j in batch} <= {key(j) for j in seen}
    # the tail kept per account is bounded
    assert max(len(a.t) for a in det._acc.values()) <= det.tail_len


def test_detector_from_store_matches(filled: Store) -> None:
    det = Detector.from_store(filled)
    assert [e.to_json() for e in det.events()] == [e.to_json() for e in detect(filled)]


def test_reinstatement_wave_from_observed_statuses(store: Store) -> None:
    n = 200
    rows: dict[str, list] = {"platform": [], "account_id": [], "observed_at": [], "status": []}
    for day in range(60):
        for a in range(n):
            if day < 10:
                st = "active"
            elif a < 120 and day < 40:
                st = "suspended"
            elif a < 120 and day >= 40:
                st = "active" if (a % 3 or day > 40) else "unknown"  # transport failures
            else:
                st = "active"
            rows["platform"].append("x")
            rows["account_id"].append(f"u{a}")
            rows["observed_at"].append(datetime.fromtimestamp(T0 + day * DAY + a, UTC))
            rows["status"].append(st)
    with store.writer(command="test", source="test") as w:
        w.add("observations", pa.table(rows))
    ev = detect(store, kinds=["suspension_wave", "reinstatement_wave"])
    assert [(e.kind, e.magnitude) for e in ev] == [("suspension_wave", 120), ("reinstatement_wave", 120)]
    assert ev[1].start >= T0 + 40 * DAY


def test_empty_store(store: Store) -> None:
    assert detect(store) == []


def test_params_object(filled: Store) -> None:
    strict = DetectParams()
    assert detect(filled, params=strict, purge_min_accounts=100, kinds=["purge"]) == []


# ---------------------------------------------------------------- CLI
def test_cli_json_shape(filled: Store, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["detect", "--store", str(filled.path), "--json", "--kind", "purge"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert list(doc) == ["events", "outliers"] and [e["kind"] for e in doc["events"]] == ["purge"]
    assert isinstance(doc["outliers"], list)
    res = CliRunner().invoke(cli, ["detect", "--store", str(filled.path), "--json", "--account", "acc5",
                                   "--kind", "follower_drop", "--param", "z_threshold=4"])
    assert res.exit_code == 0
    assert [e["account_id"] for e in json.loads(res.output)["events"]] == ["acc5"]
    res = CliRunner().invoke(cli, ["detect", "--store", str(filled.path), "--from", "2024-01-01"])
    assert res.exit_code == 2 and "no time zone" in res.output


def test_cli_bad_param_is_exit_2(filled: Store) -> None:
    from purgewatch.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["detect", "--store", str(filled.path), "--param", "nope=1"])
    assert exc.value.code == 2


def test_iso_formatting_agrees() -> None:
    from purgewatch.analysis.detect._event import iso, iso_many

    x = np.array([1.7e9, 1.7e9 + 0.5, 1.7e9 + 0.0004, 1.7e9 + 0.0006, 1666851763.123, 0.0])
    assert iso_many(x) == [iso(v) for v in x]
    assert iso(1666851763.0) == "2022-10-27T06:22:43Z"


def test_short_flat_series_with_one_step() -> None:
    # the noise is measured away from the step, so a clean step in a short series fires
    t = T0 + np.arange(20) * DAY
    y = np.r_[np.full(10, 1000.0), np.full(10, 900.0)]
    ev = events_for(t, y)
    assert [(e.kind, e.magnitude) for e in ev] == [("follower_drop", 100.0)]
    assert ev[0].start == t[9] and ev[0].end == t[10]


def test_tiny_inputs_do_not_fail() -> None:
    for n in range(0, 6):
        t = T0 + np.arange(n) * DAY
        assert events_for(t, np.full(n, 100.0)) == []


def test_threaded_chunks_give_the_serial_answer() -> None:
    from purgewatch.analysis.detect import DetectParams
    from purgewatch.analysis.detect._series import detect_arrays, prepare

    obs = _obs_rows(40, purge_at=70, drop=(5, 30, 0.1))
    ids = obs["account_id"].to_numpy(zero_copy_only=False)
    sid = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    t = obs["observed_at"].cast(pa.int64()).to_numpy() / 1e6
    y = obs["followers_count"].to_numpy().astype(np.float64)
    s2, t2, y2 = prepare(sid, t, y)
    p = DetectParams().series
    one = detect_arrays(s2, t2, y2, p, max_rows=500, threads=1)
    two = detect_arrays(s2, t2, y2, p, max_rows=500, threads=2)
    for a, b in zip(one, two, strict=True):
        assert len(a.first) > 0 or a is one[1]
        for k in a.__dict__:
            assert np.array_equal(getattr(a, k), getattr(b, k)), k


def test_a_burst_at_the_start_of_the_data_does_not_mask_itself() -> None:
    # Three days of history (too short for the trailing baseline) with 5 transitions in
    # three hours and none elsewhere: the fallback rate must not include the burst.
    from purgewatch.analysis.detect._scan import scan_bursts

    counts = np.zeros(72)
    np.add.at(counts, [38, 39, 39, 40, 41], 1)
    bursts = scan_bursts(counts, np.ones(72, dtype=bool), widths=[1, 2, 3, 6], baseline_bins=28 * 24,
                         min_count=5, min_ratio=3.0, llr_threshold=15.0)
    assert len(bursts) == 1
    assert bursts[0].start_bin <= 38 and bursts[0].stop_bin >= 42


# ---------------------------------------------------------------- real-data failure modes
def _interleaved(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readings every ~40 minutes of an 87k account, with another account's 25k readings
    slipped in (singly and in pairs) under the same key, as in the IRA series."""
    rng = np.random.default_rng(seed)
    n = 400
    t = T0 + np.cumsum(rng.uniform(0.3, 1.0, n)) * 3600.0
    y = np.round(87_000 + 2.0 * np.arange(n) + rng.normal(0, 2, n))
    other = np.zeros(n, dtype=bool)
    for at in (40, 90, 91, 150, 220, 221, 300, 350):
        other[at] = True
    y[other] = np.round(25_800 + rng.normal(0, 3, other.sum()))
    return t, y, other


def test_interleaved_readings_are_outliers_and_the_series_is_flagged_mixed() -> None:
    from purgewatch.analysis.detect import DetectParams
    from purgewatch.analysis.detect._run import outlier_listing
    from purgewatch.analysis.detect._series import detect_arrays, prepare

    t, y, other = _interleaved()
    assert events_for(t, y) == []                       # no 70 % "drop", no surge back
    sid, t2, y2 = prepare(np.zeros(len(t), dtype=np.int64), t, y)
    found: list[np.ndarray] = []
    detect_arrays(sid, t2, y2, DetectParams().series, outliers=found)
    assert set(found[0].tolist()) == set(np.flatnonzero(other).tolist())
    listing = outlier_listing(found[0], found[1], sid, t2, y2, [("x", "MaxDementiev")],
                              np.array([None], dtype=object), DetectParams().series)
    assert len(listing) == 1 and listing[0]["outliers"] == 8 and listing[0]["mixed"] is True
    first = listing[0]["listed"][0]
    assert first["followers"] < 26_000 and 86_000 < first["level"] < 88_000
    # one stray reading is an outlier, not a mixed series
    t, y, _ = _interleaved()
    y_one = np.round(87_000 + 2.0 * np.arange(len(t)))
    y_one[200] = 0
    found = []
    sid, t2, y2 = prepare(np.zeros(len(t), dtype=np.int64), t, y_one)
    detect_arrays(sid, t2, y2, DetectParams().series, outliers=found)
    listing = outlier_listing(found[0], found[1], sid, t2, y2, [("x", "a")],
                              np.array([None], dtype=object), DetectParams().series)
    assert [r["outliers"] for r in listing] == [1] and listing[0]["mixed"] is False


def test_a_change_undone_within_two_days_is_not_a_drop_but_a_lasting_one_is() -> None:
    t, y = organic(seed=7)
    dip = y.copy()
    # six readings about 30 % lower, all within a day and a half, then back
    t = t.copy()
    t[101:107] = t[100] + np.arange(1, 7) * 0.2 * DAY
    t[107:] = t[107:] - t[107] + t[106] + 0.3 * DAY + (t[107:] - t[107])
    dip[101:107] *= 0.7
    assert events_for(t, dip) == []
    lasting = y.copy()
    lasting[101:] -= 6_000
    ev = events_for(t, lasting)
    assert [e.kind for e in ev] == ["follower_drop"]


def test_magnitudes_are_whole_followers() -> None:
    t, y = organic(seed=2)
    y[120:] -= 1234.4
    ev = events_for(t, y)
    assert ev and all(float(e.magnitude).is_integer() for e in ev)
    assert isinstance(ev[0].to_json()["magnitude"], int)


def test_routine_follow_back_gains_do_not_flood_surges_but_an_exceptional_one_shows() -> None:
    rng = np.random.default_rng(3)
    n = 360
    t = T0 + np.arange(n) * DAY + rng.uniform(0, 0.2, n) * DAY
    steps = np.zeros(n)
    steps[rng.choice(np.arange(5, n - 5), 40, replace=False)] = rng.uniform(150, 250, 40)  # follow-back bursts
    y = np.round(10_000 + np.cumsum(steps) + rng.normal(0, 2, n))
    before = events_for(t, y, routine_min_steps=10**9)
    after = events_for(t, y)
    assert sum(e.kind == "follower_surge" for e in before) >= 20
    assert sum(e.kind == "follower_surge" for e in after) <= 3
    big = y.copy()
    big[250:] += 5_000                                   # twenty-five times the routine gain
    assert any(e.kind == "follower_surge" and e.start <= t[250] <= e.end + 1 for e in events_for(t, big))


def test_a_largest_day_at_two_and_a_half_times_the_rate_is_a_wave() -> None:
    # 200 suspensions a day for 60 days, then a day with 500: hundreds of accounts, the
    # largest day of the whole history, 2.5x the trailing rate (a fixed 3x ratio missed it)
    from purgewatch.analysis.detect import WaveParams
    from purgewatch.analysis.detect._waves import Transitions, find_waves

    rng = np.random.default_rng(0)
    times = [rng.uniform(T0 + d * DAY, T0 + (d + 1) * DAY, 500 if d == 50 else rng.poisson(200))
             for d in range(60)]
    tt = np.sort(np.concatenate(times))
    n = len(tt)
    tr = Transitions(np.arange(n), tt, tt - DAY, np.full(n, "suspension_wave", dtype=object),
                     np.full(n, "suspended", dtype=object))
    accounts = [("x", str(i)) for i in range(n)]
    groups = np.full(n, None, dtype=object)
    cov = (T0, T0 + 60 * DAY)

    def waves(p: WaveParams) -> list:
        return find_waves(tr, accounts, groups, cov, {None: n}, p)

    found = waves(WaveParams())
    hour = 3600.0  # bins are whole hours; T0 is not on one
    assert len(found) == 1 and T0 + 50 * DAY - hour <= found[0].start < found[0].end <= T0 + 51 * DAY + hour
    assert found[0].magnitude >= 250 and 0 < found[0].evidence["p_value"] < 1e-6
    # what the fixed 3x ratio did: at most a few hours' fragments of the day, never the day
    assert all(e.magnitude < 100 for e in waves(WaveParams(min_ratio=3.0)))


def test_a_regain_campaign_after_a_quiet_stretch_is_reported_surge_by_surge() -> None:
    # gains are "routine" only when the block before had them too: a campaign of six
    # gains after months of quiet growth is six surges, not one routine
    t, y = organic(n=400, seed=5)
    for k in range(6):
        y[200 + 8 * k:] += 800
    surges = [e for e in events_for(t, y) if e.kind == "follower_surge"]
    assert len(surges) == 6


def _transitions_of_every_reading(key: np.ndarray, time: np.ndarray, status: np.ndarray,
                                  is_event: np.ndarray) -> list[tuple[int, float, float, str, object]]:
    """What transitions() answered before it skipped the readings inside a run of one
    status: status_changes over every reading."""
    from purgewatch.model import REINSTATED, SUSPENDED, status_changes

    ch = status_changes(key, status, is_event)
    k, t = key[ch.index], time[ch.index]
    since = t.copy()
    since[1:] = np.where(k[1:] == k[:-1], t[:-1], t[1:])
    return [(int(k[i]), float(t[i]), float(since[i]), "suspension_wave" if d == SUSPENDED else "reinstatement_wave",
             ch.status[i]) for i, d in enumerate(ch.direction) if d in (SUSPENDED, REINSTATED)]


@pytest.mark.parametrize("seed", range(40))
def test_transitions_skipping_steady_runs_answers_as_over_every_reading(seed: int) -> None:
    from purgewatch.analysis.detect._waves import transitions

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    words = np.array(["active", "suspended", "takendown", "suspended_or_deleted", "deleted", "unknown", None],
                     dtype=object)
    # long steady runs (the case skipped) broken by changes, look-up failures and events
    runs = rng.integers(1, 30, size=n)
    status = np.repeat(words[rng.choice(len(words), size=n, p=[.4, .15, .05, .15, .1, .1, .05])], runs)
    key = np.sort(rng.integers(0, max(2, n // 20), size=len(status)))
    time = np.arange(len(status), dtype=np.float64)
    is_event = rng.random(len(status)) < 0.05
    tr = transitions(key, time, status, is_event)
    got = [(int(k), float(t), float(s), str(kind), st)
           for k, t, s, kind, st in zip(tr.key, tr.time, tr.since, tr.kind, tr.status, strict=True)]
    assert got == _transitions_of_every_reading(key, time, status, is_event)
