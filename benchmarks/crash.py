"""Crash-safety proof, long version: SIGKILL a writer at many random moments.

    python benchmarks/crash.py                 # 200 kills
    python benchmarks/crash.py --kills 50 --max-delay 1.0

Each writer (forked by tests/crash_worker.py, imports done once) commits batches of
observation rows and follower snapshots through the library, and every few batches
compacts. It is killed after a random delay. After every kill the store must open,
every batch must be whole (row counts per table equal its run record), and no record
key or surrogate id may appear twice. At the end one clean run must complete the plan
with no duplicate. The short version of this is tests/test_store_crash.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import crash_worker  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--max-delay", type=float, default=0.6, help="seconds; kill moment ~ U(0, max)")
    ap.add_argument("--plan", type=int, default=5000, help="batches each writer tries to commit")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pw-crash-"))
    store = work / "store"
    server = crash_worker.Server(store)
    outcomes = {"killed": 0, "finished_before_kill": 0}
    batches_after_kill = []
    orphans = 0
    t0 = time.perf_counter()
    try:
        for i in range(args.kills):
            pid = server.start(args.plan, compact_every=rng.choice([0, 0, 3, 8]), resume=True)
            time.sleep(rng.uniform(0, args.max_delay))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            code = server.wait(pid)
            outcomes["killed" if code == -signal.SIGKILL else "finished_before_kill"] += 1
            if (store / "staging").exists():
                orphans += sum(1 for _ in (store / "staging").iterdir())
            if not (store / "STORE.json").exists():  # killed inside the first init
                assert not any(batches_after_kill), "the store marker vanished"
                batches_after_kill.append(0)
                continue
            counts = crash_worker.verify(str(store))
            if batches_after_kill:
                assert counts["batches"] >= batches_after_kill[-1], "a committed batch vanished"
            batches_after_kill.append(counts["batches"])
            if (i + 1) % 25 == 0:
                print(f"{i + 1} kills, {counts['batches']} batches committed, store consistent", flush=True)
        final_plan = max(batches_after_kill[-1], 1) + 20
        pid = server.start(final_plan)
        assert server.wait(pid) == 0
        final = crash_worker.verify(str(store), complete_plan=final_plan)
        elapsed = time.perf_counter() - t0
    finally:
        server.close()
    print(
        json.dumps(
            {
                "kills": args.kills,
                **outcomes,
                "staging_orphans_seen_after_kills": orphans,
                "batches_committed_before_final_run": batches_after_kill[-1],
                "final_plan_batches": final_plan,
                "final": final,
                "all_checks_passed": True,
                "seconds": round(elapsed, 1),
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
