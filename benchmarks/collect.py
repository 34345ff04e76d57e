"""Collector benchmark on the platform emulator (loopback), through the real connectors.

    python benchmarks/collect.py                 # 10,000 accounts + a long accelerated watch
    python benchmarks/collect.py --json          # machine-readable

Measures
1. one collection of N accounts (half Bluesky, half X, followers of the `demo` scenario's
   watched accounts) under tight emulator budgets, so the rate limiter is the bottleneck:
   requests per observed account, share of the rate budget used in the windows the run
   fully spans (target ≥ 90%), limit violations (429s served: target 0), wall time;
2. a long accelerated `watch` (many status cycles over a smaller list, emulator in its own
   process): the collector's resident memory at the first and last cycle (target: flat).

Timing figures are inflated when the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector
from purgewatch.sim import Emulator, SimClock, load_scenario, truth, watchlist_rows
from purgewatch.store import Store


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, plus the wall time and path prefix of every request sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((time.time(), request.url.path.split("/")[1]))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def budget_share(times: list[float], limit: int, window: float) -> tuple[float, int]:
    """Mean share of the budget used over the epoch-aligned windows fully inside the run."""
    if not times:
        return 0.0, 0
    first = math.floor(min(times) / window) + 1
    last = math.floor(max(times) / window) - 1
    counts = Counter(math.floor(t / window) for t in times)
    full = [counts.get(w, 0) / limit for w in range(first, last + 1)]
    return (sum(full) / len(full) if full else float("nan")), len(full)


def write_watchlist(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["platform", "account", "group", "label"])
        w.writeheader()
        w.writerows(rows)


def config(tmp: Path, emu: Emulator, *, status_every: str = "1h", batch: int = 500) -> Any:
    return config_from_dict({
        "collect": {"detect": False, "status_every": status_every, "batch": batch,
                    "sim_clock_url": f"{emu.base_url}/_sim/clock"},
        "http": {"timeout": 10, "concurrency": 8},
        "watchlists": [{"name": "bench", "file": "wl.csv"}],
        "platforms": {"bluesky": {"appview_url": emu.url("bluesky"), "relay_url": emu.url("bluesky")},
                      "x": {"base_url": emu.url("x"), "bearer_token": "benchmark-token"}},
    }, base_dir=tmp)


def followers_of_demo(n: int) -> list[dict[str, str]]:
    doc = truth(load_scenario("demo"))
    per: dict[str, list[str]] = {"bluesky": [], "x": []}
    seen: set[tuple[str, str]] = set()
    for key, edges in doc["follows"].items():
        platform = key.split(":", 1)[0]
        for e in edges:
            if (platform, e["follower_id"]) not in seen:
                seen.add((platform, e["follower_id"]))
                per[platform].append(e["follower_id"])
    half = n // 2
    rows = [{"platform": "bluesky", "account": a, "group": "followers", "label": ""} for a in per["bluesky"][:half]]
    rows += [{"platform": "x", "account": a, "group": "followers", "label": ""} for a in per["x"][: n - len(rows)]]
    return rows


def bench_collect(n: int, bsky: tuple[int, float], x: tuple[int, float]) -> dict[str, Any]:
    sc = load_scenario("demo")
    budgets = {"bluesky": bsky, "x_lookup": x}
    at = datetime(2026, 5, 22, 18, 0, tzinfo=UTC)  # after the demo's wave
    with tempfile.TemporaryDirectory() as d, \
            Emulator(sc, clock=SimClock.manual(at), faults=False, limits=True, budgets=budgets) as emu:
        tmp = Path(d)
        rows = followers_of_demo(n)
        write_watchlist(tmp / "wl.csv", rows)
        store = Store.init(tmp / "store")
        rec = RecordingTransport()
        t0 = time.perf_counter()
        reports = asyncio.run(Collector(store, config(tmp, emu), transport=rec).collect_once())
        elapsed = time.perf_counter() - t0
        observed = reports[0].observed
        stats = emu.stats()
        bs_times = [t for t, p in rec.sent if p == "bsky"]
        x_times = [t for t, p in rec.sent if p == "x"]
        bs_share, bs_windows = budget_share(bs_times, *bsky)
        x_share, x_windows = budget_share(x_times, *x)
        return {
            "accounts": n,
            "observed": observed,
            "statuses": reports[0].statuses,
            "seconds": round(elapsed, 2),
            "accounts_per_second": round(observed / elapsed, 1),
            "requests": len(rec.sent),
            "requests_per_account": round(len(rec.sent) / observed, 4),
            "budget": {"bluesky": f"{bsky[0]}/{bsky[1]:g}s", "x": f"{x[0]}/{x[1]:g}s"},
            "budget_share_bluesky": round(bs_share, 3), "full_windows_bluesky": bs_windows,
            "budget_share_x": round(x_share, 3), "full_windows_x": x_windows,
            "limit_violations": sum(v["rate_limited"] for k, v in stats.items() if isinstance(v, dict) and "rate_limited" in v),
        }


def bench_watch(n: int, cycles: int) -> dict[str, Any]:
    """The emulator runs in its own process here, so the resident memory measured is the
    collector's alone."""
    sc = load_scenario("small")
    server = subprocess.Popen(
        [sys.executable, "-c", "from purgewatch.cli import main; main()", "sim", "serve", "--scenario", "small",
         "--port", "0", "--speed", "3600", "--no-faults", "--no-limits", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())["urls"]
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            rows = watchlist_rows(sc)
            extra = followers_of_small(n - len(rows))
            write_watchlist(tmp / "wl.csv", [r for r in rows if r["platform"] != "mastodon"] + extra)
            store = Store.init(tmp / "store")
            rss: list[float] = []
            cfg = config_from_dict({
                "collect": {"detect": False, "status_every": "0.3s", "batch": 250,
                            "sim_clock_url": f"{urls['control']}/clock"},
                "watchlists": [{"name": "bench", "file": "wl.csv"}],
                "platforms": {"bluesky": {"appview_url": urls["bluesky"], "relay_url": urls["bluesky"]},
                              "x": {"base_url": urls["x"], "bearer_token": "benchmark-token"}},
            }, base_dir=tmp)
            t0 = time.perf_counter()
            collector = Collector(store, cfg, on_cycle=lambda r: rss.append(rss_mb()))
            asyncio.run(collector.watch(cycles=cycles))
            elapsed = time.perf_counter() - t0
            obs = store.read("observations").num_rows
    finally:
        server.terminate()
        server.wait()
    return {"accounts": obs // cycles, "cycles": cycles, "observations": obs,
            "seconds": round(elapsed, 1), "rss_mb_first_cycle": round(rss[0], 1),
            "rss_mb_last_cycle": round(rss[-1], 1),
            "rss_mb_by_cycle": [round(r, 1) for r in rss[:: max(1, len(rss) // 10)]]}


def followers_of_small(n: int) -> list[dict[str, str]]:
    doc = truth(load_scenario("small"))
    out, seen = [], set()
    for key, edges in doc["follows"].items():
        platform = key.split(":", 1)[0]
        if platform != "bluesky":
            continue
        for e in edges:
            if e["follower_id"] not in seen and len(out) < n:
                seen.add(e["follower_id"])
                out.append({"platform": platform, "account": e["follower_id"], "group": "f", "label": ""})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--bsky-budget", default="40/4", help="requests/window seconds (emulator)")
    ap.add_argument("--x-budget", default="10/4")
    ap.add_argument("--watch-accounts", type=int, default=500)
    ap.add_argument("--watch-cycles", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    def budget(s: str) -> tuple[int, float]:
        a, b = s.split("/")
        return int(a), float(b)

    out = {"collect": bench_collect(args.accounts, budget(args.bsky_budget), budget(args.x_budget)),
           "watch": bench_watch(args.watch_accounts, args.watch_cycles)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for part, res in out.items():
            print(f"[{part}]")
            for k, v in res.items():
                print(f"  {k:28} {v}")


if __name__ == "__main__":
    main()
