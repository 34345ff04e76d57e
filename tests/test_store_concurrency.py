"""Readers while a writer commits (and compacts): never an error, counts never go down,
never a partial or doubled batch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

import crash_worker
from purgewatch.store import Store, _layout
from purgewatch.store.snapshots import list_snapshots, load_followers

WORKER = Path(__file__).with_name("crash_worker.py")
READ_SECONDS = 4.0


def _writer(store: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(store), "--loop", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _read_until(store_path: Path, proc: subprocess.Popen[str], seconds: float) -> dict[str, int]:
    """Read in a loop; every read must be consistent and never smaller than the last."""
    store = Store(store_path)
    last_rows = last_snaps = 0
    reads = ibis_reads = 0
    gens = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "writer died"
        t = store.read("observations", columns=["batch_id", "record_key"])
        n = t.num_rows
        assert n >= last_rows, f"observations went from {last_rows} to {n}"
        assert n % crash_worker.ROWS == 0, f"{n} rows: a partial batch is visible"
        if n:
            per_batch = pc.value_counts(t["batch_id"]).field("counts").to_numpy()
            assert (per_batch == crash_worker.ROWS).all(), "a batch is torn or doubled"
            keys = t["record_key"].to_numpy()
            assert len(np.unique(keys)) == n, "a record is visible twice"
        last_rows = n
        snaps = list_snapshots(store)
        assert snaps.num_rows >= last_snaps
        if snaps.num_rows:
            load_followers(store, snaps["snapshot_id"][-1].as_py())  # payload readable
        last_snaps = snaps.num_rows
        gens.add(_layout.current_generation(store_path).name)
        reads += 1
        if reads % 8 == 1:
            con = store.ibis()
            c = int(con.table("observations").count().execute())
            assert c >= last_rows and c % crash_worker.ROWS == 0
            last_rows = c
            ibis_reads += 1
    return {"reads": reads, "ibis_reads": ibis_reads, "rows": last_rows, "generations": len(gens)}


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=30)


@pytest.mark.timeout(120)
def test_readers_while_a_writer_commits(tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = _writer(store)
    try:
        seen = _read_until(store, proc, READ_SECONDS)
    finally:
        _stop(proc)
    assert seen["reads"] >= 5 and seen["rows"] > 0, seen
    crash_worker.verify(str(store))


@pytest.mark.timeout(120)
def test_readers_while_compaction_swaps_and_drops_generations(tmp_path: Path) -> None:
    store = tmp_path / "store"
    # Compact every 4 batches; replaced generations are deleted 3 s after replacement,
    # which is longer than any single read here: the grace rule in action.
    proc = _writer(store, "--compact-every", "4", "--grace", "3")
    try:
        seen = _read_until(store, proc, READ_SECONDS + 2)
    finally:
        _stop(proc)
    assert seen["generations"] >= 3, f"compaction did not run during the reads: {seen}"
    current = _layout.current_generation(store)
    on_disk = [g for g in (store / "gens").iterdir() if not g.name.startswith(".")]
    assert int(current.name[1:]) > len(on_disk), "no generation was deleted during the reads"
    # (With --grace 0 this test fails: a reader's files vanish under it. Hence the rule.)
    counts = crash_worker.verify(str(store))
    assert counts["observations"] >= seen["rows"]
