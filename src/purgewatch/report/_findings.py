"""Gather every finding about a store into one plain, JSON-ready dict.

This is the thin adapter between the analysis library and the publishers (HTML report,
JSON/CSV bundles, web UI). It *calls* the analyses (``detect``, ``explain``,
``compare``, ``forensics``, the watchlist); it never re-implements them and never invents
a number. When an analysis is not installed or cannot answer, its section says so
("not available: <reason>") instead of showing anything.

Traceability (DESIGN rule 3): every number is registered as a *fact* with the
references of the stored rows it rests on. A reference is ``o-<record_key>`` (a row of
``observations``), ``s-<record_key>`` (``status_events``), ``p-<record_key>``
(``profiles``) or ``n-<snapshot_id>`` (a follower snapshot). Record keys are content
hashes, so references are stable for the same store, and the data appendix lists every
referenced row with its provenance.

Determinism: the same store and options give the same dict (sorted everywhere, no clock
reads). The generation timestamp is added by the caller, explicitly.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from purgewatch.errors import PurgeWatchError
from purgewatch.model import (
    ENFORCEMENT_STATUSES,
    GONE_STATUSES,
    TABLE_SCHEMAS,
    TOOL_VERSION,
    carry_enforcement,
)
from purgewatch.report._posts import posts_findings
from purgewatch.store import Store
from purgewatch.timefmt import iso_utc, parse_zoned

FORMAT_NAME = "purgewatch-findings"
FORMAT_VERSION = 1
MAX_ACCOUNTS = 200          # accounts shown when there is no watchlist
MAX_POINTS = 600            # per-account series points kept (thinned beyond; a chart is 720 px wide)
MAX_SERIES_ACCOUNTS = 60    # accounts whose series is charted
MAX_EVENTS_SHOWN = 300      # events listed in the HTML with their evidence rows
MAX_REFS = 200              # references listed per fact (the count says how many exist)
MAX_EXPLAIN = 12            # follower drops explained in one report
MAX_TRANSITIONS = 5000      # status changes listed in the findings (all are counted)
WAVE_KINDS = ("suspension_wave", "reinstatement_wave", "purge")

_OBS_COLS = [
    "platform", "account_id", "observed_at", "status", "status_raw", "followers_count",
    "following_count", "posts_count", "handle", "display_name", "created_at", "description",
    "detail", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash",
    "batch_id", "record_key",
]
_APPENDIX_COLS = [
    "ref", "table", "platform", "account_id", "at", "status", "followers_count", "source",
    "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id",
]


# --------------------------------------------------------------------------- helpers
def iso(value: Any) -> str | None:
    """ISO 8601 UTC with ``Z`` (:func:`purgewatch.timefmt.iso_utc`: whole seconds, or the
    shortest exact fraction; never a float artefact). Unparseable text is kept as is."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        return iso_utc(value)
    except (ValueError, TypeError):
        return value if isinstance(value, str) else None




def plain(obj: Any) -> Any:
    """Convert analysis answers (dataclasses, numpy, Arrow, pandas, datetimes) to JSON types."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if hasattr(obj, "to_json") and callable(obj.to_json) and not isinstance(obj, pd.DataFrame | pd.Series):
        return plain(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [plain(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, set | frozenset) else items
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return plain(obj.item())
    if isinstance(obj, datetime | pd.Timestamp | np.datetime64):
        return iso(obj)
    if isinstance(obj, pa.Table):
        return plain(obj.to_pylist())
    if isinstance(obj, pd.DataFrame):
        return plain(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return plain(obj.tolist())
    return str(obj)


def _key_hex(key: Any) -> str:
    return f"{int(key):016x}"


def _ref(prefix: str, key: Any) -> str:
    return f"{prefix}-{_key_hex(key)}"


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with the keyword arguments it accepts (analysis signatures evolve)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params and v is not None})


def _optional(module: str, attr: str) -> tuple[Callable[..., Any] | None, str]:
    """The analysis function, or None and why it is not available."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return None, f"not available: {module} is not installed ({exc.__class__.__name__})"
    fn = getattr(mod, attr, None)
    if fn is None or not callable(fn):
        return None, f"not available: {module}.{attr} does not exist in this version"
    return fn, "ok"


class _Facts:
    """Registry of published numbers and the stored rows behind each."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.referenced: set[str] = set()

    def add(self, label: str, value: Any, refs: Iterable[str]) -> str:
        refs_sorted = sorted(set(refs))
        fid = f"f-{len(self.items) + 1}"
        shown = refs_sorted[:MAX_REFS]
        self.referenced.update(shown)
        self.items.append(
            {"id": fid, "label": label, "value": plain(value), "refs": shown, "n_refs": len(refs_sorted)}
        )
        return fid


# --------------------------------------------------------------------------- reading
def _watchlist(store: Store) -> tuple[list[dict[str, Any]], str]:
    fn, why = _optional("purgewatch.watchlist", "current_watchlist")
    if fn is not None:
        try:
            rows = plain(fn(store))
            out = []
            for r in rows:
                out.append(
                    {
                        "platform": r.get("platform"),
                        "account": r.get("account"),
                        "account_id": r.get("account_id") or r.get("account"),
                        "group": r.get("group"),
                        "label": r.get("label"),
                    }
                )
            return sorted(out, key=lambda r: (str(r["group"]), str(r["platform"]), str(r["account_id"]))), "ok"
        except PurgeWatchError as exc:
            return [], f"not available: {exc}"
    return _replay_watchlist(store), "ok (replayed from the watchlist log; purgewatch.watchlist " + why + ")"


def _replay_watchlist(store: Store) -> list[dict[str, Any]]:
    """Replay the append-only add/remove log (used when purgewatch.watchlist is absent)."""
    tbl = store.read("watchlist")
    if tbl.num_rows == 0:
        return []
    df = tbl.to_pandas()
    df["_i"] = np.arange(len(df))
    df = df.sort_values(["at", "_i"], kind="stable")
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for r in df.itertuples(index=False):
        key = (str(r.platform), str(r.account_id or r.account))
        if r.action == "remove":
            current.pop(key, None)
        else:
            current[key] = {
                "platform": r.platform,
                "account": r.account,
                "account_id": r.account_id or r.account,
                "group": r.group,
                "label": r.label if isinstance(r.label, str) else None,
            }
    return sorted(current.values(), key=lambda r: (str(r["group"]), str(r["platform"]), str(r["account_id"])))


def _read(store: Store, table: str, columns: list[str]) -> pd.DataFrame:
    tbl = store.read(table, columns=columns)
    df = tbl.to_pandas()
    return df


def _window(df: pd.DataFrame, col: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    if start is not None:
        df = df[df[col] >= start]
    if end is not None:
        df = df[df[col] <= end]
    return df


def _downsample(idx: np.ndarray, keep: np.ndarray, limit: int) -> np.ndarray:
    """Evenly thin a series to ``limit`` points but never drop the rows in ``keep``."""
    if len(idx) <= limit:
        return idx
    step = math.ceil(len(idx) / limit)
    chosen = set(idx[::step].tolist()) | set(idx[keep].tolist()) | {int(idx[-1])}
    return np.array(sorted(chosen), dtype=idx.dtype)


class _ObsIndex:
    """The observations in [t0, t1] as one Arrow table (compact: no Python object per
    row), with the order that sorts them by (platform, account_id, observed_at,
    record_key) and numpy arrays for the per-account work.

    Accounts are ranges of the sorted order; pandas frames are made only for single
    accounts (charted ones, those with events) and for the rows a finding cites
    (``use``/``rows_of``). A store of millions of readings used to become one frame of
    Python strings several gigabytes large."""

    LIGHT = ["platform", "account_id", "observed_at", "status", "followers_count", "handle", "record_key"]

    def __init__(self, store: Store, t0: pd.Timestamp | None, t1: pd.Timestamp | None) -> None:
        import pyarrow.compute as pc

        tbl = store.read("observations", columns=self.LIGHT)
        ts_type = pa.timestamp("us", tz="UTC")
        if t0 is not None:
            tbl = tbl.filter(pc.greater_equal(tbl["observed_at"], pa.scalar(t0.to_pydatetime(), ts_type)))
        if t1 is not None:
            tbl = tbl.filter(pc.less_equal(tbl["observed_at"], pa.scalar(t1.to_pydatetime(), ts_type)))
        self.store = store
        self.window = (t0, t1)
        n = tbl.num_rows
        self.order = pc.sort_indices(tbl, sort_keys=[
            ("platform", "ascending"), ("account_id", "ascending"), ("observed_at", "ascending"),
            ("record_key", "ascending")]).to_numpy() if n else np.zeros(0, np.int64)
        # the light columns, sorted, in one contiguous table: an account is a slice of it
        self.sorted = tbl.take(pa.array(self.order)).combine_chunks() if n else tbl
        del tbl
        self.t = self.sorted["observed_at"].cast(pa.int64()).to_numpy() if n else np.zeros(0, np.int64)
        self.key = self.sorted["record_key"].to_numpy() if n else np.zeros(0, np.uint64)
        if n:
            plat, acc = self.sorted["platform"], self.sorted["account_id"]
            new = pc.or_(pc.not_equal(plat.slice(1), plat.slice(0, n - 1)),
                         pc.not_equal(acc.slice(1), acc.slice(0, n - 1)))
            heads = np.flatnonzero(np.concatenate([[True], np.asarray(new.to_numpy(zero_copy_only=False), dtype=bool)]))
            hp = plat.take(pa.array(heads)).to_pylist()
            ha = acc.take(pa.array(heads)).to_pylist()
            self.names: list[tuple[str, str]] = [(str(x), str(y)) for x, y in zip(hp, ha, strict=True)]
            self.start = heads.astype(np.int64)
            self.stop = np.append(heads[1:], n).astype(np.int64)
            self.code = np.repeat(np.arange(len(heads)), self.stop - self.start)
        else:
            self.names = []
            self.start = self.stop = self.code = np.zeros(0, np.int64)
        self._used: dict[str, int] = {}

    def counts(self) -> np.ndarray:
        return self.stop - self.start

    def use(self, ref: str, row: int) -> None:
        """Remember the (sorted) row behind a reference: the appendix lists it."""
        self._used[ref] = row

    def _take(self, rows: np.ndarray | list[int], columns: list[str]) -> pa.Table:
        """Columns of the given sorted rows, in that order. Light columns come from the
        sorted table; the others (provenance, names) from one filtered scan of the stored
        files that keeps only these rows (memory bounded by them, not by the store)."""
        import pyarrow.compute as pc
        import pyarrow.dataset as pads

        rows = np.asarray(rows, dtype=np.int64)
        light = [c for c in columns if c in self.LIGHT]
        out = self.sorted.select(light).take(pa.array(rows))
        heavy = [c for c in columns if c not in self.LIGHT]
        if not heavy or not len(rows):
            for c in heavy:
                out = out.append_column(c, pa.nulls(len(rows), TABLE_SCHEMAS["observations"].field(c).type))
            return out.select(columns)
        want = self.key[rows]
        got = pads.dataset(self.store.files("observations"), format="parquet").to_table(
            columns=["record_key", *heavy], filter=pc.field("record_key").isin(pa.array(np.unique(want), pa.uint64())))
        got_keys = got["record_key"].to_numpy()
        first = np.unique(got_keys, return_index=True)
        where = first[1][np.searchsorted(first[0], want)]
        picked = got.take(pa.array(where))
        for c in heavy:
            out = out.append_column(c, picked[c].cast(TABLE_SCHEMAS["observations"].field(c).type))
        return out.select(columns)

    def frame(self, i: int) -> pd.DataFrame:
        """Account ``i``'s rows as a frame (with ``ref``, and ``row``: the sorted position)."""
        a, b = int(self.start[i]), int(self.stop[i])
        df = self.sorted.slice(a, b - a).select(["observed_at", "status", "followers_count", "record_key"]).to_pandas()
        df["row"] = np.arange(a, b)
        df["ref"] = ["o-" + _key_hex(k) for k in df["record_key"]]
        return df

    def latest_rows(self, idx: list[int]) -> list[dict[str, Any]]:
        """Per account: its latest reading, and the name fields of its latest named one."""
        if not idx:
            return []
        ii = np.array(idx, dtype=np.int64)
        last = self.stop[ii] - 1
        has = ~np.asarray(self.sorted["handle"].is_null().to_numpy(zero_copy_only=False), dtype=bool)
        best = np.maximum.accumulate(np.where(has, np.arange(len(has)), -1))
        named = best[last]
        named = np.where(named >= self.start[ii], named, last)
        lt = self._take(last, ["observed_at", "status", "followers_count"]).to_pylist()
        nm = self._take(named, ["handle", "display_name", "description"]).to_pylist()
        out = []
        for j, (row, r) in enumerate(zip(last.tolist(), lt, strict=True)):
            f = r["followers_count"]
            out.append({
                "row": row, "ref": "o-" + _key_hex(self.key[row]), "t": iso(r["observed_at"]),
                "status": r["status"], "followers": None if f is None else int(f),
                "n": int(self.stop[ii[j]] - self.start[ii[j]]),
                **{k: _str(v) for k, v in nm[j].items()},
            })
        return out

    def appendix(self, refs: Iterable[str]) -> list[dict[str, Any]]:
        """Appendix rows (:func:`_appendix_row`'s shape) of the cited observations, sorted,
        built from Arrow columns (times formatted in one vectorised pass)."""
        rows = sorted({self._used[r] for r in refs if r in self._used})
        if not rows:
            return []
        cols = ["platform", "account_id", "observed_at", "status", "followers_count", "source", "source_ref",
                "retrieved_at", "tool_version", "payload_hash", "batch_id", "record_key"]
        tbl = self._take(rows, cols)
        at = _iso_arrow(tbl["observed_at"])
        got = _iso_arrow(tbl["retrieved_at"])
        d = tbl.to_pydict()
        out = []
        for j in range(tbl.num_rows):
            f = d["followers_count"][j]
            out.append({
                "ref": "o-" + _key_hex(d["record_key"][j]), "table": "observations",
                "platform": d["platform"][j], "account_id": d["account_id"][j], "at": at[j],
                "status": d["status"][j], "followers_count": None if f is None else int(f),
                "source": _str(d["source"][j]), "source_ref": _str(d["source_ref"][j]), "retrieved_at": got[j],
                "tool_version": _str(d["tool_version"][j]), "payload_hash": _str(d["payload_hash"][j]),
                "batch_id": _str(d["batch_id"][j]),
            })
        return out

    def span_frame(self) -> pd.DataFrame:
        """First and last observation time (all the summary needs of every row)."""
        if not len(self.t):
            return pd.DataFrame({"observed_at": pd.Series([], dtype="datetime64[us, UTC]")})
        return pd.DataFrame({"observed_at": pd.to_datetime([int(self.t.min()), int(self.t.max())], unit="us", utc=True)})

    def transition_rows(self) -> pd.DataFrame:
        """The observation rows status changes can come from, with provenance columns: for
        an account whose statuses come from observations only, its first known status and
        every row whose status differs from the previous known one; every row of accounts
        that also have profiles or status events (their rows interleave)."""
        if not len(self.code):
            return pd.DataFrame(columns=_OBS_COLS)
        status = self.sorted["status"].to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(status != "unknown")
        st, cd = status[idx], self.code[idx]
        keep = np.ones(len(idx), dtype=bool)
        if len(idx) > 1:
            keep[1:] = (cd[1:] != cd[:-1]) | (st[1:] != st[:-1])
        other = self._accounts_elsewhere()
        if other.any():
            keep |= other[cd]
        return self._take(idx[keep], _OBS_COLS).to_pandas()

    def _accounts_elsewhere(self) -> np.ndarray:
        """Accounts (codes) that also have rows in profiles or status_events."""
        out = np.zeros(len(self.names), dtype=bool)
        index = {k: i for i, k in enumerate(self.names)}
        for table in ("profiles", "status_events"):
            tbl = self.store.read(table, columns=["platform", "account_id"])
            if tbl.num_rows == 0:
                continue
            for r in tbl.group_by(["platform", "account_id"]).aggregate([]).to_pylist():
                i = index.get((str(r["platform"]), str(r["account_id"])))
                if i is not None:
                    out[i] = True
        return out


# --------------------------------------------------------------------------- gather
def gather_findings(
    store: Store,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    groups: Iterable[str] | None = None,
    explain_limit: int = MAX_EXPLAIN,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """All findings for ``store`` within [start, end] and the chosen groups, as a plain dict.

    Deterministic: calling it twice on the same store gives equal dicts. ``progress`` is
    told the name of each stage as it starts (for a progress display).
    """
    step = progress or (lambda _stage: None)
    t0, t1 = parse_zoned(start), parse_zoned(end)
    group_filter = sorted(set(groups)) if groups else None
    facts = _Facts()
    availability: dict[str, str] = {}
    notes: list[str] = []

    watch, availability["watchlist"] = _watchlist(store)
    if group_filter is not None:
        watch = [w for w in watch if w["group"] in group_filter]
    group_of = {(str(w["platform"]), str(w["account_id"])): w["group"] for w in watch}

    # Detection first: its arrays are freed before the report reads the observations,
    # so the two peaks of memory do not stack.
    step("detecting events")
    outliers: list[dict[str, Any]] = []
    events, availability["detect"] = _detect(store, outliers)

    # Observations stay in Arrow (compact) and are sorted once; pandas frames are made
    # only of the rows a finding uses (a store of millions of readings used to become a
    # frame of Python strings several gigabytes large).
    step("reading observations")
    ob = _ObsIndex(store, t0, t1)

    if watch:
        keys = set(group_of)
    else:
        n_per = ob.counts()
        order = sorted(range(len(ob.names)), key=lambda i: (-int(n_per[i]), ob.names[i]))
        if len(order) > MAX_ACCOUNTS:
            notes.append(
                f"No watchlist: showing the {MAX_ACCOUNTS} accounts with most observations "
                f"out of {len(order):,}."
            )
        keys = {ob.names[i] for i in order[:MAX_ACCOUNTS]}
        if group_filter is not None:
            keys = set()
    labels = {(str(w["platform"]), str(w["account_id"])): w.get("label") for w in watch}

    # ---- detection
    events = [e for e in events if _event_in_scope(e, t0, t1, group_filter, keys)]
    # Readings that left an account's level and snapped back within hours were set aside
    # by detection (another account's count under the same handle, a zero): say so.
    outliers = [r for r in outliers if (str(r.get("platform")), str(r.get("account_id"))) in keys
                and (t1 is None or str(r.get("first")) <= str(iso(t1)))
                and (t0 is None or str(r.get("last")) >= str(iso(t0)))]
    if outliers:
        mixed = sorted(str(r["account_id"]) for r in outliers if r.get("mixed"))
        notes.append(
            f"{sum(int(r['outliers']) for r in outliers):,} readings of {len(outliers):,} accounts left the account's "
            "level and came back within hours; detection set them aside as outliers (not drops or surges; "
            "listed under \"outliers\" in the JSON bundle)."
            + (f" {len(mixed):,} series interleave two levels, probably two accounts' readings under one key, "
               f"and are flagged mixed: {', '.join(mixed[:12])}{' …' if len(mixed) > 12 else ''}." if mixed else "")
        )
    for i, e in enumerate(events, start=1):
        e["id"] = f"e-{i}"
    # A report lists at most MAX_EVENTS_SHOWN events with their evidence rows: population
    # events first, then drops, then surges, strongest first. The JSON/CSV keep them all.
    kind_rank = {"suspension_wave": 0, "purge": 1, "reinstatement_wave": 2, "follower_drop": 3, "follower_surge": 4}
    ranked_ev = sorted(events, key=lambda e: (kind_rank.get(e["kind"], 9), -float(e.get("score") or 0), e["id"]))
    shown_ids = {e["id"] for e in ranked_ev[:MAX_EVENTS_SHOWN]}
    for e in events:
        e["shown"] = e["id"] in shown_ids
    if len(events) > MAX_EVENTS_SHOWN:
        notes.append(
            f"{len(events):,} events were detected; the {MAX_EVENTS_SHOWN} strongest (waves and purges first) are "
            "shown with the rows behind them. All are in the JSON and CSV bundles with their evidence."
        )

    # ---- per-account series
    step("building account series")
    # Full series for at most MAX_SERIES_ACCOUNTS accounts: those with events first
    # (largest first), then in watchlist order; the others keep their latest reading.
    ev_size: dict[tuple[str, str], float] = {}
    events_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        if e.get("account_id") is not None:
            k = (str(e.get("platform")), str(e.get("account_id")))
            if e["shown"]:
                ev_size[k] = max(ev_size.get(k, 0.0), abs(float(e.get("magnitude") or 0)))
                events_of.setdefault(k, []).append(e)
    ranked = sorted(keys, key=lambda k: (k not in ev_size, -ev_size.get(k, 0.0), str(group_of.get(k)), k))
    with_series = set(ranked[:MAX_SERIES_ACCOUNTS])
    if len(ranked) > MAX_SERIES_ACCOUNTS:
        notes.append(
            f"Follower series are shown for {MAX_SERIES_ACCOUNTS} of {len(ranked):,} accounts (those with "
            "detected events first); the others are listed with their latest reading."
        )
    accounts: list[dict[str, Any]] = []
    appendix_rows: dict[str, dict[str, Any]] = {}
    series_refs: set[str] = set()
    observed_keys = [i for i, k in enumerate(ob.names) if k in keys]
    latest = ob.latest_rows(observed_keys)
    for i, lt in zip(observed_keys, latest, strict=True):
        key = ob.names[i]
        acc_events = events_of.get(key, [])
        series = []
        if key in with_series or acc_events:
            part = ob.frame(i)
            if key in with_series:
                ev_times = {t for e in acc_events for t in _evidence_times(e)}
                status_change = part["status"].ne(part["status"].shift()).to_numpy()
                iso_t = _iso_series(part["observed_at"])
                in_evidence = iso_t.isin(ev_times).to_numpy() if ev_times else np.zeros(len(part), bool)
                idx = _downsample(np.arange(len(part)), status_change | in_evidence, MAX_POINTS)
                if len(idx) < len(part):
                    notes.append(f"Series of {key[0]}:{key[1]} thinned from {len(part):,} to {len(idx):,} points for display.")
                shown = part.iloc[idx]
                cited = (status_change | in_evidence)[idx].tolist()
                r: Any
                for r, t_iso, c in zip(shown.itertuples(index=False), iso_t.iloc[idx], cited, strict=True):
                    series.append(
                        {
                            "t": t_iso,
                            "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
                            "status": r.status,
                            "ref": r.ref,
                            "cited": c,
                        }
                    )
                    ob.use(r.ref, int(r.row))
                    # Every charted row goes to the JSON/CSV appendix; the HTML lists the
                    # rows a number or a marked point cites (the line is drawn from all).
                    (facts.referenced if c else series_refs).add(r.ref)
            row_of = dict(zip(part["ref"], part["row"].tolist(), strict=True))
            for e in acc_events:
                e["refs"] = _event_refs(e, part)
                for ref in e["refs"]:
                    ob.use(ref, row_of[ref])
        ob.use(lt["ref"], lt["row"])
        acc: dict[str, Any] = {
            "key": f"{key[0]}:{key[1]}",
            "anchor": _anchor("a", f"{key[0]}:{key[1]}"),
            "platform": key[0],
            "account_id": key[1],
            "handle": lt["handle"],
            "display_name": lt["display_name"],
            "description": lt["description"],
            "group": group_of.get(key),
            "label": labels.get(key),
            "n_observations": lt["n"],
            "latest": {
                "t": lt["t"],
                "status": lt["status"],
                "followers": lt["followers"],
                "ref": lt["ref"],
            },
            "series": series,
            "series_shown": key in with_series,
            "events": [e["id"] for e in acc_events],
        }
        acc["latest"]["fact"] = facts.add(
            f"latest followers of {display_name(acc)}", acc["latest"]["followers"], [lt["ref"]]
        )
        accounts.append(acc)
    # watched accounts never observed still appear (with nothing to show)
    seen = {(a["platform"], a["account_id"]) for a in accounts}
    for w in watch:
        k = (str(w["platform"]), str(w["account_id"]))
        if k not in seen:
            accounts.append(
                {
                    "key": f"{k[0]}:{k[1]}", "anchor": _anchor("a", f"{k[0]}:{k[1]}"),
                    "platform": k[0], "account_id": k[1], "handle": None, "display_name": None,
                    "description": None, "group": w["group"], "label": w.get("label"),
                    "n_observations": 0, "latest": None, "series": [], "series_shown": False, "events": [],
                }
            )
    accounts.sort(key=lambda a: (str(a["group"]), a["platform"], a["account_id"]))

    # ---- status transitions (raw data behind the wave timeline)
    step("counting status changes")
    transitions = _Transitions(store, ob.transition_rows(), t0, t1, group_of)

    # ---- accounts known from profiles or status events (not only observations)
    elsewhere = transitions.known_elsewhere()
    for a in accounts:
        k = (a["platform"], a["account_id"])
        info = elsewhere.get(k)
        a["sources"] = [t for t, n in (("observations", a["n_observations"]), ("profiles", (info or {}).get("n_profiles")),
                                       ("status_events", (info or {}).get("n_status_events"))) if n]
        if a["latest"] is None and info is not None:
            # No fact per account here (a population file can hold 10^5 of them): the
            # latest row is cited by its ref and listed in the appendix when cited.
            a["latest"] = {k2: info[k2] for k2 in ("t", "status", "followers", "ref", "source")} | {"fact": None}
    if not watch and group_filter is None:
        have = {(a["platform"], a["account_id"]) for a in accounts}
        extra = sorted((k for k in elsewhere if k not in have),
                       key=lambda k: (-(elsewhere[k]["n_profiles"] + elsewhere[k]["n_status_events"]), k))
        room = max(0, MAX_ACCOUNTS - len(accounts))
        if len(extra) > room:
            notes.append(f"{len(extra):,} accounts are known only from profiles or status events; "
                         f"{room} are listed (those with most rows).")
        for k in extra[:room]:
            info = elsewhere[k]
            accounts.append({
                "key": f"{k[0]}:{k[1]}", "anchor": _anchor("a", f"{k[0]}:{k[1]}"), "platform": k[0], "account_id": k[1],
                "handle": None, "display_name": None, "description": None, "group": None, "label": None,
                "n_observations": 0, "sources": [t for t in ("profiles", "status_events") if info[f"n_{t}"]],
                "latest": {k2: info[k2] for k2 in ("t", "status", "followers", "ref", "source")} | {"fact": None},
                "series": [], "series_shown": False, "events": [],
            })
        accounts.sort(key=lambda a: (str(a["group"]), a["platform"], a["account_id"]))
    for e in events:
        if not e["shown"]:
            e["refs"], e["fact"] = [], None
            continue
        if e["kind"] in WAVE_KINDS or e.get("account_id") is None:
            e.setdefault("refs", _wave_refs(e, transitions))
        e.setdefault("refs", [])
        e["fact"] = facts.add(
            f"{e['kind'].replace('_', ' ')} {e['id']}" + (f" of {display_name(e)}" if e.get("account_id") else "")
            + (": followers" if e["kind"].startswith("follower_") else ": accounts"),
            e.get("magnitude"), e["refs"])

    # ---- explain the largest drops
    step("explaining drops")
    shown_events = [e for e in events if e["shown"]]
    explains, availability["explain"] = _explain_drops(
        store, shown_events, explain_limit, availability["detect"] == "ok", keys
    )
    for x in explains:
        if x.get("result") is not None:
            snaps = ((x["result"] or {}).get("evidence") or {}).get("snapshots") or []
            x["refs"] = sorted(_anchor_snap(sn["snapshot_id"]) for sn in snaps if sn.get("snapshot_id"))
            x["fact"] = facts.add(f"followers of {display_name(x)} lost between two follower lists",
                                  (x["result"] or {}).get("lost"), x["refs"])

    # ---- compare groups
    step("comparing groups")
    compare, availability["compare"] = _compare(store, t0, t1)
    if group_filter is not None:
        for c in compare:
            c["groups"] = [g for g in c.get("groups") or [] if g.get("group") in group_filter]
    latest_refs = {
        str(g): [a["latest"]["ref"] for a in accounts if a["group"] == g and a["latest"]]
        for g in sorted({str(a["group"]) for a in accounts})
    }
    for c in compare:
        c["facts"] = {
            g: facts.add(f"{c['outcome']}: accounts of group {g} (latest observation each)", len(r), r)
            for g, r in latest_refs.items()
        }

    # ---- forensics
    step("forensics")
    forensics, availability["forensics"] = _forensics(store, explains)

    for fx in forensics:
        rg = fx.get("regain") or {}
        if rg.get("snapshots"):
            fx["regain_fact"] = facts.add(
                f"followers gained after the drop of {display_name(fx)}", rg.get("gained"),
                [_anchor_snap(s) for s in rg["snapshots"][1:]],
            )

    # ---- summary
    summary = _summary(accounts, ob.span_frame(), events, transitions, explains, compare, facts, watch, forensics,
                       n_known=len({(a["platform"], a["account_id"]) for a in accounts} | set(elsewhere)))

    # ---- stored rows: every row a number cites ("cited": the HTML appendix), and every
    # reading drawn on a chart (the JSON and CSV bundles hold them with their provenance)
    step("collecting the evidence rows")
    for row in ob.appendix(facts.referenced | series_refs):
        appendix_rows[row["ref"]] = row
    for row in transitions.appendix(facts.referenced - set(appendix_rows)):
        appendix_rows[row["ref"]] = row
    for ref, row in appendix_rows.items():
        row["cited"] = ref in facts.referenced
    snap_rows = _snapshot_appendix(store, facts.referenced)
    appendix = sorted(appendix_rows.values(), key=lambda r: (r["table"], str(r["platform"]), str(r["account_id"]), str(r["at"]), r["ref"]))

    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tool_version": TOOL_VERSION,
        "scope": {"from": iso(t0), "to": iso(t1), "groups": group_filter},
        "availability": availability,
        "notes": notes,
        "summary": summary,
        "events": events,
        "outliers": outliers,
        "waves": [e["id"] for e in events if e["kind"] in WAVE_KINDS],
        "accounts": accounts,
        "transitions": transitions.rows(MAX_TRANSITIONS),
        "timeline": transitions.daily(),
        "explain": explains,
        "compare": compare,
        "forensics": forensics,
        "posts": posts_findings(store, events, accounts, t0, t1, group_filter),  # report/_posts.py
        "facts": facts.items,
        "observations": appendix,
        "snapshots": snap_rows,
        "provenance": _provenance(store),
    }


def account_observations(store: Store, platform: str, account_id: str, limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """One account's observations with provenance (oldest first), for a page about it;
    thinned to ``limit`` points keeping every status change."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    files = store.files("observations")
    if not files:
        return []
    cols = ["observed_at", "status", "followers_count", "source", "source_ref", "retrieved_at", "payload_hash", "record_key"]
    flt = (pc.field("platform") == platform) & (pc.field("account_id") == account_id) & store.visible_filter()
    tbl = pads.dataset(files, format="parquet").to_table(columns=cols, filter=flt)
    df = tbl.to_pandas().sort_values(["observed_at", "record_key"], kind="stable")
    if not len(df):
        return []
    change = df["status"].ne(df["status"].shift()).to_numpy()
    df = df.iloc[_downsample(np.arange(len(df)), change, limit)]
    out = []
    r: Any
    for r, t_iso, got in zip(df.itertuples(index=False), _iso_series(df["observed_at"]), _iso_series(df["retrieved_at"]), strict=True):
        out.append({
            "t": t_iso, "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
            "status": r.status, "ref": _ref("o", r.record_key), "source": _str(r.source),
            "source_ref": _str(r.source_ref), "retrieved_at": got, "payload_hash": _str(r.payload_hash),
        })
    return out


def display_name(d: dict[str, Any]) -> str:
    """``Label (@handle)`` of an account, event or explained drop (the id when nameless)."""
    from purgewatch.queries import AccountName

    return AccountName(d.get("handle"), d.get("label")).text(d.get("account_id"))


def _str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def _anchor(prefix: str, raw: str) -> str:
    # a short content hash keeps hostile or very long ids from making unwieldy anchors
    import hashlib

    from purgewatch.report._safe import anchor_id

    return anchor_id(prefix, hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16])


def _appendix_row(r: Any, table: str, at: Any) -> dict[str, Any]:
    return {
        "ref": r.ref,
        "table": table,
        "platform": r.platform,
        "account_id": r.account_id,
        "at": iso(at),
        "status": r.status,
        "followers_count": None if pd.isna(getattr(r, "followers_count", None)) else int(r.followers_count),
        "source": _str(r.source),
        "source_ref": _str(r.source_ref),
        "retrieved_at": iso(r.retrieved_at),
        "tool_version": _str(r.tool_version),
        "payload_hash": _str(r.payload_hash),
        "batch_id": _str(r.batch_id),
    }


# --------------------------------------------------------------------------- analyses
def _detect(store: Store, outliers: list[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], str]:
    """Events as plain dicts; ``outliers`` (when given) receives detect's outlier listing."""
    fn, why = _optional("purgewatch.analysis.detect", "detect_all")
    if fn is None:
        fn, why = _optional("purgewatch.analysis.detect", "detect")
    if fn is None:
        return [], why
    try:
        raw = fn(store)
        if hasattr(raw, "outliers") and hasattr(raw, "events"):
            if outliers is not None:
                outliers.extend(plain(raw.outliers))
            raw = raw.events
    except PurgeWatchError as exc:
        return [], f"not available: detection failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
        return [], f"not available: detection failed ({type(exc).__name__}: {exc})"
    if isinstance(raw, dict):
        raw = raw.get("events", [])
    events = [plain(e) for e in raw]
    events.sort(key=lambda e: (str(e.get("start")), str(e.get("kind")), str(e.get("platform")), str(e.get("account_id")), str(e.get("end"))))
    return events, "ok"


def _event_in_scope(
    e: dict[str, Any],
    t0: pd.Timestamp | None,
    t1: pd.Timestamp | None,
    groups: list[str] | None,
    keys: set[tuple[str, str]],
) -> bool:
    s, en = parse_zoned(e.get("start")), parse_zoned(e.get("end"))
    if t0 is not None and en is not None and en < t0:
        return False
    if t1 is not None and s is not None and s > t1:
        return False
    if groups is not None and e.get("group") is not None and e.get("group") not in groups:
        return False
    if groups is not None and e.get("account_id") is not None:
        return (str(e.get("platform")), str(e.get("account_id"))) in keys
    return True


def _evidence_times(e: dict[str, Any]) -> set[str]:
    """Observation times named in an event's evidence (any key holding timestamps)."""
    out: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
            try:
                out.add(iso(parse_zoned(v)) or v)
            except (ValueError, PurgeWatchError):
                pass
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(e.get("evidence"))
    return out


def _event_refs(e: dict[str, Any], part: pd.DataFrame) -> list[str]:
    """Observations of the account an event rests on: those its evidence names, else the
    last one at/before its start and every one up to the first at/after its end."""
    times = _evidence_times(e)
    if times:
        wanted = pd.to_datetime(sorted(times), utc=True, format="ISO8601")
        named = part.loc[part["observed_at"].isin(wanted), "ref"]
        if len(named):
            return sorted(set(named))
    s, en = parse_zoned(e.get("start")), parse_zoned(e.get("end"))
    if s is None or en is None:
        return []
    ts = part["observed_at"]
    before = part[ts <= s].tail(1)
    inside = part[(ts > s) & (ts < en)]
    after = part[ts >= en].head(1)
    return sorted(set(before["ref"]) | set(inside["ref"]) | set(after["ref"]))


def _wave_refs(e: dict[str, Any], transitions: _Transitions) -> list[str]:
    want = "reinstated" if e["kind"] == "reinstatement_wave" else "suspended"
    return transitions.refs(want, parse_zoned(e.get("start")), parse_zoned(e.get("end")), e.get("platform"))


def _explain_drops(
    store: Store, events: list[dict[str, Any]], limit: int, detect_ok: bool, keys: set[tuple[str, str]]
) -> tuple[list[dict[str, Any]], str]:
    """Explain the largest detected follower drops. Without detection (or without any
    detected drop), explain each watched account's largest fall between consecutive
    follower snapshots (explain's own default), so the section still rests on real diffs."""
    fn, why = _optional("purgewatch.analysis.explain", "explain")
    if fn is None:
        return [], why
    targets: list[dict[str, Any]] = []
    drops = [e for e in events if e["kind"] == "follower_drop"]
    if detect_ok and drops:
        drops.sort(key=lambda e: (-(e.get("magnitude") or 0), e["id"]))
        targets = [
            {"event": e["id"], "platform": e["platform"], "account_id": e["account_id"], "group": e.get("group"),
             "handle": e.get("handle"), "label": e.get("label"), "start": e.get("start"), "end": e.get("end")}
            for e in drops[:limit]
        ]
    else:
        try:
            from purgewatch.store.snapshots import list_snapshots
        except ImportError:
            return [], "not available: no detection and no follower snapshots module"
        meta = list_snapshots(store)
        have = sorted({(str(p), str(a)) for p, a in zip(meta["platform"].to_pylist(), meta["account_id"].to_pylist(), strict=True)} & keys)
        targets = [
            {"event": _anchor("d", f"{p}:{a}"), "platform": p, "account_id": a, "group": None, "handle": None,
             "label": None, "start": None, "end": None}
            for p, a in have[:limit]
        ]
    out = []
    for item in targets:
        try:
            item["result"] = plain(
                _call(fn, store, item["account_id"], platform=item["platform"], start=item["start"], end=item["end"])
            )
        except PurgeWatchError as exc:
            item["result"], item["error"] = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
            item["result"], item["error"] = None, f"the analysis failed ({type(exc).__name__}: {exc})"
        res = item.get("result") or {}
        snaps = (res.get("evidence") or {}).get("snapshots") or []
        if item["start"] is None and len(snaps) == 2:
            item["start"], item["end"] = snaps[0].get("observed_at"), snaps[1].get("observed_at")
        item["group"] = item["group"] or res.get("group")
        item["handle"] = item["handle"] or res.get("handle")
        item["label"] = item["label"] or res.get("label")
        out.append(item)
    note = "ok" if detect_ok and drops else (
        "ok (no detected follower drop: each watched account's largest fall between follower snapshots)"
    )
    return out, note


COMPARE_OUTCOMES = ("suspended", "drop")
MAX_ORDER_POINTS = 5000


def _compare(
    store: Store, t0: pd.Timestamp | None, t1: pd.Timestamp | None
) -> tuple[list[dict[str, Any]], str]:
    """Camp comparisons for each outcome (FORMATS.md ``compare --by group --json``)."""
    fn, why = _optional("purgewatch.analysis.compare", "compare_store")
    if fn is None:
        fn, why2 = _optional("purgewatch.analysis.compare", "compare")
        if fn is None:
            return [], why
    out: list[dict[str, Any]] = []
    errors = []
    for outcome in COMPARE_OUTCOMES:
        try:
            res = plain(_call(fn, store, by="group", outcome=outcome, start=iso(t0), end=iso(t1)))
        except PurgeWatchError as exc:
            errors.append(f"{outcome}: {exc.message}")
            continue
        except Exception as exc:  # noqa: BLE001 - a failing analysis must not take the report down
            errors.append(f"{outcome}: the analysis failed ({type(exc).__name__}: {exc})")
            continue
        if isinstance(res, dict):
            res.setdefault("outcome", outcome)
            out.append(res)
    if not out:
        return [], "not available: " + "; ".join(errors)
    return out, "ok" if not errors else "ok (" + "; ".join(errors) + ")"


def _forensics(store: Store, explains: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Creation-date profiles, follower order and regain checks around each explained drop."""
    try:
        mod = importlib.import_module("purgewatch.analysis.forensics")
    except ImportError:
        return [], "not available: purgewatch.analysis.forensics is not installed"
    calls = {
        "creation": getattr(mod, "follower_creation_profiles", None),
        "order": getattr(mod, "follower_order", None),
        "regain": getattr(mod, "regain_for_account", None),
    }
    if not any(callable(f) for f in calls.values()):
        return [], "not available: no forensics function this report knows"
    out = []
    for x in explains:
        if x.get("result") is None or not (x["result"] or {}).get("lost"):
            continue
        item: dict[str, Any] = {"event": x["event"], "platform": x["platform"], "account_id": x["account_id"],
                                "handle": x.get("handle"), "label": x.get("label"), "errors": []}
        for name, fn in calls.items():
            if not callable(fn):
                continue
            try:
                if name == "order":
                    res = plain(fn(store, x["platform"], x["account_id"]))
                    res = _thin_order(res)
                else:
                    res = plain(fn(store, x["platform"], x["account_id"], start=x["start"], end=x["end"]))
            except PurgeWatchError as exc:
                item["errors"].append(f"{name}: {exc.message}")
                res = None
            except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
                item["errors"].append(f"{name}: the analysis failed ({type(exc).__name__}: {exc})")
                res = None
            item[name] = res
        out.append(item)
    return out, "ok"


def _thin_order(res: dict[str, Any]) -> dict[str, Any]:
    """Keep the Follower-Factory points small enough for a report (evenly thinned)."""
    pts = res.pop("points", None) or {}
    pos, created = pts.get("position") or [], pts.get("created_at") or []
    step = max(1, math.ceil(len(pos) / MAX_ORDER_POINTS))
    res["points"] = {"position": pos[::step], "created_at": created[::step], "thinned_every": step}
    return res


def _iso_arrow(col: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """:func:`iso` of an Arrow timestamp column, vectorised (same text)."""
    us = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    valid = np.asarray(us.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    v = np.asarray(us.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64).astype("datetime64[us]")
    out = np.datetime_as_string(v, unit="us").astype(object)
    whole = (v.astype(np.int64) % 1_000_000) == 0
    if whole.any():
        out[whole] = np.datetime_as_string(v[whole], unit="s")
    return [f"{x}Z" if ok else None for x, ok in zip(out.tolist(), valid.tolist(), strict=True)]


def _iso_series(ts: pd.Series) -> pd.Series:
    """Vectorised :func:`iso` (same text for the same time)."""
    if not len(ts):
        return pd.Series([], dtype=object)
    t = pd.to_datetime(ts, utc=True).dt.round("us")
    base = t.dt.strftime("%Y-%m-%dT%H:%M:%S")
    micro = t.dt.microsecond
    frac = ("." + micro.astype(str).str.zfill(6)).where(micro % 1000 != 0, "." + (micro // 1000).astype(str).str.zfill(3))
    out = base.where(micro == 0, base + frac) + "Z"
    return out.where(t.notna(), None)


class _Transitions:
    """Status changes seen in observations, profiles and status events, as one frame.

    ``unknown`` is never a status (a failed look-up), so it is skipped, not a change.
    """

    COLS = ["platform", "account_id", "status", "source", "source_ref", "retrieved_at", "tool_version",
            "payload_hash", "batch_id", "record_key"]

    def __init__(self, store: Store, obs: pd.DataFrame, t0: pd.Timestamp | None, t1: pd.Timestamp | None,
                 group_of: dict[tuple[str, str], Any]) -> None:
        frames = []
        if len(obs):
            o = obs[self.COLS + ["observed_at", "followers_count"]].rename(columns={"observed_at": "at"})
            o["table"], o["prefix"] = "observations", "o"
            frames.append(o)
        prof = _window(_read(store, "profiles", self.COLS + ["observed_at", "followers_count"]), "observed_at", t0, t1)
        if len(prof):
            prof = prof.rename(columns={"observed_at": "at"})
            prof["table"], prof["prefix"] = "profiles", "p"
            frames.append(prof)
        se = _window(_read(store, "status_events", self.COLS + ["at"]), "at", t0, t1)
        if len(se):
            se["followers_count"] = np.nan
            se["table"], se["prefix"] = "status_events", "s"
            frames.append(se)
        self.elsewhere = pd.DataFrame(columns=["platform", "account_id", "at", "status", "followers_count", "ref", "table"])
        if not frames:
            self.df = pd.DataFrame(columns=["ref", "table", "platform", "account_id", "group", "at", "iso", "prev_status", "to", "direction"])
            return
        df = pd.concat(frames, ignore_index=True)
        df = df[df["status"] != "unknown"]
        df["ref"] = df["prefix"] + "-" + df["record_key"].map(_key_hex)
        df = df.sort_values(["platform", "account_id", "at", "ref"], kind="stable")
        # suspended_or_deleted after an enforcement reading is the same suspension (model.carry_enforcement).
        acct = df.groupby(["platform", "account_id"], sort=False).ngroup().to_numpy()
        df["status"] = carry_enforcement(acct, df["status"].to_numpy(dtype=object))
        # Latest profile / status-event row per account: accounts known only from those
        # tables are accounts too (their latest state, with its table as source).
        other = df[df["table"] != "observations"]
        self.elsewhere = other.groupby(["platform", "account_id"], sort=False).tail(1).copy()
        if len(other):
            n = other.groupby(["platform", "account_id"], sort=False)["table"].value_counts().unstack(fill_value=0)
            self.elsewhere = self.elsewhere.join(n, on=["platform", "account_id"])
        prev = df.groupby(["platform", "account_id"], sort=False)["status"].shift()
        changed = prev.notna() & (prev != df["status"])
        first_event = prev.isna() & (df["table"] == "status_events")
        df["prev_status"] = prev
        df = df[changed | first_event].copy()
        frm_gone = df["prev_status"].isin(list(GONE_STATUSES))
        frm_enf = df["prev_status"].isin(list(ENFORCEMENT_STATUSES))
        # suspended_or_deleted is its own direction: gone, but the platform does not say
        # whether by enforcement or by the owner (never counted as a suspension).
        df["direction"] = np.where(
            df["status"].isin(list(ENFORCEMENT_STATUSES)) & ~frm_gone, "suspended",
            np.where((df["status"] == "active") & frm_enf, "reinstated",
                     np.where((df["status"] == "suspended_or_deleted") & ~frm_gone, "suspended_or_deleted",
                              "other")),
        )
        df["to"] = df["status"]
        keys = list(zip(df["platform"].astype(str), df["account_id"].astype(str), strict=True))
        df["group"] = [group_of.get(k) for k in keys]
        df["iso"] = _iso_series(df["at"])
        self.df = df.sort_values(["at", "platform", "account_id", "ref"], kind="stable").reset_index(drop=True)

    def rows(self, limit: int) -> list[dict[str, Any]]:
        out = []
        r: Any
        for r in self.df.head(limit).itertuples(index=False):
            out.append({
                "ref": r.ref, "table": r.table, "platform": r.platform, "account_id": r.account_id,
                "group": r.group if isinstance(r.group, str) else None, "at": r.iso, "from": r.prev_status if isinstance(r.prev_status, str) else None,
                "to": r.to, "direction": r.direction,
            })
        return out

    def count(self, direction: str) -> int:
        return int((self.df["direction"] == direction).sum()) if len(self.df) else 0

    def daily(self) -> list[dict[str, Any]]:
        df = self.df[self.df["direction"] != "other"] if len(self.df) else self.df
        if not len(df):
            return []
        day = df["iso"].str.slice(0, 10)
        grp = df["group"].map(lambda g: g if isinstance(g, str) else "not watched")
        counts = pd.crosstab([day, grp], df["direction"])
        out = []
        key: Any
        for key, row in counts.sort_index().iterrows():
            d, g = key
            out.append({"day": d, "group": g, "suspended": int(row.get("suspended", 0)), "reinstated": int(row.get("reinstated", 0)),
                        "suspended_or_deleted": int(row.get("suspended_or_deleted", 0))})
        return out

    def refs(self, direction: str, start: pd.Timestamp | None, end: pd.Timestamp | None, platform: str | None) -> list[str]:
        df = self.df
        if not len(df):
            return []
        m = df["direction"] == direction
        if start is not None:
            m &= df["at"] >= start
        if end is not None:
            m &= df["at"] <= end
        if platform:
            m &= df["platform"] == platform
        return df.loc[m, "ref"].tolist()

    def appendix(self, wanted: set[str]) -> list[dict[str, Any]]:
        df = self.df[self.df["ref"].isin(wanted)] if len(self.df) else self.df
        out = []
        r: Any
        for r in df.itertuples(index=False):
            out.append(_appendix_row(r, r.table, r.at))
        seen = set(df["ref"]) if len(df) else set()
        if len(self.elsewhere):
            for r in self.elsewhere[self.elsewhere["ref"].isin(wanted - seen)].itertuples(index=False):
                out.append(_appendix_row(r, r.table, r.at))
        return out

    def known_elsewhere(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Per account: its latest profile or status-event row (status, time, followers,
        ref, table) and how many rows each of those tables holds."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        r: Any
        for r in self.elsewhere.itertuples(index=False):
            row = r._asdict()
            out[(str(r.platform), str(r.account_id))] = {
                "t": iso(r.at), "status": r.status, "ref": r.ref, "source": r.table,
                "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
                "n_profiles": int(row.get("profiles", 0) or 0), "n_status_events": int(row.get("status_events", 0) or 0),
            }
        return out


def _anchor_snap(snapshot_id: str) -> str:
    from purgewatch.report._safe import anchor_id

    return anchor_id("n", snapshot_id)


def _snapshot_appendix(store: Store, referenced: set[str]) -> list[dict[str, Any]]:
    wanted = {r for r in referenced if r.startswith("n-")}
    if not wanted:
        return []
    tbl = store.read(
        "snapshots",
        columns=["snapshot_id", "platform", "account_id", "observed_at", "partial", "n_followers", "source", "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"],
    )
    out = []
    for r in plain(tbl):
        ref = _anchor_snap(r["snapshot_id"])
        if ref in wanted:
            r["ref"] = ref
            out.append(r)
    return sorted(out, key=lambda r: (r["platform"], r["account_id"], r["observed_at"], r["ref"]))


def _provenance(store: Store) -> dict[str, Any]:
    runs = plain(store.read("runs"))
    runs.sort(key=lambda r: (str(r["committed_at"]), r["batch_id"]))
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    for table in ("observations", "profiles", "status_events", "snapshots", "watchlist"):
        tbl = store.read(table, columns=["source", "retrieved_at", "payload_hash", "tool_version"])
        if tbl.num_rows == 0:
            continue
        # aggregated in Arrow: one row per source, no Python object per stored row
        import pyarrow.compute as pc

        tbl = tbl.set_column(0, "source", pc.fill_null(tbl["source"], "(none)"))
        agg = tbl.group_by("source").aggregate([
            ("source", "count"), ("retrieved_at", "min"), ("retrieved_at", "max"),
            ("payload_hash", "count_distinct", pc.CountOptions(mode="only_valid")),
            ("tool_version", "distinct", pc.CountOptions(mode="only_valid")),
        ])
        for r in agg.to_pylist():
            src = str(r["source"])
            sources[(table, src)] = {
                "table": table,
                "source": src,
                "rows": int(r["source_count"]),
                "first_retrieved": iso(r["retrieved_at_min"]),
                "last_retrieved": iso(r["retrieved_at_max"]),
                "payload_hashes": int(r["payload_hash_count_distinct"]),
                "tool_versions": sorted(str(v) for v in r["tool_version_distinct"] if v is not None),
            }
    return {"runs": runs, "sources": [sources[k] for k in sorted(sources)]}


# --------------------------------------------------------------------------- summary
def _summary(
    accounts: list[dict[str, Any]],
    obs: pd.DataFrame,
    events: list[dict[str, Any]],
    transitions: _Transitions,
    explains: list[dict[str, Any]],
    compare: list[dict[str, Any]],
    facts: _Facts,
    watch: list[dict[str, Any]],
    forensics: list[dict[str, Any]],
    n_known: int | None = None,
) -> dict[str, Any]:
    """Headline numbers and plain-language sentences; each number is a fact with refs.

    A sentence is a list of parts: plain strings, or {"fact": id, "text": shown number}.
    """
    observed = [a for a in accounts if a["n_observations"]]
    refs_all = [a["latest"]["ref"] for a in observed]
    groups = sorted({str(a["group"]) for a in accounts if a["group"] is not None})
    platforms = sorted({a["platform"] for a in accounts})
    by_kind: dict[str, int] = {}
    for e in events:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    first = iso(obs["observed_at"].min()) if len(obs) else None
    last = iso(obs["observed_at"].max()) if len(obs) else None
    sentences: list[list[Any]] = []

    def num(label: str, value: Any, refs: Iterable[str], text: str | None = None) -> dict[str, Any]:
        return {"fact": facts.add(label, value, refs), "text": text if text is not None else _fmt(value)}

    n_obs = int(sum(a["n_observations"] for a in accounts))
    n_changes = transitions.count("suspended") + transitions.count("reinstated")
    n_either = transitions.count("suspended_or_deleted")
    if observed:
        sentences.append(
            [
                "PurgeWatch followed ",
                num("accounts observed", len(observed), refs_all),
                f" account{'s' if len(observed) != 1 else ''}"
                + (f" in {len(groups)} group{'s' if len(groups) != 1 else ''} ({', '.join(groups)})" if groups else "")
                + f" on {', '.join(platforms) or 'no platform'}, with ",
                num("observations of these accounts", n_obs, [p["ref"] for a in accounts for p in a["series"]]),
                " observations" + (" from " if first else "."),
                *([{"when": [first]}, " to ", {"when": [last]}, "."] if first else []),
            ]
        )
    elif known_elsewhere := [a for a in accounts if a["latest"] is not None]:
        total = max(n_known or 0, len(known_elsewhere))
        sentences.append(
            [f"{total:,} account{'s' if total != 1 else ''}"
             + (f" in {len(groups)} group{'s' if len(groups) != 1 else ''}" if groups else "")
             + " are known only from profiles or status events (no observation in this scope)"
             + (f"; {len(known_elsewhere):,} are listed" if total > len(known_elsewhere) else "")
             + ": their latest status is what those rows say."]
        )
    else:
        sentences.append(
            ["No watched account was observed in this scope"
             + (f"; what follows rests on {n_changes:,} status changes recorded in profiles and status events." if n_changes else ".")]
        )
    waves = [e for e in events if e["kind"] == "suspension_wave"]
    if waves:
        big = max([e for e in waves if e["shown"]] or waves, key=lambda e: (e.get("magnitude") or 0, e["id"]))
        sentences.append(
            [
                f"Detection found {len(waves)} suspension wave{'s' if len(waves) != 1 else ''}; the largest suspended ",
                {"fact": big["fact"], "text": _fmt(big.get("magnitude"))},
                " accounts, ", {"when": [big.get("start"), big.get("end")]},
                (f" (group {big['group']})." if big.get("group") else "."),
            ]
        )
    reinst = [e for e in events if e["kind"] == "reinstatement_wave"]
    if reinst:
        big = max([e for e in reinst if e["shown"]] or reinst, key=lambda e: (e.get("magnitude") or 0, e["id"]))
        sentences.append(
            [
                f"{len(reinst)} reinstatement wave{'s' if len(reinst) != 1 else ''}; the largest reinstated ",
                {"fact": big["fact"], "text": _fmt(big.get("magnitude"))},
                " accounts, ", {"when": [big.get("start"), big.get("end")]}, ".",
            ]
        )
    drops = [e for e in events if e["kind"] == "follower_drop"]
    if drops:
        big = max([e for e in drops if e["shown"]] or drops, key=lambda e: (e.get("magnitude") or 0, e["id"]))
        acc = next((a for a in accounts if a["platform"] == big["platform"] and a["account_id"] == big["account_id"]), None)
        rel = big.get("relative")
        sentences.append(
            [
                f"{len(drops)} follower drop{'s' if len(drops) != 1 else ''} detected. The largest: ",
                _who(acc or big),
                " lost ",
                {"fact": big["fact"], "text": _fmt(big.get("magnitude"))},
                " followers"
                + (f" ({rel * 100:.1f}% of its audience), " if isinstance(rel, int | float) else ", "),
                {"when": [big.get("start"), big.get("end")]}, ".",
            ]
        )
    for x in explains:
        res = x.get("result") or {}
        if res.get("verdict") and x["event"] == (drops and max([e for e in drops if e["shown"]] or drops, key=lambda e: (e.get("magnitude") or 0, e["id"]))["id"]):
            sentences.append(
                [
                    "For that drop, the follower-list diff finds ",
                    {"fact": x["fact"], "text": _fmt(res.get("lost"))},
                    f" followers lost; verdict: {str(res['verdict']).replace('_', ' ')}.",
                ]
            )
    for fx in forensics:
        rg = fx.get("regain") or {}
        if rg.get("verdict") == "regain_campaign" and fx.get("regain_fact"):
            acc = next((a for a in accounts if a["platform"] == fx["platform"] and a["account_id"] == fx["account_id"]), None)
            young = rg.get("young_share")
            sentences.append(
                [
                    "After the drop, ",
                    _who(acc or fx),
                    " gained ",
                    {"fact": fx["regain_fact"], "text": _fmt(rg.get("gained"))},
                    " followers by ", {"when": [(rg.get("regain_window") or {}).get("to")]},
                    (f" ({rg['gain_ratio']:.1f}× its usual gain)" if isinstance(rg.get("gain_ratio"), int | float) else "")
                    + (f", {young * 100:.0f}% of them accounts less than 30 days old" if isinstance(young, int | float) else "")
                    + ": the pattern of a regain campaign.",
                ]
            )
    surges = [e for e in events if e["kind"] == "follower_surge"]
    if surges:
        sentences.append([f"{len(surges)} follower surge{'s' if len(surges) != 1 else ''} detected (possible regain campaigns; see forensics)."])
    purges = [e for e in events if e["kind"] == "purge"]
    if purges:
        big = max([e for e in purges if e["shown"]] or purges, key=lambda e: (e.get("magnitude") or 0, e["id"]))
        conc = (big.get("evidence") or {}).get("concentration") or {}
        if big.get("group") and conc.get("significant"):
            # Concentrated in one camp (detect's Fisher test): not a platform-wide sweep.
            others = conc.get("others_observed")
            sentences.append(
                [
                    "Followers were lost in the same window by ",
                    {"fact": big["fact"], "text": _fmt(big.get("magnitude"))},
                    " watched accounts, ", {"when": [big.get("start"), big.get("end")]}, ": "
                    f"{conc.get('hit')} of the {conc.get('observed')} {big['group']} accounts and "
                    f"{conc.get('others_hit')} of the {others} others (Fisher exact p = {_fmt_p(conc.get('p_value'))}): "
                    f"a sweep concentrated on the {big['group']} camp's audience, not the signature of a platform-wide purge.",
                ]
            )
        else:
            sentences.append(
                [
                    "A platform-wide purge signature: ",
                    {"fact": big["fact"], "text": _fmt(big.get("magnitude"))},
                    " unrelated accounts lost followers, ", {"when": [big.get("start"), big.get("end")]}, ".",
                ]
            )
    for c in compare:
        parts: list[Any] = [f"Camps compared on “{c.get('outcome')}”: "]
        for i, g in enumerate(c.get("groups") or []):
            rate, lo, hi = g.get("rate"), g.get("ci_low"), g.get("ci_high")
            fid = (c.get("facts") or {}).get(str(g.get("group")))
            parts.append(f"{'; ' if i else ''}{g.get('group')} ")
            parts.append({"fact": fid, "text": f"{g.get('outcome_count')} of {g.get('accounts')}"} if fid else f"{g.get('outcome_count')} of {g.get('accounts')}")
            if isinstance(rate, int | float) and isinstance(lo, int | float) and isinstance(hi, int | float):
                parts.append(f" ({rate * 100:.1f}%, 95% interval {lo * 100:.1f}–{hi * 100:.1f}%)")
        # Quote the comparison compare marks as most informative (smallest adjusted p,
        # ties by the largest difference), not the first pairs in alphabetical order.
        tests = c.get("tests") or []
        best = (c.get("most_informative") or {}).get("index")
        quoted = [tests[best]] if isinstance(best, int) and 0 <= best < len(tests) else tests[:1]
        if tests and all(t.get("p_value") is None for t in tests):
            # Nothing testable (e.g. no account has the outcome): say so once, quote no pair.
            quoted = []
            reason = next((t.get("cannot_test") for t in tests if t.get("cannot_test")), None)
            parts.append(". No pair can be tested" + (f": {str(reason).rstrip('.')}" if reason else ""))
        for w in c.get("population_warnings") or []:
            parts.append(f". Warning: {str(w).rstrip('.')}")
        for t in quoted:
            eff = t.get("effect") or {}
            rr, ci = eff.get("rate_ratio"), eff.get("rate_ratio_ci") or [None, None]
            diff, dci = eff.get("difference"), eff.get("difference_ci") or [None, None]
            p_val = t.get("p_value_adjusted", t.get("p_value"))
            p_txt = t.get("p_value_adjusted_text") or t.get("p_value_text")
            lead = "Most informative comparison, " if len(tests) > 1 else ""
            txt = f". {lead}{' vs '.join(map(str, t.get('groups') or []))}: "
            if isinstance(diff, int | float) and all(isinstance(v, int | float) for v in dci):
                txt += f"difference {diff * 100:+.1f} points (95% interval {dci[0] * 100:+.1f} to {dci[1] * 100:+.1f})"
            if isinstance(rr, int | float) and all(isinstance(v, int | float) for v in ci):
                txt += f", rate ratio {rr:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"
            if isinstance(p_txt, str) and isinstance(p_val, int | float):
                txt += f", p {p_txt}" if p_txt.startswith("<") else f", p = {p_txt}"
            elif isinstance(p_val, int | float):
                txt += f", p = {p_val:.2g}"
            elif t.get("cannot_test"):
                txt += f"; cannot test: {t['cannot_test']}"
            parts.append(txt)
        parts.append(".")
        sentences.append(parts)
    if n_either:
        sentences.append([
            num("accounts gone as suspended_or_deleted", n_either, transitions.refs("suspended_or_deleted", None, None, None)),
            f" account{'s' if n_either != 1 else ''} went from present to gone in a way the platform does not "
            "attribute (suspended_or_deleted: what a moderator's suspension and the owner's own deletion both "
            "leave behind). They are counted apart, never as suspensions: confirmed enforcement is at least the "
            "suspensions above and at most those plus these.",
        ])
    if not events:
        sentences.append(["No detection events are shown (see availability below)."])
    lede, figures = _lede(accounts, events, explains, forensics, facts)
    return {
        "lede": lede,
        "key_figures": figures,
        "accounts_watched": len(watch),
        "accounts_observed": len(observed),
        "groups": groups,
        "platforms": platforms,
        "observations": n_obs,
        "first_observation": first,
        "last_observation": last,
        "events_by_kind": dict(sorted(by_kind.items())),
        "status_changes": {
            "suspended": transitions.count("suspended"),
            "reinstated": transitions.count("reinstated"),
            "suspended_or_deleted": transitions.count("suspended_or_deleted"),
        },
        "sentences": sentences,
    }


def _who(d: dict[str, Any]) -> dict[str, Any]:
    """A sentence part naming an account (linked to its card in the report, its page in the UI)."""
    return {"who": display_name(d), "anchor": d.get("anchor"), "platform": d.get("platform"),
            "account_id": d.get("account_id")}


_VERDICT_WORDS = {
    "platform_enforcement": "the platform's enforcement, not a mass unfollow",
    "mass_unfollow": "a mass unfollow, not the platform's enforcement",
    "mixed": "a mix of enforcement and unfollows",
}


def _lede(
    accounts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    explains: list[dict[str, Any]],
    forensics: list[dict[str, Any]],
    facts: _Facts,
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The story first, as an editor would write it, and the key figures behind it. Built
    only from the findings: the largest detected drop, what explain found about who left,
    whether one camp was hit (detect's purge concentration test), the largest suspension
    wave, and a regain campaign after the drop. Empty when nothing was detected."""
    lede: list[Any] = []
    figures: list[dict[str, Any]] = []
    shown = [e for e in events if e.get("shown")]
    drops = [e for e in shown if e["kind"] == "follower_drop"]
    waves = [e for e in shown if e["kind"] == "suspension_wave"]
    purges = [e for e in shown if e["kind"] == "purge"]
    by_key = {(a["platform"], a["account_id"]): a for a in accounts}

    def biggest(es: list[dict[str, Any]]) -> dict[str, Any]:
        return max(es, key=lambda e: (float(e.get("magnitude") or 0), e["id"]))

    if drops:
        big = biggest(drops)
        acc = by_key.get((big["platform"], big["account_id"])) or big
        rel = big.get("relative")
        lede += ["On ", {"when": [big.get("start"), big.get("end")]}, ", ", _who(acc), " lost ",
                 {"fact": big["fact"], "text": _fmt(big.get("magnitude"))}, " followers",
                 f" ({rel * 100:.1f}% of its audience). " if isinstance(rel, int | float) else ". "]
        figures.append({"label": f"followers lost by {display_name(acc)}", "fact": big["fact"],
                        "text": _fmt(big.get("magnitude")), "when": [big.get("start"), big.get("end")]})
        x = next((x for x in explains if x["event"] == big["id"] and x.get("result")), None)
        res = (x or {}).get("result") or {}
        bd = res.get("lost_breakdown") or {}
        lost = res.get("lost") or 0
        if x is not None and lost:
            enforced = int(bd.get("suspended") or 0) + int(bd.get("takendown") or 0)
            share = enforced / lost
            fid = facts.add(f"share of the followers {display_name(acc)} lost that the platform suspended",
                            round(share, 4), x.get("refs") or [])
            lede += [f"Of the {lost:,} accounts that left its follower list, ",
                     {"fact": fid, "text": f"{share * 100:.0f}%"}, " are accounts the platform suspended"]
            verdict = _VERDICT_WORDS.get(str(res.get("verdict")))
            lede.append(f": {verdict}. " if verdict else ". ")
            figures.append({"label": "of the lost followers were suspended accounts", "fact": fid,
                            "text": f"{share * 100:.0f}%"})
        elif x is not None:
            why = ((res.get("evidence") or {}).get("reasons") or ["no follower-list diff"])[0]
            lede.append(f"Who left cannot be told from the follower lists read ({why}). ")
        camp = next((p for p in sorted(purges, key=lambda e: -float(e.get("magnitude") or 0))
                     if p.get("group") and ((p.get("evidence") or {}).get("concentration") or {}).get("significant")), None)
        if camp is not None:
            conc = camp["evidence"]["concentration"]
            only = "only" if not conc.get("others_hit") else "mainly"
            pfid = facts.add(f"Fisher exact p of the {camp['group']} camp's share of accounts losing followers together",
                             conc.get("p_value"), camp.get("refs") or [])
            lede += [f"The loss hit {only} the {camp['group']} camp: ",
                     {"fact": camp["fact"], "text": f"{conc.get('hit')} of the {conc.get('observed')}"},
                     f" {camp['group']} accounts observed then lost followers in that window, against "
                     f"{conc.get('others_hit')} of the {conc.get('others_observed')} others (Fisher exact p = ",
                     {"fact": pfid, "text": _fmt_p(conc.get("p_value"))}, "). "]
            figures.append({"label": f"p-value: the {camp['group']} camp alone was hit", "fact": pfid,
                            "text": _fmt_p(conc.get("p_value"))})
        fx = next((f for f in forensics if f["event"] == big["id"]), None)
        rg = (fx or {}).get("regain") or {}
        if fx is not None and rg.get("verdict") == "regain_campaign" and fx.get("regain_fact"):
            young = rg.get("young_share")
            lede += ["Then came a regain campaign: ", _who(acc), " gained ",
                     {"fact": fx["regain_fact"], "text": _fmt(rg.get("gained"))}, " followers by ",
                     {"when": [(rg.get("regain_window") or {}).get("to")]},
                     f", {young * 100:.0f}% of them accounts less than 30 days old." if isinstance(young, int | float)
                     else "."]
            figures.append({"label": "followers gained in the regain campaign", "fact": fx["regain_fact"],
                            "text": _fmt(rg.get("gained"))})
    if waves:
        wave = biggest(waves)
        if not lede:
            lede += ["On ", {"when": [wave.get("start"), wave.get("end")]}, ", the platform suspended ",
                     {"fact": wave["fact"], "text": _fmt(wave.get("magnitude"))}, " of the accounts watched"
                     + (f", in the {wave['group']} camp." if wave.get("group") else ".")]
        figures.append({"label": "accounts suspended in the largest wave", "fact": wave["fact"],
                        "text": _fmt(wave.get("magnitude")), "when": [wave.get("start"), wave.get("end")]})
    return lede, figures[:5]


def _fmt_p(value: Any) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def now_utc() -> datetime:
    """The one clock read of a report (kept here so callers can pass it explicitly)."""
    return datetime.now(UTC).replace(microsecond=0)


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "gather_findings", "iso", "plain", "now_utc"]
