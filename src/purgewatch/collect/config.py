"""The collector's TOML configuration (docs/collecting.md has a full example).

Every base URL is configurable so the emulator, proxies and self-hosted instances work.
Credentials (X bearer token, optional Mastodon token) may sit here or in the
environment; they are wrapped in :class:`~purgewatch.sources.x.Secret` on load and never
printed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from purgewatch.errors import ConfigError
from purgewatch.net.http import HostPolicy
from purgewatch.sources import bluesky, telegram, wayback, x
from purgewatch.sources.x import Secret

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
    # platforms
    bluesky_appview: str = bluesky.APPVIEW_URL
    bluesky_relay: str = bluesky.RELAY_URL
    jetstream_url: str = bluesky.JETSTREAM_URL
    stream: bool = False
    mastodon_instances: dict[str, str] = field(default_factory=dict)
    mastodon_token: Secret | None = None
    x_base: str = x.API_URL
    x_token_config: Secret | None = None
    telegram_base: str = telegram.BASE_URL
    wayback_base: str = wayback.ARCHIVE_URL
    source_file: Path | None = None

    def __repr__(self) -> str:  # keep secrets (already masked) and noise out
        return f"CollectConfig(source_file={self.source_file!s}, watchlists={[w.name for w in self.watchlists]})"

    def x_token(self) -> Secret | None:
        cfg = self.x_token_config.reveal() if self.x_token_config else None
        return x.resolve_token(cfg)

    def host_policies(self) -> dict[str, HostPolicy]:
        from urllib.parse import urlsplit

        out = dict(self.hosts)
        # The Wayback Machine asks for ≤ 24 requests/minute and sends no headers.
        wb = urlsplit(self.wayback_base).netloc.lower()
        out.setdefault(wb, HostPolicy(concurrency=1, min_interval=wayback.MIN_INTERVAL))
        tg = urlsplit(self.telegram_base).netloc.lower()
        out.setdefault(tg, HostPolicy(concurrency=2, min_interval=1.0))
        return out


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value.strip()


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(extra)}",
            hint=f"allowed: {', '.join(sorted(allowed))}",
        )


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

    plats = _section(data, "platforms", name)
    _check_keys(plats, {"bluesky", "mastodon", "x", "telegram", "wayback"}, f"{name} [platforms]")
    bs = _section(plats, "bluesky", f"{name} [platforms]")
    _check_keys(bs, {"appview_url", "relay_url", "jetstream_url", "stream"}, f"{name} [platforms.bluesky]")
    cfg.bluesky_appview = bs.get("appview_url", cfg.bluesky_appview)
    cfg.bluesky_relay = bs.get("relay_url", cfg.bluesky_relay)
    cfg.jetstream_url = bs.get("jetstream_url", cfg.jetstream_url)
    cfg.stream = bool(bs.get("stream", False))
    ma = _section(plats, "mastodon", f"{name} [platforms]")
    _check_keys(ma, {"instances", "token"}, f"{name} [platforms.mastodon]")
    inst = ma.get("instances", {})
    if not isinstance(inst, dict) or not all(isinstance(v, str) for v in inst.values()):
        raise ConfigError(f'{name} [platforms.mastodon] instances must map "instance" = "base URL"')
    cfg.mastodon_instances = {k.lower(): v for k, v in inst.items()}
    if "token" in ma:
        cfg.mastodon_token = Secret(_str(ma["token"], f"{name} [platforms.mastodon] token"))
    xs = _section(plats, "x", f"{name} [platforms]")
    _check_keys(xs, {"base_url", "bearer_token"}, f"{name} [platforms.x]")
    cfg.x_base = xs.get("base_url", cfg.x_base)
    if "bearer_token" in xs:
        cfg.x_token_config = Secret(_str(xs["bearer_token"], f"{name} [platforms.x] bearer_token"))
    tg = _section(plats, "telegram", f"{name} [platforms]")
    _check_keys(tg, {"base_url"}, f"{name} [platforms.telegram]")
    cfg.telegram_base = tg.get("base_url", cfg.telegram_base)
    wb = _section(plats, "wayback", f"{name} [platforms]")
    _check_keys(wb, {"base_url"}, f"{name} [platforms.wayback]")
    cfg.wayback_base = wb.get("base_url", cfg.wayback_base)
    for label, url in (("bluesky appview_url", cfg.bluesky_appview), ("bluesky relay_url", cfg.bluesky_relay),
                       ("x base_url", cfg.x_base), ("telegram base_url", cfg.telegram_base),
                       ("wayback base_url", cfg.wayback_base), *cfg.mastodon_instances.items()):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name}: {label} must be an http(s) URL, got {url!r}")
    if not isinstance(cfg.jetstream_url, str) or not cfg.jetstream_url.startswith(("ws://", "wss://")):
        raise ConfigError(f"{name}: bluesky jetstream_url must be a ws(s):// URL")
    return cfg
