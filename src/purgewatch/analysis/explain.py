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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from purgewatch.analysis._interval import wilson_interval
from purgewatch.errors import AnalysisError, InputError
from purgewatch.model import carry_enforcement
from purgewatch.store import Store
from purgewatch.store import snapshots as snap
from purgewatch.timefmt import parse_zoned

# ---- verdict thresholds (docs/explain.md) -------------------------------------------
MIN_LOST = 20              # fewer lost followers than this: insufficient_data
MIN_RESOLVED_SHARE = 0.5   # fates known for fewer than half the lost: insufficient_data
MAJORITY = 0.6             # a cause must explain >= 60% of the resolved lost followers ...
MAJORITY_LOWER = 0.5       # ... and the Wilson 95% lower bound of that share must be >= 50%
LOW_COVERAGE = 0.5         # diff explains < 50% of the count drop: caveat

FATES = ("suspended", "takendown", "deleted", "deactivated", "unfollowed",
         "suspended_or_deleted", "not_found", "unknown")
# Stored status word -> fate of a lost follower. Each word keeps its own key: no platform
# said "deleted" of a ``not_found`` account, nor "suspended" of a ``suspended_or_deleted``
# one (docs/explain.md, "Fates").
STATUS_TO_FATE: dict[str, str] = {
    "suspended": "suspended",
    "takendown": "takendown",
    "deleted": "deleted",
    "not_found": "not_found",
    "suspended_or_deleted": "suspended_or_deleted",
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


class _Snaps:
    """One account's complete snapshots as sorted arrays (cheap to bracket repeatedly)."""

    def __init__(self, meta: pd.DataFrame) -> None:
        self.n_all = len(meta)
        m = meta[~meta["partial"].to_numpy(dtype=bool)]
        t = pd.to_datetime(m["observed_at"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        # When each list was wholly read (its last page); reads of one account don't
        # overlap, so this is sorted too. Lists imported from files only have observed_at.
        if "completed_at" in m.columns:
            done = pd.to_datetime(m["completed_at"], utc=True).dt.tz_localize(None)
            done = done.fillna(pd.Series(pd.to_datetime(m["observed_at"], utc=True).dt.tz_localize(None), index=done.index))
            self.done = np.maximum.accumulate(done.to_numpy(dtype="datetime64[ns]")[order])
        else:
            self.done = self.t
        self.n = m["n_followers"].to_numpy(dtype=np.int64)[order]
        self.rows = m.iloc[order]

    def row(self, i: int) -> dict[str, Any]:
        return _row(self.rows.iloc[i])

    def select(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> tuple[int, int] | None:
        t = self.t
        if len(t) < 2:
            return None
        if start is None and end is None:
            falls = self.n[:-1] - self.n[1:]
            i = int(np.argmax(falls)) if falls.max() > 0 else len(t) - 2
            return i, i + 1
        lo = _np_time(start) if start is not None else t[0]
        hi = _np_time(end) if end is not None else t[-1]
        # old = the last list wholly read by ``lo``: a list whose reading straddled the
        # window's start mixes before and after, and would hide part of the change.
        k = int(np.searchsorted(self.done, lo, side="right")) - 1    # last read by lo
        if k < 0:
            k = int(np.searchsorted(t, lo, side="left"))     # first >= lo
        j = int(np.searchsorted(t, hi, side="left"))         # first >= hi
        j = max(j, k + 1)
        if j < len(t):
            return k, j
        j = int(np.searchsorted(t, hi, side="right")) - 1    # last <= hi
        return (k, j) if j > k else None


def _np_time(t: pd.Timestamp) -> np.datetime64:
    return np.datetime64(pd.Timestamp(t).tz_convert("UTC").tz_localize(None), "ns")


def _select_pair(
    meta: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Two complete snapshots of one account bracketing the window.

    With a window: old = the last complete snapshot at or before ``start`` (else the first
    after it), new = the first complete snapshot at or after ``end`` and after old (else
    the last before ``end``). Without: the consecutive complete pair with the largest fall
    in list size, or the last two when the list never shrank."""
    sn = _Snaps(meta)
    sel = sn.select(start, end)
    return None if sel is None else (sn.row(sel[0]), sn.row(sel[1]))


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


def _fate_table(store: Store, platform: str, lost: pd.DataFrame) -> pd.DataFrame:
    """For each lost follower (``lost``: sid, since), its platform id and its latest known
    status recorded strictly after ``since``, from profiles, observations and
    status_events (ties: profiles, then observations, then events). ``unknown`` records
    (failed look-ups) never override a known status. One row per sid, sorted by sid;
    status null when nothing is known.

    Arrow dataset scans (projection and an ``is_in`` filter pushed into the Parquet
    reader) and pandas: the fate of 100k followers must come out of stores with
    millions of profile rows in well under a second."""
    cols = ["sid", "account_id", "status", "at", "source", "table"]
    if lost.empty:
        return pd.DataFrame(columns=cols)
    lost = lost.sort_values("sid", kind="stable").reset_index(drop=True)
    # Sids come from one global counter: platform None reads any platform's catalogue.
    ids = snap.sids_to_ids(store, None, lost["sid"].to_numpy(dtype=np.int64))
    valid_ids = pc.drop_null(ids)
    parts = []
    for rank, (table, tcol) in enumerate(
        (("profiles", "observed_at"), ("observations", "observed_at"), ("status_events", "at"))
    ):
        files = store.files(table)
        if not files or not len(valid_ids):
            continue
        flt = (
            (pc.field("platform") == platform)
            & (pc.field("status") != "unknown")
            & pc.field("account_id").isin(valid_ids)
            & store.visible_filter()
        )
        t = ds.dataset(files, format="parquet").to_table(
            columns=["account_id", tcol, "status", "source"], filter=flt
        )
        if t.num_rows:
            f = t.rename_columns(["account_id", "at", "status", "source"]).to_pandas()
            f["table"] = table
            f["_rank"] = rank
            parts.append(f)
    base = pd.DataFrame({"sid": lost["sid"].to_numpy(), "account_id": ids.to_pandas(),
                         "since": pd.to_datetime(lost["since"], utc=True)})
    if not parts:
        out = base.assign(status=None, source=None, table=None)
        out["at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us, UTC]")
        return out[cols]
    facts = pd.concat(parts, ignore_index=True)
    facts["at"] = pd.to_datetime(facts["at"], utc=True)
    # A suspended_or_deleted reading after an enforcement reading stays enforcement
    # (model.carry_enforcement): the earlier reading, counts and all, is the evidence.
    facts = facts.sort_values(["account_id", "at", "_rank"], ascending=[True, True, False], kind="stable")
    facts["status"] = carry_enforcement(facts["account_id"].to_numpy(dtype=object), facts["status"].to_numpy(dtype=object))
    j = facts.merge(base[["account_id", "since"]], on="account_id")
    j = j[j["at"] > j["since"]]
    j = j.sort_values(["account_id", "at", "_rank"], ascending=[True, False, True], kind="stable")
    latest = j.drop_duplicates("account_id")[["account_id", "status", "at", "source", "table"]]
    out = base.merge(latest, on="account_id", how="left")
    return out[cols]


@dataclass
class _FateArrays:
    """A :func:`_fate_table` as plain arrays, converted once and shared by every target."""

    sid: np.ndarray
    account_id: np.ndarray
    status: np.ndarray
    at: np.ndarray      # datetime64[ns], UTC, NaT when unknown
    table: np.ndarray

    @classmethod
    def of(cls, t: pd.DataFrame) -> _FateArrays:
        at = pd.to_datetime(t["at"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        return cls(
            t["sid"].to_numpy(dtype=np.int64), t["account_id"].to_numpy(dtype=object),
            t["status"].to_numpy(dtype=object), at, t["table"].to_numpy(dtype=object),
        )


def _fates(
    removed: np.ndarray, t_old: pd.Timestamp, fa: _FateArrays
) -> tuple[dict[str, int], pa.Array, np.ndarray, dict[str, int], dict[str, int]]:
    """Fate counts, platform ids, per-follower fates, raw status word counts and the
    tables the fates came from, for one target's lost followers."""
    sids = fa.sid
    pos = np.searchsorted(sids, removed)
    pos[pos >= len(sids)] = 0
    found = (sids[pos] == removed) if len(sids) else np.zeros(len(removed), bool)
    id_arr, st_arr, at_arr = fa.account_id, fa.status, fa.at
    none = np.full(len(removed), None, dtype=object)
    ids: np.ndarray = none.copy()
    status: np.ndarray = none.copy()
    if len(sids):
        ids[found] = id_arr[pos[found]]
        status[found] = st_arr[pos[found]]
    if len(sids):
        at = at_arr[pos]
        # The table holds the latest status after the earliest target's old snapshot;
        # for this target only statuses after its own old snapshot count.
        old = np.datetime64(pd.Timestamp(t_old).tz_convert("UTC").tz_localize(None), "ns")
        valid = found & ~np.isnat(at) & (at > old)
        status[~valid] = None
        origin = none.copy()
        origin[valid] = fa.table[pos[valid]]
    else:
        origin = none.copy()
    # Count through the (few) distinct words rather than per follower.
    codes, words = pd.factorize(status, use_na_sentinel=True)
    per_word = np.bincount(codes[codes >= 0], minlength=len(words)) if len(words) else np.zeros(0, np.int64)
    n_none = int((codes < 0).sum())
    word_fate = np.array([STATUS_TO_FATE.get(str(w), "unknown") for w in words] + ["unknown"], dtype=object)
    fate = word_fate[np.where(codes >= 0, codes, len(words))]
    counts = {f: 0 for f in FATES}
    counts["unknown"] += n_none
    raw: dict[str, int] = {"none": n_none} if n_none else {}
    for w, c in zip(words, per_word, strict=True):
        counts[STATUS_TO_FATE.get(str(w), "unknown")] += int(c)
        raw[str(w)] = int(c)
    ocodes, owords = pd.factorize(origin, use_na_sentinel=True)
    sources = {str(w): int(c) for w, c in zip(owords, np.bincount(ocodes[ocodes >= 0], minlength=len(owords)), strict=True)}
    return counts, pa.array(ids, pa.string(), from_pandas=True), fate, raw, sources


# ---------------------------------------------------------------- live look-up

# Looks lost followers up (platform, account ids) and records the answers as evidence,
# then says what it did ({"asked", "answered", "unknown", "failed", ...}). The caller
# builds it (purgewatch.collect.resolve.fate_resolver): an analysis never reaches the
# network or writes evidence itself.
FateResolver = Callable[[str, Sequence[str]], dict[str, Any]]


# ---------------------------------------------------------------- counts


def _count_evidence(store: Store, platform: str, account_ids: list[str]) -> pd.DataFrame:
    """Observed follower counts of the explained accounts (account_id, observed_at,
    followers_count, source_ref)."""
    cols = ["account_id", "observed_at", "followers_count", "source_ref"]
    files = store.files("observations")
    if not files:
        return pd.DataFrame(columns=cols)
    flt = (
        (pc.field("platform") == platform)
        & pc.field("account_id").isin(pa.array(account_ids, pa.string()))
        & pc.field("followers_count").is_valid()
        & store.visible_filter()
    )
    t = ds.dataset(files, format="parquet").to_table(columns=cols, filter=flt)
    df = t.to_pandas()
    df["observed_at"] = pd.to_datetime(df["observed_at"], utc=True)
    return df


_NO_COUNTS = pd.DataFrame(columns=["account_id", "observed_at", "followers_count", "source_ref"])


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
    lo, hi = wilson_interval(k, n)
    return [round(lo, 6), round(hi, 6)]


def _verdict(
    lost: int, gained: int, breakdown: dict[str, int], count_drop: int | None,
    overlap: list[dict[str, Any]], shared_share: float | None,
) -> tuple[str, dict[str, Any], list[str], list[str]]:
    net_drop = lost - gained
    resolved = lost - breakdown["unknown"]
    enforcement = breakdown["suspended"] + breakdown["takendown"]
    unfollowed = breakdown["unfollowed"]
    gone = breakdown["deleted"] + breakdown["deactivated"]
    # Gone, enforcement or the owner's deletion: the platform's answer cannot tell.
    ambiguous = breakdown.get("suspended_or_deleted", 0)
    numbers: dict[str, Any] = {
        "lost": lost,
        "resolved": resolved,
        "resolved_share": round(resolved / lost, 6) if lost else None,
        "enforcement": enforcement,
        # Confirmed enforcement is at least the first, at most the second.
        "enforcement_bounds": [enforcement, enforcement + ambiguous],
        "suspended_or_deleted": ambiguous,
        "suspended_or_deleted_share": round(ambiguous / resolved, 6) if resolved else None,
        "not_found": breakdown.get("not_found", 0),
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
    bounds = (f"confirmed enforcement at least {enforcement}, at most {enforcement + ambiguous} "
              f"({ambiguous} lost followers are suspended_or_deleted: gone, by a moderator's "
              "suspension or their owner's deletion, which the platform's answer does not tell apart)")
    if ambiguous / resolved >= MAJORITY:
        reasons.append(f"{ambiguous} of {resolved} resolved lost followers are suspended_or_deleted; {bounds}")
        return "insufficient_data", numbers, reasons, caveats
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
            f"enforcement {enforcement}, unfollowed {unfollowed}, deleted/deactivated {gone}, "
            f"not found {numbers['not_found']}, suspended or deleted {ambiguous}"
        )
        if ambiguous:
            reasons.append(bounds)
        verdict = "mixed"
    if overlap and shared_share is not None:
        reasons.append(
            f"{shared_share:.0%} of the lost followers were also lost by at least one other watched account "
            f"in the same window ({len(overlap)} accounts share some)"
        )
    return verdict, numbers, reasons, caveats


# ---------------------------------------------------------------- main entry points


def _targets_for(store: Store, account: str, platform: str | None, meta: pd.DataFrame) -> tuple[str, str]:
    """(platform, account_id) for ACCOUNT given as id or handle (the one resolver,
    :func:`purgewatch.queries.resolve_account`), which must have follower snapshots."""
    text = account.strip()
    if platform and ((meta["platform"] == platform) & (meta["account_id"] == text)).any():
        # An id with follower snapshots on the platform asked for: the resolver's answer
        # (an id wins over a handle, and the platform makes it one account) without its
        # queries over every table.
        return platform, text
    from purgewatch.queries import resolve_account

    plat, acc = resolve_account(store, account, platform)
    if not ((meta["platform"] == plat) & (meta["account_id"] == acc)).any():
        raise no_snapshots_error(plat, acc, account)
    return plat, acc


def no_snapshots_error(platform: str, account_id: str, asked: str | None = None) -> AnalysisError:
    """What :func:`explain` answers for an account without follower snapshots (``asked``:
    the id or handle it was asked about)."""
    return AnalysisError(
        f"no follower snapshots stored for {platform} account {account_id}"
        + ("" if asked in (None, account_id) else f" ({asked})"),
        hint="collect or import at least two complete follower lists of the account",
    )


def _watched(store: Store) -> pd.DataFrame:
    from purgewatch.watchlist import current_watchlist

    return current_watchlist(store, fill_ids=True).to_pandas()


def explain(
    store: Store,
    account: str,
    *,
    platform: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    resolve: FateResolver | None = None,
    include_ids: bool = False,
) -> dict[str, Any]:
    """Explain the follower change of ``account`` (id, handle or watchlist name) over the
    window ``[start, end]`` (or, without one, the largest drop between consecutive
    complete snapshots). ``resolve``: looks up lost followers whose fate the store does
    not know (see :data:`FateResolver`). See docs/explain.md for every key of the answer."""
    meta = _snapshot_meta(store, platform)
    plat, acc = _targets_for(store, account, platform, meta)
    return explain_many(
        store, [(plat, acc)], start=start, end=end, resolve=resolve,
        include_ids=include_ids, _meta=meta, _requested={(plat, acc): account},
    )[0]


def explain_many(
    store: Store,
    accounts: Sequence[tuple[str, str]] | None = None,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    resolve: FateResolver | None = None,
    include_ids: bool = False,
    _meta: pd.DataFrame | None = None,
    _requested: dict[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`explain` for many (platform, account_id) pairs (default: every watched
    account with snapshots). Each snapshot pair is diffed once and reused for the
    overlaps of every other account."""
    t0, t1 = parse_zoned(start, "--from"), parse_zoned(end, "--to")
    if t0 is not None and t1 is not None and t0 >= t1:
        raise InputError(f"--from {t0.isoformat()} is not before --to {t1.isoformat()}")
    meta = _meta if _meta is not None else _snapshot_meta(store)
    watched = _watched(store)
    if accounts is None:
        have = set(zip(meta["platform"], meta["account_id"], strict=True))
        accounts = sorted({(p, a) for p, a in zip(watched["platform"], watched["account_id"], strict=True)
                           if (p, a) in have})
    groups = {(p, a): g for p, a, g in zip(watched["platform"], watched["account_id"], watched["group"], strict=True)}
    by_acc = {k: _Snaps(v) for k, v in meta.groupby(["platform", "account_id"], sort=False)}

    cache: dict[tuple[str, str, str], _Pair | None] = {}

    def pair_for(p: str, a: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> _Pair | None:
        sn = by_acc.get((p, a))
        if sn is None:
            return None
        sel = sn.select(lo, hi)
        if sel is None:
            return None
        old, new = sn.row(sel[0]), sn.row(sel[1])
        key = (p, old["snapshot_id"], new["snapshot_id"])
        if key not in cache:
            d = snap.diff_snapshots(store, old["snapshot_id"], new["snapshot_id"], complete=True)
            cache[key] = _Pair(p, a, old, new, d.removed, d.added)
        return cache[key]

    pairs = {k: pair_for(k[0], k[1], t0, t1) for k in accounts}

    # Fates: one query per platform over the union of lost followers.
    latest_by_platform: dict[str, _FateArrays] = {}
    resolve_info: dict[str, Any] | None = None
    for plat in sorted({k[0] for k in accounts}):
        keys = [k for k in accounts if k[0] == plat and pairs[k] is not None]
        if not keys:
            continue
        frames = []
        for k in keys:
            pr = pairs[k]
            assert pr is not None
            frames.append(pd.DataFrame({"sid": pr.removed, "since": pd.Timestamp(pr.old["observed_at"])}))
        lost_df = pd.concat(frames, ignore_index=True).groupby("sid")["since"].min().reset_index()
        latest = _fate_table(store, plat, lost_df)
        if resolve is not None:
            todo = latest.loc[latest["status"].isna() & latest["account_id"].notna(), "account_id"].tolist()
            resolve_info = resolve(plat, todo)
            latest = _fate_table(store, plat, lost_df)
        latest_by_platform[plat] = _FateArrays.of(latest)

    # Overlaps: removed sets of every watched account, bracketed like each target.
    results: list[dict[str, Any]] = []
    others_by_platform: dict[str, list[tuple[str, str]]] = {}
    for p, a in zip(watched["platform"], watched["account_id"], strict=True):
        if (p, a) in by_acc:
            others_by_platform.setdefault(p, []).append((p, a))
    indexes: dict[tuple[Any, ...], _OverlapIndex] = {}
    counts_obs: dict[tuple[str, str], pd.DataFrame] = {}
    for plat in {k[0] for k in accounts}:
        ev = _count_evidence(store, plat, [k[1] for k in accounts if k[0] == plat])
        for acc_id, part in ev.groupby("account_id", sort=False):
            counts_obs[(plat, str(acc_id))] = part

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
            got = by_acc.get(k)
            n_snap = got.n_all if got is not None else 0
            base.update({
                "lost": 0, "gained": 0, "lost_breakdown": {f: 0 for f in FATES}, "overlap": [],
                "verdict": "insufficient_data",
                "evidence": {"snapshots": [], "reasons": [
                    f"fewer than two complete follower snapshots bracket the window ({n_snap} stored)"
                ]},
            })
            results.append(base)
            continue
        breakdown, ids, fate, raw, sources = _fates(
            pr.removed, pd.Timestamp(pr.old["observed_at"]), latest_by_platform[plat]
        )
        # Overlap with every other watched account on the platform, same window.
        t_old, t_new = pd.Timestamp(pr.old["observed_at"]), pd.Timestamp(pr.new["observed_at"])
        others = [o for o in others_by_platform.get(plat, []) if o != k]
        # Other accounts are bracketed like the target: by the asked window when there is
        # one (so one overlap index serves every target), else by the target's snapshots.
        bkey = (plat, t0, t1) if (t0 is not None or t1 is not None) else (plat, t_old, t_new)
        if bkey not in indexes:
            lo, hi = bkey[1], bkey[2]
            members = [(o, pair_for(o[0], o[1], lo, hi)) for o in others_by_platform.get(plat, [])]
            if k not in dict(members):
                members.append((k, pr))
            indexes[bkey] = _OverlapIndex(members, groups)
        overlap, shared_share = indexes[bkey].for_target(k, pr)
        obs = counts_obs.get(k, _NO_COUNTS)
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
                "fate_sources": sources,
                "reasons": reasons,
                "caveats": caveats,
                "overlap_checked": len(others),
            },
        })
        lost_ids = ids.to_pylist()
        _add_bot_likeness(store, base, plat, pr, lost_ids)
        if resolve_info is not None:
            base["evidence"]["resolve"] = resolve_info
        if include_ids:
            gained_ids = snap.sids_to_ids(store, plat, pr.added).to_pylist()
            base["lost_followers"] = [
                {"account_id": i, "fate": str(f)} for i, f in zip(lost_ids, fate, strict=True)
            ]
            base["gained_followers"] = gained_ids
        results.append(base)
    _name(store, results)
    return results


def _name(store: Store, results: list[dict[str, Any]]) -> None:
    """Handle and label beside every account id of the answers (targets and overlaps),
    so a reader never maps raw ids by hand."""
    from purgewatch.queries import account_names

    keys = {(r["platform"], r["account_id"]) for r in results}
    keys |= {(o["platform"], o["account_id"]) for r in results for o in r.get("overlap") or []}
    names = account_names(store, keys)
    for item in [*results, *(o for r in results for o in r.get("overlap") or [])]:
        n = names.get((item["platform"], item["account_id"]))
        item["handle"], item["label"] = (n.handle, n.label) if n else (None, None)


class _OverlapIndex:
    """Removed-follower sets of many accounts over one window as a sparse matrix
    (rows: accounts, columns: follower sids); one Gram product gives every pairwise
    intersection."""

    def __init__(self, members: list[tuple[tuple[str, str], _Pair | None]], groups: dict[tuple[str, str], str]) -> None:
        self.groups = groups
        self.members = [(k, q) for k, q in members if q is not None and len(q.removed)]
        self.row = {k: i for i, (k, _) in enumerate(self.members)}
        if len(self.members) < 2:  # nobody to share lost followers with: no matrix (nor SciPy)
            self.gram = None
            return
        from scipy import sparse  # (only here: SciPy costs a fresh process ~0.3 s to import)

        sets = [q.removed for _, q in self.members]
        cols_all = np.concatenate(sets)
        self.universe, inv = np.unique(cols_all, return_inverse=True)
        rows = np.repeat(np.arange(len(sets)), [len(x) for x in sets])
        self.M = sparse.csr_matrix(
            (np.ones(len(cols_all), np.int32), (rows, inv)), shape=(len(sets), len(self.universe))
        )
        self.gram = (self.M @ self.M.T).tocsr()
        self.col_count = np.asarray(self.M.sum(axis=0)).ravel()

    def for_target(self, key: tuple[str, str], pair: _Pair) -> tuple[list[dict[str, Any]], float | None]:
        removed = pair.removed
        if not len(removed):
            return [], None
        i = self.row.get(key)
        if self.gram is None or i is None:
            return [], 0.0
        # The target's own pair in the index may differ from ``pair`` only when the
        # target was bracketed by its own snapshots; intersections use the index's sets.
        own = self.members[i][1]
        assert own is not None
        cols = np.searchsorted(self.universe, own.removed)
        shared_share = float((self.col_count[cols] > 1).mean())
        row = self.gram.getrow(i)
        out: list[dict[str, Any]] = []
        for j, n in zip(row.indices, row.data, strict=True):
            if j == i or n <= 0:
                continue
            o, q = self.members[j]
            assert q is not None
            union = len(own.removed) + len(q.removed) - int(n)
            out.append({
                "platform": o[0],
                "account_id": o[1],
                "group": self.groups.get(o),
                "shared_lost": int(n),
                "their_lost": int(len(q.removed)),
                "jaccard": round(int(n) / union, 6),
                "share_of_lost": round(int(n) / len(own.removed), 6),
                "window": [_iso(q.old["observed_at"]), _iso(q.new["observed_at"])],
            })
        out.sort(key=lambda d: (-int(d["shared_lost"]), str(d["account_id"])))
        return out, round(shared_share, 6)


# ---------------------------------------------------------------- bot-likeness of the lost
# (analysis/bots; kept apart from the fate verdict above: it adds a finding and a reason,
# it never changes the verdict word)

BOT_MIN_SCORED = 20         # fewer scored lost followers than this: insufficient_data
BOT_ALPHA = 0.05            # Fisher exact, lost vs remaining, one-sided
BOT_MAJORITY_LOWER = 0.5    # "fake followers removed": Wilson lower bound of the lost bot share
BOT_REMAINING_SAMPLE = 20_000   # remaining followers scored at most (a seeded random sample)


def bot_likeness_section(store: Store, platform: str, lost_ids: Sequence[str],
                         remaining_ids: Sequence[str], *, remaining_total: int | None = None) -> dict[str, Any]:
    """Bot-likeness of the lost followers beside the remaining ones and the model's
    reference of genuine accounts, and what it says (``finding``) with its uncertainty.
    Scores come from each follower's latest stored profile; followers without one are
    counted as unscored, never as zero. ``remaining_total``: how many followers stayed
    when ``remaining_ids`` is already a sample of them."""
    from purgewatch.analysis.bots import load_model, stored_scores

    model = load_model()
    remaining = list(remaining_ids)
    total = remaining_total if remaining_total is not None else len(remaining)
    if len(remaining) > BOT_REMAINING_SAMPLE:
        pick = np.random.default_rng(0).choice(len(remaining), BOT_REMAINING_SAMPLE, replace=False)
        remaining = [remaining[i] for i in np.sort(pick)]
    lost_s = stored_scores(store, platform, list(lost_ids), model=model)
    rem_s = stored_scores(store, platform, remaining, model=model)
    return _bot_section(model, lost_s, len(lost_ids), rem_s, len(remaining), total)


def _bot_section(model: Any, lost_s: pd.Series, n_lost: int, rem_s: pd.Series, n_sampled: int,
                 total: int) -> dict[str, Any]:
    """:func:`bot_likeness_section` from the scores (NaN: no stored profile) of the
    ``n_lost`` lost followers and of ``n_sampled`` of the ``total`` remaining ones."""
    from purgewatch.analysis.bots import compare_shares, summarize

    t = model.threshold
    sampled = n_sampled < total
    lost_sum = summarize(lost_s, threshold=t)
    rem_sum = summarize(rem_s, threshold=t)
    genuine = model.meta.get("reference", {}).get("genuine")
    if rem_sum["scored"] >= BOT_MIN_SCORED or not genuine:
        test = {**compare_shares(lost_s, rem_s, threshold=t), "against": "remaining"}
    else:
        # The remaining followers' profiles were never read (a --resolve looks up only the
        # lost): test against the model's genuine reference share instead.
        scored = lost_s.to_numpy(dtype=float)
        scored = scored[np.isfinite(scored)]
        k, n = int((scored >= t).sum()), len(scored)
        p0 = float(genuine["share_bot"])
        p_value = None
        if n:
            from scipy import stats  # (only here: SciPy's statistics cost a fresh process ~0.6 s)

            p_value = float(stats.binomtest(k, n, p0, alternative="greater").pvalue)
        test = {"p_value": p_value, "difference": round(k / n - p0, 6) if n else None,
                "against": "genuine_reference"}
    if lost_sum["scored"] < BOT_MIN_SCORED:
        finding = "insufficient_data"
        reason = (f"bot-likeness: only {lost_sum['scored']} lost followers have a stored profile to score "
                  f"(< {BOT_MIN_SCORED}); import or collect their profiles")
    else:
        lo, hi = lost_sum["share_bot_ci"]
        p = test["p_value"]
        more = p is not None and p < BOT_ALPHA
        if more and lo >= BOT_MAJORITY_LOWER:
            finding = "fake_followers_removed"
        elif more:
            finding = "more_bot_like_than_remaining" if test["against"] == "remaining" else "more_bot_like_than_reference"
        else:
            finding = "no_difference"
        test_name = "Fisher" if test["against"] == "remaining" else "binomial test against the reference"
        reason = (
            f"bot-likeness: {lost_sum['share_bot']:.0%} of {lost_sum['scored']} scored lost followers score as bots "
            f"(>= {t:g}; 95% CI {lo:.0%}–{hi:.0%})"
            + (f" vs {rem_sum['share_bot']:.0%} of {rem_sum['scored']} scored remaining" if rem_sum["scored"] else "")
            + (f" and {genuine['share_bot']:.0%} of the model's genuine reference" if genuine else "")
            + (f" ({test_name} p={p:.3g})" if p is not None else "")
        )
    return {
        "model": model.meta.get("version"), "threshold": t, "finding": finding, "reason": reason,
        "lost": {"accounts": n_lost, **lost_sum},
        "remaining": {"accounts": total, "sampled": n_sampled if sampled else None, **rem_sum},
        "genuine_reference": genuine,
        "lost_vs_remaining": test,   # "against": remaining, or genuine_reference when too few remaining are scored
        "thresholds": {"min_scored": BOT_MIN_SCORED, "alpha": BOT_ALPHA, "majority_wilson_lower": BOT_MAJORITY_LOWER},
    }


def _add_bot_likeness(store: Store, result: dict[str, Any], platform: str, pair: _Pair,
                      lost_ids: Sequence[str]) -> None:
    """Attach :func:`bot_likeness_section` to one explain answer and its reason.
    ``lost_ids``: the platform ids of ``pair.removed`` (already read for the fates)."""
    from purgewatch.analysis.bots import has_profile_reads, load_model

    if not has_profile_reads(store, platform):
        # Not one profile read of the platform is stored: every score would be NaN, so
        # neither the remaining followers (a full list to decode) nor their ids (a
        # catalogue read) are needed, only how many stayed: the old list's size less the
        # lost (the diff's removed followers are members of the old list).
        total = int(pair.old["n_followers"]) - len(pair.removed)
        none = pd.Series([], dtype=float)
        section = _bot_section(load_model(), none, len(lost_ids), none, min(total, BOT_REMAINING_SAMPLE), total)
    else:
        # The remaining followers are the old list less the lost: one list decoded, no
        # intersection of two.
        old = snap.load_followers(store, pair.old["snapshot_id"])
        remaining = np.setdiff1d(old, pair.removed, assume_unique=True)
        total = len(remaining)
        if total > BOT_REMAINING_SAMPLE:   # sample before mapping ids: lists can hold millions
            remaining = np.sort(np.random.default_rng(0).choice(remaining, BOT_REMAINING_SAMPLE, replace=False))
        ids = snap.sids_to_ids(store, platform, remaining).to_pylist()
        section = bot_likeness_section(store, platform, lost_ids, ids, remaining_total=total)
    result["bot_likeness"] = section
    result["evidence"]["reasons"].append(section["reason"])
    if result.get("verdict") == "platform_enforcement" and section["finding"] == "fake_followers_removed":
        result["evidence"]["reasons"].append(
            "the accounts removed by the platform were mostly bot-like: consistent with a purge of fake or spam accounts"
        )
