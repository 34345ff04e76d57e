"""Incremental detection for the watch loop: re-examine only each account's tail.

The per-account kernel's numbers for an interval depend on the observations a few steps
around it and on the statistics of its block and the block before (``_series.py``). So
when observations arrive for an account, only intervals from the start of the block
holding the first changed interval need re-evaluating, and a tail of
``2 * block + 2 * reach + 16`` observations (``reach``: see
:func:`~purgewatch.analysis.detect._series.context_reach`) gives them exactly the context a
batch run over the whole history would. Runs of flagged intervals never cross a block start, so
events before that point are final. Waves and purges are rescanned from the kept
transitions and drop candidates (cheap binned counts).

Limits (also in docs/detect.md): an observation older than the kept tail of its account
cannot be placed (it is counted in ``late_rows`` and ignored; run a batch ``detect`` to
include it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purgewatch.analysis.detect._event import KINDS, Event
from purgewatch.analysis.detect._purge import find_purges
from purgewatch.analysis.detect._run import (
    DetectParams,
    make_params,
    purge_loss,
    series_events,
    wave_events,
)
from purgewatch.analysis.detect._series import (
    Candidates,
    context_reach,
    detect_arrays,
    prepare,
    suppress,
)
from purgewatch.analysis.detect._waves import Transitions, transitions
from purgewatch.model import GONE_STATUSES

if TYPE_CHECKING:
    from purgewatch.store import Store

Key = tuple[str, str]


@dataclass
class _Account:
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offset: int = 0  # global index of t[0] among this account's (deduplicated) readings
    first_t: float = np.inf
    # gidx, jump, score, reverted, event
    events: list[tuple[int, float, float, bool, Event]] = field(default_factory=list)
    purge: list[tuple[int, float, float, float, float]] = field(default_factory=list)


def _seconds(col: pa.ChunkedArray) -> np.ndarray:
    arr = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64) / 1e6


class Detector:
    """Stateful detector: feed it new rows with :meth:`update`; :meth:`events` equals
    ``detect()`` over everything fed so far."""

    def __init__(self, params: DetectParams | None = None, *,
                 groups: dict[Key, str] | None = None, **overrides: Any) -> None:
        self.params = make_params(params, **overrides)
        self.groups = dict(groups or {})
        sp = self.params.series
        self.reach = context_reach(sp)
        self.tail_len = 2 * sp.block + 2 * self.reach + 16
        self._acc: dict[Key, _Account] = {}
        self._status_last: dict[Key, tuple[float, str]] = {}
        self._status_keys: dict[Key, int] = {}
        self._tr: list[tuple[int, float, float, str, str]] = []
        self._coverage = (np.inf, -np.inf)
        self._seen: set[str] = set()
        self.late_rows = 0
        self.inexact_accounts = 0

    # ------------------------------------------------------------------ feeding
    @classmethod
    def from_store(cls, store: Store, params: DetectParams | None = None, **overrides: Any) -> Detector:
        from purgewatch.watchlist import groups_by_account

        det = cls(params, groups=groups_by_account(store), **overrides)
        det.update(observations=store.read("observations", columns=[
            "platform", "account_id", "observed_at", "status", "followers_count"]),
            status_events=store.read("status_events", columns=["platform", "account_id", "at", "status"]),
            profiles=store.read("profiles", columns=["platform", "account_id", "observed_at", "status"]))
        return det

    def update(self, observations: pa.Table | None = None, status_events: pa.Table | None = None,
               profiles: pa.Table | None = None) -> list[Event]:
        """Take new rows (store schemas; extra columns ignored); return the events that
        appeared or changed because of them."""
        before = self._fingerprints()
        readings = []
        if observations is not None and observations.num_rows:
            self._update_series(observations)
            readings.append((observations, "observed_at", False))
        if profiles is not None and profiles.num_rows:
            readings.append((profiles, "observed_at", False))
        if status_events is not None and status_events.num_rows:
            readings.append((status_events, "at", True))
        if readings:
            self._update_status(readings)
        now = self.events()
        return [e for e in now if _fp(e) not in before]

    def _fingerprints(self) -> set[str]:
        return self._seen

    # ------------------------------------------------------------------ series
    def _update_series(self, obs: pa.Table) -> None:
        sp = self.params.series
        ok = pc.and_(pc.is_valid(obs["followers_count"]),
                     pc.invert(pc.is_in(obs["status"], pa.array(sorted(GONE_STATUSES)))))
        obs = obs.filter(ok)
        if obs.num_rows == 0:
            return
        plat = obs["platform"].to_pylist()
        accs = obs["account_id"].to_pylist()
        t_new = _seconds(obs["observed_at"])
        y_new = np.asarray(obs["followers_count"].to_numpy(), dtype=np.float64)
        by_key: dict[Key, list[int]] = {}
        for i, key in enumerate(zip(plat, accs, strict=True)):
            by_key.setdefault(key, []).append(i)
        keys = list(by_key)
        parts_t, parts_y, parts_s, offsets, old_len = [], [], [], [], []
        for j, key in enumerate(keys):
            acc = self._acc.setdefault(key, _Account())
            idx = np.array(by_key[key])
            tn, yn = t_new[idx], y_new[idx]
            if acc.offset > 0 and len(acc.t):
                late = tn < acc.t[0]
                self.late_rows += int(late.sum())
                tn, yn = tn[~late], yn[~late]
            parts_t += [acc.t, tn]
            parts_y += [acc.y, yn]
            parts_s.append(np.full(len(acc.t) + len(tn), j, dtype=np.int64))
            offsets.append(acc.offset)
            old_len.append(len(acc.t))
        sid, t, y = prepare(np.concatenate(parts_s), np.concatenate(parts_t), np.concatenate(parts_y))
        off = np.array(offsets, dtype=np.int64)
        lo = np.searchsorted(sid, np.arange(len(keys)), side="left")
        hi = np.searchsorted(sid, np.arange(len(keys)), side="right")
        cut = np.zeros(len(keys), dtype=np.int64)
        B = sp.block
        for j, key in enumerate(keys):
            acc = self._acc[key]
            nt, ny = t[lo[j]:hi[j]], y[lo[j]:hi[j]]
            m = min(len(acc.t), len(nt))
            diff = np.flatnonzero((acc.t[:m] != nt[:m]) | (acc.y[:m] != ny[:m]))
            changed = int(diff[0]) if len(diff) else m
            first_changed = acc.offset + changed - self.reach
            b = max(first_changed, 0) // B
            cut[j] = b * B if b >= 2 else 0
            need = max(b - 1, 0) * B - self.reach
            if acc.offset > 0 and acc.offset > need:
                self.inexact_accounts += 1
        ev, pg = detect_arrays(sid, t, y, sp, offset=off, suppress_events=False)
        accounts = keys
        for j, key in enumerate(keys):
            acc = self._acc[key]
            acc.events = [e for e in acc.events if e[0] < cut[j]]
            acc.purge = [c for c in acc.purge if c[0] < cut[j]]
            if acc.offset == 0 and hi[j] > lo[j]:
                acc.first_t = float(t[lo[j]])
        ev = ev.take(np.flatnonzero(ev.gidx >= cut[ev.sid]))
        groups = np.array([self.groups.get(key) for key in accounts], dtype=object)
        for i, e in enumerate(series_events(ev, sid, t, y, accounts, groups, sp)):
            self._acc[accounts[int(ev.sid[i])]].events.append(
                (int(ev.gidx[i]), float(ev.jump[i]), float(ev.score[i]), bool(ev.reverted[i]), e))
        pg_lost = purge_loss(pg)
        for i in range(len(pg)):
            j = int(pg.sid[i])
            if pg.gidx[i] < cut[j]:
                continue
            self._acc[accounts[j]].purge.append((int(pg.gidx[i]), float(t[pg.first[i]]),
                                                 float(t[pg.last[i]]), float(pg_lost[i]),
                                                 float(pg.level[i])))
        for j, key in enumerate(keys):
            acc = self._acc[key]
            nt, ny = t[lo[j]:hi[j]], y[lo[j]:hi[j]]
            drop = max(len(nt) - self.tail_len, 0)
            acc.t, acc.y = nt[drop:].copy(), ny[drop:].copy()
            acc.offset += drop
            acc.events.sort(key=lambda e: e[0])
            acc.purge.sort(key=lambda c: c[0])

    # ------------------------------------------------------------------ status
    def _update_status(self, readings: list[tuple[pa.Table, str, bool]]) -> None:
        rows: list[tuple[Key, float, bool, str]] = []
        for tbl, col, is_event in readings:
            ts = _seconds(tbl[col])
            for p_, a, tt, st in zip(tbl["platform"].to_pylist(), tbl["account_id"].to_pylist(),
                                     ts.tolist(), tbl["status"].to_pylist(), strict=True):
                rows.append(((p_, a), tt, is_event, st))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        lo_c, hi_c = self._coverage
        for key, tt, _, _ in rows:
            self._status_keys.setdefault(key, len(self._status_keys))
            lo_c, hi_c = min(lo_c, tt), max(hi_c, tt)
        self._coverage = (lo_c, hi_c)
        # prepend each account's last known reading so transitions continue across updates
        keys_i, times, stats, events = [], [], [], []
        seen_prior: set[Key] = set()
        for key, tt, is_event, st in rows:
            prior = self._status_last.get(key)
            if prior is not None and key not in seen_prior:
                seen_prior.add(key)
                keys_i.append(self._status_keys[key])
                times.append(prior[0])
                stats.append(prior[1])
                events.append(False)
            if prior is not None and tt < prior[0]:
                self.late_rows += 1
                continue
            keys_i.append(self._status_keys[key])
            times.append(tt)
            stats.append(st)
            events.append(is_event)
        tr = transitions(np.array(keys_i, dtype=np.int64), np.array(times, dtype=np.float64),
                         np.array(stats, dtype=object), np.array(events, dtype=bool))
        names = list(self._status_keys)
        for k_, tt, sv, kind, st in zip(tr.key.tolist(), tr.time.tolist(), tr.since.tolist(),
                                        tr.kind.tolist(), tr.status.tolist(), strict=True):
            prior = self._status_last.get(names[k_])
            if prior is not None and tt <= prior[0]:
                continue  # the prepended prior reading itself
            self._tr.append((k_, tt, sv, kind, st))
        for key_i, tt, st in zip(keys_i, times, stats, strict=True):
            if st == "unknown":
                continue
            key = names[key_i]
            prev = self._status_last.get(key)
            if prev is None or tt >= prev[0]:
                self._status_last[key] = (tt, st)

    # ------------------------------------------------------------------ answers
    def events(self, kinds: set[str] | None = None) -> list[Event]:
        """Every current event (equal to a batch ``detect`` over the same rows)."""
        kinds = set(kinds or KINDS)
        out: list[Event] = []
        keys = list(self._acc)
        if kinds & {"follower_drop", "follower_surge"}:
            rows = [(j, g, jump, score, rv, e) for j, key in enumerate(keys)
                    for g, jump, score, rv, e in self._acc[key].events]
            if rows:
                z = np.zeros(len(rows))
                zi = np.zeros(len(rows), dtype=np.int64)
                cand = Candidates(
                    sid=np.array([r[0] for r in rows]), gidx=np.array([r[1] for r in rows]),
                    first=zi, last=zi, peak=zi,
                    jump=np.array([r[2] for r in rows]), level=z, score=np.array([r[3] for r in rows]),
                    rate=z, scale=z, net=z, reverted=np.array([r[4] for r in rows], dtype=bool))
                keep = suppress(cand, self.params.series) & ~cand.reverted
                out += [r[5] for r, kp in zip(rows, keep, strict=True) if kp]
        if "purge" in kinds:
            out += self._purges()
        if kinds & {"suspension_wave", "reinstatement_wave"} and self._tr:
            names = list(self._status_keys)
            tr = Transitions(
                key=np.array([r[0] for r in self._tr], dtype=np.int64),
                time=np.array([r[1] for r in self._tr]),
                since=np.array([r[2] for r in self._tr]),
                kind=np.array([r[3] for r in self._tr], dtype=object),
                status=np.array([r[4] for r in self._tr], dtype=object),
            )
            order = np.lexsort((tr.time, tr.key))
            tr = Transitions(tr.key[order], tr.time[order], tr.since[order], tr.kind[order],
                             tr.status[order])
            groups = np.array([self.groups.get(k) for k in names], dtype=object)
            out += wave_events(tr, names, groups, self._coverage, self.params.waves)
        out = sorted([e for e in out if e.kind in kinds], key=lambda e: e.sort_key)
        self._seen = {_fp(e) for e in out}
        return out

    def _purges(self) -> list[Event]:
        keys = [k for k, a in self._acc.items() if len(a.t)]
        if not keys:
            return []
        index = {k: i for i, k in enumerate(keys)}
        first = np.array([self._acc[k].first_t for k in keys])
        last = np.array([self._acc[k].t[-1] for k in keys])
        rows = [(index[k], c) for k in keys for c in self._acc[k].purge]
        if not rows:
            return []
        sid = np.array([r[0] for r in rows], dtype=np.int64)
        ts = np.array([r[1][1] for r in rows])
        te = np.array([r[1][2] for r in rows])
        lost = np.array([r[1][3] for r in rows])
        before = np.array([r[1][4] for r in rows])
        groups = np.array([self.groups.get(k) for k in keys], dtype=object)
        return find_purges(sid, ts, te, lost, before, first, last, keys, groups, self.params.purge)


def _fp(e: Event) -> str:
    import json

    return json.dumps(e.to_json(), sort_keys=True)
