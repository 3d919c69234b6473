"""`make_planner`: planners by name, with their options."""

from __future__ import annotations

from typing import Any

from embodmem.errors import ValidationError
from embodmem.planning.protocol import Planner
from embodmem.planning.symbolic import SymbolicPlanner

PLANNERS = ("symbolic", "llm")


def make_planner(name: str = "symbolic", **options: Any) -> Planner:
    """A planner: "symbolic" (offline default) or "llm" (see `llm_planner.make_llm_planner`:
    `base_url`, `model`, ...; with no URL the embedded local model is started on demand)."""
    if name == "symbolic":
        return SymbolicPlanner(**options)
    if name == "llm":
        from embodmem.planning.llm_planner import make_llm_planner

        return make_llm_planner(**options)
    raise ValidationError("planner", name, f"expected one of {', '.join(PLANNERS)}")
