"""The public API: what `import purgewatch` exports, and docs/library.md's walk-through,
executed."""

from __future__ import annotations

import doctest
from pathlib import Path

import purgewatch

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_are_pinned() -> None:
    assert sorted(purgewatch.__all__) == ["Evidence", "__version__", "open_store"]
    for name in purgewatch.__all__:
        assert getattr(purgewatch, name) is not None


def test_library_walkthrough_runs(tmp_path: Path) -> None:
    result = doctest.testfile(
        str(ROOT / "docs" / "library.md"), module_relative=False, globs={"workdir": tmp_path},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, raise_on_error=False, verbose=False,
    )
    assert result.attempted > 20
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/library.md failed"


def test_open_store_refuses_a_missing_store(tmp_path: Path) -> None:
    import pytest

    from purgewatch.errors import InputError

    with pytest.raises(InputError, match="no evidence store"):
        purgewatch.open_store(tmp_path / "nothing")
