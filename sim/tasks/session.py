"""An ALFRED task running in a THOR-compatible controller, split into what the agent may see
and what only the goal checker may read.

`AlfredSession` starts the episode (`start_episode`), turns each event into the agent's
observation (`observe`: the objects THOR reports visible, or with `perception="segmentation"`
the objects the depth and instance frames show, at the boxes their depth points span) and
keeps the goal checker's state history
(`record`, `check`, which read the full metadata). The agent loop in `embodmem.planning` only
calls these; it never reads the object list itself.
"""

from __future__ import annotations

from typing import Any

from embodmem.errors import ValidationError
from embodmem.planning.protocol import TaskSpec
from embodmem.types import Observation
from sim.tasks.alfred import Task
from sim.tasks.episode import Controller, start_episode
from sim.tasks.goals import GoalResult, StateHistory
from sim.thor import observation_from_metadata
from sim.thor_env import observation_from_event

PERCEPTIONS = ("metadata", "segmentation")


class AlfredSession:
    """One started ALFRED episode: the agent's observations and the goal checker's view."""

    def __init__(
        self, env: Controller, task: Task, perception: str = "metadata", restore: bool = True
    ) -> None:
        if perception not in PERCEPTIONS:
            raise ValidationError("perception", perception, f"expected one of {PERCEPTIONS}")
        self.task = task
        self.perception = perception
        self.spec = TaskSpec(
            instruction=task.instruction,
            task_type=task.task_type,
            targets=dict(task.goal.targets),
            task_id=task.task_id,
            references=dict(getattr(task, "references", {})),  # a reference task's roles
            instances=getattr(task.goal, "instances", {}),  # a reference goal names none
        )
        self.history = StateHistory()
        if not restore:  # a later task of an episode: the scene stays as it is
            event = getattr(env, "last_event", None)
            if event is None:
                raise ValidationError("env", type(env).__name__, "has no episode to continue")
            self.event = event
        else:
            if perception == "segmentation":
                _enable_frames(env, task.scene)
            self.event = start_episode(env, task)
        self.record(self.event)

    def observe(self, event: Any, time_ns: int) -> Observation:
        """What the agent perceives in `event`: visible objects (metadata) or segmented ones."""
        if self.perception == "segmentation":
            return observation_from_event(event, time_ns, visible_only=False, from_frames=True)
        return observation_from_metadata(event.metadata, time_ns=time_ns, visible_only=True)

    def record(self, event: Any) -> None:
        """Let the goal checker see one more step (ALFRED's heated / cooled / cleaned sets)."""
        self.event = event
        self.history.update(event.metadata)

    def check(self) -> GoalResult:
        """The goal checked on the full state of the latest event."""
        return self.task.goal.check(self.event.metadata, self.history)

    def unsatisfiable(self) -> tuple[str, ...]:
        """What the scene lacks to ever reach the goal (empty when it can be reached)."""
        return self.task.goal.unsatisfiable_reasons(self.event.metadata)


def _enable_frames(env: Controller, scene: str) -> None:
    """Ask the controller for depth and instance frames from now on: ai2thor keeps the
    initialization parameters a reset was given (the offline controller does the same)."""
    env.reset(scene, renderDepthImage=True, renderInstanceSegmentation=True)
