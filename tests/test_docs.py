"""Documentation that the tests check: every verb has help with an example, the command
reference is generated from the code, and every doc page the README links exists."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from purgewatch.cli import COMMANDS, cli
from purgewatch.cli._docgen import _walk, render

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_every_verb_imports_and_has_an_example(verb: str) -> None:
    ctx = click.Context(cli, info_name="purgewatch")
    cmd = cli.get_command(ctx, verb)
    assert cmd is not None, f"COMMANDS names {verb} but it does not import"
    for path, sub in _walk(cmd, ["purgewatch", verb]):
        if isinstance(sub, click.Group):
            continue
        assert sub.help and "Example" in sub.help, f"`{' '.join(path)}` has no Example in its help"


def test_cli_reference_is_up_to_date() -> None:
    current = (ROOT / "docs" / "cli.md").read_text()
    assert current == render(), "docs/cli.md is stale: python -m purgewatch.cli._docgen > docs/cli.md"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"
