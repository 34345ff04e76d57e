"""Detection on the real datasets (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from purgewatch.analysis.detect import Detector, detect, detect_series
from purgewatch.store import Store

pytestmark = pytest.mark.datasets


def _import(tmp_path: Path, datasets_dir: Path, name: str) -> Store:
    from purgewatch.sources.datasets import import_dataset

    store = Store.init(tmp_path / "store")
    import_dataset(store, name, datasets_dir)
    return store


def test_unsuspensions_mass_reinstatement_after_2022_10_27(tmp_path: Path, datasets_dir: Path) -> None:
    store = _import(tmp_path, datasets_dir, "unsuspensions-2022")
    waves = detect(store, kinds=["reinstatement_wave"])
    oct27 = datetime(2022, 10, 27, tzinfo=UTC).timestamp()
    first = waves[0]
    # the first reinstatement wave starts the day the tracker saw reversals begin
    assert oct27 <= first.start < oct27 + 86400
    assert first.magnitude >= 300 and first.evidence["baseline_per_day"] < 1
    # and the big November waves follow (the 2022-11-21 day of 2,001 reversals)
    nov21 = datetime(2022, 11, 21, tzinfo=UTC).timestamp()
    assert any(nov21 <= w.start < nov21 + 86400 and w.magnitude >= 1000 for w in waves)
    assert all(w.start >= oct27 for w in waves)  # nothing reinstated before the takeover


def test_wayback_sparse_growth_is_quiet(tmp_path: Path, datasets_dir: Path) -> None:
    store = _import(tmp_path, datasets_dir, "wayback-follower-history")
    events = detect(store, kinds=["follower_drop", "follower_surge"])
    fired = {e.account_id for e in events}
    # steady organic growers, TEN_GOP included (13 monthly captures, 22,894 -> 142,253)
    for quiet in ("TEN_GOP", "HillaryClinton", "katyperry", "ladygaga", "Oprah", "Twitter",
                  "maddow", "Docker", "PHDcomics", "Trevornoah"):
        assert quiet not in fired
    drops = [e for e in events if e.kind == "follower_drop"]
    # the only drop: megynkelly's archived count falling from ~990 to 1 (handle change)
    assert [e.account_id for e in drops] == ["megynkelly"]
    assert drops[0].relative == pytest.approx(1.0, abs=0.01)
    assert len(events) <= 6


def _ira_subset(datasets_dir: Path, rows: int = 250_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    df = pd.read_csv(datasets_dir / "ira-follower-series" / "follower_series.csv.gz", nrows=rows,
                     usecols=["author_id", "publish_date", "harvested_date", "followers"],
                     dtype={"author_id": str})
    when = df.harvested_date.fillna(df.publish_date)
    t = pd.to_datetime(when, utc=True).to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1e3
    codes, names = pd.factorize(df.author_id)
    return codes, t, df.followers.to_numpy(dtype=np.float64), [("x", a) for a in names]


def test_ira_drops_are_visible_in_the_readings(datasets_dir: Path) -> None:
    sid, t, y, accounts = _ira_subset(datasets_dir)
    events = detect_series(sid, t, y, accounts, purge=False)
    kinds = {e.kind for e in events}
    assert kinds == {"follower_drop", "follower_surge"}
    for e in events:
        ev = e.evidence
        times = np.array([datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()
                          for x in ev["observed_at"]])
        vals = np.array(ev["followers"], dtype=float)
        before = vals[times <= e.start + 1e-3]
        after = vals[times >= e.end - 1e-3]
        assert len(before) and len(after)
        if e.kind == "follower_drop":
            assert after.min() < before.max()
            assert 0 < e.magnitude <= before.max()
        else:
            assert after.max() > before.min()
        assert e.end > e.start
        if ev["level_before"] > 0:
            assert e.relative is not None and e.relative >= 0.005
        else:  # a new account going from 0: no relative size
            assert e.relative is None and e.kind == "follower_surge"


def test_ira_incremental_equals_batch(datasets_dir: Path, store: Store) -> None:
    sid, t, y, accounts = _ira_subset(datasets_dir, rows=120_000)
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table({
        "platform": ["x"] * len(sid),
        "account_id": [accounts[i][1] for i in sid],
        "observed_at": pa.array((t * 1e6).astype(np.int64), ts),
        "status": ["active"] * len(sid),
        "followers_count": y.astype(np.int64),
    })
    with store.writer(command="test", source="test") as w:
        w.add("observations", table)
    batch = [e.to_json() for e in detect(store, kinds=["follower_drop", "follower_surge", "purge"])]
    det = Detector()
    order = np.argsort(t, kind="stable")
    table = table.take(pa.array(order))
    for chunk in np.array_split(np.arange(table.num_rows), 6):
        det.update(observations=table.take(pa.array(chunk)))
    inc = [e.to_json() for e in det.events({"follower_drop", "follower_surge", "purge"})]
    assert len(batch) > 20
    assert inc == batch
    assert det.late_rows == 0
    assert Path(store.path).exists()


def test_ira_interleaved_handles_are_outliers_not_headline_drops(datasets_dir: Path) -> None:
    # MaxDementiev's readings interleave two accounts (87,266 -> 25,837 -> 87,266 within
    # minutes) and todayinsyria's dip to 137 between 10,660s: not drops, outliers; the
    # first series is flagged mixed.
    from purgewatch.analysis.detect import DetectParams
    from purgewatch.analysis.detect._run import outlier_listing
    from purgewatch.analysis.detect._series import detect_arrays, prepare

    df = pd.read_csv(datasets_dir / "ira-follower-series" / "follower_series.csv.gz",
                     usecols=["author_id", "publish_date", "harvested_date", "followers"],
                     dtype={"author_id": str})
    df = df[df.author_id.isin(["MaxDementiev", "todayinsyria"])]
    when = df.harvested_date.fillna(df.publish_date)
    t = pd.to_datetime(when, utc=True).to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1e3
    codes, names = pd.factorize(df.author_id)
    accounts = [("x", a) for a in names]
    events = detect_series(codes, t, df.followers.to_numpy(dtype=np.float64), accounts, purge=False)
    drops = [e for e in events if e.kind == "follower_drop"]
    assert all((e.relative or 0) < 0.5 for e in drops), [(e.account_id, e.magnitude) for e in drops]
    assert all(float(e.magnitude).is_integer() for e in events)
    sid, t2, y2 = prepare(codes, t, df.followers.to_numpy(dtype=np.float64))
    found: list[np.ndarray] = []
    p = DetectParams().series
    detect_arrays(sid, t2, y2, p, outliers=found)
    listing = {r["account_id"]: r for r in outlier_listing(found[0], found[1], sid, t2, y2, accounts,
                                                           np.full(len(accounts), None, dtype=object), p)}
    assert listing["MaxDementiev"]["mixed"] and listing["MaxDementiev"]["outliers"] >= 20
    assert listing["todayinsyria"]["outliers"] >= 3
    assert any(r["followers"] == 137 for r in listing["todayinsyria"]["listed"])
