"""Dataset loaders on the real data (skipped where ../shared/datasets is absent)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from _cli import run
from purgewatch.errors import ConfigError, InputError
from purgewatch.sources.datasets import DATASETS, import_dataset
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist

pytestmark = pytest.mark.datasets


def test_unknown_dataset_and_missing_dir(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PURGEWATCH_DATASETS", raising=False)
    with pytest.raises(InputError, match="unknown dataset"):
        import_dataset(store, "nope", tmp_path)
    with pytest.raises(ConfigError):
        import_dataset(store, "cresci-2017")
    with pytest.raises(InputError, match="not found"):
        import_dataset(store, "cresci-2017", tmp_path)


def test_ira_follower_series(store: Store, datasets_dir: Path) -> None:
    # The first 200k of 2.46M rows keep this test quick on a shared machine; the full
    # import is timed by benchmarks/import_speed.py.
    t0 = time.perf_counter()
    rep = import_dataset(store, "ira-follower-series", datasets_dir, limit=200_000)
    elapsed = time.perf_counter() - t0
    assert rep.rows_read == 200_000
    obs = store.read("observations", columns=["account_id", "observed_at", "followers_count",
                                                "source", "source_ref"])
    # exact duplicate rows (same account, minute and counts) are stored once
    assert obs.num_rows == rep.imported and rep.imported + rep.duplicates == rep.rows_read
    ten = obs.filter(pc.equal(obs["account_id"], "10_gop")).to_pylist()
    first = min(ten, key=lambda r: r["observed_at"])
    assert first["observed_at"] == datetime(2017, 9, 7, 19, 52, tzinfo=UTC)
    assert first["source"] == "dataset:ira-follower-series"
    assert first["source_ref"] == "ira-follower-series/follower_series.csv.gz:2"
    groups = {r["account"]: r["group"] for r in current_watchlist(store).to_pylist()}
    assert groups["10_gop"] == "RightTroll" and len(groups) == 2856
    assert elapsed < 30  # generous: shared CI machines; the benchmark measures speed


def test_ira_reimport_idempotent_slice(store: Store, datasets_dir: Path) -> None:
    a = import_dataset(store, "ira-follower-series", datasets_dir, limit=20_000)
    b = import_dataset(store, "ira-follower-series", datasets_dir, limit=20_000)
    assert a.imported > 19_000 and b.imported == 0
    assert store.read("watchlist").num_rows == 2856  # the watchlist is not re-added


def test_cresci(store: Store, datasets_dir: Path) -> None:
    rep = import_dataset(store, "cresci-2017", datasets_dir)
    assert rep.rows_read == 14_368 and rep.imported == 14_368
    prof = store.read("profiles")
    labels = dict(zip(*pc.value_counts(prof["label"]).flatten(), strict=True))
    labels = {k.as_py(): v.as_py() for k, v in labels.items()}
    assert labels["genuine_accounts"] == 3474 and labels["fake_followers"] == 3351
    assert labels["social_spambots_2"] == 3457
    # Java-millisecond created_at of traditional_spambots_1 became a real time
    trad = prof.filter(pc.equal(prof["label"], "traditional_spambots_1"))
    assert trad["created_at"].null_count == 0
    assert pc.min(trad["created_at"]).as_py().year >= 2006


def test_voterfraud(store: Store, datasets_dir: Path) -> None:
    rep = import_dataset(store, "voterfraud2020", datasets_dir)
    assert rep.imported == 59_018
    prof = store.read("profiles")
    counts = {k.as_py(): v.as_py() for k, v in zip(*pc.value_counts(prof["status"]).flatten(), strict=True)}
    assert set(counts) == {"suspended", "not_found"}
    assert pc.all(pc.equal(prof["observed_at"], prof["observed_at"][0])).as_py()
    assert prof["observed_at"][0].as_py() == datetime(2021, 1, 10, tzinfo=UTC)
    nf = prof.filter(pc.equal(prof["status"], "not_found"))
    assert set(nf["status_raw"].to_pylist()) == {"deleted"}
    wl = current_watchlist(store)
    groups = {k.as_py(): v.as_py() for k, v in zip(*pc.value_counts(wl["group"]).flatten(), strict=True)}
    assert groups["community_0"] == 3582 + 3461 and groups["community_1"] == 22524 + 8858
    assert groups["community_none"] == 3401 + 3143
    labels = set(wl.filter(pc.equal(wl["group"], "community_0"))["label"].to_pylist())
    assert labels == {"detractor"}


def test_unsuspensions(store: Store, datasets_dir: Path) -> None:
    rep = import_dataset(store, "unsuspensions-2022", datasets_dir, limit=4)
    ev = sorted(store.read("status_events").to_pylist(), key=lambda r: (r["account_id"], r["at"]))
    # first rows: 7792422 (reversal only), 15230646 (both), 19293504 (reversal), 20414662 (both)
    assert rep.tables["status_events"] == 6
    assert rep.tables["status_counts"] == 4  # and the first 4 days of the daily totals
    by = [(r["account_id"], r["status"], int(r["at"].timestamp())) for r in ev]
    assert ("15230646", "suspended", 1666796097) in by and ("15230646", "active", 1666840459) in by
    assert ("7792422", "active", 1666851763) in by
    assert all(r["source"] == "dataset:unsuspensions-2022" for r in ev)


def test_unsuspensions_daily_totals_show_the_mass_reinstatement(store: Store, datasets_dir: Path) -> None:
    """The tracker's published daily totals (report_daily_totals.csv) load as
    status_counts and, scanned on their own, show the reinstatement waves its per-account
    rows show: 2022-11-08 on (after a fortnight of tens a day) and 2,001 on 2022-11-21."""
    from datetime import UTC, datetime

    from purgewatch.analysis.detect import detect

    import_dataset(store, "unsuspensions-2022", datasets_dir)
    totals = store.read("status_counts")
    assert totals.num_rows == 262
    first = totals.sort_by("period_start").slice(0, 1).to_pylist()[0]
    assert (first["count"], first["kind"], first["period_start"].isoformat()) == (
        122, "reinstatement", "2022-10-27T00:00:00+00:00")
    assert (first["period_end"] - first["period_start"]).total_seconds() == 86400
    assert first["source_ref"] == "unsuspensions-2022/report_daily_totals.csv:2"
    waves = detect(store, kinds=["reinstatement_wave", "suspension_wave"])
    from_totals = [w for w in waves if w.evidence.get("basis") == "published_totals"]
    assert from_totals and all(w.kind == "reinstatement_wave" for w in from_totals)
    day = 86400.0
    nov8 = datetime(2022, 11, 8, tzinfo=UTC).timestamp()
    nov21 = datetime(2022, 11, 21, tzinfo=UTC).timestamp()
    first_wave = min(from_totals, key=lambda w: w.start)
    assert first_wave.start == nov8 and first_wave.magnitude >= 1000  # 305, 499, 660, ... a day
    assert any(w.start <= nov21 < w.end and w.magnitude >= 2001 for w in from_totals)
    # the per-account rows agree: a wave from the accounts starts the same day
    per_account = [w for w in waves if w.evidence.get("basis") != "published_totals"]
    assert any(nov8 <= w.start < nov8 + day for w in per_account)


def test_nbc_and_wayback(store: Store, datasets_dir: Path) -> None:
    nbc = import_dataset(store, "nbc-ira-users", datasets_dir)
    assert nbc.imported == 454
    prof = store.read("profiles")
    assert set(prof["status"].to_pylist()) == {"suspended"}
    assert "srahSE" in prof["account_id"].to_pylist()  # handle-only rows keyed by handle
    wb = import_dataset(store, "wayback-follower-history", datasets_dir)
    obs = store.read("observations")
    assert wb.rows_read == 2347 and obs.num_rows == wb.imported  # incl. a repeated header row
    assert set(obs["source"].to_pylist()) == {"web-archive"}
    ten = obs.filter(pc.equal(obs["account_id"], "TEN_GOP")).to_pylist()
    first = min(ten, key=lambda r: r["observed_at"])
    assert first["observed_at"] == datetime(2016, 8, 3, 18, 9, 59, tzinfo=UTC)
    assert first["source_ref"] == "http://web.archive.org/web/20160803180959/https://twitter.com/TEN_GOP"


def test_cli_datasets(store: Store, datasets_dir: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURGEWATCH_DATASETS", str(datasets_dir))
    assert run(["datasets", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["datasets"]
    assert {d["name"] for d in listed} == set(DATASETS)
    ira = next(d for d in listed if d["name"] == "ira-follower-series")
    assert ira["licence"] == "MIT" and ira["local_copy"]
    assert run(["datasets", "import", "nbc-ira-users", "--store", str(store.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 454
    assert run(["datasets", "import", "nope", "--store", str(store.path)]) == 2
