"""Speed of per-account drop/surge detection: 100,000 accounts x 365 readings.

Prints wall and CPU time and peak memory of ``detect_series`` (kernel + event objects,
including the purge scan) on generated series. The comparison with ruptures (Pelt and
KernelCPD, one call per series) is like for like: both run on the *same* sample of
series, one thread each (the sample fits in one chunk, so detect_series runs it on one
thread), and the ratio is given in wall and in CPU seconds. A whole-population figure
for ruptures is only an estimate (its per-series CPU time on the sample times the number
of series) and is printed as such, against PurgeWatch's measured CPU time. The machine
is shared: run it when it is quiet, and read the load average printed at the top.

    python benchmarks/detect_speed.py [--accounts 100000] [--obs 365] [--sample 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_gen import make_series  # noqa: E402

from purgewatch.analysis.detect import detect_series  # noqa: E402


def clock(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeat`` runs (CPU: this process, all threads)."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def ruptures_run(sid: np.ndarray, y: np.ndarray, pick: np.ndarray, name: str) -> None:
    import ruptures as rpt

    starts = np.searchsorted(sid, pick)
    stops = np.searchsorted(sid, pick, side="right")
    for a, b in zip(starts, stops, strict=True):
        sig = y[a:b].reshape(-1, 1)
        sd = float(np.median(np.abs(np.diff(sig[:, 0]))) / 0.6745 / np.sqrt(2)) or 1.0
        if name == "pelt_l2":
            rpt.Pelt(model="l2", min_size=2, jump=1).fit(sig).predict(pen=2 * np.log(len(sig)) * sd**2)
        else:
            rpt.KernelCPD(kernel="rbf", min_size=2).fit(sig / sd).predict(pen=2 * np.log(len(sig)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--obs", type=int, default=365)
    ap.add_argument("--sample", type=int, default=200, help="series timed for both (same sample)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs on the sample")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    parts = []
    step = 20_000
    for i in range(0, args.accounts, step):
        obs, _ = make_series(min(step, args.accounts - i), fixed_obs=args.obs, irregular=False,
                             seed=i, n_purges=2)
        parts.append((obs.sid.to_numpy() + i, obs.t.to_numpy(), obs.y.to_numpy()))
    sid = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    del parts
    print(f"generated {args.accounts:,} accounts x {args.obs} readings = {len(y):,} rows "
          f"in {time.perf_counter() - t0:.1f} s (not timed below)")
    input_mb = (sid.nbytes + t.nbytes + y.nbytes) / 1e6
    from purgewatch.analysis.detect import DetectParams
    from purgewatch.analysis.detect._series import detect_arrays, prepare

    # 1. timed run (no tracing: tracemalloc roughly doubles numpy's allocation cost)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    events = detect_series(sid, t, y)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    print(f"purgewatch detect_series (kernel + purge scan + {len(events):,} Event objects with "
          f"evidence): {wall:.2f} s wall, {cpu:.2f} s CPU; {kinds}")
    del events
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    p = DetectParams().series
    s2, t2, y2 = prepare(sid, t, y)
    detect_arrays(s2, t2, y2, p)
    kwall = time.perf_counter() - t0
    kcpu = time.process_time() - cpu0
    print(f"  numeric kernel alone (prepare + detect_arrays): {kwall:.2f} s wall, {kcpu:.2f} s CPU")
    # 2. memory run
    tracemalloc.start()
    events = detect_series(sid, t, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del events
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory allocated by detection (tracemalloc, separate run): {peak / 1e6:,.0f} MB; "
          f"input arrays {input_mb:,.0f} MB; process max RSS {rss:,.0f} MB "
          f"(before detection {rss0:,.0f} MB, most of it the generator)")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    # 3. like for like: the same sample of series, one thread each, best of --repeat
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(args.accounts, size=min(args.sample, args.accounts), replace=False))
    m = np.isin(sid, pick)
    s_sid, s_t, s_y = np.searchsorted(pick, sid[m]), t[m], y[m]  # series 0..len(pick)-1
    s_pick = np.arange(len(pick))
    print(f"same sample of {len(pick)} series ({len(s_y):,} readings), one thread each, "
          f"best of {args.repeat} (load average {os.getloadavg()[0]:.2f}):")
    pw_wall, pw_cpu = clock(lambda: detect_series(s_sid, s_t, s_y), args.repeat)
    print(f"  purgewatch detect_series: {pw_wall:.3f} s wall, {pw_cpu:.3f} s CPU")
    for name in ("pelt_l2", "kernelcpd_rbf"):
        r_wall, r_cpu = clock(lambda name=name: ruptures_run(s_sid, s_y, s_pick, name), args.repeat)
        print(f"  ruptures {name}: {r_wall:.3f} s wall, {r_cpu:.3f} s CPU; "
              f"ratio vs purgewatch {r_wall / pw_wall:,.0f}x wall, {r_cpu / pw_cpu:,.0f}x CPU")
        est = r_cpu / len(pick) * args.accounts
        print(f"    estimate for all {args.accounts:,} series (extrapolated from {len(pick)}, not "
              f"measured): {est:,.0f} CPU s vs purgewatch's measured {cpu:.1f} CPU s "
              f"= {est / cpu:,.0f}x per CPU second")

if __name__ == "__main__":
    main()
