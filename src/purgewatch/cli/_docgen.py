"""Generate docs/cli.md from the commands themselves, so the reference cannot drift.

    python -m purgewatch.cli._docgen > docs/cli.md

tests/test_docs.py fails when docs/cli.md differs from what this prints.
"""

from __future__ import annotations

import click

from purgewatch.cli import COMMANDS, cli


def _help(cmd: click.Command, path: list[str]) -> str:
    # Under the root's context, as when run: help option names and widths are inherited
    # (click caches a command's help option, so a parentless context would make the
    # output depend on which commands ran before).
    root = click.Context(cli, info_name="purgewatch", terminal_width=100, max_content_width=100,
                         **cli.context_settings)
    ctx = click.Context(cmd, info_name=" ".join(path[1:]), parent=root)
    return cmd.get_help(ctx)


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=path[-1])
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.extend(_walk(sub, [*path, name]))
    return out


def render() -> str:
    lines = [
        "# Command reference",
        "",
        "Generated from the code by `python -m purgewatch.cli._docgen > docs/cli.md`;",
        "a test fails when it is out of date. Every verb that answers takes `--json`.",
        "Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 store, 4 config, 5 platform/source,",
        "6 analysis cannot answer, 130 interrupted.",
        "",
    ]
    root_ctx = click.Context(cli, info_name="purgewatch")
    for name in sorted(COMMANDS):
        cmd = cli.get_command(root_ctx, name)
        assert cmd is not None
        for path, sub in _walk(cmd, ["purgewatch", name]):
            lines.append(f"{'#' * min(len(path), 4)} `{' '.join(path)}`")
            lines.append("")
            lines.append("```")
            lines.append(_help(sub, path).rstrip())
            lines.append("```")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
