"""Every public entry point keeps its promise on hostile input (tests/hostile.py): a clean
`EmbodmemError` (the controller: `ValueError`) that changes nothing, or a memory that can be
saved, loaded, queried and integrated; loading writes nothing; the command line touches only
its own output. Fast by default; `-m slow` runs 10,000 cases per entry point."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests import hostile

FAST, SLOW = 30, 10_000


@pytest.mark.parametrize(
    "cases",
    [
        pytest.param(FAST, id="fast"),
        pytest.param(SLOW, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(7200)]),
    ],
)
@pytest.mark.parametrize("name", list(hostile.entry_points()))
def test_entry_point_survives_hostile_input(name: str, cases: int) -> None:
    strategy, check = hostile.entry_points()[name]

    @settings(
        max_examples=cases,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def prop(case: object) -> None:
        assert check(case) in ("accepted", "rejected")

    prop()
