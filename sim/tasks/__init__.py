"""ALFRED tasks for the simulator side: loading, typed goals checked on THOR metadata, metrics."""

from sim.tasks import metrics
from sim.tasks.alfred import (
    ALFRED_VALID_SEEN,
    AlfredFormatError,
    Annotation,
    Task,
    load_alfred,
    load_alfred_default,
    task_from_traj,
)
from sim.tasks.episode import EpisodeError, PoseMapping, map_object_poses, start_episode
from sim.tasks.goals import (
    TASK_TYPES,
    Goal,
    GoalError,
    GoalResult,
    StateHistory,
    goal_from_pddl,
)
from sim.tasks.metrics import EpisodeResult, aggregate, aggregate_by, format_table
from sim.tasks.replay import ReplayResult, replay_expert, translate

__all__ = [
    "ALFRED_VALID_SEEN",
    "TASK_TYPES",
    "AlfredFormatError",
    "Annotation",
    "EpisodeError",
    "EpisodeResult",
    "Goal",
    "GoalError",
    "GoalResult",
    "PoseMapping",
    "ReplayResult",
    "StateHistory",
    "Task",
    "aggregate",
    "aggregate_by",
    "format_table",
    "goal_from_pddl",
    "load_alfred",
    "load_alfred_default",
    "map_object_poses",
    "metrics",
    "replay_expert",
    "start_episode",
    "task_from_traj",
    "translate",
]
