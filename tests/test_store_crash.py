"""Crash safety: a writer killed with SIGKILL at random moments never leaves a torn or
duplicated record, and a re-run completes the plan exactly once.

The writers are forked by tests/crash_worker.py (imports done once), so 20+ kills fit
in a few seconds. The longer version (more kills, bigger batches) is benchmarks/crash.py."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

import crash_worker

KILLS = 21
PLAN = 400  # more batches than a run has time for: every kill lands mid-plan


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = crash_worker.Server(tmp_path / "store")
    yield srv
    srv.close()


def test_sigkill_at_random_moments_leaves_only_whole_batches(tmp_path: Path, server: crash_worker.Server) -> None:
    store = tmp_path / "store"
    rng = random.Random(20261129)
    seen = []
    for i in range(KILLS):
        # Every third writer also compacts now and then: kills land inside compaction too.
        pid = server.start(PLAN, compact_every=5 if i % 3 == 2 else 0, resume=True)
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(pid, signal.SIGKILL)
        assert server.wait(pid) == -signal.SIGKILL, "the writer ended before the kill"
        if not (store / "STORE.json").exists():
            # Killed inside the very first init: nothing can have been committed, and
            # the next writer must be able to finish the init (not refuse the dir).
            assert not any(seen)
            seen.append(0)
            continue
        counts = crash_worker.verify(str(store))  # opens the store; whole batches only
        seen.append(counts["batches"])
    assert seen[-1] > 0, "no batch was ever committed: every kill came too early"
    assert seen == sorted(seen), "a committed batch disappeared after a later kill"
    # A clean re-run from the start completes the plan with no duplicate.
    plan = seen[-1] + 10
    pid = server.start(plan)
    assert server.wait(pid) == 0
    assert crash_worker.verify(str(store), complete_plan=plan)["batches"] == plan
    assert not any((store / "staging").iterdir()), "the clean writer left staging dirs"


def test_rerun_after_kill_adds_exactly_the_missing_batches(tmp_path: Path, server: crash_worker.Server) -> None:
    store = tmp_path / "store"
    plan = 40
    pid = server.start(plan)
    time.sleep(0.25)
    os.kill(pid, signal.SIGKILL)
    assert server.wait(pid) == -signal.SIGKILL
    before = crash_worker.verify(str(store))
    assert before["batches"] < plan
    for _ in range(2):  # the second re-run finds everything stored and adds nothing
        pid = server.start(plan)
        assert server.wait(pid) == 0
        assert crash_worker.verify(str(store), complete_plan=plan)["batches"] == plan
