"""Posts: import speed, storage per post and search speed, each beside a baseline
measured in the same run on the same input.

    python benchmarks/posts.py [--posts 1000000] [--search-posts 10000000] [--datasets DIR]

1. Import: a generated FORMATS.md ``posts`` CSV (Zipf-distributed words, hashtags on a
   quarter of the posts) imported by ``python -m purgewatch import posts`` in a fresh
   process (as a user runs it), against DuckDB's bare ``read_csv`` of the same file in a
   fresh process. Wall and CPU seconds (children's rusage).
2. Storage: bytes of the store's posts table per post, against the gzip'd CSV and a plain
   zstd Parquet of the same columns.
3. Search: ``purgewatch posts search WORD --from --to --json`` in a fresh process over a
   store of ``--search-posts`` posts, against a fresh-process DuckDB scan of the same
   store files with the same predicate (word edges, case-insensitive, the window).
4. CooRTweet (real, ``../shared/datasets/coortweet``): the German-elections shares (no
   text: anonymised hashtag and URL ids) converted to posts, imported, and searched by
   their most shared hashtag.

Goals (issue 14): import >= 200k posts/s; search <= 2 s for a word query over a window
of 10M posts.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PURGEWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))


def make_posts_csv(path: Path, n: int, *, seed: int = 3, accounts: int = 20_000) -> None:
    """``n`` posts of ``accounts`` accounts over 2024, 6-14 Zipf-drawn words each."""
    rng = np.random.default_rng(seed)
    vocab = pa.array([f"w{i}" for i in range(20_000)] + ["attack", "purge", "followers"])
    ranks = np.minimum(rng.zipf(1.3, size=(14, n)) - 1, len(vocab) - 1)
    n_words = rng.integers(6, 15, n)
    words = [pc.if_else(pa.array(n_words > k), pc.take(vocab, pa.array(ranks[k])), pa.scalar(""))
             for k in range(14)]
    text = pc.utf8_trim_whitespace(pc.binary_join_element_wise(*words, " "))
    base = np.datetime64("2024-01-01T00:00:00", "s")
    created = base + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]")
    observed = created + rng.integers(60, 86_400, n).astype("timedelta64[s]")
    tag = rng.integers(0, 500, n)
    hashtags = np.where(rng.random(n) < 0.25, np.char.add(np.char.add('["t', tag.astype(str)), '"]'), "")
    table = pa.table({
        "platform": pa.array(np.full(n, "x")),
        "account_id": pa.array(rng.integers(10**8, 10**8 + accounts, n).astype(str)),
        "post_id": pa.array((np.arange(n) + 10**15).astype(str)),
        "created_at": pa.array(np.char.add(np.datetime_as_string(created, unit="s"), "Z")),
        "observed_at": pa.array(np.char.add(np.datetime_as_string(observed, unit="s"), "Z")),
        "text": text,
        "lang": pa.array(np.full(n, "en")),
        "hashtags": pa.array(hashtags),
    })
    pacsv.write_csv(table, path)


def run(args: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def best(args: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [run(args) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def store_bytes(store: Path, table: str) -> int:
    return sum(f.stat().st_size for f in store.rglob(f"{table}.parquet"))


def import_store(csv: Path, store: Path) -> tuple[float, float]:
    run(["-m", "purgewatch", "init", "--store", str(store)])
    wall, cpu, _ = run(["-m", "purgewatch", "import", "posts", str(csv), "--store", str(store)])
    return wall, cpu


DUCKDB_READ = ("import duckdb,sys; c=duckdb.connect(); c.execute('SET enable_progress_bar=false'); "
               "t=c.sql(\"SELECT * FROM read_csv(?, all_varchar=true)\".replace('?', repr(sys.argv[1]))).fetch_arrow_table(); "
               "print(t.num_rows)")
DUCKDB_SEARCH = (
    "import duckdb,sys,glob; c=duckdb.connect(); c.execute('SET enable_progress_bar=false'); files=glob.glob(sys.argv[1]+'/current/*/posts.parquet'); "
    "print(c.execute(\"SELECT count(*) FROM read_parquet(?) WHERE created_at >= ?::TIMESTAMPTZ AND created_at < ?::TIMESTAMPTZ "
    "AND regexp_matches(text, ?, 'i')\", [files, sys.argv[2], sys.argv[3], '\\\\b'+sys.argv[4]+'\\\\b']).fetchone()[0])"
)


def section_import(tmp: Path, n: int, repeat: int) -> None:
    csv = tmp / "posts.csv"
    make_posts_csv(csv, n)
    gz = tmp / "posts.csv.gz"
    with open(csv, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    results = []
    for i in range(repeat):
        store = tmp / f"store-import-{i}"
        results.append(import_store(csv, store))
    wall, cpu = min(results)
    dwall, dcpu, out = best(["-c", DUCKDB_READ, str(csv)], repeat)
    assert int(out) == n, out
    print(f"\n## import: {n:,} posts ({csv.stat().st_size / 1e6:.0f} MB CSV), fresh process, best of {repeat}")
    print(f"purgewatch import posts : {wall:6.2f} s wall, {cpu:6.2f} s CPU = {n / wall:,.0f} posts/s")
    print(f"DuckDB read_csv (bare)  : {dwall:6.2f} s wall, {dcpu:6.2f} s CPU")
    print(f"ratio (import / bare read): {wall / dwall:.1f}x wall, {cpu / dcpu:.1f}x CPU")
    store = tmp / "store-import-0"
    posts_b = store_bytes(store, "posts")
    reads_b = store_bytes(store, "post_reads")
    plain = tmp / "plain.parquet"
    pq.write_table(pacsv.read_csv(csv), plain, compression="zstd")
    print(f"\n## storage per post ({n:,} posts)")
    print(f"store posts table       : {posts_b / n:6.1f} B/post (+ reads log {reads_b / n:.1f} B/post)")
    print(f"gzip CSV                : {gz.stat().st_size / n:6.1f} B/post")
    print(f"plain zstd Parquet      : {plain.stat().st_size / n:6.1f} B/post (no provenance, no hash)")


def section_search(tmp: Path, n: int, repeat: int, chunk: int = 2_000_000) -> None:
    store = tmp / "store-search"
    run(["-m", "purgewatch", "init", "--store", str(store)])
    t0 = time.perf_counter()
    for i, start in enumerate(range(0, n, chunk)):
        csv = tmp / f"search-{i}.csv"
        make_posts_csv(csv, min(chunk, n - start), seed=100 + i)
        run(["-m", "purgewatch", "import", "posts", str(csv), "--store", str(store)])
        csv.unlink()
    build = time.perf_counter() - t0
    frm, to = "2024-03-01T00:00:00Z", "2024-06-01T00:00:00Z"
    search = ["-m", "purgewatch", "posts", "search", "attack", "--from", frm, "--to", to,
              "--limit", "20", "--json", "--store", str(store)]
    import json

    wall, cpu, out = best(search, repeat)
    matches = json.loads(out)["matches"]
    dwall, dcpu, dout = best(["-c", DUCKDB_SEARCH, str(store), frm, to, "attack"], repeat)
    # The same search once every author is watched, in two camps: per camp, the reads
    # that cover the window are counted and the shares compared.
    wl = tmp / "watchlist.csv"
    wl.write_text("platform,account,group\n" + "".join(
        f"x,{10**8 + k},{'camp a' if k % 2 else 'camp b'}\n" for k in range(20_000)))
    run(["-m", "purgewatch", "import", "watchlist", str(wl), "--store", str(store)])
    wwall, wcpu, wout = best(search, repeat)
    camps = "; ".join(f"{g['group']}: {g['spoke']} spoke, {g['silent']} silent, {g['unread']} unread"
                      for g in json.loads(wout)["groups"])
    print(f"\n## search: {n:,} posts (store built in {build:.0f} s), window {frm} .. {to}, best of {repeat}")
    print(f"purgewatch posts search : {wall:6.2f} s wall, {cpu:6.2f} s CPU, {matches:,} matches "
          "(handles and deletions of the shown posts included)")
    print(f"  with 20,000 watched   : {wwall:6.2f} s wall, {wcpu:6.2f} s CPU "
          f"({camps})")
    print(f"DuckDB regex scan (bare): {dwall:6.2f} s wall, {dcpu:6.2f} s CPU, {int(dout):,} matches")
    print(f"ratio: {wall / dwall:.1f}x wall, {cpu / dcpu:.1f}x CPU (watched: {wwall / dwall:.1f}x wall)")


def section_coortweet(tmp: Path, datasets: Path) -> None:
    src = datasets / "coortweet" / "german_elections.csv.gz"
    if not src.exists():
        print(f"\n## CooRTweet: skipped ({src} not found)")
        return
    t = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(strings_can_be_null=True,
                                                                column_types={"hashtag_id": pa.string(),
                                                                              "url_id": pa.string()}))
    n_all = t.num_rows
    t = t.filter(pc.is_valid(t["post_id"]))  # shares without a post id are not posts
    n = t.num_rows
    ts = pc.cast(pc.multiply(t["timestamp"], 1_000_000), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    iso = pc.strftime(ts, "%Y-%m-%dT%H:%M:%SZ")

    def as_list(col: pa.ChunkedArray, prefix: str) -> pa.Array:
        joined = pc.binary_join_element_wise(pa.scalar(f'["{prefix}'), col, pa.scalar('"]'), "")
        return pc.if_else(pc.is_null(col), pa.scalar(""), joined)

    posts = pa.table({
        "platform": pa.array(np.full(n, "coortweet")),
        "account_id": t["account_id"], "post_id": pc.cast(t["post_id"], pa.string()),
        "created_at": iso, "observed_at": iso, "text": pa.array(np.full(n, "")),
        "hashtags": as_list(t["hashtag_id"], "h"), "links": as_list(t["url_id"], "u"),
    })
    csv = tmp / "coortweet-posts.csv"
    pacsv.write_csv(posts, csv)
    store = tmp / "store-coortweet"
    wall, cpu = import_store(csv, store)
    counts = pc.value_counts(t["hashtag_id"].drop_null()).to_pylist()
    top = max(counts, key=lambda c: c["counts"])
    swall, scpu, out = run(["-m", "purgewatch", "posts", "search", f"#h{top['values']}", "--json",
                            "--limit", "5", "--store", str(store)])
    import json

    matches = json.loads(out)["matches"]
    print(f"\n## CooRTweet german_elections: {n:,} shares as posts ({n_all - n:,} rows without a post id left out)")
    print(f"import  : {wall:.2f} s wall, {cpu:.2f} s CPU = {n / wall:,.0f} posts/s")
    print(f"search #h{top['values']} (most shared hashtag, {top['counts']:,} shares in the file): "
          f"{swall:.2f} s wall, {scpu:.2f} s CPU, {matches:,} posts matched")
    assert matches == top["counts"] or matches <= top["counts"], (matches, top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--search-posts", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--datasets", type=Path, default=DATASETS)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="pw-posts-bench-") as d:
        tmp = Path(d)
        section_import(tmp, args.posts, args.repeat)
        section_coortweet(tmp, args.datasets)
        if args.search_posts:
            section_search(tmp, args.search_posts, args.repeat)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
