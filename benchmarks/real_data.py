"""Cost of every verb on every shared dataset: wall time, CPU time and peak RSS.

Each verb runs in a fresh process (``python -m purgewatch ...``); its CPU time and peak
resident memory are the child's own, read with ``os.wait4`` (``ru_maxrss``), so nothing
of this script's memory is counted. ``serve`` is measured as the time from the server
accepting connections to the first page (``/``) being answered, and, with ``--parallel N``,
N concurrent cold requests on a fresh server (the web UI must compute once, not N times).

    python benchmarks/real_data.py [--datasets ../shared/datasets] [--only ira-follower-series]
        [--verbs import,report,serve] [--repeat 2] [--parallel 50] [--src DIR] [--keep DIR]

``--src DIR`` runs the children with ``PYTHONPATH=DIR`` (measure another checkout of the
code, e.g. the previous commit, with the same harness: the baseline printed beside the
figures). ``--repeat`` keeps the best of N runs (the machine is shared; the load average
is printed with every row). Stores are created in a temporary folder (``--keep`` keeps them
there for a later run; an existing store in it is reused and ``import`` is skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
DEFAULT_DATASETS = Path(os.environ.get("PURGEWATCH_DATASETS", REPO.parent / "shared" / "datasets"))
if not DEFAULT_DATASETS.is_dir():  # a worktree one level deeper than the repository
    DEFAULT_DATASETS = REPO.parent.parent / "shared" / "datasets"
DATASETS = ("ira-follower-series", "cresci-2017", "voterfraud2020", "unsuspensions-2022",
            "nbc-ira-users", "wayback-follower-history")
VERBS = ("import", "accounts", "history", "detect", "explain", "compare", "forensics", "report", "serve")
GB = 1024**3


@dataclass
class Cost:
    wall: float
    cpu: float
    rss: int  # bytes
    rc: int
    extra: str = ""

    def row(self) -> str:
        return f"{self.wall:8.1f} s {self.cpu:8.1f} s {self.rss / GB:6.2f} GB  rc={self.rc} {self.extra}"


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    return env


def run(args: list[str], src: Path, stdout: int | None = subprocess.DEVNULL) -> tuple[Cost, bytes]:
    """One CLI call in a fresh process: its own wall, CPU (user + sys) and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "purgewatch", *args], env=_env(src),
                            stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE)
    out = b""
    if stdout is None:
        assert proc.stdout is not None
        out = proc.stdout.read()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    extra = "" if rc == 0 else err.decode(errors="replace").strip().splitlines()[-1][:120] if err.strip() else ""
    return Cost(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024, rc, extra), out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 900.0) -> int:
    """HTTP status of a GET (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def serve(store: Path, src: Path, parallel: int = 1, *, cold: bool = True) -> Cost:
    """Start ``purgewatch serve``, time the first page (or ``parallel`` concurrent cold
    requests of it) from the moment the port accepts, then poll until the page is complete
    (200: a large store may first answer 503 with what the store holds while the findings
    are computed), stop the server and read its CPU time and peak RSS. ``cold``: without
    the findings an earlier server persisted (``STORE/derived``, deleted first); else a
    restart, which reads them back."""
    if cold:
        shutil.rmtree(store / "derived", ignore_errors=True)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "purgewatch", "serve", "--store", str(store),
                             "--port", str(port)], env=_env(src),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rusage = None
    statuses: list[int] = []
    wall = complete = float("nan")
    note = ""
    try:
        deadline = time.perf_counter() + 300
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/"
        t0 = time.perf_counter()

        def one() -> None:
            try:
                statuses.append(_get(url))
            except OSError:
                statuses.append(-1)

        threads = [threading.Thread(target=one) for _ in range(max(parallel, 1))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        status = statuses[-1]
        while status != 200 and proc.poll() is None and time.perf_counter() - t0 < 900:
            time.sleep(1.0)
            try:
                status = _get(url)
            except OSError:
                status = -1
        complete = time.perf_counter() - t0
        t1 = time.perf_counter()
        if proc.poll() is None:
            _get(url)  # a warm request: what every later visitor waits
            note = f"; complete page after {complete:.1f} s; warm request {time.perf_counter() - t1:.2f} s"
        else:
            note = f"; the server died (exit {proc.returncode})"
    except RuntimeError as exc:
        note = f"; {exc}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            _, _, rusage = os.wait4(proc.pid, 0)
    ok = sum(s == 200 for s in statuses)
    codes = ",".join(sorted({str(s) for s in statuses}))
    cpu = rusage.ru_utime + rusage.ru_stime if rusage else float("nan")
    rss = rusage.ru_maxrss * 1024 if rusage else 0
    return Cost(wall, cpu, rss, 0 if statuses and all(s in (200, 503) for s in statuses) else 1,
                f"{ok}/{len(statuses)} answered 200 (status {codes}){note}")


def pick_account(store: Path, src: Path) -> str | None:
    """An account to ask history/explain about: the one with the most observations (or
    the first account listed)."""
    _, out = run(["accounts", "--store", str(store), "--json"], src, stdout=None)
    try:
        data = json.loads(out or b"{}")
    except json.JSONDecodeError:
        return None
    rows = data.get("accounts", data) if isinstance(data, dict) else data
    if not rows:
        return None
    best = max(rows, key=lambda r: (r.get("n_observations") or r.get("observations") or 0))
    return str(best.get("account_id") or best.get("handle"))


def verb_args(verb: str, store: Path, account: str | None, out_dir: Path) -> list[str] | None:
    s = ["--store", str(store)]
    if verb == "accounts":
        return ["accounts", *s, "--json"]
    if verb == "history":
        return None if account is None else ["history", account, *s, "--json"]
    if verb == "detect":
        return ["detect", *s, "--json"]
    if verb == "explain":
        return None if account is None else ["explain", account, *s, "--json"]
    if verb == "compare":
        return ["compare", *s, "--json"]
    if verb == "forensics":
        return ["forensics", "creation-batches", "--status", "suspended", *s, "--json"]
    if verb == "report":
        return ["report", *s, "--out", str(out_dir / "report"), "--generated-at", "2024-01-01T00:00:00Z"]
    raise ValueError(verb)


def _size(path: Path) -> str:
    html = path / "report" / "report.html"
    js = path / "report" / "findings.json"
    parts = []
    for p in (html, js):
        if p.exists():
            parts.append(f"{p.name} {p.stat().st_size / 1e6:.1f} MB")
    return ", ".join(parts)


def best(costs: list[Cost]) -> Cost:
    return min(costs, key=lambda c: (c.rc != 0, c.wall))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    ap.add_argument("--only", action="append", choices=DATASETS, help="datasets (repeatable; default all)")
    ap.add_argument("--verbs", default=",".join(VERBS))
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per verb")
    ap.add_argument("--parallel", type=int, default=0, help="also time N concurrent cold first-page requests")
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the code to measure (PYTHONPATH)")
    ap.add_argument("--keep", type=Path, default=None, help="keep (and reuse) stores in this folder")
    args = ap.parse_args()
    if not args.datasets.is_dir():
        print(f"skipped: no datasets folder at {args.datasets} (pass --datasets or set PURGEWATCH_DATASETS)")
        return
    verbs = [v.strip() for v in args.verbs.split(",") if v.strip()]
    bad = set(verbs) - set(VERBS)
    if bad:
        raise SystemExit(f"unknown verb(s) {sorted(bad)}; verbs are {', '.join(VERBS)}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="purgewatch-real-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"code: {args.src}; datasets: {args.datasets}; {os.cpu_count()} cores")
    print(f"{'dataset':26} {'verb':10} {'wall':>10} {'CPU':>10} {'peak RSS':>9}  load")
    try:
        for name in args.only or DATASETS:
            if not (args.datasets / name).is_dir():
                print(f"{name:26} skipped: not in {args.datasets}")
                continue
            store = root / name
            fresh = not (store / "STORE.json").exists()
            if fresh:
                run(["init", "--store", str(store)], args.src)
            if fresh or "import" in verbs:
                if not fresh:  # re-import into a fresh store so import is measured whole
                    shutil.rmtree(store)
                    run(["init", "--store", str(store)], args.src)
                c, _ = run(["datasets", "import", name, "--path", str(args.datasets), "--store", str(store)],
                           args.src)
                if "import" in verbs:
                    print(f"{name:26} {'import':10} {c.row()}  {os.getloadavg()[0]:.1f}", flush=True)
            account = pick_account(store, args.src) if {"history", "explain"} & set(verbs) else None
            for verb in verbs:
                if verb == "import":
                    continue
                runs: list[Cost] = []
                for _ in range(max(args.repeat, 1)):
                    out_dir = Path(tempfile.mkdtemp(prefix="pw-out-", dir=root))
                    if verb == "serve":
                        runs.append(serve(store, args.src))
                    else:
                        va = verb_args(verb, store, account, out_dir)
                        if va is None:
                            break
                        c, _ = run(va, args.src)
                        if verb == "report":
                            c.extra = (c.extra + " " + _size(out_dir)).strip()
                        runs.append(c)
                    shutil.rmtree(out_dir, ignore_errors=True)
                if not runs:
                    print(f"{name:26} {verb:10} skipped: no account to ask about")
                    continue
                print(f"{name:26} {verb:10} {best(runs).row()}  {os.getloadavg()[0]:.1f}", flush=True)
                if verb == "serve":  # a restart over the findings the last run persisted
                    c = serve(store, args.src, cold=False)
                    print(f"{name:26} {'restart':10} {c.row()}  {os.getloadavg()[0]:.1f}", flush=True)
                if verb == "serve" and args.parallel > 1:
                    c = serve(store, args.src, parallel=args.parallel)
                    print(f"{name:26} {'serve x' + str(args.parallel):10} {c.row()}  {os.getloadavg()[0]:.1f}",
                          flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
