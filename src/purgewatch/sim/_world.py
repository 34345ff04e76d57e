"""The emulated world: every account and follow edge of a scenario, as numpy arrays.

A world is built once per (scenario, platform) from the seed and never changes; what a
platform answers at scenario time ``t`` is computed from it (a follow stands when
``follow_us <= t < unfollow_us``; an account is down when ``down_us <= t < up_us``).
Each account changes status at most once (down, then optionally reinstated), which is
enough for waves, purges and background churn and keeps the truth unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from purgewatch.sim._clock import US, to_us
from purgewatch.sim._ids import X_EPOCH_MS, IdCodec, fmix, mix64, to_b36
from purgewatch.sim._posts import PostWorld
from purgewatch.sim._scenario import AccountSpec, Scenario

INF = 2**62
ACTIVE, SUSPENDED, TAKENDOWN, DEACTIVATED, DELETED = range(5)
STATUS_NAMES = ("active", "suspended", "takendown", "deactivated", "deleted")
STATUS_CODE = {name: i for i, name in enumerate(STATUS_NAMES)}
WATCHED, POOL, FARM, REGAIN = range(4)
DAY_US = 86_400 * US
HOUR_US = 3600 * US
# earliest creation date of generated accounts: the platform's public opening, roughly
PLATFORM_EPOCH = {
    "bluesky": to_us(datetime(2023, 4, 1, tzinfo=UTC)),
    "mastodon": to_us(datetime(2017, 1, 1, tzinfo=UTC)),
    "x": to_us(datetime(2011, 1, 1, tzinfo=UTC)),
}
PLATFORM_CODE = {"bluesky": 1, "mastodon": 2, "x": 3}
MAX_ACCOUNTS = 1 << 22  # numeric ids keep the index in 22 bits


@dataclass
class Edges:
    """Follow edges of one watched account, newest first (descending ``edge_id``)."""

    follower: np.ndarray      # int64 account index
    follow_us: np.ndarray     # int64
    unfollow_us: np.ndarray   # int64, INF if never
    edge_id: np.ndarray       # int64, strictly decreasing; Mastodon max_id / cursors
    cohort: np.ndarray        # int16 index into PlatformWorld.cohorts
    end_cause: np.ndarray     # int16 index into PlatformWorld.causes, -1 = organic unfollow
    f_down: np.ndarray        # follower's down_us, gathered once the events are set
    f_up: np.ndarray

    def standing(self, t: int) -> np.ndarray:
        return (self.follow_us <= t) & (self.unfollow_us > t)

    def visible(self, t: int) -> np.ndarray:
        """Standing follows whose follower is active at ``t`` (what counts show)."""
        return self.standing(t) & ~((self.f_down <= t) & (self.f_up > t))


class PlatformWorld:
    """All accounts of one platform in one scenario."""

    def __init__(self, scenario: Scenario, platform: str) -> None:
        self.scenario = scenario
        self.platform = platform
        self.codec = IdCodec(scenario.seed, platform)
        self.watched: list[AccountSpec] = [a for a in scenario.accounts if a.platform == platform]
        self.watched_index = {a.key: i for i, a in enumerate(self.watched)}
        self.cohorts: list[str] = ["baseline", "organic"]
        self.causes: list[str] = ["background"]
        self.instances = scenario.mastodon_instances or ("mastodon.social",)
        self._name_cache: dict[int, tuple[str, str]] = {}
        self._salt = mix64(scenario.seed, platform) & 0xFFFFFFFF
        self._build()
        self.posts = PostWorld(scenario, platform, self.watched_index)

    # ---------------------------------------------------------------- building
    def _rng(self, *name: str | int) -> np.random.Generator:
        return np.random.default_rng([self.scenario.seed, PLATFORM_CODE[self.platform],
                                      mix64(*name) & 0xFFFFFFFF])

    def _build(self) -> None:
        sc = self.scenario
        start, end = sc.start_us, sc.end_us
        days = (end - start) / DAY_US
        w = len(self.watched)
        # camp pools: each camp draws its followers from its own pool, sized so the camp's
        # biggest account takes most of it (which makes the camp's audiences overlap)
        pools: dict[str, tuple[int, int]] = {}
        next_idx = w
        for a in self.watched:
            need = int(1.3 * (a.followers + a.growth_per_day * days * 1.3)) + 20
            lo, size = pools.get(a.group, (0, 0))
            pools[a.group] = (lo, max(size, need))
        for camp, (_, size) in pools.items():
            pools[camp] = (next_idx, size)
            next_idx += size
        farms = [f for f in sc.farms if f.platform == self.platform]
        farm_range: dict[str, tuple[int, int]] = {}
        for f in farms:
            farm_range[f.name] = (next_idx, f.size)
            next_idx += f.size
        regains = [r for r in sc.regains if r.platform == self.platform]
        regain_range: dict[str, tuple[int, int]] = {}
        for r in regains:
            regain_range[r.name] = (next_idx, r.bursts * r.burst_size)
            next_idx += r.bursts * r.burst_size
        n = self.n = next_idx
        if n > MAX_ACCOUNTS:
            raise ValueError(f"{self.platform}: {n} accounts, more than the emulator's {MAX_ACCOUNTS}")

        self.created_us = np.zeros(n, np.int64)
        self.kind = np.zeros(n, np.int8)
        self.down_us = np.full(n, INF, np.int64)
        self.up_us = np.full(n, INF, np.int64)
        self.down_code = np.zeros(n, np.int8)
        self.down_cause = np.full(n, -1, np.int16)
        for i, a in enumerate(self.watched):
            self.created_us[i] = a.created_us
        epoch = PLATFORM_EPOCH[self.platform]
        for camp, (lo, size) in pools.items():
            rng = self._rng("pool", camp)
            self.created_us[lo:lo + size] = epoch + (rng.random(size) * (start - DAY_US - epoch)).astype(np.int64)
            self.kind[lo:lo + size] = POOL
        for f in farms:
            lo, size = farm_range[f.name]
            rng = self._rng("farm", f.name)
            span = max(1, f.created_to_us - f.created_from_us)
            self.created_us[lo:lo + size] = f.created_from_us + (rng.random(size) * span).astype(np.int64)
            self.kind[lo:lo + size] = FARM
        for r in regains:
            lo, size = regain_range[r.name]
            self.kind[lo:lo + size] = REGAIN

        # follow edges of every watched account
        parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]] = {i: [] for i in range(w)}
        unfollows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, a in enumerate(self.watched):
            rng = self._rng("edges", a.key)
            lo, size = pools[a.group]
            n_org = int(rng.poisson(a.growth_per_day * days)) if a.growth_per_day else 0
            take = min(size, a.followers + n_org)
            chosen = lo + rng.choice(size, size=take, replace=False).astype(np.int64)
            base, org = chosen[: a.followers], chosen[a.followers:]
            first = np.maximum(self.created_us[base], a.created_us)
            t_base = first + (rng.random(len(base)) * (start - first)).astype(np.int64)
            t_org = start + (rng.random(len(org)) * (end - start)).astype(np.int64)
            parts[i].append((base, t_base, np.full(len(base), INF, np.int64), 0))
            parts[i].append((org, t_org, np.full(len(org), INF, np.int64), 1))
            m = min(take, int(rng.poisson(a.unfollow_per_day * days)) if a.unfollow_per_day else 0)
            if m:
                unfollows[i] = (rng.choice(take, size=m, replace=False), rng.random(m))
        for f in farms:
            lo, size = farm_range[f.name]
            cohort = self._cohort(f"farm:{f.name}")
            idx = np.arange(lo, lo + size, dtype=np.int64)
            for key in f.follows:
                rng = self._rng("farm-follow", f.name, key)
                span = max(1, f.follow_to_us - f.follow_from_us)
                t = f.follow_from_us + (rng.random(size) * span).astype(np.int64)
                t = np.maximum(t, self.created_us[idx] + HOUR_US)
                parts[self.watched_index[key]].append((idx, t, np.full(size, INF, np.int64), cohort))
        for r in regains:
            lo, size = regain_range[r.name]
            cohort = self._cohort(f"regain:{r.name}")
            rng = self._rng("regain", r.name)
            burst = np.repeat(np.arange(r.bursts, dtype=np.int64), r.burst_size)
            t = r.start_us + burst * r.every_us + (rng.random(size) * r.burst_us).astype(np.int64)
            age = 10 * 60 * US + (rng.random(size) * (r.created_before_us - 10 * 60 * US)).astype(np.int64)
            self.created_us[lo:lo + size] = t - age
            idx = np.arange(lo, lo + size, dtype=np.int64)
            parts[self.watched_index[r.target]].append((idx, t, np.full(size, INF, np.int64), cohort))

        self.edges: dict[int, Edges] = {}
        for i in range(w):
            fol = np.concatenate([p[0] for p in parts[i]])
            fu = np.concatenate([p[1] for p in parts[i]])
            un = np.concatenate([p[2] for p in parts[i]])
            co = np.concatenate([np.full(len(p[0]), p[3], np.int16) for p in parts[i]])
            if i in unfollows:
                # organic unfollows among the pool edges (the first `take` rows)
                which, frac = unfollows[i]
                lo_t = np.maximum(fu[which], start)
                un[which] = lo_t + (frac * (end - lo_t)).astype(np.int64)
            eid = ((fu // 1000) << 16) | (fol & 0xFFFF)
            order = np.argsort(eid, kind="stable")
            eid = eid[order]
            ar = np.arange(len(eid), dtype=np.int64)
            eid = np.maximum.accumulate(eid - ar) + ar  # strictly increasing, still time-ordered
            rev = order[::-1]
            self.edges[i] = Edges(
                follower=fol[rev], follow_us=fu[rev], unfollow_us=un[rev], edge_id=eid[::-1].copy(),
                cohort=co[rev], end_cause=np.full(len(rev), -1, np.int16),
                f_down=np.empty(0, np.int64), f_up=np.empty(0, np.int64))

        self._apply_events(pools, farm_range)
        for e in self.edges.values():
            e.f_down = self.down_us[e.follower]
            e.f_up = self.up_us[e.follower]
        self._build_ids()

    def _cohort(self, name: str) -> int:
        self.cohorts.append(name)
        return len(self.cohorts) - 1

    def _cause(self, name: str) -> int:
        self.causes.append(name)
        return len(self.causes) - 1

    def _followers_at(self, keys: tuple[str, ...], t: int) -> np.ndarray:
        got = [self.edges[self.watched_index[k]] for k in keys]
        if not got:
            return np.empty(0, np.int64)
        return np.unique(np.concatenate([e.follower[e.standing(t)] for e in got]))

    def _apply_events(self, pools: dict[str, tuple[int, int]], farm_range: dict[str, tuple[int, int]]) -> None:
        sc = self.scenario
        for wv in sc.waves:
            if wv.platform != self.platform:
                continue
            rng = self._rng("wave", wv.name)
            cause = self._cause(f"wave:{wv.name}")
            code = STATUS_CODE[wv.status]
            for key in wv.accounts:
                i = self.watched_index[key]
                if self.down_us[i] == INF:
                    self.down_us[i] = wv.at_us + int(rng.random() * wv.duration_us)
                    self.down_code[i], self.down_cause[i] = code, cause
            cand = self._followers_at(wv.followers_of, wv.at_us)
            if wv.exclude_followers_of:
                cand = np.setdiff1d(cand, self._followers_at(wv.exclude_followers_of, wv.at_us))
            cand = cand[(self.down_us[cand] == INF) & (self.kind[cand] != WATCHED)]
            if wv.follower_count is not None:
                k = min(wv.follower_count, len(cand))
            else:
                k = round((wv.follower_fraction or 0.0) * len(cand))
            victims = rng.choice(cand, size=k, replace=False) if k else np.empty(0, np.int64)
            self.down_us[victims] = wv.at_us + (rng.random(k) * wv.duration_us).astype(np.int64)
            self.down_code[victims], self.down_cause[victims] = code, cause
            if wv.reinstate_fraction and k:
                back = victims[rng.random(k) < wv.reinstate_fraction]
                jitter = 0.9 + 0.2 * rng.random(len(back))
                self.up_us[back] = self.down_us[back] + (jitter * wv.reinstate_after_us).astype(np.int64)
        for pg in sc.purges:
            if pg.platform != self.platform:
                continue
            rng = self._rng("purge", pg.name)
            cause = self._cause(f"purge:{pg.name}")
            names = pg.farms or tuple(farm_range)
            idx = np.concatenate([np.arange(lo, lo + size, dtype=np.int64)
                                  for name, (lo, size) in farm_range.items() if name in names] or
                                 [np.empty(0, np.int64)])
            idx = idx[(self.down_us[idx] == INF) & (self.created_us[idx] <= pg.at_us)]
            k = round(pg.fraction * len(idx))
            hit = rng.choice(idx, size=k, replace=False) if k else np.empty(0, np.int64)
            when = pg.at_us + (rng.random(k) * pg.duration_us).astype(np.int64)
            if pg.action == "suspend":
                self.down_us[hit] = when
                self.down_code[hit], self.down_cause[hit] = STATUS_CODE[pg.status], cause
            else:
                t_of = np.full(self.n, INF, np.int64)
                t_of[hit] = when
                for e in self.edges.values():
                    tf = t_of[e.follower]
                    m = (e.follow_us <= tf) & (tf < e.unfollow_us)
                    e.unfollow_us[m] = tf[m]
                    e.end_cause[m] = cause
        if sc.deactivate_per_day:
            rng = self._rng("background")
            days = (sc.end_us - sc.start_us) / DAY_US
            p = min(1.0, sc.deactivate_per_day * days)
            pick = np.flatnonzero((rng.random(self.n) < p) & (self.kind != WATCHED) & (self.down_us == INF))
            t = sc.start_us + (rng.random(len(pick)) * (sc.end_us - sc.start_us)).astype(np.int64)
            t = np.maximum(t, self.created_us[pick] + HOUR_US)
            keep = t < sc.end_us
            pick, t = pick[keep], t[keep]
            if self.platform == "mastodon":
                codes = np.full(len(pick), DELETED, np.int8)
            else:
                codes = np.where(rng.random(len(pick)) < 0.75, DEACTIVATED, DELETED).astype(np.int8)
            self.down_us[pick], self.down_code[pick], self.down_cause[pick] = t, codes, 0

    def _build_ids(self) -> None:
        self.id_of_watched: list[str] = []
        self.by_id: dict[str, int] = {}
        self.by_handle: dict[str, int] = {}
        for i, a in enumerate(self.watched):
            ident = a.id or self._generated_id(i)
            self.id_of_watched.append(ident)
            self.by_id[ident] = i
            self.by_handle[self._watched_name(a).lower()] = i

    def _watched_name(self, a: AccountSpec) -> str:
        return a.handle.split("@")[0] if self.platform == "mastodon" else a.handle.lstrip("@")

    def _generated_id(self, k: int) -> str:
        created_ms = int(self.created_us[k] // 1000)
        if self.platform == "bluesky":
            return self.codec.did(k)
        if self.platform == "mastodon":
            return self.codec.snowflake(k, created_ms, epoch_ms=0)
        if created_ms < X_EPOCH_MS:  # before snowflakes: small sequential-looking ids
            return str(10_000 + 7 * k + 3)
        return self.codec.snowflake(k, created_ms)

    # ------------------------------------------------------------- identities
    def _names(self, k: int) -> tuple[str, str]:
        """(name, display name) of a generated account; cached with bounded memory, since
        the same followers are rendered page after page."""
        got = self._name_cache.get(k)
        if got is None:
            name = self.codec.handle(k) if self.platform == "bluesky" else self.codec.username(k)
            got = (name, self.codec.display_name(k))
            if len(self._name_cache) >= 1 << 17:
                self._name_cache.clear()
            self._name_cache[k] = got
        return got

    def id_of(self, k: int) -> str:
        return self.id_of_watched[k] if k < len(self.watched) else self._generated_id(k)

    def name_of(self, k: int) -> str:
        """Bluesky handle, X username, or Mastodon username (without instance)."""
        if k < len(self.watched):
            return self._watched_name(self.watched[k])
        return self._names(k)[0]

    def instance_of(self, k: int) -> str:
        if k < len(self.watched):
            return self.watched[k].instance or self.instances[0]
        return self.instances[fmix(k, self._salt + 1) % len(self.instances)]

    def account_id(self, k: int) -> str:
        """The PurgeWatch account id (Mastodon: ``id@instance``)."""
        ident = self.id_of(k)
        return f"{ident}@{self.instance_of(k)}" if self.platform == "mastodon" else ident

    def index_of_id(self, ident: str) -> int | None:
        if ident in self.by_id:
            return self.by_id[ident]
        if self.platform == "bluesky":
            k = self.codec.did_index(ident)
        else:
            dec = self.codec.snowflake_index(ident, epoch_ms=0 if self.platform == "mastodon" else X_EPOCH_MS)
            k = dec[0] if dec else None
        if k is None or not len(self.watched) <= k < self.n or self._generated_id(k) != ident:
            return None
        return k

    def index_of_name(self, name: str) -> int | None:
        name = name.lower().lstrip("@")
        if name in self.by_handle:
            return self.by_handle[name]
        k = self.codec.handle_index(name)
        if k is None or not len(self.watched) <= k < self.n or self.name_of(k).lower() != name:
            return None
        return k

    # ------------------------------------------------------------------ state
    def exists(self, k: int, t: int) -> bool:
        return bool(self.created_us[k] <= t)

    def status(self, k: int, t: int) -> int:
        if self.down_us[k] <= t < self.up_us[k]:
            return int(self.down_code[k])
        return ACTIVE

    def followers_count(self, k: int, t: int) -> int:
        if k < len(self.watched):
            return int(np.count_nonzero(self.edges[k].visible(t)))
        return self._static(k)[0]

    def _static(self, k: int) -> tuple[int, int, int]:
        """(followers, following, posts) of a generated account: stable pseudo-random."""
        h = fmix(k, self._salt + 2)
        kind = int(self.kind[k])
        if kind == POOL:
            return int(np.exp(2 + 5 * ((h & 0xFFFF) / 65536.0))), 20 + (h >> 16) % 900, (h >> 32) % 5000
        if kind == FARM:
            return (h & 0xFF) % 12, 300 + (h >> 16) % 3000, (h >> 32) % 40
        return (h & 0xFF) % 4, 10 + (h >> 16) % 80, (h >> 32) % 3

    def following_count(self, k: int) -> int:
        if k < len(self.watched):
            a = self.watched[k]
            return a.following if a.following is not None else 100 + fmix(k, self._salt + 3) % 900
        return self._static(k)[1]

    def posts_count(self, k: int) -> int:
        if k < len(self.watched):
            a = self.watched[k]
            return a.posts if a.posts is not None else 1000 + fmix(k, self._salt + 4) % 20000
        return self._static(k)[2]

    def display_name(self, k: int) -> str:
        if k < len(self.watched):
            a = self.watched[k]
            return a.display_name if a.display_name is not None else (a.label or self._watched_name(a))
        return self._names(k)[1]

    def description(self, k: int) -> str:
        if k < len(self.watched):
            return self.watched[k].description or ""
        return "" if self.kind[k] != POOL else f"opinions my own · {to_b36(fmix(k, self._salt + 5) % 1000)}"

    def is_bot_like(self, k: int) -> bool:
        return bool(self.kind[k] in (FARM, REGAIN))

    def followers_page(self, k: int, t: int, before_edge: int | None, limit: int,
                       filter_first: bool, after_edge: int | None = None,
                       adjacent_to_after: bool = False) -> tuple[list[int], list[int], int | None]:
        """A page of followers, newest first: (follower indices, their edge ids, next cursor).

        Edges strictly older than ``before_edge`` (Mastodon ``max_id``, cursors) and
        strictly newer than ``after_edge`` (``since_id``/``min_id``); with
        ``adjacent_to_after`` the page is the one just above ``after_edge`` (``min_id``)
        instead of the newest. ``filter_first``: drop inactive followers before cutting the
        page (X, Mastodon); otherwise cut ``limit`` standing follows, then drop the
        inactive (Bluesky), so a page can come back short. The next cursor is None on the
        last page.
        """
        if k >= len(self.watched):
            return [], [], None
        e = self.edges[k]
        lo = 0 if before_edge is None else int(np.searchsorted(-e.edge_id, -before_edge, side="right"))
        hi = len(e.edge_id) if after_edge is None else int(np.searchsorted(-e.edge_id, -after_edge, side="left"))
        sl = slice(lo, max(lo, hi))
        keep = (e.follow_us[sl] <= t) & (e.unfollow_us[sl] > t)
        if filter_first:
            keep &= ~((e.f_down[sl] <= t) & (e.f_up[sl] > t))
        hits = np.flatnonzero(keep) + lo
        page = hits[-limit:] if adjacent_to_after else hits[:limit]
        more = len(hits) > limit and not adjacent_to_after
        shown = page
        if not filter_first:
            shown = page[~((e.f_down[page] <= t) & (e.f_up[page] > t))]
        nxt = int(e.edge_id[page[-1]]) if more and len(page) else None
        return e.follower[shown].tolist(), e.edge_id[shown].tolist(), nxt

    # ------------------------------------------------------------- stream
    def status_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time_us, account index, status code; ACTIVE = reinstated), time-ordered."""
        down = np.flatnonzero(self.down_us < INF)
        up = down[self.up_us[down] < INF]
        t = np.concatenate([self.down_us[down], self.up_us[up]])
        k = np.concatenate([down, up])
        code = np.concatenate([self.down_code[down], np.zeros(len(up), np.int8)])
        order = np.lexsort((k, t))
        return t[order], k[order], code[order]


class World:
    """One PlatformWorld per platform of a scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.platforms = {p: PlatformWorld(scenario, p) for p in scenario.platforms}

    def __getitem__(self, platform: str) -> PlatformWorld:
        return self.platforms[platform]


_CACHE: dict[str, World] = {}


def build_world(scenario: Scenario) -> World:
    """The world of a scenario; cached by the scenario file's digest (worlds are immutable)."""
    key = scenario.digest or str(id(scenario))
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = World(scenario)
    return _CACHE[key]
