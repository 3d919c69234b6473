"""Planning with memory: the skill vocabulary and its expansion into AI2-THOR actions,
navigation on the agent's own floor map, and the plan verifier (the agent loop and the planners
build on them)."""

from embodmem.planning.navigation import FloorMap, look_at, route
from embodmem.planning.skills import (
    MAX_PLAN_STEPS,
    NAVIGATION,
    SKILLS,
    PlanError,
    Skill,
    expand,
    parse_plan,
    parse_steps,
    plan_json,
    skill_schema,
)
from embodmem.planning.verifier import Infeasible, verify

__all__ = [
    "MAX_PLAN_STEPS",
    "NAVIGATION",
    "SKILLS",
    "FloorMap",
    "Infeasible",
    "PlanError",
    "Skill",
    "expand",
    "look_at",
    "parse_plan",
    "parse_steps",
    "plan_json",
    "route",
    "skill_schema",
    "verify",
]
