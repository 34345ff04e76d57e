"""Explain a follower loss: who left (snapshot diff), what became of them (stored
statuses, optionally a live look-up), which other watched accounts lost the same
followers, and a verdict with the numbers behind it.

Public API: :func:`explain` (one account) and :func:`explain_many` (many accounts over
one window, sharing the work: every snapshot pair is diffed once, every lost follower's
fate is resolved in one query, overlaps come from one sparse matrix product).

Answers follow FORMATS.md (``purgewatch explain --json``); the verdict rules and their
thresholds are the module constants below, documented in docs/explain.md.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from statsmodels.stats.proportion import proportion_confint

from purgewatch.errors import AnalysisError, InputError, SourceError
from purgewatch.model import TABLE_SCHEMAS, Observation
from purgewatch.store import Store
from purgewatch.store import snapshots as snap

# ---- verdict thresholds (docs/explain.md) -------------------------------------------
MIN_LOST = 20              # fewer lost followers than this: insufficient_data
MIN_RESOLVED_SHARE = 0.5   # fates known for fewer than half the lost: insufficient_data
MAJORITY = 0.6             # a cause must explain >= 60% of the resolved lost followers ...
MAJORITY_LOWER = 0.5       # ... and the Wilson 95% lower bound of that share must be >= 50%
LOW_COVERAGE = 0.5         # diff explains < 50% of the count drop: caveat
RESOLVE_BATCH = 100        # ids per connector look-up call
RESOLVE_LIMIT = 10_000     # at most this many live look-ups per explain

FATES = ("suspended", "takendown", "deleted", "deactivated", "unfollowed", "unknown")
# Stored status word -> fate of a lost follower.
STATUS_TO_FATE: dict[str, str] = {
    "suspended": "suspended",
    "takendown": "takendown",
    "deleted": "deleted",
    "not_found": "deleted",      # X and Bluesky cannot tell deleted from not found
    "deactivated": "deactivated",
    "active": "unfollowed",      # still there: it left by its own (or its owner's) choice
    "protected": "unfollowed",
    "limited": "unfollowed",
}


def _iso(t: Any) -> str | None:
    if t is None or (isinstance(t, float) and np.isnan(t)) or t is pd.NaT:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _utc(t: datetime | str | None, what: str) -> pd.Timestamp | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        raise InputError(f"{what} {t!r} has no time zone", hint="add Z or an offset, e.g. 2024-05-01T00:00:00Z")
    return ts.tz_convert("UTC")


@dataclass
class _Pair:
    platform: str
    account_id: str
    old: dict[str, Any]
    new: dict[str, Any]
    removed: np.ndarray
    added: np.ndarray


def _snapshot_meta(store: Store, platform: str | None = None) -> pd.DataFrame:
    meta = snap.list_snapshots(store, platform=platform).to_pandas()
    return meta


def _select_pair(
    meta: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Two complete snapshots of one account bracketing the window.

    With a window: old = the last complete snapshot at or before ``start`` (else the first
    after it), new = the first complete snapshot at or after ``end`` (else the last before
    it). Without: the consecutive complete pair with the largest fall in list size, or the
    last two when the list never shrank."""
    m = meta[~meta["partial"]].sort_values("observed_at")
    if len(m) < 2:
        return None
    t = m["observed_at"]
    if start is None and end is None:
        n = m["n_followers"].to_numpy()
        falls = n[:-1] - n[1:]
        i = int(np.argmax(falls)) if falls.max() > 0 else len(m) - 2
        return _row(m.iloc[i]), _row(m.iloc[i + 1])
    lo = start if start is not None else t.iloc[0]
    hi = end if end is not None else t.iloc[-1]
    before = m[t <= lo]
    old = before.iloc[-1] if len(before) else m[t >= lo].iloc[0]
    after = m[(t >= hi) & (t > old["observed_at"])]
    if len(after):
        new = after.iloc[0]
    else:
        cands = m[(t <= hi) & (t > old["observed_at"])]
        if not len(cands):
            return None
        new = cands.iloc[-1]
    return _row(old), _row(new)


def _row(s: pd.Series) -> dict[str, Any]:
    return {str(k): v for k, v in s.items()}


def _snap_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": s["snapshot_id"],
        "observed_at": _iso(s["observed_at"]),
        "n_followers": int(s["n_followers"]),
        "partial": bool(s["partial"]),
        "source": _str_or_none(s.get("source")),
        "source_ref": _str_or_none(s.get("source_ref")),
    }


def _str_or_none(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


# ---------------------------------------------------------------- fates


def _fate_table(
    store: Store, platform: str, ids: pa.Array, after: dict[str, pd.Timestamp]
) -> pd.DataFrame:
    """Latest known status of each id, from profiles, observations and status_events
    recorded strictly after ``after[id]`` (the old snapshot's time). ``unknown`` records
    (failed look-ups) never override a known status."""
    if len(ids) == 0:
        return pd.DataFrame(columns=["account_id", "status", "at", "source", "table"])
    con = store.ibis()
    since = pd.DataFrame({"account_id": list(after.keys()), "since": list(after.values())})
    since["since"] = pd.to_datetime(since["since"], utc=True)
    wanted = ibis.memtable(since)
    parts = []
    for table, tcol in (("profiles", "observed_at"), ("observations", "observed_at"), ("status_events", "at")):
        t = con.table(table)
        t = t.filter((t.platform == platform) & (t.status != "unknown"))
        t = t.select(
            account_id=t.account_id, at=t[tcol], status=t.status, source=t.source,
            table=ibis.literal(table),
        )
        parts.append(t)
    u = ibis.union(*parts)
    j = u.join(wanted, "account_id")
    j = j.filter(j.at > j.since)
    w = ibis.window(group_by=j.account_id, order_by=[ibis.desc(j.at), j.table])
    ranked = j.mutate(_r=ibis.row_number().over(w))
    latest = ranked.filter(ranked._r == 0).select("account_id", "status", "at", "source", "table")
    return latest.to_pandas()


def _fates(
    lost_ids: pa.Array, latest: pd.DataFrame
) -> tuple[dict[str, int], pd.Series, dict[str, int]]:
    """Fate counts, per-id fates, and raw status word counts."""
    ids = pd.Series(lost_ids.to_pylist(), dtype="object")
    status = ids.map(latest.set_index("account_id")["status"]) if len(latest) else pd.Series(
        [None] * len(ids), dtype="object"
    )
    fate = status.map(STATUS_TO_FATE).fillna("unknown")
    counts = {f: 0 for f in FATES}
    for k, v in fate.value_counts().items():
        counts[str(k)] = int(v)
    raw = {str(k): int(v) for k, v in status.fillna("none").value_counts().items()}
    fate.index = ids
    return counts, fate, raw


# ---------------------------------------------------------------- live look-up


def _default_connector(platform: str) -> Any | None:
    """A connector from ``purgewatch.sources.<platform>`` (written by the collect work),
    or None when that module or a usable factory is not installed."""
    try:
        mod = importlib.import_module(f"purgewatch.sources.{platform}")
    except ImportError:
        return None
    for name in ("make_connector", "connector", "default_connector"):
        factory = getattr(mod, name, None)
        if callable(factory):
            return factory()
    for value in vars(mod).values():
        if isinstance(value, type) and getattr(value, "platform", None) == platform and hasattr(value, "lookup"):
            try:
                return value()
            except TypeError:
                return None
    return None


def resolve_fates(
    store: Store,
    platform: str,
    account_ids: Sequence[str],
    *,
    connector: Any | None = None,
    batch: int = RESOLVE_BATCH,
    limit: int = RESOLVE_LIMIT,
) -> dict[str, Any]:
    """Look ``account_ids`` up live through a connector and store the answers as
    ``profiles`` evidence (source = the connector's). Answers with status ``unknown``
    (transport failures, per the connector contract) are stored too - they keep the
    reason - but never count as a fate."""
    conn = connector if connector is not None else _default_connector(platform)
    if conn is None:
        raise SourceError(
            f"no connector for platform {platform!r} is available for --resolve",
            hint="install/configure the platform connector, or run without --resolve",
        )
    todo = list(account_ids)[:limit]
    observations: list[Observation] = []
    failures = 0

    async def run() -> None:
        nonlocal failures
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            try:
                got = await conn.lookup(chunk)
            except SourceError:
                failures += len(chunk)  # transport failure: nothing learnt, nothing stored
                continue
            observations.extend(got)

    asyncio.run(run())
    if observations:
        _store_profiles(store, observations, source=str(getattr(conn, "source", platform)))
    known = sum(1 for o in observations if o.status != "unknown")
    return {
        "asked": len(todo),
        "skipped_over_limit": max(len(account_ids) - limit, 0),
        "answered": known,
        "unknown": len(observations) - known,
        "failed": failures,
        "source": getattr(conn, "source", platform),
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


# ---------------------------------------------------------------- counts


def _count_evidence(store: Store, platform: str, account_ids: list[str]) -> pd.DataFrame:
    con = store.ibis()
    t = con.table("observations")
    t = t.filter((t.platform == platform) & t.account_id.isin(account_ids) & t.followers_count.notnull())
    return t.select("account_id", "observed_at", "followers_count", "source_ref").to_pandas()


def _count_at(obs: pd.DataFrame, when: pd.Timestamp) -> dict[str, Any] | None:
    """The follower count observed closest to ``when`` (ties: the earlier one)."""
    if obs.empty:
        return None
    d = (obs["observed_at"] - when).abs()
    row = obs.iloc[int(np.argmin(d.to_numpy()))]
    return {"observed_at": _iso(row["observed_at"]), "followers_count": int(row["followers_count"]),
            "source_ref": row["source_ref"]}


# ---------------------------------------------------------------- verdict


def _wilson(k: int, n: int) -> list[float | None]:
    if n == 0:
        return [None, None]
    lo, hi = proportion_confint(k, n, method="wilson")
    return [round(float(lo), 6), round(float(hi), 6)]


def _verdict(
    lost: int, gained: int, breakdown: dict[str, int], count_drop: int | None,
    overlap: list[dict[str, Any]], shared_share: float | None,
) -> tuple[str, dict[str, Any], list[str], list[str]]:
    net_drop = lost - gained
    resolved = lost - breakdown["unknown"]
    enforcement = breakdown["suspended"] + breakdown["takendown"]
    unfollowed = breakdown["unfollowed"]
    gone = breakdown["deleted"] + breakdown["deactivated"]
    numbers: dict[str, Any] = {
        "lost": lost,
        "resolved": resolved,
        "resolved_share": round(resolved / lost, 6) if lost else None,
        "enforcement": enforcement,
        "enforcement_share": round(enforcement / resolved, 6) if resolved else None,
        "enforcement_share_ci": _wilson(enforcement, resolved),
        "unfollowed_share": round(unfollowed / resolved, 6) if resolved else None,
        "unfollowed_share_ci": _wilson(unfollowed, resolved),
        "deleted_or_deactivated_share": round(gone / resolved, 6) if resolved else None,
        "count_drop": count_drop,
        "diff_net_drop": net_drop,
        # Share of the follower-count drop that the snapshot diff (lost - gained) shows.
        "diff_accounts_for": round(net_drop / count_drop, 6) if count_drop and count_drop > 0 else None,
        "lost_also_lost_by_other_watched": shared_share,
        "thresholds": {
            "min_lost": MIN_LOST, "min_resolved_share": MIN_RESOLVED_SHARE,
            "majority": MAJORITY, "majority_wilson_lower": MAJORITY_LOWER,
        },
    }
    reasons: list[str] = []
    caveats: list[str] = []
    if count_drop is not None and count_drop > 0 and net_drop / count_drop < LOW_COVERAGE:
        caveats.append(
            f"the snapshot diff shows a net loss of {net_drop} followers but the count fell by {count_drop}: "
            "the lists may have been read at different moments than the counts, or the platform "
            "hides removed accounts from counts and lists at different times"
        )
    if lost < MIN_LOST:
        reasons.append(f"only {lost} followers lost (< {MIN_LOST})")
        return "insufficient_data", numbers, reasons, caveats
    if resolved / lost < MIN_RESOLVED_SHARE:
        reasons.append(
            f"fate known for {resolved} of {lost} lost followers ({resolved / lost:.0%} < {MIN_RESOLVED_SHARE:.0%}); "
            "run with --resolve or import profiles/status events"
        )
        return "insufficient_data", numbers, reasons, caveats
    e_lo = numbers["enforcement_share_ci"][0]
    u_lo = numbers["unfollowed_share_ci"][0]
    if enforcement / resolved >= MAJORITY and e_lo is not None and e_lo >= MAJORITY_LOWER:
        reasons.append(
            f"{enforcement} of {resolved} resolved lost followers were suspended or taken down "
            f"({enforcement / resolved:.0%}, 95% CI {e_lo:.0%}–{numbers['enforcement_share_ci'][1]:.0%})"
        )
        verdict = "platform_enforcement"
    elif unfollowed / resolved >= MAJORITY and u_lo is not None and u_lo >= MAJORITY_LOWER:
        reasons.append(
            f"{unfollowed} of {resolved} resolved lost followers are still active ({unfollowed / resolved:.0%}, "
            f"95% CI {u_lo:.0%}–{numbers['unfollowed_share_ci'][1]:.0%}): they unfollowed"
        )
        verdict = "mass_unfollow"
    else:
        reasons.append(
            f"no single cause covers {MAJORITY:.0%} of the resolved lost followers: "
            f"enforcement {enforcement}, unfollowed {unfollowed}, deleted/deactivated {gone}"
        )
        verdict = "mixed"
    if overlap and shared_share is not None:
        reasons.append(
            f"{shared_share:.0%} of the lost followers were also lost by at least one other watched account "
            f"in the same window ({len(overlap)} accounts share some)"
        )
    return verdict, numbers, reasons, caveats


# ---------------------------------------------------------------- main entry points


def _targets_for(store: Store, account: str, platform: str | None, meta: pd.DataFrame) -> tuple[str, str]:
    """(platform, account_id) for ACCOUNT given as id, handle or watchlist entry."""
    m = meta if platform is None else meta[meta["platform"] == platform]
    hits = m[m["account_id"] == account][["platform", "account_id"]].drop_duplicates()
    if len(hits) == 0:
        # A handle: look it up in observations/profiles and in the watchlist.
        con = store.ibis()
        cand: set[tuple[str, str]] = set()
        for table in ("observations", "profiles"):
            t = con.table(table)
            q = t.filter(t.handle.lower() == account.lower().lstrip("@"))
            if platform:
                q = q.filter(q.platform == platform)
            for r in q.select("platform", "account_id").distinct().to_pyarrow().to_pylist():
                cand.add((r["platform"], r["account_id"]))
        wl = con.table("watchlist")
        q = wl.filter((wl.account == account) & wl.account_id.notnull())
        for r in q.select("platform", "account_id").distinct().to_pyarrow().to_pylist():
            if platform is None or r["platform"] == platform:
                cand.add((r["platform"], r["account_id"]))
        have = {(p, a) for p, a in zip(meta["platform"], meta["account_id"], strict=True)}
        with_snaps = sorted(c for c in cand if c in have)
        if len(with_snaps) == 1:
            return with_snaps[0]
        if len(with_snaps) > 1:
            raise InputError(
                f"account {account!r} matches several accounts: "
                + ", ".join(f"{p}:{a}" for p, a in with_snaps),
                hint="pass --platform, or the account id",
            )
        raise AnalysisError(
            f"no follower snapshots stored for account {account!r}"
            + (f" on {platform}" if platform else ""),
            hint="collect or import at least two complete follower lists of the account",
        )
    if len(hits) > 1:
        raise InputError(
            f"account id {account!r} exists on several platforms: {', '.join(hits['platform'])}",
            hint="pass --platform",
        )
    return str(hits.iloc[0]["platform"]), str(hits.iloc[0]["account_id"])


def _watched(store: Store) -> pd.DataFrame:
    from purgewatch.analysis.compare import watchlist_frame

    wl = watchlist_frame(store).copy()
    wl["account_id"] = wl["account_id"].fillna(wl["account"])
    return wl


def explain(
    store: Store,
    account: str,
    *,
    platform: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    resolve: bool = False,
    connector: Any | None = None,
    include_ids: bool = False,
) -> dict[str, Any]:
    """Explain the follower change of ``account`` (id, handle or watchlist name) over the
    window ``[start, end]`` (or, without one, the largest drop between consecutive
    complete snapshots). See docs/explain.md for every key of the answer."""
    meta = _snapshot_meta(store, platform)
    plat, acc = _targets_for(store, account, platform, meta)
    return explain_many(
        store, [(plat, acc)], start=start, end=end, resolve=resolve, connector=connector,
        include_ids=include_ids, _meta=meta, _requested={(plat, acc): account},
    )[0]


def explain_many(
    store: Store,
    accounts: Sequence[tuple[str, str]] | None = None,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    resolve: bool = False,
    connector: Any | None = None,
    include_ids: bool = False,
    _meta: pd.DataFrame | None = None,
    _requested: dict[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`explain` for many (platform, account_id) pairs (default: every watched
    account with snapshots). Each snapshot pair is diffed once and reused for the
    overlaps of every other account."""
    t0, t1 = _utc(start, "--from"), _utc(end, "--to")
    if t0 is not None and t1 is not None and t0 >= t1:
        raise InputError(f"--from {t0.isoformat()} is not before --to {t1.isoformat()}")
    meta = _meta if _meta is not None else _snapshot_meta(store)
    watched = _watched(store)
    if accounts is None:
        have = set(zip(meta["platform"], meta["account_id"], strict=True))
        accounts = sorted({(p, a) for p, a in zip(watched["platform"], watched["account_id"], strict=True)
                           if (p, a) in have})
    groups = {(p, a): g for p, a, g in zip(watched["platform"], watched["account_id"], watched["group"], strict=True)}
    by_acc = {k: v for k, v in meta.groupby(["platform", "account_id"], sort=False)}

    cache: dict[tuple[str, str, str], _Pair | None] = {}

    def pair_for(p: str, a: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> _Pair | None:
        m = by_acc.get((p, a))
        if m is None:
            return None
        sel = _select_pair(m, lo, hi)
        if sel is None:
            return None
        old, new = sel
        key = (p, old["snapshot_id"], new["snapshot_id"])
        if key not in cache:
            d = snap.diff_snapshots(store, old["snapshot_id"], new["snapshot_id"], complete=True)
            cache[key] = _Pair(p, a, old, new, d.removed, d.added)
        return cache[key]

    pairs = {k: pair_for(k[0], k[1], t0, t1) for k in accounts}

    # Fates: one query per platform over the union of lost followers.
    ids_by_pair: dict[tuple[str, str], pa.Array] = {}
    latest_by_platform: dict[str, pd.DataFrame] = {}
    resolve_info: dict[str, Any] | None = None
    for plat in sorted({k[0] for k in accounts}):
        keys = [k for k in accounts if k[0] == plat and pairs[k] is not None]
        if not keys:
            continue
        since: dict[str, pd.Timestamp] = {}
        for k in keys:
            pr = pairs[k]
            assert pr is not None
            ids = snap.sids_to_ids(store, plat, pr.removed)
            ids_by_pair[k] = ids
            t_old = pd.Timestamp(pr.old["observed_at"])
            for i in ids.to_pylist():
                if i is not None and (i not in since or t_old < since[i]):
                    since[i] = t_old
        latest = _fate_table(store, plat, pa.array(list(since.keys()), pa.string()), since)
        if resolve:
            known = set(latest["account_id"]) if len(latest) else set()
            todo = [i for i in since if i not in known]
            resolve_info = resolve_fates(store, plat, todo, connector=connector)
            latest = _fate_table(store, plat, pa.array(list(since.keys()), pa.string()), since)
        latest_by_platform[plat] = latest

    # Overlaps: removed sets of every watched account, bracketed like each target.
    results: list[dict[str, Any]] = []
    others_by_platform: dict[str, list[tuple[str, str]]] = {}
    for p, a in zip(watched["platform"], watched["account_id"], strict=True):
        if (p, a) in by_acc:
            others_by_platform.setdefault(p, []).append((p, a))
    counts_obs = {}
    for plat in {k[0] for k in accounts}:
        counts_obs[plat] = _count_evidence(store, plat, [k[1] for k in accounts if k[0] == plat])

    for k in accounts:
        plat, acc = k
        pr = pairs[k]
        base: dict[str, Any] = {
            "platform": plat,
            "account_id": acc,
            "account": (_requested or {}).get(k, acc),
            "group": groups.get(k),
            "window": {"from": _iso(t0), "to": _iso(t1)},
        }
        if pr is None:
            n_snap = len(by_acc.get(k, []))
            base.update({
                "lost": 0, "gained": 0, "lost_breakdown": {f: 0 for f in FATES}, "overlap": [],
                "verdict": "insufficient_data",
                "evidence": {"snapshots": [], "reasons": [
                    f"fewer than two complete follower snapshots bracket the window ({n_snap} stored)"
                ]},
            })
            results.append(base)
            continue
        ids = ids_by_pair[k]
        breakdown, fate, raw = _fates(ids, latest_by_platform[plat])
        # Overlap with every other watched account on the platform, same window.
        t_old, t_new = pd.Timestamp(pr.old["observed_at"]), pd.Timestamp(pr.new["observed_at"])
        others = [o for o in others_by_platform.get(plat, []) if o != k]
        other_pairs = [(o, pair_for(o[0], o[1], t_old, t_new)) for o in others]
        other_pairs = [(o, q) for o, q in other_pairs if q is not None and len(q.removed)]
        overlap, shared_share = _overlap(pr.removed, other_pairs, groups)
        obs = counts_obs[plat]
        obs = obs[obs["account_id"] == acc]
        c_old, c_new = _count_at(obs, t_old), _count_at(obs, t_new)
        if c_old is not None and c_new is not None:
            count_drop: int | None = c_old["followers_count"] - c_new["followers_count"]
            count_source = "observations"
        else:
            count_drop = int(pr.old["n_followers"]) - int(pr.new["n_followers"])
            count_source = "snapshot sizes"
        lost = int(len(pr.removed))
        verdict, numbers, reasons, caveats = _verdict(
            lost, int(len(pr.added)), breakdown, count_drop, overlap, shared_share
        )
        numbers["count_source"] = count_source
        base.update({
            "lost": lost,
            "gained": int(len(pr.added)),
            "net_change": int(len(pr.added)) - lost,
            "lost_breakdown": breakdown,
            "overlap": overlap,
            "verdict": verdict,
            "verdict_numbers": numbers,
            "evidence": {
                "snapshots": [_snap_json(pr.old), _snap_json(pr.new)],
                "counts": {"before": c_old, "after": c_new},
                "status_words": raw,
                "fate_sources": _fate_sources(latest_by_platform[plat], ids),
                "reasons": reasons,
                "caveats": caveats,
                "overlap_checked": len(others),
            },
        })
        if resolve_info is not None:
            base["evidence"]["resolve"] = resolve_info
        if include_ids:
            gained_ids = snap.sids_to_ids(store, plat, pr.added).to_pylist()
            base["lost_followers"] = [
                {"account_id": i, "fate": fate.get(i, "unknown")} for i in ids.to_pylist()
            ]
            base["gained_followers"] = gained_ids
        results.append(base)
    return results


def _fate_sources(latest: pd.DataFrame, ids: pa.Array) -> dict[str, int]:
    if latest.empty:
        return {}
    sub = latest[latest["account_id"].isin(set(ids.to_pylist()))]
    return {str(k): int(v) for k, v in sub["table"].value_counts().items()}


def _overlap(
    removed: np.ndarray,
    others: list[tuple[tuple[str, str], _Pair | None]],
    groups: dict[tuple[str, str], str],
) -> tuple[list[dict[str, Any]], float | None]:
    """Intersections of ``removed`` with each other account's removed set, via one sparse
    product (rows: accounts, columns: follower sids)."""
    if not len(removed) or not others:
        return [], (0.0 if len(removed) else None)
    sets = [q.removed for _, q in others if q is not None]
    lens = np.array([len(s) for s in sets])
    cols = np.concatenate(sets)
    rows = np.repeat(np.arange(len(sets)), lens)
    # Map sids to compact column numbers over the union with the target's set.
    universe, inv = np.unique(np.concatenate([removed, cols]), return_inverse=True)
    tgt_cols, oth_cols = inv[: len(removed)], inv[len(removed):]
    M = sparse.csr_matrix((np.ones(len(cols), np.int32), (rows, oth_cols)), shape=(len(sets), len(universe)))
    v = np.zeros(len(universe), np.int32)
    v[tgt_cols] = 1
    inter = M @ v
    # Share of the target's lost followers lost by at least one other account.
    shared = np.asarray((M.T @ np.ones(len(sets), np.int32)) > 0).ravel()
    shared_share = float(shared[tgt_cols].mean())
    out: list[dict[str, Any]] = []
    for (o, q), n in zip(others, inter, strict=True):
        if n <= 0 or q is None:
            continue
        union = len(removed) + len(q.removed) - int(n)
        out.append({
            "platform": o[0],
            "account_id": o[1],
            "group": groups.get(o),
            "shared_lost": int(n),
            "their_lost": int(len(q.removed)),
            "jaccard": round(int(n) / union, 6),
            "share_of_lost": round(int(n) / len(removed), 6),
            "window": [_iso(q.old["observed_at"]), _iso(q.new["observed_at"])],
        })
    out.sort(key=lambda d: (-int(d["shared_lost"]), str(d["account_id"])))
    return out, round(shared_share, 6)

