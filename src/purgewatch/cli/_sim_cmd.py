"""`purgewatch sim`: the platform emulator (serve a scenario, export its truth and watchlist)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from purgewatch.cli._common import emit_json, json_option

SCENARIO_HELP = "Packaged scenario name (small, demo) or path to a scenario .toml file."


@click.group("sim")
def sim_cmd() -> None:
    """The platform emulator: Bluesky-, Mastodon- and X-shaped endpoints on 127.0.0.1,
    driven by a scenario file on an accelerated clock. See docs/emulator.md.

    \b
    Example:
      purgewatch sim serve --scenario demo --port 8787 --speed 3600
      purgewatch sim watchlist --scenario demo --out watchlist.csv
      purgewatch sim truth --scenario demo --out truth.json
    """


@sim_cmd.command("serve")
@click.option("--scenario", "scenario_ref", required=True, help=SCENARIO_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback only: 127.0.0.1, localhost or ::1 (anything else is refused).")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="TCP port (0 = any free port).")
@click.option("--speed", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Scenario seconds per wall second (3600 = one scenario hour per second); "
                   "0 = manual clock, moved with POST /_sim/clock?advance=SECONDS.")
@click.option("--start", "start_at", default=None,
              help="Scenario instant to start at (ISO 8601 with zone; default: the scenario's start).")
@click.option("--no-faults", is_flag=True, help="Serve without the scenario's injected faults.")
@click.option("--no-limits", is_flag=True, help="Serve without rate limits.")
@json_option
def serve_cmd(scenario_ref: str, host: str, port: int, speed: float, start_at: str | None,
              no_faults: bool, no_limits: bool, as_json: bool) -> None:
    """Serve a scenario until interrupted (Ctrl-C); prints the base URLs to give connectors.

    \b
    Example:
      purgewatch sim serve --scenario small --port 0 --speed 600 --json
    """
    from purgewatch.sim import Emulator, SimClock, load_scenario, to_us

    scenario = load_scenario(scenario_ref)
    origin = scenario.start_us
    if start_at:
        from purgewatch.timefmt import parse_zoned

        dt = parse_zoned(start_at, "--start")
        assert dt is not None
        origin = to_us(dt.to_pydatetime())
    clock = SimClock.manual(origin) if speed == 0 else SimClock.accelerated(origin, speed)
    emu = Emulator(scenario, clock=clock, faults=not no_faults, limits=not no_limits, host=host, port=port)

    def ready(e: Emulator) -> None:
        clock.set(origin)  # scenario time starts now that the server answers, not at parse time
        urls = e.urls()
        if as_json:
            click.echo(json.dumps({"scenario": scenario.name, "urls": urls,
                                   "clock": {"start": clock.now().isoformat(), "speed": clock.speed}}),
                       nl=True)
            return
        click.echo(f"scenario {scenario.name!r} from {clock.now().isoformat()} "
                   f"at {'manual clock' if speed == 0 else f'x{speed:g}'}", err=True)
        for name, url in urls.items():
            if isinstance(url, dict):
                for inst, u in url.items():
                    click.echo(f"  {name} {inst}: {u}")
            else:
                click.echo(f"  {name}: {url}")
        click.echo("Ctrl-C to stop", err=True)

    emu.serve_forever(on_ready=ready)


@sim_cmd.command("truth")
@click.option("--scenario", "scenario_ref", required=True, help=SCENARIO_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSON file to write the ground truth to ('-' for stdout).")
@json_option
def truth_cmd(scenario_ref: str, out: Path, as_json: bool) -> None:
    """Export a scenario's ground truth: status changes, follow edges, drop sizes.

    \b
    Example:
      purgewatch sim truth --scenario demo --out truth.json
    """
    from purgewatch.sim import load_scenario, truth

    doc = truth(load_scenario(scenario_ref))
    text = json.dumps(doc, ensure_ascii=False)
    if str(out) == "-":
        click.echo(text)
        return
    out.write_text(text, encoding="utf-8")
    summary = {"out": str(out), "accounts": len(doc["accounts"]), "status_changes": len(doc["status_changes"]),
               "follow_edges": sum(len(v) for v in doc["follows"].values()), "drops": len(doc["drops"])}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {out}: {summary['accounts']} watched accounts, {summary['status_changes']:,} status "
                   f"changes, {summary['follow_edges']:,} follow edges, {summary['drops']} drops")


@sim_cmd.command("watchlist")
@click.option("--scenario", "scenario_ref", required=True, help=SCENARIO_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV file to write (docs/formats.md watchlist columns: platform, account, group, label).")
@json_option
def watchlist_cmd(scenario_ref: str, out: Path, as_json: bool) -> None:
    """Write the scenario's watched accounts as a watchlist CSV (account = platform id).

    \b
    Example:
      purgewatch sim watchlist --scenario demo --out watchlist.csv
    """
    from purgewatch.sim import load_scenario, write_watchlist

    n = write_watchlist(load_scenario(scenario_ref), out)
    if as_json:
        emit_json({"out": str(out), "rows": n})
    else:
        click.echo(f"wrote {out}: {n} accounts")


@sim_cmd.command("scenarios")
@json_option
def scenarios_cmd(as_json: bool) -> None:
    """List the packaged scenarios.

    \b
    Example:
      purgewatch sim scenarios --json
    """
    from purgewatch.sim import iso_ms, load_scenario, packaged_scenarios

    rows: list[dict[str, Any]] = []
    for name in packaged_scenarios():
        sc = load_scenario(name)
        rows.append({"name": name, "platforms": list(sc.platforms), "accounts": len(sc.accounts),
                     "start": iso_ms(sc.start_us), "end": iso_ms(sc.end_us)})
    if as_json:
        emit_json({"scenarios": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']}: {r['accounts']} watched accounts on {', '.join(r['platforms'])}")
