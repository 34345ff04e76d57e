"""The connector registry: a platform is one module under purgewatch/sources/ that
defines CONNECTOR. A module planted at test time, found the way the built-in ones are
(module discovery over ``purgewatch.sources.__path__``), is accepted by the config and
collected from by the engine with no edit to either."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import purgewatch.sources as sources
from purgewatch.collect.config import config_from_dict
from purgewatch.collect.engine import Collector, default_config_for, read_watchlist_csv
from purgewatch.errors import ConfigError, InputError
from purgewatch.net.clock import FakeClock
from purgewatch.sources import registry
from purgewatch.store import Store

# A complete connector for an imaginary platform "pigeon": its settings table, its
# connector (one GET per account through the engine's HTTP client) and its CONNECTOR.
PLANTED = textwrap.dedent('''
    from collections.abc import Mapping, Sequence
    from dataclasses import dataclass
    from typing import Any

    from purgewatch.model import Observation
    from purgewatch.net.http import HttpClient
    from purgewatch.sources.registry import ConnectorSpec, check_keys, url


    @dataclass(frozen=True)
    class PigeonSettings:
        base_url: str = "https://pigeon.example"


    class PigeonConnector:
        platform = "pigeon"

        def __init__(self, http: HttpClient, base_url: str) -> None:
            self.http, self.base_url = http, base_url

        async def lookup(self, accounts: Sequence[str]) -> list[Observation]:
            out = []
            for ref in accounts:
                resp = await self.http.get(f"{self.base_url}/loft/{ref}")
                body = resp.json()
                out.append(Observation(platform="pigeon", account_id=body["id"], observed_at=resp.retrieved_at,
                                       status=body["status"], followers_count=body["followers"],
                                       source="pigeon", source_ref=resp.url, payload_hash=resp.payload_hash))
            return out


    def _settings(table: Mapping[str, Any], where: str) -> PigeonSettings:
        check_keys(table, {"base_url"}, where)
        return PigeonSettings(url(table.get("base_url", PigeonSettings.base_url), f"{where} base_url"))


    CONNECTOR = ConnectorSpec(
        name="pigeon",
        settings=_settings,
        build=lambda http, s: PigeonConnector(http, s.base_url),
        base_url=lambda base, _q: {"base_url": base},
        base_url_usage="pigeon=URL",
    )
''')


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "pigeon.py").write_text(PLANTED)
    monkeypatch.setattr(sources, "__path__", [*sources.__path__, str(folder)])
    registry.rediscover()
    yield
    monkeypatch.undo()
    registry.rediscover()


def _pigeon(request: httpx.Request) -> httpx.Response:
    assert request.url.host == "loft.test"
    name = request.url.path.rsplit("/", 1)[-1]
    if name == "gone":
        return httpx.Response(200, json={"id": "p-0", "status": "suspended", "followers": 0})
    return httpx.Response(200, json={"id": f"p-{len(name)}", "status": "active", "followers": 12})


def test_builtin_platforms_are_discovered() -> None:
    assert registry.names() == ["bluesky", "mastodon", "telegram", "x"]
    assert registry.names(live=False) == ["bluesky", "mastodon", "telegram", "wayback", "x"]
    with pytest.raises(ConfigError, match="no live connector for platform 'wayback'") as err:
        registry.spec("wayback", live=True)
    assert "bluesky, mastodon, telegram, x" in str(err.value.hint)


def test_unknown_platforms_are_refused_with_the_known_ones_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown platform\(s\) \['pigeon'\]") as err:
        config_from_dict({"platforms": {"pigeon": {}}}, base_dir=tmp_path)
    assert "bluesky, mastodon, telegram, wayback, x" in str(err.value.hint)
    (tmp_path / "w.csv").write_text("platform,account,group\npigeon,homer,g\n")
    with pytest.raises(InputError, match="'pigeon' has no live connector") as ierr:
        read_watchlist_csv(tmp_path / "w.csv")
    assert "bluesky, mastodon, telegram, x" in str(ierr.value.hint)
    with pytest.raises(ConfigError, match="unknown platform key"):
        default_config_for(tmp_path / "w.csv", platforms={"pigeon": "http://loft.test"})


def test_a_planted_connector_module_is_configured_and_collected(planted: None, store: Store, tmp_path: Path) -> None:
    assert "pigeon" in registry.names()
    # Its own table is read by its own settings reader, errors naming the key ...
    with pytest.raises(ConfigError, match=r"\[platforms.pigeon\] base_url must be an http\(s\) URL"):
        config_from_dict({"platforms": {"pigeon": {"base_url": "ftp://loft"}}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"\[platforms.pigeon\]: unknown key"):
        config_from_dict({"platforms": {"pigeon": {"loft": 1}}}, base_dir=tmp_path)
    # ... and --base-url knows it too.
    (tmp_path / "w.csv").write_text("platform,account,group\npigeon,homer,g\npigeon,gone,g\n")
    assert default_config_for(tmp_path / "w.csv", platforms={"pigeon": "http://x.test"}).platforms["pigeon"].base_url == "http://x.test"
    cfg = config_from_dict({
        "collect": {"detect": False},
        "watchlists": [{"name": "birds", "file": "w.csv"}],
        "platforms": {"pigeon": {"base_url": "http://loft.test"}},
    }, base_dir=tmp_path)
    reports = asyncio.run(Collector(store, cfg, clock=FakeClock(),
                                    transport=httpx.MockTransport(_pigeon)).collect_once())
    assert reports[0].observed == 2 and reports[0].statuses == {"active": 1, "suspended": 1}
    obs = {o["account_id"]: o for o in store.read("observations").to_pylist()}
    assert obs["p-5"]["followers_count"] == 12 and obs["p-5"]["source_ref"] == "http://loft.test/loft/homer"
    assert obs["p-0"]["status"] == "suspended"
    # The resolved id went to the watchlist like any platform's.
    ids = {(r["account"], r["account_id"]) for r in store.read("watchlist").to_pylist()}
    assert ("homer", "p-5") in ids
