"""`purgewatch <verb>`: a thin shell over the library.

Verbs are declared as data (name -> "module:attribute") and imported only when used,
so `purgewatch --help` stays fast and one broken verb cannot take the others down.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import click

from purgewatch._version import __version__
from purgewatch.cli._errors import run_with_error_mapping

# verb -> "module:click command". Add a verb by adding a line here.
COMMANDS: dict[str, str] = {
    "demo": "purgewatch.cli._demo_cmd:demo_cmd",
    "init": "purgewatch.cli._store_cmds:init_cmd",
    "stats": "purgewatch.cli._store_cmds:stats_cmd",
    "compact": "purgewatch.cli._store_cmds:compact_cmd",
    "export": "purgewatch.cli._export_cmd:export_cmd",
    "batches": "purgewatch.cli._store_cmds:batches_cmd", "retract": "purgewatch.cli._store_cmds:retract_cmd",
    "sim": "purgewatch.cli._sim_cmd:sim_cmd",
    "import": "purgewatch.cli._import_cmds:import_cmd", "datasets": "purgewatch.cli._import_cmds:datasets_cmd", "watchlist": "purgewatch.cli._import_cmds:watchlist_cmd",
    "collect": "purgewatch.cli._collect_cmds:collect_cmd", "watch": "purgewatch.cli._collect_cmds:watch_cmd",
    "accounts": "purgewatch.cli._account_cmds:accounts_cmd",
    "history": "purgewatch.cli._account_cmds:history_cmd",
    "explain": "purgewatch.cli._explain_cmds:explain_cmd", "compare": "purgewatch.cli._explain_cmds:compare_cmd", "forensics": "purgewatch.cli._explain_cmds:forensics_cmd",
    "report": "purgewatch.cli._publish_cmds:report_cmd", "serve": "purgewatch.cli._publish_cmds:serve_cmd",
    "detect": "purgewatch.cli._detect_cmd:detect_cmd",
    "posts": "purgewatch.cli._posts_cmds:posts_cmd",
    "bots": "purgewatch.cli._bots_cmd:bots_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        cmd: click.Command = getattr(importlib.import_module(module_name), attr)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="purgewatch")
def cli() -> None:
    """PurgeWatch: evidence about accounts that vanish from social platforms.

    \b
    Quick start:
      purgewatch demo                      # emulator scenario end to end
      purgewatch init --store ./evidence
      purgewatch import observations obs.csv --store ./evidence
      purgewatch detect --json
    """


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """PurgeWatch's own warnings as one plain line on stderr (others as Python shows them)."""
    if category.__module__.startswith("purgewatch"):
        click.echo(f"warning: {message}", err=True)
    else:
        _default_show(message, category, filename, lineno, file, line)


_default_show = warnings.showwarning


def main(argv: list[str] | None = None) -> Any:
    warnings.showwarning = _show_warning
    return run_with_error_mapping(cli, argv if argv is not None else sys.argv[1:])
