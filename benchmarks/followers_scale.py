"""Follower lists at twitter-watch scale: thousands of watched accounts, diffed daily.

    python benchmarks/followers_scale.py                  # 5,000 accounts, 1e8 edges, 30 days
    python benchmarks/followers_scale.py --scale 0.01     # a quick check (1% of the sizes)

twitter-watch diffed the follower lists of about 5,000 seed accounts every day. This
generates that in process and ingests it through the library (``add_snapshot``) with
one writer held for the whole run, as ``purgewatch watch`` holds one (it keeps the id
catalogue's hash table and each account's latest list from day to day), committing at
the end of each day; ``--writer-per-day`` opens one per day instead (a cron job: the
catalogue and the previous lists are read back from the store every day):

* ``--accounts`` watched accounts with heavy-tailed audiences (Zipf over rank, the largest
  ``--largest`` followers, most under 10k), ``--edges`` follower slots in all, drawn from
  a shared population of ``--population`` X-like ids with skewed popularity (a follower's
  weight falls with its rank), so audiences overlap;
* ``--days`` daily snapshots; each day a wave suspends a slice of the population (they
  leave every list they were on), unfollows top each list's loss up to ``--churn``, and as
  many new followers arrive; the fates of the day's lost followers are stored as
  ``profiles`` rows (suspended, or active = unfollowed);
* measured per day: ingest wall and CPU time, store size, peak RSS (goal <= 60 s per day,
  <= 4 GB); on the last day, the daily question "which watched accounts lost followers
  today, how many, and to what fates" answered from the store alone (goal <= 5 s), in
  this process and in a fresh one (as a user asking it meets it; with and without its
  imports; both answers must agree).

``--scale`` multiplies accounts, edges, population and the largest audience. The output
directory is deleted at the end (``--keep`` to keep it). The machine is shared: the load
average is printed with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from purgewatch.model import TS
from purgewatch.store import BatchWriter, Store
from purgewatch.store import snapshots as snap

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def zipf_sizes(n: int, total: int, largest: int) -> np.ndarray:
    """Audience sizes ``largest * rank**-a`` with ``a`` chosen so they sum to ``total``."""
    ranks = np.arange(1, n + 1, dtype=np.float64)
    lo, hi = 0.01, 5.0
    for _ in range(60):
        a = (lo + hi) / 2
        if (largest * ranks**-a).sum() > total:
            lo = a
        else:
            hi = a
    return np.maximum((largest * ranks**-a).astype(np.int64), 10)


class Population:
    """X-like ids with skewed popularity: the follower of rank r (0-based) is drawn with
    probability about proportional to (r + 1)**-0.5, by inverting its CDF (r = n * u**2),
    so drawing needs no table. Indices are int32 (the population is below 2**31).

    The ids are distinct without a uniqueness pass (which, over 3e7 random draws, took a
    few GB) and are not stored: rank r's id is ``(r * odd mod 2**61) + 10**9`` with a
    random odd multiplier, a bijection of the ranks scattered over 61 bits."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.odd = np.uint64(int(rng.integers(2**40, 2**61)) | 1)
        self.n = n
        self.rng = rng

    def ids(self, idx: np.ndarray) -> np.ndarray:
        """The X-like ids (uint64) of population indices."""
        out = idx.astype(np.uint64)
        with np.errstate(over="ignore"):
            out *= self.odd
        out &= np.uint64(2**61 - 1)
        out += np.uint64(10**9)
        return out

    def draw(self, k: int, banned: tuple[np.ndarray, ...] = ()) -> np.ndarray:
        """``k`` distinct population indices, skewed to popular ones, none where one of
        the boolean (population-sized) ``banned`` masks is set."""
        out = np.zeros(0, dtype=np.int32)
        while len(out) < k:
            want = int((k - len(out)) * 1.3) + 16
            u = self.rng.random(want)
            cand = np.minimum((self.n * u * u).astype(np.int64), self.n - 1).astype(np.int32)
            for mask in banned:
                cand = cand[~mask[cand]]
            out = np.unique(np.concatenate([out, cand]))
        return self.rng.permutation(out)[:k]


def store_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in (root / "current").resolve().rglob("*.parquet"))


def daily_question(store: Store, day: datetime) -> dict[str, Any]:
    """Which watched accounts lost followers between yesterday's and today's snapshots,
    how many, and to what fates (latest stored status of each lost follower after
    yesterday's snapshot). From the store alone."""
    meta = snap.list_snapshots(store, "x")
    at = meta["observed_at"].to_numpy()
    today = np.datetime64(day.replace(tzinfo=None), "us")
    yesterday = np.datetime64((day - timedelta(days=1)).replace(tzinfo=None), "us")
    acc = meta["account_id"].to_numpy(zero_copy_only=False)
    ids = meta["snapshot_id"].to_numpy(zero_copy_only=False)
    new = {a: s for a, s, t in zip(acc, ids, at, strict=True) if t == today}
    old = {a: s for a, s, t in zip(acc, ids, at, strict=True) if t == yesterday}
    owners, lost = [], []
    names = sorted(set(new) & set(old))
    diffs = snap.diff_many(store, [(old[a], new[a]) for a in names], complete=True)
    for i, d in enumerate(diffs):
        owners.append(np.full(len(d.removed), i, dtype=np.int64))
        lost.append(d.removed)
    owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    sids = np.concatenate(lost) if lost else np.zeros(0, np.int64)
    uniq, inverse = np.unique(sids, return_inverse=True)
    id_of = snap.sids_to_ids(store, "x", uniq)
    facts = ds.dataset(store.files("profiles"), format="parquet").to_table(
        columns=["account_id", "observed_at", "status"],
        filter=(pc.field("platform") == "x") & (pc.field("observed_at") > pa.scalar(day - timedelta(days=1), TS))
        & pc.field("account_id").isin(pc.drop_null(id_of)),
    )
    facts = facts.sort_by([("account_id", "ascending"), ("observed_at", "descending")])
    first = np.ones(facts.num_rows, dtype=bool)
    fid = facts["account_id"].to_numpy(zero_copy_only=False)
    first[1:] = fid[1:] != fid[:-1]
    latest = facts.filter(pa.array(first))
    pos = pc.fill_null(pc.index_in(id_of, value_set=latest["account_id"]), -1).to_numpy(zero_copy_only=False)
    statuses = ["unknown", *sorted(set(latest["status"].to_pylist()))]
    status_code = pc.index_in(latest["status"], value_set=pa.array(statuses)).to_numpy(zero_copy_only=False)
    code = np.zeros(len(uniq), dtype=np.int64)
    found = pos >= 0
    code[found] = status_code[pos[found]]
    table = np.zeros((len(names), len(statuses)), dtype=np.int64)
    np.add.at(table, (owner, code[inverse]), 1)
    losing = int((table.sum(axis=1) > 0).sum())
    totals = dict(zip(statuses, table.sum(axis=0).tolist(), strict=True))
    return {"accounts_compared": len(names), "accounts_that_lost": losing,
            "lost_follower_slots": int(len(sids)), "distinct_lost": int(len(uniq)), "fates": totals}


_FRESH = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
sys.path.insert(0, sys.argv[1])
from datetime import datetime
import followers_scale as fs
from purgewatch.store import Store
t, c = time.perf_counter(), time.process_time()
answer = fs.daily_question(Store(sys.argv[2]), datetime.fromisoformat(sys.argv[3]))
print(json.dumps({"answer": answer, "s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
                  "with_imports_s": time.perf_counter() - t0, "with_imports_cpu_s": time.process_time() - c0}))
"""


def fresh_question(root: Path, day: datetime, expected: dict[str, Any]) -> dict[str, Any]:
    """The daily question as a user meets it: a new process (no cache of this one),
    timed with and without its imports; its answer must equal this process's."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _FRESH, str(Path(__file__).resolve().parent), str(root),
                          day.isoformat()], check=True, capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    if got["answer"] != expected:
        raise SystemExit(f"the fresh process answered {got['answer']}, this one {expected}")
    return {"fresh_question_s": round(got["s"], 2), "fresh_question_cpu_s": round(got["cpu_s"], 2),
            "fresh_with_imports_s": round(got["with_imports_s"], 2),
            "fresh_with_imports_cpu_s": round(got["with_imports_cpu_s"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--edges", type=float, default=1e8)
    ap.add_argument("--population", type=float, default=3e7)
    ap.add_argument("--largest", type=float, default=5e6)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--churn", type=float, default=0.005)
    ap.add_argument("--suspend", type=float, default=0.002, help="share of the population suspended per day")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply accounts, edges, population, largest")
    ap.add_argument("--commit-mb", type=float, default=128,
                    help="commit a batch when this many MB are queued (full lists on day 0, changes after)")
    ap.add_argument("--writer-per-day", action="store_true",
                    help="open a writer per day (a cron job) instead of one for the run (watch)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--log", type=Path, default=None, help="also append each day's figures (JSON lines) here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_acc = max(10, int(args.accounts * args.scale))
    edges = int(args.edges * args.scale)
    pop_n = int(args.population * args.scale)
    largest = int(args.largest * args.scale)
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pw-scale-", dir=args.workdir))
    root = work / "store"
    store = Store.init(root)
    t = time.perf_counter()
    pop = Population(pop_n, rng)
    sizes = np.minimum(zipf_sizes(n_acc, edges, largest), pop_n // 2)
    audiences = [pop.draw(int(k)) for k in sizes]
    print(json.dumps({"accounts": n_acc, "edges": int(sizes.sum()), "population": pop_n,
                      "largest": int(sizes.max()), "median": int(np.median(sizes)),
                      "under_10k": int((sizes < 10_000).sum()), "generate_s": round(time.perf_counter() - t, 1),
                      "load": round(os.getloadavg()[0], 2)}), flush=True)
    suspended = np.zeros(pop_n, dtype=bool)
    member = np.zeros(pop_n, dtype=bool)  # scratch: one audience's members
    in_wave = np.zeros(pop_n, dtype=bool)
    per_day = []
    log = open(args.log, "a") if args.log else None  # noqa: SIM115 (kept open for the run)

    def emit(rec: dict[str, Any]) -> None:
        line = json.dumps(rec)
        print(line, flush=True)
        if log is not None:
            log.write(line + "\n")
            log.flush()

    def ingest_day(w: BatchWriter, day: datetime, fates_ids: list[np.ndarray], fates_status: list[str]) -> None:
        if fates_ids:
            who = pop.ids(np.concatenate(fates_ids))
            n = len(who)
            w.add("profiles", pa.table({
                "platform": pa.repeat(pa.scalar("x"), n),
                "account_id": pa.array(who).cast(pa.string()),
                "observed_at": pa.array(np.full(n, np.datetime64(day.replace(tzinfo=None), "us")), TS),
                "status": pa.array(fates_status, pa.string()),
            }))
        for a, aud in enumerate(audiences):
            snap.add_snapshot(w, platform="x", account_id=f"acct{a:05d}", observed_at=day,
                              follower_ids=pop.ids(aud))
            # (checked every 100 lists or after a large one: counting hands the writer
            # the buffered snapshot rows as one table)
            if (a % 100 == 99 or len(aud) >= 100_000) and w.pending_bytes() >= args.commit_mb * 1e6:
                w.commit()
        w.commit()  # the day is visible when its ingest ends

    emit({"generated": True, "generator_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
          "load": round(os.getloadavg()[0], 2)})
    writer: BatchWriter | None = None
    stack = contextlib.ExitStack()
    try:
        for day_i in range(args.days):
            day = T0 + timedelta(days=day_i)
            fates_ids: list[np.ndarray] = []
            fates_status: list[str] = []
            g = time.perf_counter()
            if day_i:
                wave = pop.draw(int(args.suspend * pop_n), banned=(suspended,))
                suspended[wave] = True
                in_wave[wave] = True
                for a, aud in enumerate(audiences):
                    gone_mask = in_wave[aud]
                    quota = max(0, int(round(args.churn * len(aud))) - int(gone_mask.sum()))
                    keep_idx = np.flatnonzero(~gone_mask)
                    unf = rng.choice(keep_idx, min(quota, len(keep_idx)), replace=False)
                    gone_mask[unf] = True
                    lost_n = int(gone_mask.sum())
                    fates_ids.append(aud[unf])
                    member[aud] = True
                    fresh = pop.draw(lost_n, banned=(member, suspended)) if lost_n else aud[:0]
                    member[aud] = False
                    audiences[a] = np.concatenate([fresh, aud[~gone_mask]])  # newest first
                in_wave[wave] = False
                fates_ids.append(wave)
                fates_status = ["active"] * (len(np.concatenate(fates_ids)) - len(wave)) + ["suspended"] * len(wave)
            generate_s = time.perf_counter() - g
            t, c = time.perf_counter(), time.process_time()
            if args.writer_per_day:
                with store.writer(command="bench", source="followers_scale") as w:
                    ingest_day(w, day, fates_ids, fates_status)
            else:
                if writer is None:
                    writer = stack.enter_context(store.writer(command="bench", source="followers_scale"))
                ingest_day(writer, day, fates_ids, fates_status)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            rec = {"day": day_i, "generate_s": round(generate_s, 1), "ingest_s": round(wall, 2), "ingest_cpu_s": round(cpu, 2),
                   "store_mb": round(store_bytes(root) / 1e6, 1),
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                   "load": round(os.getloadavg()[0], 2)}
            if day_i and (day_i == args.days - 1 or day_i == 1):
                t, c = time.perf_counter(), time.process_time()
                answer = daily_question(Store(root), day)
                rec["question_s"] = round(time.perf_counter() - t, 2)
                rec["question_cpu_s"] = round(time.process_time() - c, 2)
                rec["answer"] = answer
                rec.update(fresh_question(root, day, answer))
            per_day.append(rec)
            emit(rec)
        if per_day:
            ing = [r["ingest_s"] for r in per_day]
            emit({"ingest_s_per_day_median": float(np.median(ing)), "ingest_s_per_day_max": max(ing),
                  "store_mb_final": per_day[-1]["store_mb"],
                  "store_bits_per_edge_per_day": round(per_day[-1]["store_mb"] * 8e6 / (sizes.sum() * args.days), 2),
                  "peak_rss_mb": max(r["peak_rss_mb"] for r in per_day)})
    finally:
        stack.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
