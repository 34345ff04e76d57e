"""Known-answer tests for `explain`: synthetic stores where the lost and gained sets,
each lost follower's fate and the overlaps with other watched accounts are known."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from purgewatch.analysis import explain as ex
from purgewatch.collect.resolve import fate_resolver
from purgewatch.errors import InputError, TransportError
from purgewatch.model import Observation
from purgewatch.store import Store
from purgewatch.store.snapshots import add_snapshot

T0 = datetime(2024, 5, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
H = timedelta(hours=1)

F = [f"f{i}" for i in range(1000)]


def _fact(table: str, acc: str, at: datetime, status: str) -> dict[str, Any]:
    key = "at" if table == "status_events" else "observed_at"
    return {"platform": "x", "account_id": acc, key: at, "status": status, "source": "test",
            "source_ref": f"{table}:{acc}"}


def _tbl(rows: list[dict[str, Any]]) -> pa.Table:
    keys = sorted({k for r in rows for k in r})
    return pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])


def _build(store: Store) -> None:
    """A (gov): 1000 followers; by T1 lost f0..f199 and gained g0..g49; by T2 gained 30 more.
    Fates of A's lost followers (known answer):
      f0..f99 suspended (profiles), f100..f119 takendown (status_events),
      f120..f139 deleted (observations), f140..f149 not_found (its own key),
      f150..f159 deactivated, f160..f189 active (-> unfollowed), f190..f199 unknown.
    B (opp) lost f0..f49 and its own o0..o49; C (media) lost only its own; D is not watched
    but lost f0..f199 too (must not appear in the overlap)."""
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="x", account_id="A", observed_at=T0, follower_ids=F)
        # A partial list in between: never used as one side of the diff.
        add_snapshot(w, platform="x", account_id="A", observed_at=T0 + 12 * H, follower_ids=F[:10], partial=True)
        gained = [f"g{i}" for i in range(50)]
        add_snapshot(w, platform="x", account_id="A", observed_at=T1, follower_ids=gained[::-1] + F[200:])
        add_snapshot(w, platform="x", account_id="A", observed_at=T2,
                     follower_ids=[f"r{i}" for i in range(30)] + gained[::-1] + F[200:])
        own = [f"o{i}" for i in range(50)]
        add_snapshot(w, platform="x", account_id="B", observed_at=T0 - 2 * H, follower_ids=F[:50] + own + F[500:800])
        add_snapshot(w, platform="x", account_id="B", observed_at=T1 + 2 * H, follower_ids=F[500:800])
        add_snapshot(w, platform="x", account_id="C", observed_at=T0, follower_ids=[f"c{i}" for i in range(40)])
        add_snapshot(w, platform="x", account_id="C", observed_at=T1, follower_ids=[f"c{i}" for i in range(30)])
        add_snapshot(w, platform="x", account_id="D", observed_at=T0, follower_ids=F)
        add_snapshot(w, platform="x", account_id="D", observed_at=T1, follower_ids=F[200:])
        later = T1 + 3 * H
        prof = [_fact("profiles", f"f{i}", later, "suspended") for i in range(100)]
        prof += [_fact("profiles", f"f{i}", later, "not_found") for i in range(140, 150)]
        prof += [_fact("profiles", f"f{i}", later, "deactivated") for i in range(150, 160)]
        prof += [_fact("profiles", f"f{i}", later, "active") for i in range(160, 190)]
        # f160 was suspended right after T0 and reinstated later: the latest status wins.
        prof.append(_fact("profiles", "f160", T0 + H, "suspended"))
        # f190 was suspended BEFORE the old snapshot: not evidence about this loss.
        prof.append(_fact("profiles", "f190", T0 - 24 * H, "suspended"))
        # f0's later failed look-up (unknown) must not hide its known suspension.
        prof.append(_fact("profiles", "f0", later + H, "unknown"))
        w.add("profiles", _tbl(prof))
        ev = [_fact("status_events", f"f{i}", T0 + 5 * H, "takendown") for i in range(100, 120)]
        w.add("status_events", _tbl(ev))
        obs = [_fact("observations", f"f{i}", later, "deleted") for i in range(120, 140)]
        obs.append({"platform": "x", "account_id": "A", "observed_at": T0 - H, "status": "active",
                    "followers_count": 1000, "source_ref": "obs:1"})
        obs.append({"platform": "x", "account_id": "A", "observed_at": T1 + H, "status": "active",
                    "followers_count": 850, "source_ref": "obs:2", "handle": "PresidentA"})
        w.add("observations", _tbl(obs))
        wl = [{"platform": "x", "account": a, "account_id": a, "group": g, "action": "add", "at": T0 - 48 * H}
              for a, g in (("A", "government"), ("B", "opposition"), ("C", "media"))]
        w.add("watchlist", _tbl(wl))


@pytest.fixture
def built(store: Store) -> Store:
    _build(store)
    return store


def test_lost_gained_fates_and_overlap(built: Store) -> None:
    res = ex.explain(built, "A", include_ids=True)
    assert res["lost"] == 200 and res["gained"] == 50
    assert res["lost_breakdown"] == {
        "suspended": 100, "takendown": 20, "deleted": 20, "deactivated": 10, "unfollowed": 30,
        "suspended_or_deleted": 0, "not_found": 10, "unknown": 10,
    }
    fates = {d["account_id"]: d["fate"] for d in res["lost_followers"]}
    assert set(fates) == {f"f{i}" for i in range(200)}
    assert fates["f160"] == "unfollowed" and fates["f190"] == "unknown" and fates["f0"] == "suspended"
    assert sorted(res["gained_followers"]) == sorted(f"g{i}" for i in range(50))
    # Overlap: only watched accounts (not D), with exact counts and Jaccard.
    assert [o["account_id"] for o in res["overlap"]] == ["B"]
    b = res["overlap"][0]
    assert b["shared_lost"] == 50 and b["their_lost"] == 100 and b["group"] == "opposition"
    assert b["jaccard"] == pytest.approx(50 / (200 + 100 - 50))
    assert res["verdict_numbers"]["lost_also_lost_by_other_watched"] == pytest.approx(0.25)
    # The partial snapshot was not used; the counts come from observations.
    snaps = res["evidence"]["snapshots"]
    assert [s["observed_at"] for s in snaps] == ["2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"]
    assert not any(s["partial"] for s in snaps)
    n = res["verdict_numbers"]
    assert n["count_drop"] == 150 and n["diff_net_drop"] == 150 and n["diff_accounts_for"] == pytest.approx(1.0)
    assert n["count_source"] == "observations"
    # 120 of 190 resolved were enforcement: 63%, Wilson lower bound > 50%.
    assert n["enforcement_share"] == pytest.approx(120 / 190, abs=1e-6)
    assert res["verdict"] == "platform_enforcement"
    assert res["group"] == "government"


def _drop_of_ambiguous_accounts(store: Store, n_ambiguous: int, n_seen_suspended: int, n_active: int) -> None:
    """M lost followers m0..: the first ``n_seen_suspended`` were read ``suspended`` (counts
    kept) and later ``suspended_or_deleted``; the next ``n_ambiguous`` only
    ``suspended_or_deleted``; the rest still active."""
    n = n_ambiguous + n_seen_suspended + n_active
    lost = [f"m{i}" for i in range(n)]
    keep = [f"k{i}" for i in range(200)]
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="x", account_id="M", observed_at=T0, follower_ids=lost + keep)
        add_snapshot(w, platform="x", account_id="M", observed_at=T1, follower_ids=keep)
        rows = [_fact("profiles", f"m{i}", T0 + 2 * H, "suspended") for i in range(n_seen_suspended)]
        rows += [_fact("profiles", f"m{i}", T1 + H, "suspended_or_deleted")
                 for i in range(n_seen_suspended + n_ambiguous)]
        rows += [_fact("profiles", f"m{i}", T1 + H, "active") for i in range(n_seen_suspended + n_ambiguous, n)]
        w.add("profiles", _tbl(rows))


def test_a_drop_of_suspended_or_deleted_accounts_is_no_enforcement_verdict(store: Store) -> None:
    _drop_of_ambiguous_accounts(store, n_ambiguous=70, n_seen_suspended=20, n_active=10)
    res = ex.explain(store, "M", platform="x")
    b = res["lost_breakdown"]
    # Seen suspended with counts, later suspended_or_deleted: still a suspension.
    assert b["suspended"] == 20 and b["suspended_or_deleted"] == 70 and b["unfollowed"] == 10
    assert res["verdict"] == "insufficient_data"
    assert res["verdict_numbers"]["enforcement_bounds"] == [20, 90]
    assert any("at least 20, at most 90" in r for r in res["evidence"]["reasons"])


def test_ambiguous_accounts_can_tip_no_drop_into_enforcement(store: Store) -> None:
    # 50 confirmed + 40 ambiguous of 100: enforcement would need the ambiguous ones.
    _drop_of_ambiguous_accounts(store, n_ambiguous=40, n_seen_suspended=50, n_active=10)
    res = ex.explain(store, "M", platform="x")
    assert res["lost_breakdown"]["suspended"] == 50
    assert res["verdict"] == "mixed"
    assert any("at least 50, at most 90" in r for r in res["evidence"]["reasons"])


def test_window_selects_bracketing_snapshots(built: Store) -> None:
    res = ex.explain(built, "A", start=T1 + H, end=T2 - H)
    # old = last complete <= from (T1), new = first complete >= to (T2)
    assert [s["observed_at"] for s in res["evidence"]["snapshots"]] == ["2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z"]
    assert res["lost"] == 0 and res["gained"] == 30
    assert res["verdict"] == "insufficient_data"


def test_handle_lookup_and_errors(built: Store) -> None:
    assert ex.explain(built, "@presidenta")["account_id"] == "A"
    with pytest.raises(InputError, match="no such account: 'nobody'"):
        ex.explain(built, "nobody")  # not "no follower snapshots": there is no such account
    with pytest.raises(InputError):
        ex.explain(built, "A", start=T2, end=T1)
    with pytest.raises(InputError):
        ex.explain(built, "A", start="2024-05-01T00:00:00")  # no zone


def test_explain_many_shares_work_and_is_symmetric(built: Store) -> None:
    res = {r["account_id"]: r for r in ex.explain_many(built, start=T0, end=T1)}
    assert set(res) == {"A", "B", "C"}
    a_b = next(o for o in res["A"]["overlap"] if o["account_id"] == "B")
    b_a = next(o for o in res["B"]["overlap"] if o["account_id"] == "A")
    assert a_b["shared_lost"] == b_a["shared_lost"] == 50
    assert a_b["jaccard"] == pytest.approx(b_a["jaccard"])
    assert res["C"]["overlap"] == [] and res["C"]["lost"] == 10


@pytest.mark.parametrize(
    ("breakdown", "expected"),
    [
        ({"suspended": 90, "takendown": 0, "deleted": 5, "deactivated": 0, "unfollowed": 5, "unknown": 0}, "platform_enforcement"),
        ({"suspended": 5, "takendown": 0, "deleted": 5, "deactivated": 0, "unfollowed": 90, "unknown": 0}, "mass_unfollow"),
        ({"suspended": 40, "takendown": 0, "deleted": 20, "deactivated": 0, "unfollowed": 40, "unknown": 0}, "mixed"),
        # 60% point estimate but too few to be sure the majority holds (Wilson lower < 50%)
        ({"suspended": 15, "takendown": 0, "deleted": 0, "deactivated": 0, "unfollowed": 10, "unknown": 0}, "mixed"),
        ({"suspended": 30, "takendown": 0, "deleted": 0, "deactivated": 0, "unfollowed": 0, "unknown": 70}, "insufficient_data"),
        ({"suspended": 10, "takendown": 0, "deleted": 0, "deactivated": 0, "unfollowed": 0, "unknown": 0}, "insufficient_data"),
    ],
)
def test_verdict_rules(breakdown: dict[str, int], expected: str) -> None:
    lost = sum(breakdown.values())
    verdict, numbers, reasons, _ = ex._verdict(lost, 0, breakdown, None, [], None)
    assert verdict == expected
    assert reasons


def test_low_coverage_caveat() -> None:
    b = {"suspended": 100, "takendown": 0, "deleted": 0, "deactivated": 0, "unfollowed": 0, "unknown": 0}
    _, numbers, _, caveats = ex._verdict(100, 0, b, 6000, [], None)
    assert numbers["diff_accounts_for"] == pytest.approx(100 / 6000, abs=1e-6)
    assert caveats


class FakeConnector:
    platform = "x"
    source = "fake-x"

    def __init__(self, fail: bool = False) -> None:
        self.asked: list[list[str]] = []
        self.fail = fail

    async def lookup(self, accounts: list[str]) -> list[Observation]:
        self.asked.append(list(accounts))
        if self.fail:
            raise TransportError("timeout")
        now = T2
        out = []
        for a in accounts:
            if a == "f191":  # the platform did not answer for this one
                out.append(Observation("x", a, now, "unknown", detail="HTTP 503", source="fake-x"))
            else:
                out.append(Observation("x", a, now, "suspended", source="fake-x", source_ref=f"https://api.x.com/2/users?ids={a}"))
        return out


def test_resolve_stores_evidence_and_never_counts_failures(built: Store) -> None:
    conn = FakeConnector()
    res = ex.explain(built, "A", resolve=fate_resolver(built, connector=conn))
    # Only the 10 unknown lost followers were asked, in one batch.
    assert sorted(sum(conn.asked, [])) == sorted(f"f{i}" for i in range(190, 200))
    assert res["lost_breakdown"]["suspended"] == 109 and res["lost_breakdown"]["unknown"] == 1
    assert res["evidence"]["resolve"]["answered"] == 9 and res["evidence"]["resolve"]["unknown"] == 1
    prof = built.read("profiles").to_pandas()
    stored = prof[prof["source"] == "fake-x"]
    assert len(stored) == 10 and set(stored[stored["account_id"] == "f191"]["status"]) == {"unknown"}
    # A connector that fails outright leaves the fates unknown and stores nothing.
    failing = FakeConnector(fail=True)
    res2 = ex.explain(built, "C", resolve=fate_resolver(built, connector=failing))
    assert res2["lost_breakdown"]["unknown"] == 10 and res2["evidence"]["resolve"]["failed"] == 10


def test_cli_explain_json(built: Store) -> None:
    from purgewatch.cli import cli

    r = CliRunner().invoke(cli, ["explain", "A", "--platform", "x", "--store", str(built.path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for key in ("lost", "gained", "lost_breakdown", "overlap", "verdict"):
        assert key in out
    assert set(out["lost_breakdown"]) == set(ex.FATES)
    r2 = CliRunner().invoke(cli, ["explain", "A", "--store", str(built.path)])
    assert r2.exit_code == 0 and "platform_enforcement" in r2.output
    r3 = CliRunner().invoke(cli, ["explain", "A", "--from", "2024-05-01", "--store", str(built.path)])
    assert r3.exit_code == 2 and "time zone" in r3.output


def test_resolve_through_the_bluesky_connector_offline(store: Store) -> None:
    """--resolve with the real Bluesky connector over httpx.MockTransport (PLATFORMS.md
    shapes): taken-down followers are dropped from getProfiles and named by getRepoStatus;
    a follower whose look-up fails (HTTP 503) stays unknown."""
    import httpx

    from purgewatch.collect.config import CollectConfig

    gone = [f"did:plc:s{i}" for i in range(40)]
    left = [f"did:plc:a{i}" for i in range(10)]
    broken = ["did:plc:x0"]
    stay = [f"did:plc:k{i}" for i in range(50)]
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="bluesky", account_id="did:plc:target", observed_at=T0,
                     follower_ids=gone + left + broken + stay)
        add_snapshot(w, platform="bluesky", account_id="did:plc:target", observed_at=T1, follower_ids=stay)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("app.bsky.actor.getProfiles"):
            actors = request.url.params.get_list("actors")
            return httpx.Response(200, json={"profiles": [
                {"did": a, "handle": a.split(":")[-1] + ".bsky.social"} for a in actors if a.startswith("did:plc:a")
            ]})
        did = request.url.params.get("did") or request.url.params.get("actor") or ""
        if did.startswith("did:plc:s") and path.endswith("com.atproto.sync.getRepoStatus"):
            return httpx.Response(200, json={"did": did, "active": False, "status": "takendown", "rev": "1"})
        return httpx.Response(503, text="upstream unavailable")

    cfg = CollectConfig(retries=0, backoff_base=0.0, timeout=5.0)
    res = ex.explain(store, "did:plc:target", resolve=fate_resolver(store, config=cfg, transport=httpx.MockTransport(handler)))
    assert res["lost"] == 51
    b = res["lost_breakdown"]
    assert b["takendown"] == 40 and b["unfollowed"] == 10 and b["unknown"] == 1
    assert res["verdict"] == "platform_enforcement"
    prof = store.read("profiles").to_pandas()
    known = prof[prof["status"] != "unknown"]
    assert set(prof["source"]) == {"bluesky"} and known["source_ref"].str.startswith("https://").all()
    assert prof.loc[prof["account_id"] == "did:plc:x0", "status"].tolist() == ["unknown"]


def test_wilson_interval_is_statsmodels_to_the_last_bit() -> None:
    """explain's Wilson bounds come from a plain-Python copy of statsmodels' arithmetic
    (so a fresh `explain` does not import SciPy): equal floats, not approximately equal."""
    import random

    from statsmodels.stats.proportion import proportion_confint

    from purgewatch.analysis._interval import wilson_interval

    rnd = random.Random(16)
    cases = [(k, n) for n in range(1, 120) for k in range(n + 1)]
    cases += [(rnd.randint(0, n), n) for n in (rnd.randint(120, 10**9) for _ in range(2000))]
    cases += [(0, 10**8), (10**8, 10**8), (1, 3_000_000_000)]
    for k, n in cases:
        lo, hi = proportion_confint(k, n, method="wilson")
        assert wilson_interval(k, n) == (float(lo), float(hi)), (k, n)


def _lists_without_profiles(store: Store) -> None:
    """A: 1000 followers, then 900 of them and 20 new; no profile of anyone."""
    with store.writer(command="test", source="test") as w:
        add_snapshot(w, platform="x", account_id="A", observed_at=T0, follower_ids=F)
        add_snapshot(w, platform="x", account_id="A", observed_at=T1,
                     follower_ids=[f"g{i}" for i in range(20)] + F[100:])


def _bot_section_the_long_way(store: Store, res: dict[str, Any]) -> dict[str, Any]:
    """The section computed from both decoded lists and their intersection, as explain
    did before it learned to skip that work."""
    import numpy as np

    from purgewatch.store import snapshots as snap

    old, new = (s["snapshot_id"] for s in res["evidence"]["snapshots"])
    remaining = np.intersect1d(snap.load_followers(store, old), snap.load_followers(store, new), assume_unique=True)
    lost_ids = [f["account_id"] for f in res["lost_followers"]]
    return ex.bot_likeness_section(store, "x", lost_ids, snap.sids_to_ids(store, "x", remaining).to_pylist())


def test_bot_likeness_without_stored_profiles_skips_the_lists_but_answers_the_same(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no profile read stored, explain neither decodes the remaining followers nor
    reads their ids (every score would be NaN), yet its section is the one the full
    computation gives, counts of remaining and sampled followers included; once a profile
    exists it takes the full path again, with the same answer as the long way."""
    from purgewatch.analysis import bots
    from purgewatch.store import snapshots as snap

    monkeypatch.setattr(ex, "BOT_REMAINING_SAMPLE", 50)  # so the 900 remaining are sampled
    _lists_without_profiles(store)
    assert not bots.has_profile_reads(store, "x")
    decoded: list[str] = []
    real_load = snap.load_followers

    def counting_load(st: Store, snapshot_id: str) -> Any:
        decoded.append(snapshot_id)
        return real_load(st, snapshot_id)

    monkeypatch.setattr(snap, "load_followers", counting_load)
    res = ex.explain(store, "A", platform="x", include_ids=True)
    assert decoded == []
    section = res["bot_likeness"]
    assert section["remaining"]["accounts"] == 900 and section["remaining"]["sampled"] == 50
    assert section["lost"]["accounts"] == 100 and section["finding"] == "insufficient_data"
    assert section == _bot_section_the_long_way(store, res)

    with store.writer(command="test", source="test") as w:  # one remaining follower's profile
        w.add("profiles", _tbl([{**_fact("profiles", "f500", T1, "active"), "followers_count": 3}]))
    assert bots.has_profile_reads(store, "x") and not bots.has_profile_reads(store, "x", ["f1", "f2"])
    decoded.clear()
    res = ex.explain(store, "A", platform="x", include_ids=True)
    assert decoded == [res["evidence"]["snapshots"][0]["snapshot_id"]]  # the old list only
    assert res["bot_likeness"] == _bot_section_the_long_way(store, res)


def test_fresh_explain_of_follower_lists_imports_no_scipy_statsmodels_or_ibis(store: Store) -> None:
    """What a user's `purgewatch explain ACCOUNT --platform x --ids --json` loads on a store
    of follower lists: none of the heavy libraries it does not use there (they cost a
    fresh process more than the diff itself)."""
    import subprocess
    import sys

    _lists_without_profiles(store)
    code = ("import sys; from purgewatch.cli import main\n"
            "try:\n    main(['explain', 'A', '--platform', 'x', '--ids', '--json', '--store', sys.argv[1]])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'statsmodels', 'ibis', 'sklearn'})\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["lost"] == 100
    assert "HEAVY []" in r.stderr, r.stderr[-2000:]
