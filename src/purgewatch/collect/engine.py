"""The collection engine: ``collect`` (one pass) and ``watch`` (a loop).

    watchlists ─► targets (platform, account as given, resolved id, group)
       │
       ├─ status cycle, every ``status_every``: connector.lookup in batches of ``batch``
       │   accounts, one store commit per batch (observations + resolved ids)
       ├─ followers cycle, every ``followers_every``: connector.followers per account,
       │   paging cursor saved after each page, one commit per account (a snapshot)
       ├─ posts cycle, every ``posts_every`` (watchlists with ``posts = true``, or
       │   ``collect --posts``): connector.read_posts per account over the last
       │   ``posts_window``, one commit per account (new post versions + the read)
       └─ Bluesky stream (optional): confirmed #account events -> status_events

Resuming after a kill: each cycle's start is saved (``state/watch.json``) before it
runs; on restart an unfinished cycle continues with the accounts that have no record
in the store since that start (the store, not a side file, says what was done, so a kill
between a commit and a state write cannot duplicate or skip an account). Follower lists
resume from their saved cursor. A finished cycle's next run is due at start + interval;
cycles missed during downtime are not invented. With a ``pacer`` (the demo's emulator
clock, ``purgewatch.sim.CyclePacer``) the pacer says when each cycle is due instead.

After each status cycle, the ``detect`` callable the caller passes (the CLI passes
``purgewatch.analysis.detect.detect``) runs off the event loop, and its events go to the
``on_detections`` hook (alerts). The engine itself never imports an analysis: data moves
one way, and collection works without them.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.collect.config import CollectConfig, WatchlistConfig, platform_settings
from purgewatch.collect.logs import register_secret
from purgewatch.collect.posts import post_tables
from purgewatch.collect.state import CycleState, PagingStore
from purgewatch.errors import ConfigError, InputError, Location, PurgeWatchError
from purgewatch.model import TABLE_SCHEMAS, FollowerSnapshot, Observation, StatusEvent
from purgewatch.net.clock import Clock, SystemClock, to_datetime
from purgewatch.net.http import HostPolicy, HttpClient
from purgewatch.net.simtime import ScenarioTime
from purgewatch.sources import registry
from purgewatch.sources.protocol import (
    Connector,
    FollowerListing,
    PagingState,
    PostChecker,
    PostRead,
    PostReader,
)
from purgewatch.sources.registry import EventStream
from purgewatch.sources.wayback import BackfillResult, WaybackConnector
from purgewatch.store import BatchWriter, Store

log = logging.getLogger("purgewatch.collect")

KEEP_REPORTS = 1000
OBS_COLUMNS = [f.name for f in TABLE_SCHEMAS["observations"] if f.name not in ("retrieved_at", "tool_version", "batch_id", "record_key")]
EVENT_COLUMNS = ["platform", "account_id", "at", "status", "status_raw", "source", "source_ref", "payload_hash"]


@dataclass
class Target:
    platform: str
    account: str              # as written in the watchlist
    group: str
    label: str | None = None
    account_id: str | None = None   # resolved platform id, when known

    @property
    def ref(self) -> str:
        return self.account_id or self.account


class Progress(Protocol):
    def start(self, key: str, description: str, total: int) -> None: ...
    def advance(self, key: str, n: int = 1) -> None: ...
    def finish(self, key: str) -> None: ...


class Pacer(Protocol):
    """Says when the watch loop's cycles fall due, in place of the collector's clock.

    The demo passes its emulator's :class:`purgewatch.sim.CyclePacer`: scenario time
    waits for the cycles, so a slow machine slows the scenario instead of missing reads
    (docs/demo.md). ``due`` returns when the cycle ``key`` (run every ``every`` seconds)
    may begin; the loop then begins it at once."""

    async def due(self, key: str, every: float) -> None: ...


class NoProgress:
    def start(self, key: str, description: str, total: int) -> None:
        pass

    def advance(self, key: str, n: int = 1) -> None:
        pass

    def finish(self, key: str) -> None:
        pass


@dataclass
class CycleReport:
    watchlist: str
    kind: str                      # "status" | "followers" | "posts"
    started: datetime
    accounts: int = 0
    observed: int = 0
    skipped_done: int = 0          # already done before a restart
    unknown: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    snapshots: int = 0
    partial: int = 0
    skipped: list[str] = field(default_factory=list)
    resolved: int = 0
    detections: int = 0
    posts: int = 0                 # new post versions stored
    reads: dict[str, int] = field(default_factory=dict)   # post reads by answer
    incomplete: int = 0            # post reads that did not cover their whole window

    def to_json(self) -> dict[str, Any]:
        return {
            "watchlist": self.watchlist, "kind": self.kind, "started": self.started,
            "accounts": self.accounts, "observed": self.observed, "resumed_skip": self.skipped_done,
            "unknown": self.unknown, "statuses": self.statuses, "snapshots": self.snapshots,
            "partial_snapshots": self.partial, "skipped": self.skipped, "resolved": self.resolved,
            "detections": self.detections,
            **({"posts": self.posts, "reads": self.reads, "incomplete_reads": self.incomplete}
               if self.kind == "posts" else {}),
        }


def read_watchlist_csv(path: Path) -> list[Target]:
    """A FORMATS.md watchlist CSV: platform, account, group[, label]."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read watchlist: {exc}", location=Location(str(path))) from None
    with f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = {"platform", "account", "group"} - set(header)
        if missing:
            raise InputError(
                f"watchlist header lacks {sorted(missing)}",
                location=Location(str(path), 1),
                hint="columns: platform,account,group[,label]",
            )
        out = []
        live = registry.names()
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            for col in ("platform", "account", "group"):
                if not row.get(col):
                    raise InputError(f"empty {col}", location=Location(str(path), n, col))
            platform = row["platform"].lower()
            if platform not in live:
                raise InputError(
                    f"platform {row['platform']!r} has no live connector",
                    location=Location(str(path), n, "platform"),
                    hint=f"one of {', '.join(live)}",
                )
            out.append(Target(platform, row["account"], row["group"], row.get("label") or None))
    return out


def _obs_table(observations: Sequence[Observation]) -> pa.Table:
    rows = {c: [getattr(o, c, None) for o in observations] for c in OBS_COLUMNS}
    schema = pa.schema([TABLE_SCHEMAS["observations"].field(c) for c in OBS_COLUMNS])
    return pa.table(rows, schema=schema)


def _events_table(events: Sequence[StatusEvent]) -> pa.Table:
    schema = pa.schema([TABLE_SCHEMAS["status_events"].field(c) for c in EVENT_COLUMNS])
    return pa.table({c: [getattr(e, c) for e in events] for c in EVENT_COLUMNS}, schema=schema)


class Collector:
    """Runs collection against one store with one config."""

    def __init__(
        self,
        store: Store,
        config: CollectConfig,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        progress: Progress | None = None,
        detect: Callable[[Store], Sequence[Any]] | None = None,
        on_detections: Callable[[list[Any]], None] | None = None,
        on_cycle: Callable[[CycleReport], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.store = store
        self.pacer = pacer
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.transport = transport
        self.progress: Progress = progress or NoProgress()
        self.detect = detect
        self.on_detections = on_detections
        self.on_cycle = on_cycle
        self.cycles = CycleState(store.path)
        self.paging = PagingStore(store.path)
        # The latest cycles only: a watch runs for months and must not grow.
        self.reports: collections.deque[CycleReport] = collections.deque(maxlen=KEEP_REPORTS)
        self.http: HttpClient | None = None
        self._connectors: dict[str, Connector] = {}
        self._writer: BatchWriter | None = None
        self.stream: EventStream | None = None
        # The posts each account's last complete listing held (post id -> created_at).
        self._listed: dict[tuple[str, str], dict[str, datetime | None]] = {}
        self._write_lock = asyncio.Lock()
        self._commits_since_compact = 0
        self.scenario_time = ScenarioTime(config.sim_clock_url) if config.sim_clock_url else None
        for secret in config.secrets():
            register_secret(secret)

    # ------------------------------------------------------------------ plumbing
    def _make_http(self) -> HttpClient:
        cfg = self.config
        return HttpClient(
            clock=self.clock, transport=self.transport, timeout=cfg.timeout, retries=cfg.retries,
            backoff_base=cfg.backoff_base, max_rate_wait=cfg.max_rate_wait,
            hosts=cfg.host_policies(), default_policy=HostPolicy(concurrency=cfg.concurrency),
            stamp=self.scenario_time.stamp if self.scenario_time else None,
        )

    async def _sync_time(self) -> None:
        if self.scenario_time is not None and self.http is not None:
            await self.scenario_time.sync(self.http)

    def _now(self) -> float:
        """Cycle bookkeeping runs on the records' time, so resume compares like with like."""
        return self.http.stamp() if self.http is not None else self.clock.time()

    def connector(self, platform: str) -> Connector:
        conn = self._connectors.get(platform)
        if conn is not None:
            return conn
        assert self.http is not None
        spec = registry.spec(platform, live=True)
        conn = spec.build(self.http, self.config.platforms[platform])
        self._connectors[platform] = conn
        return conn

    @property
    def writer(self) -> BatchWriter:
        assert self._writer is not None, "only inside collect_once() or watch()"
        return self._writer

    # A watch commits a small batch per request group; thousands of them make every
    # later read (report, web UI) list and open thousands of files (the demo's 546
    # batches: report 43 s, 10 s once compacted). So the writer compacts as it goes;
    # compaction rewrites only the small batches (Store.compact).
    COMPACT_EVERY = 200

    def _commit(self, note: dict[str, Any]) -> None:
        self.writer.commit(note=json.dumps(note, sort_keys=True, default=str))
        self._commits_since_compact += 1
        if self._commits_since_compact >= self.COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        self.writer.compact()
        self._commits_since_compact = 0

    # ------------------------------------------------------------------ targets
    def targets(self, wl: WatchlistConfig) -> list[Target]:
        """The watchlist's accounts, with ids already resolved in the store."""
        from purgewatch.watchlist import current_watchlist

        current = current_watchlist(self.store)
        known = {(r["platform"], r["account"]): r for r in current.to_pylist()}
        if wl.file is not None:
            from purgewatch.watchlist import known_account_ids

            targets = read_watchlist_csv(wl.file)
            ids = known_account_ids(pa.array([t.platform for t in targets], pa.string()),
                                    pa.array([t.account for t in targets], pa.string())).to_pylist()
            for t, own_id in zip(targets, ids, strict=True):
                row = known.get((t.platform, t.account))
                t.account_id = own_id or (row["account_id"] if row is not None else None)
            self._register(targets, source=f"collect:{wl.file.name}")
            return targets
        rows = [r for r in current.to_pylist() if wl.group is None or r["group"] == wl.group]
        live = set(registry.names())
        return [Target(r["platform"], r["account"], r["group"], r["label"], r["account_id"])
                for r in rows if r["platform"] in live]

    def _register(self, targets: Sequence[Target], *, source: str) -> int:
        """Write watchlist rows for new or changed entries (groups for analysis; ids)."""
        from purgewatch.watchlist import known_account_ids, watchlist_changes

        if not targets:
            return 0
        entries = pa.table({
            "platform": [t.platform for t in targets],
            "account": [t.account for t in targets],
            "group": [t.group for t in targets],
            "label": pa.array([t.label for t in targets], pa.string()),
            "account_id": pa.array([t.account_id for t in targets], pa.string()),
        })
        ids = known_account_ids(entries["platform"], entries["account"])
        entries = entries.set_column(4, "account_id", pc.coalesce(entries["account_id"], ids))
        rows, change = watchlist_changes(self.store, entries, source=source, at=to_datetime(self._now()))
        if rows.num_rows:
            self.writer.add("watchlist", rows)
            self._commit({"collect": "watchlist", "source": source})
        return change.added + change.changed

    # ------------------------------------------------------------------ cycles
    def _done_since(self, table: str, platform: str, since: datetime, ids: set[str],
                    col: str = "observed_at") -> set[str]:
        """Accounts of ``ids`` with a record in ``table`` at or after ``since`` (resume)."""
        data = self.store.read(table, columns=["platform", "account_id", col])
        if data.num_rows == 0:
            return set()
        mask = pc.and_(pc.equal(data["platform"], platform),
                       pc.greater_equal(data[col], pa.scalar(since, data.schema.field(col).type)))
        done = set(data.filter(mask)["account_id"].to_pylist())
        return done & ids

    async def status_cycle(self, wl: WatchlistConfig, targets: list[Target], *, resume_from: float | None) -> CycleReport:
        key = f"{wl.name}/status"
        await self._sync_time()
        started = resume_from if resume_from is not None else self._now()
        if resume_from is None:
            self.cycles.start(key, started, self.clock.time())
        report = CycleReport(wl.name, "status", to_datetime(started), accounts=len(targets))
        todo = list(targets)
        if resume_from is not None:
            by_platform: dict[str, set[str]] = {}
            for t in targets:
                by_platform.setdefault(t.platform, set()).add(t.ref)
            done: set[tuple[str, str]] = set()
            for platform, refs in by_platform.items():
                done |= {(platform, a) for a in self._done_since("observations", platform, to_datetime(started), refs)}
            todo = [t for t in targets if (t.platform, t.ref) not in done]
            report.skipped_done = len(targets) - len(todo)
        self.progress.start(key, f"{wl.name}: statuses", len(targets))
        self.progress.advance(key, report.skipped_done)
        groups: dict[str, list[Target]] = {}
        for t in todo:
            groups.setdefault(t.platform, []).append(t)
        await asyncio.gather(*(self._status_platform(wl, p, ts, report) for p, ts in groups.items()))
        self.progress.finish(key)
        self.cycles.finish(key, self._now())
        await self._after_status(report)
        return report

    async def _status_platform(self, wl: WatchlistConfig, platform: str, targets: list[Target], report: CycleReport) -> None:
        conn = self.connector(platform)
        size = max(1, self.config.batch)
        chunks = [targets[i : i + size] for i in range(0, len(targets), size)]
        # Two chunks fetched at a time keep the host's budget busy across chunk edges;
        # they are written in order, one commit each.
        ahead = asyncio.Semaphore(2)

        async def fetch(chunk: list[Target]) -> list[Observation]:
            async with ahead:
                return await conn.lookup([t.ref for t in chunk])

        fetches = [asyncio.create_task(fetch(c)) for c in chunks]
        try:
            await self._write_in_order(wl, platform, chunks, fetches, report)
        finally:
            for f in fetches:
                if f.done() and not f.cancelled():
                    f.exception()  # retrieved: the first failure is what propagates
                f.cancel()

    async def _write_in_order(self, wl: WatchlistConfig, platform: str, chunks: list[list[Target]],
                              fetches: list[asyncio.Task[list[Observation]]], report: CycleReport) -> None:
        writing_box: list[asyncio.Task[None] | None] = [None]  # the write in progress
        try:
            await self._fetch_and_write(wl, platform, chunks, fetches, report, writing_box)
        finally:
            # Whatever happens, let the batch being written finish (it is atomic anyway).
            pending = writing_box[0]
            if pending is not None:
                await asyncio.wait([pending])

    async def _fetch_and_write(self, wl: WatchlistConfig, platform: str, chunks: list[list[Target]],
                               fetches: list[asyncio.Task[list[Observation]]], report: CycleReport,
                               writing_box: list[asyncio.Task[None] | None]) -> None:
        for chunk, fetched in zip(chunks, fetches, strict=True):
            observations = await fetched
            if len(observations) != len(chunk):  # the protocol promises one per account
                raise PurgeWatchError(f"{platform} connector returned {len(observations)} observations for {len(chunk)} accounts")
            resolved = []
            for t, o in zip(chunk, observations, strict=True):
                report.observed += 1
                report.statuses[o.status] = report.statuses.get(o.status, 0) + 1
                if o.status == "unknown":
                    report.unknown += 1
                if t.account_id is None and o.account_id != t.account and o.status != "unknown":
                    t.account_id = o.account_id
                    resolved.append(t)

            def write(observations: list[Observation] = observations, resolved: list[Target] = resolved,
                      n: int = len(chunk)) -> None:
                self.writer.add("observations", _obs_table(observations))
                if resolved:
                    report.resolved += self._register_resolved(resolved)
                self._commit({"collect": "status", "watchlist": wl.name, "platform": platform, "accounts": n})

            # The next chunk is fetched while this one is written (one write at a time).
            if writing_box[0] is not None:
                await writing_box[0]
            writing_box[0] = asyncio.create_task(self._write(write, advance=(f"{wl.name}/status", len(chunk))))
        if writing_box[0] is not None:
            await writing_box[0]

    async def _write(self, fn: Callable[[], None], *, advance: tuple[str, int] | None = None) -> None:
        """Run store work (add rows + commit: one atomic batch) off the event loop so
        requests keep flowing, one batch at a time."""
        async with self._write_lock:
            await asyncio.to_thread(fn)
        if advance is not None:
            self.progress.advance(*advance)

    def _register_resolved(self, targets: list[Target]) -> int:
        from purgewatch.watchlist import watchlist_changes

        entries = pa.table({
            "platform": [t.platform for t in targets], "account": [t.account for t in targets],
            "group": [t.group for t in targets], "label": pa.array([t.label for t in targets], pa.string()),
            "account_id": [t.account_id for t in targets],
        })
        rows, change = watchlist_changes(self.store, entries, source="collect:resolve",
                                         at=to_datetime(self._now()))
        if rows.num_rows:
            self.writer.add("watchlist", rows)
        return change.changed + change.added

    async def followers_cycle(self, wl: WatchlistConfig, targets: list[Target], *, resume_from: float | None) -> CycleReport:
        from purgewatch.store.snapshots import add_snapshot

        key = f"{wl.name}/followers"
        await self._sync_time()
        started = resume_from if resume_from is not None else self._now()
        if resume_from is None:
            self.cycles.start(key, started, self.clock.time())
        report = CycleReport(wl.name, "followers", to_datetime(started), accounts=len(targets))
        listing = {name for name, spec in registry.specs().items() if spec.followers}
        todo = [t for t in targets if t.platform in listing]
        unresolved = [t for t in todo if t.account_id is None]
        for t in unresolved:
            report.skipped.append(f"{t.platform}:{t.account}: id not resolved yet (run a status cycle first)")
        todo = [t for t in todo if t.account_id is not None]
        if resume_from is not None:
            done: set[tuple[str, str]] = set()
            for platform in {t.platform for t in todo}:
                refs = {t.ref for t in todo if t.platform == platform}
                done |= {(platform, a) for a in self._done_since("snapshots", platform, to_datetime(started), refs)}
            before = len(todo)
            todo = [t for t in todo if (t.platform, t.ref) not in done]
            report.skipped_done = before - len(todo)
        self.progress.start(key, f"{wl.name}: follower lists", len(todo) + report.skipped_done)
        self.progress.advance(key, report.skipped_done)

        async def one(t: Target) -> None:
            assert t.account_id is not None
            conn = self.connector(t.platform)
            resume = self.paging.load(t.platform, t.account_id)

            def save(state: PagingState) -> None:
                self.paging.save(state)

            listing: FollowerListing = await conn.followers(t.account_id, resume=resume, on_page=save)
            snap = listing.snapshot
            if snap is not None and snap.completed_at is None:
                # The last page has just been read: a list read across an event mixes
                # before and after, and explain needs to know when the read ended.
                snap.completed_at = to_datetime(self._now())
            if snap is None:
                report.skipped.append(f"{t.platform}:{t.ref}: {listing.skipped}")
                log.info("follower list skipped", extra={"account": f"{t.platform}:{t.ref}", "reason": listing.skipped})
            else:
                def write(snap: FollowerSnapshot = snap) -> None:
                    add_snapshot(self.writer, platform=snap.platform, account_id=snap.account_id,
                                 observed_at=snap.observed_at, follower_ids=snap.follower_ids,
                                 partial=snap.partial, ordered=snap.ordered, source=snap.source,
                                 source_ref=snap.source_ref, completed_at=snap.completed_at)
                    self._commit({"collect": "followers", "watchlist": wl.name, "account": f"{t.platform}:{t.ref}",
                                  "partial": snap.partial, "error": listing.error})

                await self._write(write)
                report.snapshots += 1
                if snap.partial:
                    report.partial += 1
                    report.skipped.append(f"{t.platform}:{t.ref}: partial: {listing.error}")
            # Only now is the listing in the store (or deliberately not): drop the cursor.
            self.paging.clear(t.platform, t.account_id)
            self.progress.advance(key)

        # Accounts on different hosts proceed together; the host limiters pace them.
        sem = asyncio.Semaphore(max(1, self.config.concurrency))

        async def guarded(t: Target) -> None:
            async with sem:
                await one(t)

        await asyncio.gather(*(guarded(t) for t in todo))
        self.progress.finish(key)
        self.cycles.finish(key, self._now())
        return report

    async def posts_cycle(self, wl: WatchlistConfig, targets: list[Target], *, resume_from: float | None) -> CycleReport:
        """Read each account's posts of the last ``posts_window`` (one read logged per
        account, whatever it found) and store the versions not stored yet."""
        key = f"{wl.name}/posts"
        await self._sync_time()
        started = resume_from if resume_from is not None else self._now()
        if resume_from is None:
            self.cycles.start(key, started, self.clock.time())
        report = CycleReport(wl.name, "posts", to_datetime(started), accounts=len(targets))
        todo = []
        for t in targets:
            # A Telegram channel's name is its id; elsewhere a read needs the resolved id.
            if t.account_id is None and t.platform != "telegram":
                report.skipped.append(f"{t.platform}:{t.account}: id not resolved yet (run a status cycle first)")
            else:
                todo.append(t)
        if resume_from is not None:
            done: set[tuple[str, str]] = set()
            for platform in {t.platform for t in todo}:
                refs = {t.ref for t in todo if t.platform == platform}
                done |= {(platform, a) for a in
                         self._done_since("post_reads", platform, to_datetime(started), refs, col="read_at")}
            before = len(todo)
            todo = [t for t in todo if (t.platform, t.ref) not in done]
            report.skipped_done = before - len(todo)
        self.progress.start(key, f"{wl.name}: posts", len(todo) + report.skipped_done)
        self.progress.advance(key, report.skipped_done)
        since = to_datetime(self._now()) - timedelta(seconds=wl.posts_window)

        # Reads are written in batches of ``batch`` accounts, one commit each (the resume
        # granularity, as for statuses): a commit per account made a posts pass cost as
        # many store batches as accounts.
        pending: list[tuple[Target, PostRead]] = []

        async def flush() -> None:
            batch, pending[:] = list(pending), []
            if not batch:
                return

            def write(batch: list[tuple[Target, PostRead]] = batch) -> None:
                for _, read in batch:
                    posts, reads = post_tables(read)
                    report.posts += self.writer.add("posts", posts)
                    self.writer.add("post_reads", reads)
                self._commit({"collect": "posts", "watchlist": wl.name, "accounts": len(batch),
                              "answers": sorted({r.answer for _, r in batch})})

            await self._write(write, advance=(key, len(batch)))

        async def one(t: Target) -> None:
            conn = self.connector(t.platform)
            if not isinstance(conn, PostReader):
                report.skipped.append(f"{t.platform}:{t.ref}: the connector does not read posts")
                self.progress.advance(key)
                return
            read: PostRead = await conn.read_posts(t.ref, since=since, max_pages=wl.posts_pages)
            checked = await self._check_missing(conn, t, read)
            report.observed += 1
            report.reads[read.answer] = report.reads.get(read.answer, 0) + 1
            if not read.complete:
                report.incomplete += 1
                report.skipped.append(f"{t.platform}:{t.ref}: {read.answer}, incomplete: {read.detail}")
            pending.append((t, read))
            pending.extend((t, r) for r in checked)
            if len(pending) >= max(1, self.config.batch):
                await flush()

        # One account at a time: a posts pass is background work, and it shares the hosts'
        # request slots with the status and follower cycles (in the demo, reading posts
        # concurrently slowed the follower lists that explain needs by 40%).
        sem = asyncio.Semaphore(1)

        async def guarded(t: Target) -> None:
            async with sem:
                await one(t)

        await asyncio.gather(*(guarded(t) for t in todo))
        await flush()
        self.progress.finish(key)
        self.cycles.finish(key, self._now())
        return report

    async def _check_missing(self, conn: Any, t: Target, read: PostRead) -> list[PostRead]:
        """After a complete listing, ask directly for the posts the previous complete
        listing of this account (in this process) held and this one, covering their
        time, does not: a platform's "not found" is a deletion's direct evidence."""
        key = (t.platform, t.ref)
        if not (read.complete and read.answer == "ok"):
            return []
        before = self._listed.get(key, {})
        self._listed[key] = {p.post_id: p.created_at for p in read.posts}
        now = set(self._listed[key])
        start = read.window_start
        missing = [pid for pid, created in before.items()
                   if pid not in now and created is not None and (start is None or created >= start)]
        if not missing or not isinstance(conn, PostChecker):
            return []
        return await conn.check_posts(t.ref, missing)

    async def _after_status(self, report: CycleReport) -> None:
        fn = self.detect
        if not self.config.detect or fn is None:
            return
        try:
            # Off the event loop: the stream and other cycles keep going meanwhile.
            events = list(await asyncio.to_thread(fn, self.store))
        except Exception as exc:  # a detector failure must never stop evidence collection
            log.warning("detection failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            return
        report.detections = len(events)
        if self.on_detections is not None and events:
            self.on_detections(events)

    def _record(self, report: CycleReport) -> None:
        self.reports.append(report)
        log.info(f"{report.kind} cycle done", extra={"event": "cycle", **report.to_json()})
        if self.on_cycle is not None:
            self.on_cycle(report)

    # ------------------------------------------------------------------ runs
    @asynccontextmanager
    async def session(self) -> AsyncIterator[Collector]:
        """The HTTP client (rate budgets, retries, scenario time when configured) open for
        ad-hoc use of :meth:`connector`, e.g. to look up lost followers."""
        await self._open()
        try:
            yield self
        finally:
            await self._close()

    async def _open(self) -> None:
        self.http = self._make_http()
        await self._sync_time()

    async def _close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None
        self._connectors.clear()

    async def backfill_archive(self, accounts: Sequence[tuple[str, str | None]], *, start: str | None = None,
                               end: str | None = None) -> list[BackfillResult]:
        """Follower-count history of X accounts from web-archive captures, stored as
        observations (source ``web-archive``, the capture URL as ``source_ref``).
        ``accounts``: (handle, X id or None); ``start``/``end``: ``YYYYMMDD``."""
        await self._open()
        results = []
        try:
            with self.store.writer(command="collect --archive", source="web-archive") as w:
                self._writer = w
                assert self.http is not None
                conn = registry.spec("wayback").build(self.http, self.config.platforms["wayback"])
                assert isinstance(conn, WaybackConnector)
                key = "archive"
                self.progress.start(key, "web archive", len(accounts))
                for handle, account_id in accounts:
                    result = await conn.backfill(handle, account_id=account_id, start=start, end=end)
                    results.append(result)
                    if result.observations:
                        def write(result: BackfillResult = result, handle: str = handle) -> None:
                            self.writer.add("observations", _obs_table(result.observations))
                            self._commit({"collect": "archive", "handle": handle, "captures": result.captures,
                                          "without_count": result.without_count})

                        await self._write(write)
                    log.info("archive backfill", extra={"event": "archive", "handle": handle,
                                                        "captures": result.captures,
                                                        "observations": len(result.observations),
                                                        "without_count": result.without_count,
                                                        "failures": len(result.failures)})
                    self.progress.advance(key)
                self.progress.finish(key)
        finally:
            self._writer = None
            await self._close()
        return results

    def _check_connectors(self, plans: list[tuple[WatchlistConfig, list[Target]]]) -> None:
        """Fail before any request when a watched platform cannot be collected (no token)."""
        for platform in sorted({t.platform for _, ts in plans for t in ts}):
            self.connector(platform)

    async def collect_once(self, *, followers: bool = False, posts: bool = False) -> list[CycleReport]:
        """One status pass over every watchlist (and one follower pass, one posts pass,
        if asked or set on the watchlist)."""
        await self._open()
        try:
            with self.store.writer(command="collect", source="collect") as w:
                self._writer = w
                plans = [(wl, self.targets(wl)) for wl in self.config.watchlists]
                self._check_connectors(plans)
                for wl, targets in plans:
                    prev = self.cycles.get(f"{wl.name}/status")
                    resume = prev["started"] if prev and prev.get("finished") is None else None
                    self._record(await self.status_cycle(wl, targets, resume_from=resume))
                    if followers or wl.followers:
                        prev = self.cycles.get(f"{wl.name}/followers")
                        resume = prev["started"] if prev and prev.get("finished") is None else None
                        self._record(await self.followers_cycle(wl, targets, resume_from=resume))
                    if posts or wl.posts:
                        prev = self.cycles.get(f"{wl.name}/posts")
                        resume = prev["started"] if prev and prev.get("finished") is None else None
                        self._record(await self.posts_cycle(wl, targets, resume_from=resume))
        finally:
            self._writer = None
            await self._close()
        return list(self.reports)

    async def watch(self, *, cycles: int | None = None, stop: asyncio.Event | None = None) -> list[CycleReport]:
        """Loop until ``stop`` is set (or each watchlist has run ``cycles`` status cycles)."""
        stop = stop or asyncio.Event()
        await self._open()
        try:
            with self.store.writer(command="watch", source="collect") as w:
                self._writer = w
                plans = [(wl, self.targets(wl)) for wl in self.config.watchlists]
                self._check_connectors(plans)
                tasks: list[asyncio.Task[None]] = []
                for wl, targets in plans:
                    tasks.append(asyncio.create_task(self._loop(wl, targets, "status", cycles, stop),
                                                     name=f"{wl.name}/status"))
                    if wl.followers:
                        tasks.append(asyncio.create_task(self._loop(wl, targets, "followers", None, stop),
                                                         name=f"{wl.name}/followers"))
                    if wl.posts:
                        tasks.append(asyncio.create_task(self._loop(wl, targets, "posts", None, stop),
                                                         name=f"{wl.name}/posts"))
                stream_task = None
                stream = self._open_stream(plans)
                if stream is not None:
                    stream_task = asyncio.create_task(self._stream(stream, stop))
                status_tasks = [t for t in tasks if t.get_name().endswith("/status")]
                stop_task = asyncio.create_task(stop.wait())
                live: set[asyncio.Task[Any]] = set(tasks) | ({stream_task} if stream_task else set())
                try:
                    while True:
                        done, _ = await asyncio.wait(live | {stop_task}, return_when=asyncio.FIRST_COMPLETED)
                        for t in done:
                            if t is not stop_task and not t.cancelled() and t.exception() is not None:
                                raise t.exception()  # type: ignore[misc]
                        live -= done
                        if stop_task in done or (cycles is not None and all(t.done() for t in status_tasks)):
                            break
                finally:
                    stop.set()
                    for t in live | {stop_task}:
                        t.cancel()
                    await asyncio.gather(*live, stop_task, return_exceptions=True)
                if self._commits_since_compact >= 20:  # leave a tidy store behind
                    w.commit()
                    self._compact()
        finally:
            self._writer = None
            await self._close()
        return list(self.reports)

    async def _loop(self, wl: WatchlistConfig, targets: list[Target], kind: str, cycles: int | None, stop: asyncio.Event) -> None:
        key = f"{wl.name}/{kind}"
        every = {"status": wl.status_every, "followers": wl.followers_every, "posts": wl.posts_every}[kind]
        runs = 0
        while not stop.is_set() and (cycles is None or runs < cycles):
            prev = self.cycles.get(key)
            resume = None
            if prev and prev.get("finished") is None:
                resume = float(prev["started"])
            elif prev and self.pacer is None:
                due = float(prev.get("started_wall", prev["started"])) + every
                wait = due - self.clock.time()
                if wait > 0:
                    if await _sleep_or_stop(self.clock, wait, stop):
                        return
            if self.pacer is not None and await _until_or_stop(self.pacer.due(key, every), stop):
                return
            if kind == "status":
                report = await self.status_cycle(wl, targets, resume_from=resume)
            elif kind == "posts":
                report = await self.posts_cycle(wl, targets, resume_from=resume)
            else:
                report = await self.followers_cycle(wl, targets, resume_from=resume)
            self._record(report)
            runs += 1

    def _open_stream(self, plans: list[tuple[WatchlistConfig, list[Target]]]) -> EventStream | None:
        """The event stream of the first platform whose settings ask for one (at most one
        runs: only Bluesky's Jetstream exists)."""
        for name, spec in registry.specs().items():
            watched = {t.account_id for _, ts in plans for t in ts if t.platform == name and t.account_id}
            if spec.stream is None or not watched:
                continue
            stream = spec.stream(self.connector(name), self.config.platforms[name], watched, self.store.path)
            if stream is not None:
                return stream
        return None

    async def _stream(self, stream: EventStream, stop: asyncio.Event) -> None:
        self.stream = stream
        try:
            async for event in stream.events(stop):
                def write(event: StatusEvent = event) -> None:
                    self.writer.add("status_events", _events_table([event]))
                    self._commit({"collect": "stream", "account": event.account_id})

                await self._write(write)
                stream.save_cursor()
                log.info("status event", extra={"event": "status_event", "account": event.account_id,
                                                "status": event.status, "at": event.at})
        finally:
            # Every event handed over so far is committed: the cursor may move past them.
            stream.save_cursor()


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> bool:
    """Sleep ``seconds`` on ``clock``; True if ``stop`` was set meanwhile."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
    sleeper.cancel()
    stopper.cancel()
    return stop.is_set()


async def _until_or_stop(waiting: Awaitable[None], stop: asyncio.Event) -> bool:
    """Wait for ``waiting``; True if ``stop`` was set first."""
    waiter = asyncio.ensure_future(waiting)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if waiter.done():
        waiter.result()  # a failing pacer fails the loop, as any cycle error does
    else:
        waiter.cancel()
    return stop.is_set()


def default_config_for(watchlist: Path, *, platforms: dict[str, str] | None = None) -> CollectConfig:
    """A config for ``collect --watchlist FILE`` without a config file; ``platforms``
    maps ``NAME[:QUALIFIER]`` (``mastodon:INSTANCE``) to a base URL, which the platform's
    connector turns into its ``[platforms.NAME]`` table."""
    tables: dict[str, dict[str, Any]] = {}
    usage = ", ".join(s.base_url_usage for s in registry.specs().values() if s.base_url is not None)
    for key, url in (platforms or {}).items():
        name, _, qualifier = key.partition(":")
        spec = registry.specs().get(name)
        if spec is None or spec.base_url is None:
            raise ConfigError(f"--base-url {key}=...: unknown platform key", hint=usage)
        table = tables.setdefault(name, {})
        for k, v in spec.base_url(url, qualifier or None).items():
            table[k] = {**table[k], **v} if isinstance(v, dict) and isinstance(table.get(k), dict) else v
    cfg = CollectConfig(watchlists=[WatchlistConfig(name=watchlist.stem, file=watchlist)])
    cfg.platforms = platform_settings(tables, "--base-url")
    return cfg

