"""Planning with memory: the skill vocabulary and its expansion into AI2-THOR actions,
navigation on the agent's own floor map, the plan verifier, the symbolic and LLM planners, and
the agent loop that runs a task seeing only what the agent sees."""

from embodmem.planning.agent import Agent, EpisodeResult, PlanRecord
from embodmem.planning.executor import Executor, StepRecord
from embodmem.planning.factory import PLANNERS, make_planner
from embodmem.planning.navigation import FloorMap, look_at, route
from embodmem.planning.priors import where_likely
from embodmem.planning.protocol import Plan, Planner, PlanRequest, TaskSpec
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
from embodmem.planning.symbolic import SymbolicPlanner
from embodmem.planning.verifier import Infeasible, verify

__all__ = [
    "MAX_PLAN_STEPS",
    "NAVIGATION",
    "PLANNERS",
    "SKILLS",
    "Agent",
    "EpisodeResult",
    "Executor",
    "FloorMap",
    "Infeasible",
    "Plan",
    "PlanError",
    "PlanRecord",
    "PlanRequest",
    "Planner",
    "Skill",
    "StepRecord",
    "SymbolicPlanner",
    "TaskSpec",
    "expand",
    "look_at",
    "make_planner",
    "parse_plan",
    "parse_steps",
    "plan_json",
    "route",
    "skill_schema",
    "verify",
    "where_likely",
]
