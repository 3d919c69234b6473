"""Planning with memory: the skill vocabulary and its expansion into AI2-THOR actions (the agent
loop and the planners build on it)."""

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

__all__ = [
    "MAX_PLAN_STEPS",
    "NAVIGATION",
    "SKILLS",
    "PlanError",
    "Skill",
    "expand",
    "parse_plan",
    "parse_steps",
    "plan_json",
    "skill_schema",
]
