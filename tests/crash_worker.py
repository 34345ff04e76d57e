"""A writer to be killed: commits a fixed, deterministic plan of batches through the library.

    python tests/crash_worker.py STORE --batches 60 [--compact-every 0] [--loop]

Batch k holds ``ROWS`` observation rows and, every third batch, one follower snapshot;
content depends only on k, so a re-run after a kill must add exactly the missing batches
(idempotent record keys and snapshot ids). Prints "ready" once imports are done so the
killer can aim at the work, not at interpreter start-up. With ``--loop`` it keeps going
past the plan (new content each batch) until killed: the reader-while-writer tests use it.
Used by tests/test_store_crash.py, tests/test_store_concurrency.py and benchmarks/crash.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from purgewatch.store import Store
from purgewatch.store.snapshots import add_snapshot

ROWS = 50
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SNAPSHOT_EVERY = 3


def observations(k: int) -> pa.Table:
    ids = [str(1_000_000 + (k * ROWS + i) % 700) for i in range(ROWS)]
    return pa.table(
        {
            "platform": ["x"] * ROWS,
            "account_id": ids,
            "observed_at": pa.array([T0 + timedelta(minutes=k, seconds=i) for i in range(ROWS)], pa.timestamp("us", tz="UTC")),
            "status": ["active"] * ROWS,
            "followers_count": pa.array([k * 10 + i for i in range(ROWS)], pa.int64()),
            "source_ref": [f"crash:{k}:{i}" for i in range(ROWS)],
        }
    )


def followers(k: int) -> list[str]:
    """The list of account ``k % 3`` at batch k: a drifting window of ids, newest first."""
    rng = np.random.default_rng(k)
    base = np.arange(k * 20, k * 20 + 2000)
    keep = base[rng.random(len(base)) > 0.02]
    return [str(10**17 + int(i)) for i in keep[::-1]]


def snapshot_account(k: int) -> str:
    return f"acc{k % SNAPSHOT_EVERY}"


def has_snapshot(k: int) -> bool:
    return k % SNAPSHOT_EVERY == 0


def resume_point(store: Store) -> int:
    """Where a resuming writer starts: two batches before the last one committed, so the
    re-run always re-sends some committed content (which must be skipped, not doubled)."""
    notes = [n for n in store.read("runs", columns=["note"])["note"].to_pylist() if n]
    done = [int(n.split()[1]) for n in notes if n.startswith("batch ")]
    return max(0, max(done, default=-1) - 1)


def run(
    store: Store, batches: int, compact_every: int, loop: bool, grace: float = 3600.0, resume: bool = False
) -> None:
    k = resume_point(store) if resume else 0
    while k < batches or loop:
        with store.writer(command="crash-test", source="crash-worker", lock_timeout=60) as w:
            while k < batches or loop:
                w.add("observations", observations(k))
                if has_snapshot(k):
                    add_snapshot(
                        w,
                        platform="x",
                        account_id=snapshot_account(k),
                        observed_at=T0 + timedelta(hours=k),
                        follower_ids=followers(k),
                        source_ref=f"crash:{k}",
                    )
                # Odd batches are written on the background thread (as file imports do),
                # so kills also land while one batch is written and the next prepared.
                if k % 2:
                    w.commit_in_background(note=f"batch {k}")
                else:
                    w.commit(note=f"batch {k}")
                k += 1
                if compact_every and k % compact_every == 0:
                    break
        if compact_every and (k < batches or loop):
            store.compact(lock_timeout=60, grace_seconds=grace)


def verify(path: str, *, complete_plan: int | None = None) -> dict[str, int]:
    """Check a store a killed writer left behind; raises AssertionError on any damage.

    Every committed batch is whole: for each run record, the rows carrying its batch_id
    in each table match the counts it recorded. No record is stored twice. With
    ``complete_plan`` the store must hold exactly that plan's batches."""
    import json

    import pyarrow.compute as pc

    from purgewatch.store import _layout
    from purgewatch.store.snapshots import list_snapshots, load_followers, sids_to_ids

    store = Store(path)
    gen = _layout.current_generation(store.path)

    def read(table: str, columns: list[str]) -> pa.Table:
        files = store.files(table, generation=gen)
        if not files:
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        import pyarrow.parquet as pq

        return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])

    for batch in _layout.committed_batches(gen):
        assert (batch / "runs.parquet").exists(), f"batch without a run record: {batch}"
    runs = read("runs", ["batch_id", "rows"])
    recorded = {b: json.loads(r) for b, r in zip(runs["batch_id"].to_pylist(), runs["rows"].to_pylist(), strict=True)}
    assert len(recorded) == runs.num_rows, "a run record is stored twice"
    counts: dict[str, int] = {}
    for table in ("observations", "snapshots"):
        t = read(table, ["batch_id", "record_key"])
        keys = t["record_key"].to_numpy() if t.num_rows else np.zeros(0)
        assert len(np.unique(keys)) == len(keys), f"duplicate {table} records"
        per_batch: dict[str, int] = {}
        if t.num_rows:
            vc = pc.value_counts(t["batch_id"]).to_pylist()
            per_batch = {d["values"]: d["counts"] for d in vc}
        for b, n in per_batch.items():
            assert b in recorded, f"{table} rows of batch {b} without a run record"
            assert recorded[b].get(table, 0) == n, f"batch {b}: {n} {table} rows, run says {recorded[b]}"
        for b, rows in recorded.items():
            assert per_batch.get(b, 0) == rows.get(table, 0), f"batch {b} lost {table} rows"
        counts[table] = t.num_rows
    accounts = read("accounts", ["sid", "platform", "account_id", "account_num"])
    sids = accounts["sid"].to_numpy() if accounts.num_rows else np.zeros(0)
    assert len(np.unique(sids)) == len(sids), "a surrogate id is assigned twice"
    # numeric ids are stored as integers (account_num), others as strings (account_id)
    ids = pc.coalesce(accounts["account_id"], accounts["account_num"].cast(pa.string())).to_pylist()
    assert None not in ids, "a catalogue row without an id"
    pairs = set(zip(accounts["platform"].to_pylist(), ids, strict=True))
    assert len(pairs) == accounts.num_rows, "an account has two sids"
    counts["accounts"] = accounts.num_rows
    counts["batches"] = len(recorded)
    if complete_plan is not None:
        assert counts["observations"] == complete_plan * ROWS, counts
        snaps = list_snapshots(store)
        planned = [k for k in range(complete_plan) if has_snapshot(k)]
        assert snaps.num_rows == len(planned), counts
        by_time = {m: s for m, s in zip(snaps["observed_at"].to_pylist(), snaps["snapshot_id"].to_pylist(), strict=True)}
        for k in planned:
            sid = by_time[T0 + timedelta(hours=k)]
            got = sids_to_ids(store, "x", load_followers(store, sid)).to_pylist()
            assert sorted(got) == sorted(followers(k)), f"snapshot of batch {k} differs"
    return counts


def serve(path: str) -> None:
    """Fork a fresh writer per request; the caller kills it by pid.

    Protocol on stdin/stdout: ``run BATCHES COMPACT_EVERY RESUME`` -> ``pid N`` then, once the
    writer ended, ``exit N CODE`` (CODE = -signal when killed). Forking after the imports
    makes each writer start in milliseconds, so many kills fit in a short test. Nothing
    here has started a thread before the fork (imports only), so the fork is safe."""
    for line in sys.stdin:
        cmd, batches, compact_every, resume = line.split()
        assert cmd == "run"
        pid = os.fork()
        if pid == 0:  # the writer
            code = 1
            try:
                store = Store.open(path, create=True)
                run(store, int(batches), int(compact_every), loop=False, resume=resume == "1")
                code = 0
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {pid} {code}", flush=True)


class Server:
    """Client side of :func:`serve`: start writers, kill them by pid, collect exit codes."""

    def __init__(self, store: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(store), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self._read() == ["ready"]

    def _read(self) -> list[str]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read() if self.proc.stderr else "worker died"
        return line.split()

    def start(self, batches: int, compact_every: int = 0, resume: bool = False) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {batches} {compact_every} {int(resume)}\n")
        self.proc.stdin.flush()
        word, pid = self._read()
        assert word == "pid"
        return int(pid)

    def wait(self, pid: int) -> int:
        word, got, code = self._read()
        assert (word, int(got)) == ("exit", pid)
        return int(code)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--compact-every", type=int, default=0)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--grace", type=float, default=3600.0, help="compaction grace seconds")
    ap.add_argument("--serve", action="store_true", help="fork writers on request (see serve)")
    args = ap.parse_args()
    if args.serve:
        print("ready", flush=True)
        serve(args.store)
        return
    store = Store.open(args.store, create=True)
    print("ready", flush=True)
    run(store, args.batches, args.compact_every, args.loop, args.grace)
    print("done", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
