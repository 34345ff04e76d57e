"""Shared fixtures: temporary stores and the real-dataset folder (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from purgewatch.store import Store

DATASETS = Path(os.environ.get("PURGEWATCH_DATASETS", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.init(tmp_path / "store")


@pytest.fixture
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets folder not found at {DATASETS} (set PURGEWATCH_DATASETS)")
    return DATASETS
