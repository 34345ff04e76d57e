"""The connector registry: the platforms PurgeWatch collects from, found by looking at
this package's modules.

A platform is one module under ``purgewatch/sources/`` that defines ``CONNECTOR``, a
:class:`ConnectorSpec`: the platform's name, how its ``[platforms.NAME]`` table of the
collect config is read and checked, and how its connector is built. Nothing else names
platforms: the collect config and engine look them up here, so adding a platform is
adding a module (plus its recorded fixtures and tests), with no edit to the engine or
the config reader.

Discovery is module discovery rather than entry points: every public (no leading
underscore) module found on ``purgewatch.sources.__path__`` is imported once and its
``CONNECTOR`` registered. Entry points would need a reinstall to see a new module, and
the connectors ship inside the package anyway. A directory appended to ``__path__``
(what tests/test_registry.py does) is searched like the package's own.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from purgewatch.errors import ConfigError
from purgewatch.model import StatusEvent
from purgewatch.net.http import HostPolicy, HttpClient

S = TypeVar("S")

# Modules of this package that are not connectors (importing them would cost time and
# find nothing).
_NOT_CONNECTORS = frozenset({"registry", "protocol", "datasets", "files"})


class Secret:
    """A credential read from config or the environment: masked in ``repr``/``str`` and
    never pickled, so it cannot leak into logs, reports or the store."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return repr(self)

    def __reduce__(self) -> Any:  # never pickled into anything that could be persisted
        raise TypeError("a Secret cannot be pickled")


class EventStream(Protocol):
    """A platform's live status events (bluesky.Jetstream): the engine writes each event,
    then calls ``save_cursor`` so a restart resumes after what is stored."""

    def events(self, stop: Any) -> AsyncIterator[StatusEvent]: ...
    def save_cursor(self) -> None: ...


@dataclass(frozen=True)
class ConnectorSpec(Generic[S]):
    """What the engine and the config reader need to know about one platform.

    ``settings(table, where)`` reads the ``[platforms.NAME]`` table (``{}`` when the
    config has none: every setting needs a default) into a settings object and raises
    :class:`ConfigError` naming ``where`` and the key for anything wrong.
    ``build(http, settings)`` makes the connector; it may raise :class:`ConfigError`
    when a watched platform cannot be collected as configured (no token).
    """

    name: str
    settings: Callable[[Mapping[str, Any], str], S]
    build: Callable[[HttpClient, S], Any]
    # False: not a watchlist platform (the web archive serves ``collect --archive``).
    live: bool = True
    followers: bool = False          # the connector lists followers (Connector.followers)
    secrets: Callable[[S], Sequence[str]] = lambda s: ()
    host_policies: Callable[[S], Mapping[str, HostPolicy]] = lambda s: {}
    # ``collect --base-url NAME[:QUALIFIER]=URL``: the config table that URL stands for.
    base_url: Callable[[str, str | None], dict[str, Any]] | None = None
    base_url_usage: str = ""         # how --base-url is written for it, for error hints
    # A live event stream when the settings ask for one: (connector, settings, watched
    # account ids, store path) -> stream, or None.
    stream: Callable[[Any, S, set[str], Path], EventStream | None] | None = None


_registry: dict[str, ConnectorSpec[Any]] | None = None


def _discover() -> dict[str, ConnectorSpec[Any]]:
    import purgewatch.sources as package

    found: dict[str, ConnectorSpec[Any]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_CONNECTORS:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        spec = getattr(module, "CONNECTOR", None)
        if not isinstance(spec, ConnectorSpec):
            continue
        if spec.name in found:
            raise ConfigError(f"two connector modules declare platform {spec.name!r}",
                              hint=f"{module.__name__} and another module of purgewatch.sources")
        found[spec.name] = spec
    return found


def specs() -> dict[str, ConnectorSpec[Any]]:
    """Every registered platform by name (discovered once per process; see
    :func:`rediscover`)."""
    global _registry
    if _registry is None:
        _registry = _discover()
    return dict(_registry)


def rediscover() -> None:
    """Forget what was discovered, so the next look-up searches ``__path__`` again (after
    a module was added at run time, e.g. by a test)."""
    global _registry
    _registry = None


def names(*, live: bool = True) -> list[str]:
    """Registered platform names, sorted; ``live``: only watchlist platforms."""
    return sorted(n for n, s in specs().items() if s.live or not live)


def spec(name: str, *, live: bool = False) -> ConnectorSpec[Any]:
    """The platform called ``name``; a clear error listing the known ones otherwise."""
    found = specs().get(name)
    if found is None or (live and not found.live):
        what = "no live connector for platform" if found is not None else "unknown platform"
        raise ConfigError(
            f"{what} {name!r}",
            hint=f"known platforms: {', '.join(names(live=live))} (a platform is a module under "
                 "purgewatch/sources/ that defines CONNECTOR; see docs/collecting.md)",
        )
    return found


def default_settings() -> dict[str, Any]:
    """Every platform's settings with nothing configured."""
    return {n: s.settings({}, f"[platforms.{n}]") for n, s in specs().items()}


# Helpers for the connectors' ``settings`` readers, so every table is checked alike.

def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}",
                          hint=f"allowed: {', '.join(sorted(allowed))}")


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value.strip()


def url(value: Any, where: str, *, schemes: tuple[str, ...] = ("http://", "https://")) -> str:
    if not isinstance(value, str) or not value.startswith(schemes):
        kind = "a ws(s)://" if schemes[0].startswith("ws") else "an http(s)"
        raise ConfigError(f"{where} must be {kind} URL, got {value!r}")
    return value


@dataclass(frozen=True)
class BaseUrlSettings:
    """A platform table whose only key is ``base_url`` (web archives, t.me previews)."""

    base_url: str


def base_url_settings(default: str) -> Callable[[Mapping[str, Any], str], BaseUrlSettings]:
    """The ``settings`` reader of such a table, ``base_url`` defaulting to ``default``."""

    def read(table: Mapping[str, Any], where: str) -> BaseUrlSettings:
        check_keys(table, {"base_url"}, where)
        return BaseUrlSettings(base_url=url(table.get("base_url", default), f"{where} base_url"))

    return read
