"""The report and compare keep suspended_or_deleted apart from enforcement (issue 10)."""

from __future__ import annotations

from pathlib import Path

from purgewatch.analysis.compare import compare_store
from purgewatch.findings import StatusCounts, gather_findings
from purgewatch.sources.files import import_files
from purgewatch.store import Store


def _store(store: Store, tmp_path: Path) -> Store:
    wl = tmp_path / "wl.csv"
    wl.write_text("platform,account,group\n" + "".join(
        f"mastodon,{i}@m.example,{'government' if i < 5 else 'opposition'}\n" for i in range(10)))
    rows = ["platform,account_id,observed_at,status,followers_count"]
    for i in range(10):
        rows.append(f"mastodon,{i}@m.example,2026-05-01T00:00:00Z,active,{100 + i}")
        # 0-2 gone without attribution, 3 suspended by a moderator (counts kept), the rest active
        later = {0: "suspended_or_deleted", 1: "suspended_or_deleted", 2: "suspended_or_deleted",
                 3: "suspended"}.get(i, "active")
        count = "" if later != "active" else str(100 + i)
        rows.append(f"mastodon,{i}@m.example,2026-05-02T00:00:00Z,{later},{count}")
    obs = tmp_path / "obs.csv"
    obs.write_text("\n".join(rows) + "\n")
    import_files(store, "watchlist", [wl])
    import_files(store, "observations", [obs])
    return store


def test_report_counts_suspended_or_deleted_apart(store: Store, tmp_path: Path) -> None:
    f = gather_findings(_store(store, tmp_path))
    assert f.summary.status_changes == StatusCounts(suspended=1, reinstated=0, suspended_or_deleted=3)
    text = " ".join(p if isinstance(p, str) else str(p.get("text", "")) for s in f.summary.sentences
                    for p in s)
    assert "suspended_or_deleted" in text and "never as suspensions" in text
    assert sum(d["suspended_or_deleted"] for d in f.timeline) == 3


def test_compare_has_its_own_outcome_and_never_counts_it_as_suspended(store: Store, tmp_path: Path) -> None:
    s = _store(store, tmp_path)
    susp = {g["group"]: g["outcome_count"] for g in compare_store(s, outcome="suspended", permutations=0)["groups"]}
    either = {g["group"]: g["outcome_count"] for g in
              compare_store(s, outcome="suspended_or_deleted", permutations=0)["groups"]}
    assert susp == {"government": 1, "opposition": 0}
    assert either == {"government": 3, "opposition": 0}
