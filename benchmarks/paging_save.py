"""Cost of saving follower paging progress, like for like against the old way in the same run.

    python benchmarks/paging_save.py                     # 500 pages of 1,000 ids, both ways
    python benchmarks/paging_save.py --pages 100 --which new

The collector saves a listing's progress after every page (``on_page``) so that a killed
listing resumes mid-list. Two ways of saving, each fed the same growing ``PagingState``
(X-like 19-digit ids, a new cursor per page), one save per page:

* **old** (baseline): what ``PagingStore.save`` did up to 0.x: the whole state as JSON
  through ``write_json_atomic`` (temporary file, fsync, rename) after every page, so
  page k writes k pages of ids and the total grows with the square of the list length.
* **new**: ``PagingStore.save`` as it is now: a journal line per page (that page's ids),
  fsync'd every ``SYNC_EVERY_PAGES`` pages or ``SYNC_EVERY_SECONDS`` seconds.

Printed per way: wall and CPU time (``time.process_time``) for all pages, the bytes
written (sum over saves of what each wrote) and the bytes of the last save, and whether
``PagingStore.load`` (for new) gives back the full state. The machine is shared: the load
average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from purgewatch.collect.state import PagingStore, write_json_atomic
from purgewatch.sources.protocol import PagingState


def _pages(n_pages: int, per_page: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [[str(rng.randrange(10**18, 2 * 10**18)) for _ in range(per_page)] for _ in range(n_pages)]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_old(root: Path, pages: list[list[str]]) -> tuple[float, float, int, int]:
    state = PagingState("x", "12345", datetime(2026, 1, 1, tzinfo=UTC), source_ref="https://api.x.com/2/users/12345/followers")
    path = root / "old" / "state.json"
    written = last = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for i, ids in enumerate(pages):
        state.follower_ids.extend(ids)
        state.pages += 1
        state.cursor = f"cursor{i + 1}"
        write_json_atomic(path, state.to_json())
        last = path.stat().st_size
        written += last
    return time.perf_counter() - w0, time.process_time() - c0, written, last


def run_new(root: Path, pages: list[list[str]]) -> tuple[float, float, int, int, bool]:
    store = PagingStore(root / "new")
    state = PagingState("x", "12345", datetime(2026, 1, 1, tzinfo=UTC), source_ref="https://api.x.com/2/users/12345/followers")
    written = last = 0
    before = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for i, ids in enumerate(pages):
        state.follower_ids.extend(ids)
        state.pages += 1
        state.cursor = f"cursor{i + 1}"
        store.save(state)
        size = _size(root / "new")
        last = size - before
        written += last
        before = size
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    back = PagingStore(root / "new").load("x", "12345")
    return wall, cpu, written, last, back == state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--ids", type=int, default=1000, help="ids per page")
    ap.add_argument("--which", choices=["old", "new", "both"], default="both")
    args = ap.parse_args()
    pages = _pages(args.pages, args.ids)
    print(f"saving {args.pages} pages of {args.ids} ids, one save per page; load before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        if args.which in ("new", "both"):
            wall, cpu, written, last, ok = run_new(root, pages)
            print(f"new  journal        wall {wall:8.2f} s  cpu {cpu:8.2f} s  written {written / 1e6:9.1f} MB  "
                  f"last save {last / 1e3:8.1f} kB  reloads equal: {ok}")
        if args.which in ("old", "both"):
            wall, cpu, written, last = run_old(root, pages)
            print(f"old  whole JSON     wall {wall:8.2f} s  cpu {cpu:8.2f} s  written {written / 1e6:9.1f} MB  "
                  f"last save {last / 1e3:8.1f} kB")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
