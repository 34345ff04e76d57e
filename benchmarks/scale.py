"""Cost that should grow with the findings, not the rows: synthetic stores of 100, 1,000
and 10,000 watched accounts x 365 daily readings.

Each store is built once (generated follower series with drops, surges, glitches and
purges from ``_detect_gen.make_series``, daily looks; a watchlist of four groups;
imported through ``purgewatch import``), then ``report`` is measured in a fresh process by
``real_data.py``'s harness (wall, CPU, peak RSS of the child; the size of the HTML and
JSON the report writes), and the web UI as a user meets it: a fresh server without
persisted findings, GET / from the server's start until the first page showing the
store's content ("UI first": the preview of what the store holds while the findings are
computed, or the findings page) and until the full findings page ("UI full"); CPU is the
server's when each arrived, peak RSS that of its whole run.

    python benchmarks/scale.py [--accounts 100,1000,10000] [--repeat 2] [--src DIR] [--keep DIR]

``--src DIR`` measures another checkout of the code (the baseline, printed with the same
harness); ``--keep DIR`` keeps the stores for a later run. Goals (issue 11): at 10,000
accounts, report <= 15 s and <= 1 GB, first page <= 3 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_gen import make_series  # noqa: E402
from real_data import REPO, Cost, _env, _free_port, best, run  # noqa: E402

GROUPS = ("government", "opposition", "media", "ngo")


def build(store: Path, n_accounts: int, src: Path) -> None:
    """A store of ``n_accounts`` watched accounts with a year of daily readings each."""
    obs, _ = make_series(n_accounts, 365.0, seed=1, obs_per_day=1.0, irregular=False, fixed_obs=365,
                         gap_rate=0.0)
    ts = pd.to_datetime(obs["t"].to_numpy(), unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = obs["sid"].to_numpy()
    csv = store.parent / f"obs-{n_accounts}.csv"
    pd.DataFrame({
        "platform": "x", "account_id": [f"acc{i}" for i in ids], "observed_at": ts, "status": "active",
        "followers_count": np.maximum(np.round(obs["y"].to_numpy()), 0).astype(np.int64),
    }).to_csv(csv, index=False)
    wl = store.parent / f"watch-{n_accounts}.csv"
    pd.DataFrame({"platform": "x", "account": [f"acc{i}" for i in range(n_accounts)],
                  "group": [GROUPS[i % len(GROUPS)] for i in range(n_accounts)]}).to_csv(wl, index=False)
    for args in (["init", "--store", str(store)],
                 ["import", "observations", str(csv), "--store", str(store)],
                 ["watchlist", "import", str(wl), "--store", str(store)]):
        c, _ = run(args, src)
        if c.rc != 0:
            raise SystemExit(f"building the store failed at {args[0]} {args[1]}: {c.extra}")
    csv.unlink()
    wl.unlink()


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _page(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=600) as r:  # noqa: S310 - loopback only
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


STORE_CONTENT = re.compile(rb"acc\d+")  # an account id of the synthetic store


def first_page(store: Path, src: Path) -> tuple[Cost, Cost]:
    """The web UI as a user meets it: a fresh ``purgewatch serve`` (no persisted findings),
    GET / from the moment the server is started until a page showing the store's content
    arrives (a 503 preview of what the store holds counts; an empty or error page does
    not), then until the full findings page (200). Wall of each from the start; CPU of
    the server when each arrived; peak RSS of the server's whole run."""
    shutil.rmtree(store / "derived", ignore_errors=True)
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "purgewatch", "serve", "--store", str(store), "--port", str(port)],
                            env=_env(src), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    first = full = None
    note = ""
    try:
        while proc.poll() is None and time.perf_counter() - t0 < 900:
            try:
                status, body = _page(url)
            except OSError:  # not listening yet
                time.sleep(0.05)
                continue
            now, cpu = time.perf_counter() - t0, _cpu_of(proc.pid)
            if first is None and status in (200, 503) and STORE_CONTENT.search(body):
                first = (now, cpu, status)
            if status == 200:
                full = (now, cpu, status)
                break
            time.sleep(0.5)
        if proc.poll() is not None:
            note = f"; the server died (exit {proc.returncode})"
    finally:
        if proc.poll() is None:
            proc.terminate()
        _, _, ru = os.wait4(proc.pid, 0)
    rss = ru.ru_maxrss * 1024

    def cost(x: tuple[float, float, int] | None, what: str) -> Cost:
        if x is None:
            return Cost(float("nan"), float("nan"), rss, 1, f"no {what}{note}")
        return Cost(x[0], x[1], rss, 0, f"status {x[2]} ({what}, from the server's start)")

    return cost(first, "first page with the store's content"), cost(full, "full findings page")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", default="100,1000,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--src", type=Path, default=REPO / "src")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="purgewatch-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"code: {args.src}; {os.cpu_count()} cores")
    print(f"{'accounts':>8} {'verb':10} {'wall':>10} {'CPU':>10} {'peak RSS':>9}  load")
    try:
        for n in [int(x) for x in args.accounts.split(",")]:
            store = root / f"scale-{n}"
            if not (store / "STORE.json").exists():
                # Built in its own process: Linux gives a child the peak RSS of the parent
                # it was forked from (ru_maxrss survives exec), so a parent that had held the
                # generated series would set a floor under every verb's peak measured here.
                builder = multiprocessing.get_context("spawn").Process(target=build, args=(store, n, args.src))
                builder.start()
                builder.join()
                if builder.exitcode != 0:
                    raise SystemExit(f"building the {n:,}-account store failed (exit {builder.exitcode})")
            runs: list[Cost] = []
            for _ in range(max(args.repeat, 1)):
                out = Path(tempfile.mkdtemp(prefix="pw-out-", dir=root))
                c, _ = run(["report", "--store", str(store), "--out", str(out / "r"),
                            "--generated-at", "2024-01-01T00:00:00Z"], args.src)
                sizes = [f"{p.name} {p.stat().st_size / 1e6:.1f} MB"
                         for p in (out / "r" / "report.html", out / "r" / "findings.json") if p.exists()]
                c.extra = (c.extra + " " + ", ".join(sizes)).strip()
                runs.append(c)
                shutil.rmtree(out, ignore_errors=True)
            print(f"{n:8,} {'report':10} {best(runs).row()}  {os.getloadavg()[0]:.1f}", flush=True)
            served = [first_page(store, args.src) for _ in range(max(args.repeat, 1))]
            print(f"{n:8,} {'UI first':10} {best([a for a, _ in served]).row()}  {os.getloadavg()[0]:.1f}", flush=True)
            print(f"{n:8,} {'UI full':10} {best([b for _, b in served]).row()}  {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
