"""Speed of per-account drop/surge detection: 100,000 accounts x 365 readings.

Prints wall time and peak memory of ``detect_series`` (kernel + event objects, including
the purge scan) on generated series, and the time of ruptures (Pelt and KernelCPD, one
call per series) measured on a sample of series and extrapolated to all of them (stated
as such in the output). The machine is shared: run it when it is quiet, and read the
load average printed at the top.

    python benchmarks/detect_speed.py [--accounts 100000] [--obs 365] [--sample 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_gen import make_series  # noqa: E402

from purgewatch.analysis.detect import detect_series  # noqa: E402


def ruptures_time(sid: np.ndarray, y: np.ndarray, n_series: int, sample: int) -> dict[str, float]:
    import ruptures as rpt

    rng = np.random.default_rng(0)
    pick = rng.choice(n_series, size=min(sample, n_series), replace=False)
    starts = np.searchsorted(sid, pick)
    stops = np.searchsorted(sid, pick, side="right")
    out = {}
    for name in ("pelt_l2", "kernelcpd_rbf"):
        t0 = time.perf_counter()
        for a, b in zip(starts, stops, strict=True):
            sig = y[a:b].reshape(-1, 1)
            sd = float(np.median(np.abs(np.diff(sig[:, 0]))) / 0.6745 / np.sqrt(2)) or 1.0
            if name == "pelt_l2":
                rpt.Pelt(model="l2", min_size=2, jump=1).fit(sig).predict(pen=2 * np.log(len(sig)) * sd**2)
            else:
                rpt.KernelCPD(kernel="rbf", min_size=2).fit(sig / sd).predict(pen=2 * np.log(len(sig)))
        per = (time.perf_counter() - t0) / len(pick)
        out[name] = per
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--obs", type=int, default=365)
    ap.add_argument("--sample", type=int, default=200)
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
    per_series = wall / args.accounts
    rt = ruptures_time(sid, y, args.accounts, args.sample)
    for name, sec in rt.items():
        total = sec * args.accounts
        print(f"ruptures {name}: {sec * 1e3:.2f} ms per series, measured on {args.sample} series, "
              f"extrapolated to {args.accounts:,}: {total:,.0f} s; ratio vs purgewatch "
              f"{sec / per_series:,.0f}x")


if __name__ == "__main__":
    main()
