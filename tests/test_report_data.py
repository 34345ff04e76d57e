"""Small evidence stores for the report, web and browser tests (built through the real
store writer), and tests that the findings adapter reads them faithfully."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from starlette.applications import Starlette

from purgewatch.findings import gather_findings
from purgewatch.model import TABLE_SCHEMAS
from purgewatch.report import ReportFiles, write_report
from purgewatch.store import Store
from purgewatch.web import create_app

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday; the wave hits on Thursday 5th
WAVE_AT = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
STEP = timedelta(hours=6)
REGAIN_AT = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # the regain campaign's burst (build_store(regain=...))
N_STEPS = 40

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.domain)",
    "\u202eevil\u202c reversed",
    "Minister 🇺🇳🔥 of Truth",
    "nul\x00byte",
    '=HYPERLINK("http://evil.invalid","click")',
]
LONG_BIO = ("A" * 4990) + "<script>window.__pwned=1</script>" + ("B" * 4977)

# (platform, account_id, handle, display_name, group, label, start followers, drop at wave,
#  suspended at the wave)
ACCOUNTS: list[tuple[str, str, str, str, str, str, int, int, bool]] = [
    ("x", "1001", "leader", "The Leader", "government", "head of state", 120_000, 6_000, False),
    ("x", "1002", "ministry_info", "Ministry of Information", "government", "ministry", 40_000, 900, True),
    ("x", "1003", "governor", HOSTILE_NAMES[0], "government", "governor", 15_000, 300, True),
    ("bluesky", "did:plc:gov4", "journo.bsky.social", HOSTILE_NAMES[1], "government", "journalist", 8_000, 150, False),
    ("x", "2001", "opp_leader", "Opposition Leader", "opposition", HOSTILE_NAMES[6], 90_000, 0, False),
    ("x", "2002", "javascript:alert(1)", HOSTILE_NAMES[3], "opposition", HOSTILE_NAMES[2], 20_000, 0, False),
    ("bluesky", "did:plc:opp3", "opp.bsky.social", HOSTILE_NAMES[4], "opposition", HOSTILE_NAMES[5], 5_000, 0, False),
]


def _obs_rows(regain: int = 0) -> list[dict[str, Any]]:
    rows = []
    for plat, aid, handle, name, _g, _l, base, drop, suspended in ACCOUNTS:
        for i in range(N_STEPS):
            t = T0 + i * STEP
            followers = base + 37 * i + (i % 3)  # slow organic growth
            status = "active"
            if t >= WAVE_AT:
                followers -= drop
                if suspended:
                    status = "suspended"
            if aid == "1001" and t >= REGAIN_AT:
                followers += regain  # a regain campaign's burst of new followers
            rows.append(
                {
                    "platform": plat,
                    "account_id": aid,
                    "observed_at": t,
                    "status": status,
                    "followers_count": None if status == "suspended" else followers,
                    "following_count": 100,
                    "posts_count": 1000 + i,
                    "handle": handle,
                    "display_name": name,
                    "description": LONG_BIO if aid == "1003" else f"bio of {name}",
                    "source": plat,
                    "source_ref": f"https://emulator.invalid/{plat}/lookup?id={aid}&t={i}",
                    "payload_hash": hashlib.sha256(f"{aid}:{i}".encode()).hexdigest(),
                }
            )
    return rows


def _status_rows() -> list[dict[str, Any]]:
    rows = []
    # a wave of 40 follower accounts suspended within an hour on Thursday afternoon
    for k in range(40):
        rows.append(
            {
                "platform": "x",
                "account_id": f"9{k:04d}",
                "at": WAVE_AT + timedelta(minutes=k),
                "status": "suspended",
                "source": "x-compliance",
                "source_ref": f"compliance.jsonl:{k + 1}",
                "payload_hash": hashlib.sha256(f"c{k}".encode()).hexdigest(),
            }
        )
    return rows


def _baseline_profiles() -> list[dict[str, Any]]:
    """An earlier 'active' sighting of each account the compliance feed later reports."""
    return [
        {
            "platform": "x", "account_id": f"9{k:04d}", "observed_at": T0 + timedelta(hours=1),
            "status": "active", "source": "x", "source_ref": f"https://emulator.invalid/x/users?id=9{k:04d}",
            "payload_hash": hashlib.sha256(f"b{k}".encode()).hexdigest(),
        }
        for k in range(40)
    ]


def _watch_rows() -> list[dict[str, Any]]:
    return [
        {
            "platform": plat,
            "account": aid,
            "account_id": aid,
            "group": group,
            "label": label,
            "action": "add",
            "at": T0 - timedelta(days=1),
            "source": "watchlist.csv",
            "source_ref": f"watchlist.csv:{n + 2}",
        }
        for n, (plat, aid, _h, _n, group, label, *_rest) in enumerate(ACCOUNTS)
    ]


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = TABLE_SCHEMAS[name]
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema if any(f.name in r for r in rows)}
    return pa.table({k: pa.array(v, schema.field(k).type) for k, v in cols.items()})


# The leader's follower lists: 600 before the wave; 200 gone after it (150 of them
# suspended, 50 still active = unfollowed); 400 brand-new accounts three days later.
N_FOLLOWERS, N_LOST, N_LOST_SUSPENDED, N_REGAIN = 600, 200, 150, 400
SNAP_TIMES = [T0 + timedelta(days=1), T0 + timedelta(days=2), WAVE_AT - timedelta(hours=3),
              WAVE_AT + timedelta(hours=4), WAVE_AT + timedelta(days=3)]


def _follower_ids() -> tuple[list[str], list[str], list[str]]:
    base = [str(5_000_000 + k) for k in range(N_FOLLOWERS)]          # oldest first
    lost = base[100 : 100 + N_LOST]
    regain = [str(6_000_000 + k) for k in range(N_REGAIN)]
    return base, lost, regain


def _profile_rows() -> list[dict[str, Any]]:
    base, lost, regain = _follower_ids()
    rows = []
    for k, fid in enumerate(base):
        suspended = fid in set(lost[:N_LOST_SUSPENDED])
        rows.append({
            "platform": "x", "account_id": fid, "observed_at": WAVE_AT + timedelta(hours=3),
            "status": "suspended" if suspended else "active",
            "created_at": datetime(2012, 1, 1, tzinfo=UTC) + timedelta(days=5 * k),
            "handle": f"follower{k}", "source": "x", "source_ref": f"https://emulator.invalid/x/users?id={fid}",
        })
    for k, fid in enumerate(regain):
        rows.append({
            "platform": "x", "account_id": fid, "observed_at": WAVE_AT + timedelta(days=3, hours=1),
            "status": "active", "created_at": WAVE_AT + timedelta(days=1, minutes=k),
            "handle": f"new{k}", "source": "x", "source_ref": f"https://emulator.invalid/x/users?id={fid}",
        })
    return rows


def build_store(path: Path, *, snapshots: bool = True, regain: int = 0) -> Store:
    """Two camps on two platforms; a Thursday-afternoon wave hits the government camp;
    with ``regain``, the leader gains that many followers at once on Sunday 8th."""
    store = Store.init(path)
    with store.writer(command="test", source="test") as w:
        w.add("watchlist", _table("watchlist", _watch_rows()))
        w.commit()
        w.add("observations", _table("observations", _obs_rows(regain)))
        w.commit()
        w.add("status_events", _table("status_events", _status_rows()))
        w.add("profiles", _table("profiles", _baseline_profiles()))
        w.commit()
        if snapshots:
            from purgewatch.store.snapshots import add_snapshot

            w.add("profiles", _table("profiles", _profile_rows()))
            base, lost, regain = _follower_ids()
            after = [f for f in base if f not in set(lost)]
            lists = [base[:-40], base, base, after, after + regain]
            for t, ids in zip(SNAP_TIMES, lists, strict=True):
                w.commit()
                add_snapshot(w, platform="x", account_id="1001", observed_at=t, follower_ids=ids[::-1],
                             source="x", source_ref=f"https://emulator.invalid/x/followers?id=1001&t={t:%s}")
    return store


# ---------------------------------------------------------------- shared fixtures
# Built once per test session and shared by the report, web and browser tests (imported
# there by name), because gathering every finding runs every analysis.
STAMP = "2026-11-29T10:00:00Z"


_SHARED: dict[str, Any] = {}  # fixtures imported into several modules are separate
                              # definitions to pytest; this makes them one object


@pytest.fixture(scope="session", name="full_store")
def fixture_full_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if "store" not in _SHARED:
        _SHARED["store"] = build_store(tmp_path_factory.mktemp("full") / "store")
    return _SHARED["store"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session", name="full_report")
def fixture_full_report(full_store: Store, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    if "report" not in _SHARED:
        _SHARED["report"] = write_report(full_store, tmp_path_factory.mktemp("full-report") / "out", generated_at=STAMP)
    return _SHARED["report"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session", name="full_app")
def fixture_full_app(full_store: Store) -> Starlette:
    if "app" not in _SHARED:
        _SHARED["app"] = create_app(full_store)
    return _SHARED["app"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return gather_findings(build_store(tmp_path_factory.mktemp("data") / "s", snapshots=False)).to_json()


def test_findings_cover_every_watched_account(findings: dict[str, Any]) -> None:
    f = findings
    assert [a["group"] for a in f["accounts"]] == sorted(a[4] for a in ACCOUNTS)
    assert {a["account_id"] for a in f["accounts"]} == {a[1] for a in ACCOUNTS}
    leader = next(a for a in f["accounts"] if a["account_id"] == "1001")
    assert leader["group"] == "government"
    assert leader["n_observations"] == N_STEPS
    assert leader["series"][0]["followers"] == 120_000
    assert leader["latest"]["followers"] == 120_000 + 37 * (N_STEPS - 1) + (N_STEPS - 1) % 3 - 6_000


def test_status_changes_counted_from_raw_rows(findings: dict[str, Any]) -> None:
    f = findings
    # 2 watched accounts suspended + 40 followers in the compliance feed
    assert f["summary"]["status_changes"]["suspended"] == 42
    assert sum(d["suspended"] for d in f["timeline"]) == 42
    assert {d["day"] for d in f["timeline"]} == {"2026-03-05"}
    gov = next(d for d in f["timeline"] if d["group"] == "government")
    assert gov["suspended"] == 2


def test_every_fact_ref_is_in_the_appendix(findings: dict[str, Any]) -> None:
    f = findings
    appendix = {r["ref"] for r in f["observations"]} | {r["ref"] for r in f["snapshots"]}
    assert f["facts"], "the summary registers its numbers"
    for fact in f["facts"]:
        assert set(fact["refs"]) <= appendix, fact["label"]
    for a in f["accounts"]:
        for p in a["series"]:
            assert p["ref"] in appendix


def test_window_and_group_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the analyses are not under test here: keep this one fast
    import purgewatch.findings._gather as gather

    monkeypatch.setattr(gather, "explain_drops", lambda *a: ([], "not available: not under test"))
    monkeypatch.setattr(gather, "compare_groups_of", lambda *a: ([], "not available: not under test"))
    monkeypatch.setattr(gather, "forensics_of", lambda *a: ([], "not available: not under test"))
    store = build_store(tmp_path / "s", snapshots=False)
    f = gather_findings(store, start="2026-03-06T00:00:00Z", groups=["opposition"]).to_json()
    assert {a["group"] for a in f["accounts"]} == {"opposition"}
    assert all(p["t"] >= "2026-03-06T00:00:00Z" for a in f["accounts"] for p in a["series"])
    assert f["summary"]["status_changes"]["suspended"] == 0  # the wave is before the window
    assert all(e["end"] >= "2026-03-06T00:00:00Z" for e in f["events"])
