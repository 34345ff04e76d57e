"""Scenario files: TOML in, validated frozen specs out.

Validation is strict (unknown keys are refused) because a misspelt key in a scenario
would silently produce a different world, and the ground truth would then lie.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from purgewatch.errors import InputError, Location
from purgewatch.sim._clock import to_us

PLATFORMS = ("bluesky", "mastodon", "x")
# status words each platform can put an account in, and the default for a wave
PLATFORM_STATUSES = {
    "bluesky": ("takendown", "suspended", "deactivated", "deleted"),
    "mastodon": ("suspended", "deleted"),
    "x": ("suspended", "deactivated", "deleted"),
}
DEFAULT_WAVE_STATUS = {"bluesky": "takendown", "mastodon": "suspended", "x": "suspended"}
FAULT_KINDS = ("timeout", "reset", "http_5xx", "malformed_json", "truncated_json",
               "unknown_status", "disconnect")
# documented platform budgets: bucket -> (requests, window seconds)
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "bluesky": (3000, 300.0),
    "mastodon": (300, 300.0),
    "mastodon_paging": (300, 900.0),
    "x_lookup": (300, 900.0),
    "x_followers": (300, 900.0),
    # GET /2/users/:id/tweets and GET /2/tweets, per app (X API v2 rate-limits table)
    "x_tweets": (1500, 900.0),
    "x_tweets_lookup": (900, 900.0),
}


@dataclass(frozen=True)
class AccountSpec:
    key: str
    platform: str
    handle: str
    group: str
    label: str | None
    created_us: int
    followers: int
    growth_per_day: float
    unfollow_per_day: float
    id: str | None = None
    instance: str | None = None
    protected: bool = False
    limited: bool = False
    memorial: bool = False
    hide_collections: bool = False
    moved_to: str | None = None
    following: int | None = None
    posts: int | None = None
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class FarmSpec:
    name: str
    platform: str
    size: int
    created_from_us: int
    created_to_us: int
    follows: tuple[str, ...]
    follow_from_us: int
    follow_to_us: int


@dataclass(frozen=True)
class WaveSpec:
    name: str
    platform: str
    at_us: int
    duration_us: int
    status: str
    accounts: tuple[str, ...]
    followers_of: tuple[str, ...]
    exclude_followers_of: tuple[str, ...]
    follower_count: int | None
    follower_fraction: float | None
    reinstate_fraction: float
    reinstate_after_us: int


@dataclass(frozen=True)
class PurgeSpec:
    name: str
    platform: str
    at_us: int
    duration_us: int
    fraction: float
    action: str
    status: str
    farms: tuple[str, ...]


@dataclass(frozen=True)
class RegainSpec:
    name: str
    platform: str
    target: str
    start_us: int
    bursts: int
    burst_size: int
    every_us: int
    burst_us: int
    created_before_us: int


@dataclass(frozen=True)
class PostSpec:
    """One scripted post. ``repost_of`` (a retweet, boost or repost: no text of its own),
    ``quote_of`` and ``reply_to`` name another post's ``key`` on the same platform."""

    key: str
    account: str
    at_us: int
    text: str
    lang: str = "en"
    repost_of: str | None = None
    quote_of: str | None = None
    reply_to: str | None = None
    deleted_us: int | None = None


@dataclass(frozen=True)
class ChatterSpec:
    """Routine posts: each account of ``accounts`` posts about ``per_day`` times a day
    (a Poisson process from ``from_us`` to the scenario's end), each text drawn from
    ``texts``. What accounts talk about when they do not talk about the wave."""

    name: str
    accounts: tuple[str, ...]
    per_day: float
    texts: tuple[str, ...]
    lang: str
    from_us: int


@dataclass(frozen=True)
class FaultWindow:
    platform: str
    kind: str
    from_us: int
    to_us: int


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start_us: int
    end_us: int
    camps: dict[str, str]
    accounts: tuple[AccountSpec, ...]
    farms: tuple[FarmSpec, ...] = ()
    waves: tuple[WaveSpec, ...] = ()
    purges: tuple[PurgeSpec, ...] = ()
    regains: tuple[RegainSpec, ...] = ()
    deactivate_per_day: float = 0.0
    mastodon_instances: tuple[str, ...] = ()
    limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    x_usage_cap: int | None = None
    faults: dict[str, dict[str, float]] = field(default_factory=dict)
    timeout_delay: dict[str, float] = field(default_factory=dict)
    fault_windows: tuple[FaultWindow, ...] = ()
    posts: tuple[PostSpec, ...] = ()
    chatter: tuple[ChatterSpec, ...] = ()
    source: str = "<memory>"
    digest: str = ""

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(p for p in PLATFORMS if any(a.platform == p for a in self.accounts))

    def account(self, key: str) -> AccountSpec:
        for a in self.accounts:
            if a.key == key:
                return a
        raise KeyError(key)


def packaged_scenarios() -> list[str]:
    folder = resources.files("purgewatch.sim") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A packaged scenario by name (``small``, ``demo``) or a TOML file by path.

    An existing file wins; otherwise a bare name (no ``.toml``, no folder part) is a
    packaged scenario, even when a folder of that name exists here (``purgewatch demo
    --out demo`` creates ``./demo`` before it loads the packaged ``demo``)."""
    path = Path(name_or_path)
    if path.is_file():
        return parse_scenario(path.read_bytes(), source=str(path))
    text = str(name_or_path)
    bare = path.suffix != ".toml" and "/" not in text and "\\" not in text
    if bare:
        res = resources.files("purgewatch.sim") / "scenarios" / f"{text}.toml"
        if not res.is_file():
            raise InputError(
                f"no scenario named {text!r}",
                hint=f"packaged scenarios: {', '.join(packaged_scenarios())}; or give a .toml path",
            )
        return parse_scenario(res.read_bytes(), source=f"{text}.toml")
    what = "is a folder, not a scenario file" if path.is_dir() else "not found"
    raise InputError(f"scenario file {what}: {path}", hint="give a .toml path or a packaged name")


def parse_scenario(data: bytes, *, source: str = "<memory>") -> Scenario:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", location=Location(source)) from exc
    return _Parser(source).scenario(doc, hashlib.sha256(data).hexdigest())


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, where: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, location=Location(self.source, column=where), hint=hint)

    def table(self, obj: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.err(where, "expected a table")
        unknown = set(obj) - allowed
        if unknown:
            raise self.err(where, f"unknown key(s) {sorted(unknown)}", hint=f"allowed: {sorted(allowed)}")
        missing = required - set(obj)
        if missing:
            raise self.err(where, f"missing key(s) {sorted(missing)}")
        return obj

    def time(self, obj: dict[str, Any], key: str, where: str) -> int:
        v = obj[key]
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError as exc:
                raise self.err(f"{where}.{key}", f"not an ISO 8601 time: {obj[key]!r}") from exc
        if not isinstance(v, datetime):
            raise self.err(f"{where}.{key}", "expected an ISO 8601 time with a zone")
        if v.tzinfo is None:
            raise self.err(f"{where}.{key}", "time without a zone", hint="add Z or an offset")
        return to_us(v)

    def num(self, obj: dict[str, Any], key: str, where: str, default: float | None = None,
            lo: float = 0.0, hi: float | None = None, integer: bool = False) -> Any:
        v = obj.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            raise self.err(f"{where}.{key}", f"expected {'an integer' if integer else 'a number'}, got {v!r}")
        if v < lo or (hi is not None and v > hi):
            raise self.err(f"{where}.{key}", f"{v} out of range [{lo}, {hi if hi is not None else '∞'}]")
        return v

    def platform(self, obj: dict[str, Any], where: str) -> str:
        p = obj.get("platform")
        if p not in PLATFORMS:
            raise self.err(f"{where}.platform", f"unknown platform {p!r}", hint=f"one of {PLATFORMS}")
        return str(p)

    def strs(self, obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        v = obj.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise self.err(f"{where}.{key}", "expected a list of strings")
        return tuple(v)

    def scenario(self, doc: dict[str, Any], digest: str) -> Scenario:
        self.table(doc, "<top>", {"scenario", "camps", "accounts", "bot_farms", "waves", "purges",
                                  "regains", "population", "limits", "faults", "platforms", "posts",
                                  "chatter"},
                   {"scenario", "accounts"})
        head = self.table(doc["scenario"], "scenario", {"name", "seed", "start", "end", "description"},
                          {"name", "seed", "start", "end"})
        start, end = self.time(head, "start", "scenario"), self.time(head, "end", "scenario")
        if end <= start:
            raise self.err("scenario.end", "end must be after start")
        seed = self.num(head, "seed", "scenario", integer=True)
        camps: dict[str, str] = {}
        for name, c in doc.get("camps", {}).items():
            c = self.table(c, f"camps.{name}", {"label"}, set())
            camps[name] = str(c.get("label", name))

        accounts = [self.account(a, i, start) for i, a in enumerate(doc["accounts"])]
        keys = [a.key for a in accounts]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise self.err("accounts", f"duplicate account keys {sorted(dup)}", hint="set `key` to tell them apart")
        for a in accounts:
            camps.setdefault(a.group, a.group)

        platforms_cfg = self.table(doc.get("platforms", {}), "platforms", {"mastodon"}, set())
        masto = self.table(platforms_cfg.get("mastodon", {}), "platforms.mastodon", {"instances"}, set())
        instances = list(self.strs(masto, "instances", "platforms.mastodon"))
        for a in accounts:
            if a.instance and a.instance not in instances:
                instances.append(a.instance)

        def resolve(names: tuple[str, ...], platform: str, where: str) -> tuple[str, ...]:
            out: list[str] = []
            for n in names:
                if n in keys:
                    if not n.startswith(platform + ":"):
                        raise self.err(where, f"{n!r} is not a {platform} account")
                    out.append(n)
                elif n in camps:
                    out.extend(a.key for a in accounts if a.group == n and a.platform == platform)
                else:
                    raise self.err(where, f"unknown account key or camp {n!r}",
                                   hint=f"account keys: {keys[:6]}...; camps: {sorted(camps)}")
            return tuple(dict.fromkeys(out))

        farms = []
        for i, f in enumerate(doc.get("bot_farms", [])):
            w = f"bot_farms[{i}]"
            f = self.table(f, w, {"name", "platform", "size", "created_from", "created_to", "follows",
                                  "follow_from", "follow_to"},
                           {"name", "platform", "size", "created_from", "created_to", "follows",
                            "follow_from", "follow_to"})
            p = self.platform(f, w)
            farms.append(FarmSpec(
                name=str(f["name"]), platform=p, size=self.num(f, "size", w, integer=True),
                created_from_us=self.time(f, "created_from", w), created_to_us=self.time(f, "created_to", w),
                follows=resolve(self.strs(f, "follows", w), p, f"{w}.follows"),
                follow_from_us=self.time(f, "follow_from", w), follow_to_us=self.time(f, "follow_to", w)))

        waves = []
        for i, v in enumerate(doc.get("waves", [])):
            w = f"waves[{i}]"
            v = self.table(v, w, {"name", "platform", "at", "duration_minutes", "status", "accounts",
                                  "followers_of", "exclude_followers_of", "follower_count",
                                  "follower_fraction", "reinstate_fraction", "reinstate_after_hours"},
                           {"name", "platform", "at"})
            p = self.platform(v, w)
            status = str(v.get("status", DEFAULT_WAVE_STATUS[p]))
            if status not in PLATFORM_STATUSES[p]:
                raise self.err(f"{w}.status", f"{status!r} is not a {p} status", hint=f"one of {PLATFORM_STATUSES[p]}")
            if "follower_count" in v and "follower_fraction" in v:
                raise self.err(w, "give follower_count or follower_fraction, not both")
            waves.append(WaveSpec(
                name=str(v["name"]), platform=p, at_us=self.time(v, "at", w),
                duration_us=int(self.num(v, "duration_minutes", w, 30) * 60e6), status=status,
                accounts=resolve(self.strs(v, "accounts", w), p, f"{w}.accounts"),
                followers_of=resolve(self.strs(v, "followers_of", w), p, f"{w}.followers_of"),
                exclude_followers_of=resolve(self.strs(v, "exclude_followers_of", w), p, f"{w}.exclude_followers_of"),
                follower_count=self.num(v, "follower_count", w, integer=True),
                follower_fraction=self.num(v, "follower_fraction", w, hi=1.0),
                reinstate_fraction=self.num(v, "reinstate_fraction", w, 0.0, hi=1.0),
                reinstate_after_us=int(self.num(v, "reinstate_after_hours", w, 48) * 3600e6)))

        purges = []
        farm_names = {f.name for f in farms}
        for i, v in enumerate(doc.get("purges", [])):
            w = f"purges[{i}]"
            v = self.table(v, w, {"name", "platform", "at", "duration_minutes", "fraction", "action",
                                  "status", "farms"}, {"name", "platform", "at", "fraction"})
            p = self.platform(v, w)
            action = str(v.get("action", "suspend"))
            if action not in ("suspend", "unfollow"):
                raise self.err(f"{w}.action", f"unknown action {action!r}", hint="suspend or unfollow")
            status = str(v.get("status", DEFAULT_WAVE_STATUS[p]))
            if status not in PLATFORM_STATUSES[p]:
                raise self.err(f"{w}.status", f"{status!r} is not a {p} status")
            names = self.strs(v, "farms", w)
            bad = [n for n in names if n not in farm_names]
            if bad:
                raise self.err(f"{w}.farms", f"unknown bot farm(s) {bad}")
            purges.append(PurgeSpec(
                name=str(v["name"]), platform=p, at_us=self.time(v, "at", w),
                duration_us=int(self.num(v, "duration_minutes", w, 60) * 60e6),
                fraction=self.num(v, "fraction", w, hi=1.0), action=action, status=status, farms=names))

        regains = []
        for i, v in enumerate(doc.get("regains", [])):
            w = f"regains[{i}]"
            v = self.table(v, w, {"name", "platform", "target", "start", "bursts", "burst_size",
                                  "every_hours", "burst_minutes", "created_hours_before"},
                           {"name", "platform", "target", "start", "bursts", "burst_size"})
            p = self.platform(v, w)
            target = resolve((str(v["target"]),), p, f"{w}.target")
            if len(target) != 1 or str(v["target"]) not in keys:
                raise self.err(f"{w}.target", "target must be one account key")
            regains.append(RegainSpec(
                name=str(v["name"]), platform=p, target=target[0], start_us=self.time(v, "start", w),
                bursts=self.num(v, "bursts", w, integer=True, lo=1),
                burst_size=self.num(v, "burst_size", w, integer=True, lo=1),
                every_us=int(self.num(v, "every_hours", w, 12) * 3600e6),
                burst_us=int(self.num(v, "burst_minutes", w, 20, lo=1) * 60e6),
                created_before_us=int(self.num(v, "created_hours_before", w, 6, lo=0.5) * 3600e6)))

        posts = self.posts(doc.get("posts", []), keys, accounts)
        chatter = []
        for i, c in enumerate(doc.get("chatter", [])):
            w = f"chatter[{i}]"
            c = self.table(c, w, {"name", "accounts", "per_day", "texts", "lang", "from"},
                           {"accounts", "per_day", "texts"})
            names = self.strs(c, "accounts", w)
            members: list[str] = []
            for n in names:
                if n in keys:
                    members.append(n)
                elif n in camps:
                    members.extend(a.key for a in accounts if a.group == n)
                else:
                    raise self.err(f"{w}.accounts", f"unknown account key or camp {n!r}")
            texts = self.strs(c, "texts", w)
            if not texts:
                raise self.err(f"{w}.texts", "give at least one text")
            chatter.append(ChatterSpec(
                name=str(c.get("name", f"chatter{i + 1}")), accounts=tuple(dict.fromkeys(members)),
                per_day=float(self.num(c, "per_day", w, hi=200.0)), texts=texts, lang=str(c.get("lang", "en")),
                from_us=self.time(c, "from", w) if "from" in c else start - 14 * 86_400_000_000))

        pop = self.table(doc.get("population", {}), "population", {"deactivate_per_day"}, set())
        limits_doc = self.table(doc.get("limits", {}), "limits",
                                set(DEFAULT_LIMITS) | {"x_usage_cap"}, set())
        limits = dict(DEFAULT_LIMITS)
        for bucket, spec in limits_doc.items():
            if bucket == "x_usage_cap":
                continue
            spec = self.table(spec, f"limits.{bucket}", {"requests", "window"}, {"requests", "window"})
            limits[bucket] = (self.num(spec, "requests", f"limits.{bucket}", integer=True, lo=1),
                              float(self.num(spec, "window", f"limits.{bucket}", lo=0.001)))

        faults: dict[str, dict[str, float]] = {}
        delays: dict[str, float] = {}
        windows = []
        fdoc = self.table(doc.get("faults", {}), "faults", set(PLATFORMS) | {"schedule"}, set())
        for p in PLATFORMS:
            if p not in fdoc:
                continue
            w = f"faults.{p}"
            spec = self.table(fdoc[p], w, set(FAULT_KINDS) | {"timeout_delay"}, set())
            faults[p] = {k: float(self.num(spec, k, w, hi=1.0)) for k in FAULT_KINDS if k in spec}
            if sum(v for k, v in faults[p].items() if k not in ("unknown_status", "disconnect")) > 1.0:
                raise self.err(w, "fault probabilities add up to more than 1")
            delays[p] = float(self.num(spec, "timeout_delay", w, 30.0))
        for i, s in enumerate(fdoc.get("schedule", [])):
            w = f"faults.schedule[{i}]"
            s = self.table(s, w, {"platform", "kind", "from", "to"}, {"platform", "kind", "from", "to"})
            if s["kind"] not in FAULT_KINDS:
                raise self.err(f"{w}.kind", f"unknown fault {s['kind']!r}", hint=f"one of {FAULT_KINDS}")
            windows.append(FaultWindow(self.platform(s, w), str(s["kind"]), self.time(s, "from", w), self.time(s, "to", w)))

        return Scenario(
            name=str(head["name"]), seed=seed, start_us=start, end_us=end, camps=camps,
            accounts=tuple(accounts), farms=tuple(farms), waves=tuple(waves), purges=tuple(purges),
            regains=tuple(regains),
            deactivate_per_day=float(self.num(pop, "deactivate_per_day", "population", 0.0, hi=1.0)),
            mastodon_instances=tuple(instances), limits=limits,
            x_usage_cap=self.num(limits_doc, "x_usage_cap", "limits", integer=True, lo=1),
            faults=faults, timeout_delay=delays, fault_windows=tuple(windows),
            posts=posts, chatter=tuple(chatter), source=self.source, digest=digest)

    def posts(self, items: Any, keys: list[str], accounts: list[AccountSpec]) -> tuple[PostSpec, ...]:
        if not isinstance(items, list):
            raise self.err("posts", "expected an array of tables ([[posts]])")
        out: list[PostSpec] = []
        by_key: dict[str, PostSpec] = {}
        platform_of = {a.key: a.platform for a in accounts}
        for i, v in enumerate(items):
            w = f"posts[{i}]"
            v = self.table(v, w, {"key", "account", "at", "text", "lang", "repost_of", "quote_of", "reply_to",
                                  "deleted_at"}, {"account", "at"})
            account = str(v["account"])
            if account not in keys:
                raise self.err(f"{w}.account", f"unknown account key {account!r}", hint=f"account keys: {keys[:6]}...")
            key = str(v.get("key", f"post{i + 1}"))
            if key in by_key:
                raise self.err(f"{w}.key", f"duplicate post key {key!r}")
            refs: dict[str, str | None] = {}
            for ref in ("repost_of", "quote_of", "reply_to"):
                target = v.get(ref)
                if target is None:
                    refs[ref] = None
                    continue
                other = by_key.get(str(target))
                if other is None:
                    raise self.err(f"{w}.{ref}", f"unknown post key {target!r}", hint="name a post listed before this one")
                if platform_of[other.account] != platform_of[account]:
                    raise self.err(f"{w}.{ref}", f"{target!r} is on another platform")
                refs[ref] = str(target)
            at = self.time(v, "at", w)
            if refs["repost_of"] is not None and "text" in v:
                raise self.err(f"{w}.text", "a repost has no text of its own", hint="use quote_of to add words")
            if refs["repost_of"] is None and not isinstance(v.get("text"), str):
                raise self.err(f"{w}.text", "a post needs its text")
            for ref in ("repost_of", "quote_of", "reply_to"):
                target = refs[ref]
                if target is not None and by_key[target].at_us > at:
                    raise self.err(f"{w}.at", f"earlier than the post it refers to ({target!r})")
            deleted = self.time(v, "deleted_at", w) if "deleted_at" in v else None
            if deleted is not None and deleted <= at:
                raise self.err(f"{w}.deleted_at", "must be after the post's time")
            spec = PostSpec(key=key, account=account, at_us=at, text=str(v.get("text", "")),
                            lang=str(v.get("lang", "en")), repost_of=refs["repost_of"], quote_of=refs["quote_of"],
                            reply_to=refs["reply_to"], deleted_us=deleted)
            by_key[key] = spec
            out.append(spec)
        return tuple(out)

    def account(self, a: Any, i: int, start: int) -> AccountSpec:
        w = f"accounts[{i}]"
        a = self.table(a, w, {"key", "platform", "handle", "group", "label", "created_at", "followers",
                              "growth_per_day", "unfollow_per_day", "id", "protected", "limited",
                              "memorial", "hide_collections", "moved_to", "following", "posts",
                              "display_name", "description"},
                       {"platform", "handle", "group", "created_at", "followers"})
        p = self.platform(a, w)
        handle = str(a["handle"])
        instance = None
        if p == "mastodon":
            user, at, instance = handle.lstrip("@").partition("@")
            if not at or not user or not instance:
                raise self.err(f"{w}.handle", f"a mastodon handle needs its instance: {handle!r}",
                               hint="write user@instance.example")
            handle = f"{user}@{instance}"
        if p == "x" and not re.fullmatch(r"[A-Za-z0-9_]{1,15}", handle.lstrip("@")):
            raise self.err(f"{w}.handle", f"not a valid X username: {handle!r}",
                           hint="1 to 15 letters, digits or underscores")
        created = self.time(a, "created_at", w)
        if created >= start:
            raise self.err(f"{w}.created_at", "watched accounts must exist before the scenario starts")
        ident = a.get("id")
        if ident is not None:
            ident = str(ident)
            if p == "bluesky" and not ident.startswith("did:"):
                raise self.err(f"{w}.id", "a bluesky id is a DID")
            if p in ("x", "mastodon") and not ident.isdigit():
                raise self.err(f"{w}.id", f"a {p} id is a numeric string")
        flags = {}
        for k in ("protected", "limited", "memorial", "hide_collections"):
            v = a.get(k, False)
            if not isinstance(v, bool):
                raise self.err(f"{w}.{k}", "expected true or false")
            flags[k] = v
        return AccountSpec(
            key=str(a.get("key", f"{p}:{handle}")), platform=p, handle=handle, group=str(a["group"]),
            label=a.get("label"), created_us=created,
            followers=self.num(a, "followers", w, integer=True, hi=2_000_000),
            growth_per_day=float(self.num(a, "growth_per_day", w, 0.0)),
            unfollow_per_day=float(self.num(a, "unfollow_per_day", w, 0.0)),
            id=ident, instance=instance, moved_to=a.get("moved_to"),
            following=self.num(a, "following", w, integer=True),
            posts=self.num(a, "posts", w, integer=True),
            display_name=a.get("display_name"), description=a.get("description"), **flags)
