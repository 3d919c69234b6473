"""What the agent loop and the planners say to each other: the task as the agent is told it,
what a planner is shown when it plans, and the plan it answers with.

A planner sees the memory (nodes, context), the task, what is in the hand, and feedback from
failed actions and rejected plans; never the simulator. `Planner.plan` returns a `Plan`: skills
to run in order (the agent replans after a failure, after an `explore`, or when the plan is
used up), plus the LLM calls and tokens it cost and the prompt text it was shown (for the step
log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from embodmem.errors import ValidationError
from embodmem.planning.skills import Skill

if TYPE_CHECKING:
    from embodmem.memory import EmbodiedMemory


REFERENCE_KINDS = ("changed", "origin")
REFERENCE_STATES = ("hot", "cold", "clean", "moved")


@dataclass(frozen=True, slots=True)
class Reference:
    """An indirect reference in a task ("the fruit you cooled", "where it was"), typed:
    `changed` is the object of one of the `types` that an earlier task of the episode made
    `state` (hot, cold, clean, or moved); `origin` is where that object stood when the
    episode began. The agent resolves it from what it remembers."""

    kind: str
    state: str | None = None
    types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE_KINDS:
            raise ValidationError("reference.kind", self.kind, f"expected one of {REFERENCE_KINDS}")
        if self.kind == "changed" and (self.state not in REFERENCE_STATES or not self.types):
            raise ValidationError(
                "reference.state", self.state, f"expected one of {REFERENCE_STATES} and types"
            )


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task as the agent is told it: the instruction, its type, the object types it names
    by role ("object", "parent", "mrecep", "toggle", ALFRED's pddl targets) and the roles it
    names by reference instead ("object": the fruit you cooled, "parent": where it was), and
    the roles it singles out one object for by id ("parent": the desk its instruction means,
    where the scene has several)."""

    instruction: str
    task_type: str = ""
    targets: Mapping[str, str] = field(default_factory=dict)
    task_id: str = ""
    references: Mapping[str, Reference] = field(default_factory=dict)
    instances: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """What a planner is shown: the task, the memory, the node in the hand, where the agent
    stands (world frame), the skills run so far with their failure reason (None: it worked),
    and feedback (the reasons of failed skills and rejected plans so far, latest last)."""

    task: TaskSpec
    memory: EmbodiedMemory
    held: str | None = None
    position: tuple[float, float, float] | None = None
    history: tuple[tuple[Skill, str | None], ...] = ()
    feedback: tuple[str, ...] = ()
    steps_left: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """A planner's answer: skills in order (empty with `reason` when it gives up), and what
    producing it cost."""

    skills: tuple[Skill, ...]
    reason: str = ""
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    shown: str = ""  # the prompt (or summary) the planner was shown, for the step log


class Planner(Protocol):
    """One planner interface for the symbolic and LLM planners."""

    name: str

    def reset(self, task: TaskSpec, memory: EmbodiedMemory) -> None:
        """Forget the previous episode's plan state; a new task starts."""
        ...

    def plan(self, request: PlanRequest) -> Plan:
        """Skills to run from now on, given what the memory knows."""
        ...
