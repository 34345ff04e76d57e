"""The collector's TOML configuration (docs/collecting.md has a full example).

Every base URL is configurable so the emulator, proxies and self-hosted instances work.
Credentials (X bearer token, optional Mastodon token) may sit here or in the
environment; they are wrapped in :class:`~purgewatch.sources.registry.Secret` on load and
never printed.

The ``[platforms.NAME]`` tables belong to the connectors: each is read by its platform's
``CONNECTOR.settings`` (:mod:`purgewatch.sources.registry`), so this module names no
platform.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from purgewatch.errors import ConfigError
from purgewatch.net.http import HostPolicy
from purgewatch.sources import registry
from purgewatch.sources.registry import check_keys as _check_keys
from purgewatch.sources.registry import text as _str

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ConfigError(f"{where}: {value!r} is not a duration", hint='write seconds (300) or "90s", "15m", "6h", "1d"')


@dataclass
class WatchlistConfig:
    name: str
    file: Path | None = None           # a FORMATS.md watchlist CSV
    group: str | None = None           # when reading the store's watchlist: only this group
    status_every: float = 900.0
    followers_every: float = 86400.0
    followers: bool = False
    # posts (docs/posts.md, "Collecting"): a pass every ``posts_every`` reads what each
    # account published in the last ``posts_window``, in at most ``posts_pages``
    # requests per account (its rate-limit budget: pages x accounts per pass).
    posts: bool = False
    posts_every: float = 21600.0
    posts_window: float = 7 * 86400.0
    posts_pages: int = 10


@dataclass
class CollectConfig:
    store: Path | None = None
    watchlists: list[WatchlistConfig] = field(default_factory=list)
    batch: int = 500
    detect: bool = True
    sim_clock_url: str | None = None
    # http
    timeout: float = 15.0
    retries: int = 3
    backoff_base: float = 0.5
    max_rate_wait: float = 960.0
    concurrency: int = 4
    hosts: dict[str, HostPolicy] = field(default_factory=dict)
    # every registered platform's settings, by name (defaults when not configured)
    platforms: dict[str, Any] = field(default_factory=registry.default_settings)
    source_file: Path | None = None

    def __repr__(self) -> str:  # keep secrets (already masked) and noise out
        return f"CollectConfig(source_file={self.source_file!s}, watchlists={[w.name for w in self.watchlists]})"

    def secrets(self) -> list[str]:
        """Every credential the platforms' settings hold (to mask in logs)."""
        return [s for name, spec in registry.specs().items()
                for s in spec.secrets(self.platforms[name])]

    def host_policies(self) -> dict[str, HostPolicy]:
        """``[http.hosts]`` over the connectors' own host policies."""
        out = dict(self.hosts)
        for name, spec in registry.specs().items():
            for host, policy in spec.host_policies(self.platforms[name]).items():
                out.setdefault(host, policy)
        return out


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def platform_settings(tables: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``[platforms]`` table read by each platform's connector; platforms it does not
    name get their defaults. An unknown platform is an error that lists the known ones."""
    specs = registry.specs()
    unknown = sorted(set(tables) - set(specs))
    if unknown:
        raise ConfigError(f"{where} [platforms]: unknown platform(s) {unknown}",
                          hint=f"known platforms: {', '.join(sorted(specs))}")
    out = {}
    for name, spec in specs.items():
        out[name] = spec.settings(_section(tables, name, f"{where} [platforms]"), f"{where} [platforms.{name}]")
    return out


_POSTS_KEYS = ("posts_every", "posts_window", "posts_pages")


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def _posts_settings(table: dict[str, Any], base: WatchlistConfig, where: str) -> WatchlistConfig:
    """The posts cadence keys of one table, over ``base``'s (the [collect] defaults)."""
    out = WatchlistConfig(name=base.name, posts_every=base.posts_every, posts_window=base.posts_window,
                          posts_pages=base.posts_pages)
    if "posts_every" in table:
        out.posts_every = parse_duration(table["posts_every"], f"{where} posts_every")
    if "posts_window" in table:
        out.posts_window = parse_duration(table["posts_window"], f"{where} posts_window")
    if "posts_pages" in table:
        pages = table["posts_pages"]
        if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
            raise ConfigError(f"{where} posts_pages: {pages!r} is not a positive whole number",
                              hint="requests per account per posts pass, e.g. 10")
        out.posts_pages = pages
    return out


def load_config(path: str | Path) -> CollectConfig:
    """Read and validate a config file; errors name the file and the key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is unreadable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return config_from_dict(data, base_dir=p.parent, source=p)


def config_from_dict(data: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> CollectConfig:
    name = str(source or "config")
    _check_keys(data, {"store", "collect", "http", "watchlists", "platforms"}, name)
    cfg = CollectConfig(source_file=source)
    if "store" in data:
        cfg.store = base_dir / _str(data["store"], f"{name}: store")
    col = _section(data, "collect", name)
    _check_keys(col, {"status_every", "followers_every", "batch", "detect", "sim_clock_url",
                      *_POSTS_KEYS}, f"{name} [collect]")
    default_status = parse_duration(col.get("status_every", 900), f"{name} [collect] status_every")
    default_followers = parse_duration(col.get("followers_every", 86400), f"{name} [collect] followers_every")
    default_posts = _posts_settings(col, WatchlistConfig(name="defaults"), f"{name} [collect]")
    cfg.batch = int(col.get("batch", cfg.batch))
    cfg.detect = bool(col.get("detect", cfg.detect))
    if "sim_clock_url" in col:
        cfg.sim_clock_url = _str(col["sim_clock_url"], f"{name} [collect] sim_clock_url")

    http = _section(data, "http", name)
    _check_keys(http, {"timeout", "retries", "backoff_base", "max_rate_wait", "concurrency", "hosts"}, f"{name} [http]")
    cfg.timeout = parse_duration(http.get("timeout", cfg.timeout), f"{name} [http] timeout")
    cfg.retries = int(http.get("retries", cfg.retries))
    cfg.backoff_base = float(http.get("backoff_base", cfg.backoff_base))
    cfg.max_rate_wait = parse_duration(http.get("max_rate_wait", cfg.max_rate_wait), f"{name} [http] max_rate_wait")
    cfg.concurrency = int(http.get("concurrency", cfg.concurrency))
    for host, pol in _section(http, "hosts", f"{name} [http]").items():
        where = f'{name} [http.hosts."{host}"]'
        if not isinstance(pol, dict):
            raise ConfigError(f"{where} must be a table")
        _check_keys(pol, {"concurrency", "min_interval", "requests", "window"}, where)
        prior = None
        if "requests" in pol:
            prior = (int(pol["requests"]), parse_duration(pol.get("window", 60), where + " window"))
        cfg.hosts[host.lower()] = HostPolicy(
            concurrency=int(pol.get("concurrency", cfg.concurrency)),
            min_interval=float(pol.get("min_interval", 0.0)),
            prior=prior,
        )

    wls = data.get("watchlists", [])
    if not isinstance(wls, list):
        raise ConfigError(f"{name}: watchlists must be an array of tables ([[watchlists]])")
    for i, w in enumerate(wls):
        where = f"{name} [[watchlists]] #{i + 1}"
        if not isinstance(w, dict):
            raise ConfigError(f"{where} must be a table")
        _check_keys(w, {"name", "file", "group", "status_every", "followers_every", "followers", "posts",
                        *_POSTS_KEYS}, where)
        wl = _posts_settings(w, default_posts, where)
        cfg.watchlists.append(WatchlistConfig(
            name=_str(w.get("name", f"watchlist{i + 1}"), f"{where} name"),
            file=base_dir / _str(w["file"], f"{where} file") if "file" in w else None,
            group=_str(w["group"], f"{where} group") if "group" in w else None,
            status_every=parse_duration(w.get("status_every", default_status), f"{where} status_every"),
            followers_every=parse_duration(w.get("followers_every", default_followers), f"{where} followers_every"),
            followers=bool(w.get("followers", False)),
            posts=_bool(w.get("posts", False), f"{where} posts"),
            posts_every=wl.posts_every, posts_window=wl.posts_window, posts_pages=wl.posts_pages,
        ))
    names = [w.name for w in cfg.watchlists]
    if len(set(names)) != len(names):
        raise ConfigError(f"{name}: watchlist names must be unique, got {names}")
    if not cfg.watchlists:
        cfg.watchlists.append(WatchlistConfig(name="store", status_every=default_status,
                                              followers_every=default_followers,
                                              posts_every=default_posts.posts_every,
                                              posts_window=default_posts.posts_window,
                                              posts_pages=default_posts.posts_pages))

    cfg.platforms = platform_settings(_section(data, "platforms", name), name)
    return cfg
