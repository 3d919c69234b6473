"""Shared fixtures: paths to the real reference data (tests only; the library never reads it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder beside the repository (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def episodes(shared_data: Path) -> dict[str, list[dict]]:
    """Real recorded ai2thor 5.0.0 episodes, by name."""
    out = {}
    for path in sorted((shared_data / "ithor" / "episodes").glob("*.jsonl")):
        out[path.stem] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return out
