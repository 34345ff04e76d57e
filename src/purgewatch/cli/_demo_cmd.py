"""`purgewatch demo`: the emulator scenario end to end (README's main command)."""

from __future__ import annotations

import shutil
import sys
import webbrowser
from pathlib import Path

import click

from purgewatch.cli._common import emit_json, json_option


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("purgewatch-demo"),
    show_default=True,
    help="Directory for the demo's store, report, watchlist and ground truth.",
)
@click.option("--force", is_flag=True, help="Replace --out whatever it holds (without it, only an earlier demo run is replaced).")
@click.option("--speed", type=float, default=None, help="Scenario seconds per wall second (default 10,000).")
@click.option("--no-faults", is_flag=True, help="Turn off the emulator's injected faults.")
@click.option("--serve", is_flag=True,
              help="Serve the web UI on 127.0.0.1:8765 over the demo store (after the run; at once when --out holds a finished run).")
@click.option("--open", "open_report", is_flag=True, help="Afterwards, open the report in a browser.")
@json_option
def demo_cmd(
    out_dir: Path,
    force: bool,
    speed: float | None,
    no_faults: bool,
    serve: bool,
    open_report: bool,
    as_json: bool,
) -> None:
    """Run PurgeWatch end to end on the packaged demo scenario, offline.

    Starts the platform emulator (X- and Bluesky-shaped endpoints on 127.0.0.1) with a
    scenario modelled on a real case: two camps, government and opposition; one Thursday
    afternoon a wave suspends thousands of accounts in the government camp's follower
    base and a few of its official accounts; the leader loses about 6,000 followers in one
    sweep; days later a campaign brings bursts of brand-new accounts. The real connectors
    and watch loop collect it on an accelerated clock; then PurgeWatch detects, explains,
    compares and writes the evidence report. Takes two to three minutes.

    \b
    Example:
      purgewatch demo
      purgewatch demo --out /tmp/pw-demo --force --serve
    """
    import json

    from purgewatch.demo import DEFAULT_SPEED, demo_state, demo_story, run_demo

    if out_dir.exists() and force:
        shutil.rmtree(out_dir)
    say = (lambda msg: click.echo(msg, err=True)) if not as_json else (lambda _msg: None)
    if serve and not force and demo_state(out_dir) == "complete":
        # `purgewatch demo --serve` after a finished run serves that run (no re-run)
        say(f"serving the finished demo run in {_shown(out_dir)} (add --force to run it again)")
        findings = json.loads((out_dir / "report" / "findings.json").read_text(encoding="utf-8"))
        _tell(demo_story(findings), out_dir / "report" / "report.html", out_dir / "store", None)
        _serve(out_dir / "store")
        return
    show = not as_json and sys.stderr.isatty()
    say("PurgeWatch demo: emulator -> watch -> detect -> explain -> compare -> report")
    progress_cm = None
    if show:
        from purgewatch.cli._collect_cmds import RichProgress

        progress_cm = RichProgress()
        progress_cm.__enter__()
    try:
        result = run_demo(
            out_dir, speed=speed or DEFAULT_SPEED, faults=not no_faults, progress=progress_cm, say=say
        )
    finally:
        if progress_cm is not None:
            progress_cm.__exit__(None, None, None)
    findings = json.loads(result.report_json.read_text(encoding="utf-8"))
    story = demo_story(findings)
    if as_json:
        emit_json(
            {
                "out": str(result.out_dir),
                "store": str(result.store),
                "report": str(result.report_html),
                "report_json": str(result.report_json),
                "truth": str(result.truth),
                "story": story,
                "seconds": result.seconds,
                "requests": result.requests,
                "events": result.events,
            }
        )
    else:
        _tell(story, result.report_html, result.store, result.truth)
        click.echo(f"took {result.seconds['total']:.0f} s")
    if open_report:
        webbrowser.open(result.report_html.resolve().as_uri())
    if serve:
        _serve(result.store)


def _shown(path: Path) -> str:
    """``path`` as the user can type it from here: relative to the current folder when
    inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tell(story: list[str], report: Path, store: Path, truth: Path | None) -> None:
    click.echo("")
    click.echo("What the run found (every number from the report's findings):")
    for line in story:
        click.echo(f"  - {line}")
    click.echo("")
    click.echo(f"report: {_shown(report)}   (one file; opens offline in any browser)")
    click.echo(f"serve:  purgewatch demo --serve   or   purgewatch serve --store {_shown(store)}")
    click.echo(f"store:  {_shown(store)}   (try: purgewatch accounts --store {_shown(store)})")
    if truth is not None:
        click.echo(f"truth:  {_shown(truth)}   (what the emulator really did, to check the findings)")


def _serve(store: Path) -> None:
    from purgewatch.cli._publish_cmds import serve_cmd

    ctx = click.get_current_context()
    ctx.invoke(serve_cmd, store_path=store, host="127.0.0.1", port=8765, write_token=None)
