"""Tasks that name their object by reference, and the episode log that checks them: the
`complex` suite category ("put the fruit you cooled back where it was").

A `ReferenceTask` follows an ALFRED task of the same episode (`source`, its index). The agent
is told the instruction and the typed references (`embodmem.planning.protocol.Reference`) and
must resolve them from memory. The goal checker resolves them from the full state: the
referenced objects are those of the reference's types that the source task left in `state`
(ALFRED's heated / cooled / cleaned history, or just moved) and that stand elsewhere than when
the episode began; "where it was" is each one's innermost receptacle at the episode's start.
The goal is then one typed condition on those object ids.

`EpisodeLog.track(task)` wraps every task of a multi-task episode: the first starts the scene
(ALFRED's restore), later ones continue where the previous left it, and reference tasks are
resolved against what the log kept (where every object stood at the start, each task's state
history).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from embodmem.errors import ValidationError
from embodmem.planning.protocol import Reference
from sim.tasks.alfred import Task
from sim.tasks.goals import GoalResult, SceneView, StateHistory, has_state
from sim.tasks.session import AlfredSession

REFERENCE_TASKS = ("return_object", "place_referenced")


@dataclass(frozen=True, slots=True)
class ReferencedIn:
    """One of the referenced `objects` is in/on its own `origins` receptacle (return_object)
    or in/on a receptacle of type `recep` (place_referenced)."""

    objects: tuple[str, ...]
    origins: Mapping[str, str] = field(default_factory=dict)
    recep: str | None = None

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        for oid in self.objects:
            if oid not in view.objects:
                continue
            parents = view.parents(oid)
            if self.recep is None and self.origins.get(oid) in parents:
                return True
            if self.recep is not None and any(
                p in view.objects and view.objects[p]["objectType"] == self.recep for p in parents
            ):
                return True
        return False

    def __str__(self) -> str:
        where = f"in/on a {self.recep}" if self.recep else "back where it was"
        return f"the referenced object ({', '.join(self.objects) or 'none'}) is {where}"


@dataclass(frozen=True, slots=True)
class ReferenceGoal:
    """The goal of a reference task once the checker resolved its references."""

    task_type: str
    condition: ReferencedIn
    reasons: tuple[str, ...] = ()
    targets: Mapping[str, str] = field(default_factory=dict)

    @property
    def conditions(self) -> tuple[ReferencedIn, ...]:
        return (self.condition,)

    def check(self, metadata: Any, history: StateHistory | None = None) -> GoalResult:
        """The condition on the latest metadata (unmet while the references resolve to nothing)."""
        met = not self.reasons and self.condition.holds(SceneView.from_metadata(metadata))
        return GoalResult(
            success=met,
            met=int(met),
            total=1,
            unmet=() if met else (str(self.condition),),
            unsatisfiable=self.reasons,
        )

    def unsatisfiable_reasons(self, metadata: Any) -> tuple[str, ...]:
        """Why the references resolve to nothing (the source task did not do its part)."""
        return self.reasons


@dataclass(frozen=True, slots=True)
class ReferenceTask:
    """A task naming its object by reference to task `source` of the same episode."""

    task_id: str
    scene: str
    instruction: str
    task_type: str
    reference: Reference
    source: int = 0
    parent: str | None = None  # the receptacle type of a place_referenced task
    goal: ReferenceGoal | None = None  # resolved when the task starts
    expert_plan_length: int = 0
    step_instructions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task_type not in REFERENCE_TASKS:
            raise ValidationError("task_type", self.task_type, f"expected one of {REFERENCE_TASKS}")
        if self.reference.kind != "changed":
            raise ValidationError("reference.kind", self.reference.kind, "expected 'changed'")
        if (self.task_type == "place_referenced") != (self.parent is not None):
            raise ValidationError("parent", self.parent, "a place_referenced task names one")

    @property
    def references(self) -> dict[str, Reference]:
        """The roles named by reference, as the agent is told them."""
        refs = {"object": self.reference}
        if self.task_type == "return_object":
            refs["parent"] = Reference("origin")
        return refs

    def resolved(self, log: EpisodeLog, metadata: Any) -> ReferenceTask:
        """This task with its goal resolved from the log and the current full state."""
        if not 0 <= self.source < len(log.sessions):
            raise ValidationError("source", self.source, "names no earlier task of the episode")
        view = SceneView.from_metadata(metadata)
        history = log.sessions[self.source].history
        state = self.reference.state or "moved"
        objects = tuple(
            oid
            for otype in self.reference.types
            for oid in view.candidates(otype, "pickupable")
            if set(view.parents(oid)) != set(log.origins.get(oid, ()))
            and (state == "moved" or has_state(state, oid, view, history))  # type: ignore[arg-type]
        )
        origins = {o: r for o in objects if (r := log.innermost_origin(o)) is not None}
        reasons = ()
        if not objects:
            reasons = (f"no {'/'.join(self.reference.types)} was {state} by task {self.source}",)
        elif self.task_type == "return_object" and not origins:
            reasons = ("the referenced object stood in no receptacle when the episode began",)
        goal = ReferenceGoal(
            self.task_type,
            ReferencedIn(objects, origins, self.parent),
            reasons,
            {"parent": self.parent} if self.parent else {},
        )
        return dataclasses.replace(self, goal=goal)


@dataclass
class EpisodeLog:
    """What the goal checker keeps across the tasks of one episode."""

    origins: dict[str, tuple[str, ...]] = field(default_factory=dict)  # at the episode's start
    sessions: list[AlfredSession] = field(default_factory=list)

    def track(self, task: Task | ReferenceTask) -> _Tracked:
        """A startable for the agent: the episode's next task."""
        return _Tracked(task, self)

    def innermost_origin(self, oid: str) -> str | None:
        """The receptacle `oid` stood in at the start that holds nothing else it stood in."""
        parents = self.origins.get(oid, ())
        inner = [p for p in parents if not any(p in self.origins.get(q, ()) for q in parents)]
        return inner[0] if inner else None


@dataclass
class _Tracked:
    task: Task | ReferenceTask
    log: EpisodeLog

    def start(self, env: Any, perception: str = "metadata") -> AlfredSession:
        log = self.log
        if isinstance(self.task, ReferenceTask):
            task: Any = self.task.resolved(log, env.last_event.metadata)
            session = AlfredSession(env, task, perception, restore=False)
        else:
            session = AlfredSession(env, self.task, perception, restore=not log.sessions)
        if not log.sessions:
            log.origins = {
                o["objectId"]: tuple(o.get("parentReceptacles") or ())
                for o in session.event.metadata["objects"]
            }
        log.sessions.append(session)
        return session
