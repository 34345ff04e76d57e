"""Looking lost followers up live, for explain: what became of the accounts the store
has no fate for.

:func:`fate_resolver` builds the look-up that :func:`purgewatch.analysis.explain.explain`
takes as ``resolve``: it asks the platform through a connector (the collection engine's,
so look-ups share its rate budgets) and records every answer as ``profiles`` evidence.
Transport failures are counted, never recorded as a status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pyarrow as pa

from purgewatch.collect.config import CollectConfig, load_config
from purgewatch.collect.engine import Collector
from purgewatch.errors import SourceError
from purgewatch.model import TABLE_SCHEMAS, Observation
from purgewatch.store import Store

RESOLVE_BATCH = 100        # ids per connector look-up call
RESOLVE_LIMIT = 10_000     # at most this many live look-ups per explain


@asynccontextmanager
async def _live_connector(
    store: Store, platform: str, config: Any | None, transport: Any | None = None
) -> AsyncIterator[Any]:
    """The platform's live connector from the collection engine (its HTTP client with
    rate budgets and retries), configured like ``collect``: a config file when given,
    else defaults plus tokens from the environment."""
    if config is None:
        cfg = CollectConfig()
    elif isinstance(config, CollectConfig):
        cfg = config
    else:
        cfg = load_config(config)
    async with Collector(store, cfg, transport=transport).session() as col:
        yield col.connector(platform)


def resolve_fates(
    store: Store,
    platform: str,
    account_ids: Sequence[str],
    *,
    connector: Any | None = None,
    config: Any | None = None,
    transport: Any | None = None,
    batch: int = RESOLVE_BATCH,
    limit: int = RESOLVE_LIMIT,
) -> dict[str, Any]:
    """Look ``account_ids`` up live through a connector (``connector``, else the one the
    collection engine builds for ``platform`` from ``config``: a path to a collect TOML,
    a ``CollectConfig`` or None; ``transport`` is an httpx transport for tests and the
    emulator) and store the answers as
    ``profiles`` evidence (source = the connector's). Answers with status ``unknown``
    (transport failures, per the connector contract) are stored too - they keep the
    reason - but never count as a fate."""
    todo = list(account_ids)[:limit]
    observations: list[Observation] = []
    failures = 0
    source = platform

    async def lookups(conn: Any) -> None:
        nonlocal failures, source
        source = str(getattr(conn, "source", platform))
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            try:
                got = await conn.lookup(chunk)
            except SourceError:
                failures += len(chunk)  # transport failure: nothing learnt, nothing stored
                continue
            observations.extend(got)

    async def run() -> None:
        if connector is not None:
            await lookups(connector)
            return
        async with _live_connector(store, platform, config, transport) as conn:
            await lookups(conn)

    if todo:
        asyncio.run(run())
    if observations:
        _store_profiles(store, observations, source=source)
    known = sum(1 for o in observations if o.status != "unknown")
    return {
        "asked": len(todo),
        "skipped_over_limit": max(len(account_ids) - limit, 0),
        "answered": known,
        "unknown": len(observations) - known,
        "failed": failures,
        "source": source,
    }


def _store_profiles(store: Store, observations: Iterable[Observation], *, source: str) -> None:
    schema = TABLE_SCHEMAS["profiles"]
    names = [f.name for f in schema if f.name not in ("retrieved_at", "tool_version", "batch_id", "record_key")]
    rows = [{k: getattr(o, k, None) for k in names} for o in observations]
    for r in rows:
        r["source"] = r["source"] or source
    table = pa.Table.from_pylist(rows, schema=pa.schema([schema.field(n) for n in names]))
    with store.writer(command="explain --resolve", source=source) as w:
        w.add("profiles", table)


def fate_resolver(
    store: Store,
    *,
    connector: Any | None = None,
    config: Any | None = None,
    transport: Any | None = None,
) -> Callable[[str, Sequence[str]], dict[str, Any]]:
    """The ``resolve`` argument of explain: ``(platform, account_ids) -> summary``, looking
    ids up through ``connector`` (else the engine's connector for the platform, built from
    ``config``: a collect TOML path, a ``CollectConfig`` or None; ``transport``: an httpx
    transport for tests and the emulator) and storing the answers in ``store``."""
    return partial(resolve_fates, store, connector=connector, config=config, transport=transport)
