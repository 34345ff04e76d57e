"""Running the command line in-process from tests."""

from __future__ import annotations

from purgewatch.cli import main


def run(argv: list[str]) -> int:
    """The exit code ``purgewatch ARGV`` would give (0 when it returns normally)."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
