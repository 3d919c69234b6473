"""Load ALFRED tasks: `traj_data.json` files (json_2.1.0 layout), folders of them, and JSONL.

Two layouts are read: the original `traj_data.json` (`plan.low_actions`,
`turk_annotations.anns`) and the JSONL export used by the vendored data (top-level
`low_actions` and `annotations`). `.gz` files are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from embodmem.errors import ValidationError
from sim.scenes import scene_number
from sim.tasks.goals import Goal, goal_from_pddl
from sim.tasks.versions import pin_goal, repose_goal

# The vendored 251 ALFRED valid-seen trajectories (see sim/data/alfred/README.md).
ALFRED_VALID_SEEN = Path(str(resources.files("sim").joinpath("data/alfred/valid_seen.jsonl.gz")))


class AlfredFormatError(ValidationError):
    """An ALFRED file is missing, unreadable or lacks a field; the field names the file."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """One person's description of a trajectory: the goal and one sentence per subgoal."""

    task_desc: str
    high_descs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One ALFRED task: where it happens, what people asked for, its typed goal, and the length
    of the expert's low-level plan (for PLW). The scene as ALFRED recorded it (ai2thor 2.1.0):
    `object_poses` (SetObjectPoses entries), `object_toggles` (SetObjectToggles entries),
    `dirty_and_empty` (everything dirty and empty first) and `init_action`, its TeleportFull.
    `low_actions` are the expert's `api_action` dicts. `goal` is posed in the 5.0.0 scene:
    `retyped` lists the receptacle types it lacks and the 5.0.0 types standing there instead
    (`sim.tasks.versions.repose_goal`)."""

    task_id: str
    scene: str
    instruction: str
    step_instructions: tuple[str, ...]
    goal: Goal
    expert_plan_length: int
    task_type: str
    pddl_params: Mapping[str, Any] = field(default_factory=dict)
    annotations: tuple[Annotation, ...] = ()
    init_action: Mapping[str, Any] | None = None
    source: str = ""
    object_poses: tuple[Mapping[str, Any], ...] = ()
    object_toggles: tuple[Mapping[str, Any], ...] = ()
    dirty_and_empty: bool = False
    low_actions: tuple[Mapping[str, Any], ...] = ()
    retyped: Mapping[str, str] = field(default_factory=dict)

    def start(self, env: Any, perception: str = "metadata") -> Any:
        """Start this task in a THOR-compatible controller (`start_episode`) for an agent:
        a `sim.tasks.session.AlfredSession` (what the agent sees, and the goal checker)."""
        from sim.tasks.session import AlfredSession  # it imports this module

        return AlfredSession(env, self, perception)


def load_alfred(path: str | os.PathLike[str]) -> list[Task]:
    """Tasks of a `traj_data.json`, a folder searched recursively for them, or a JSONL file
    (one trajectory a line; `.gz` allowed). Malformed input raises `AlfredFormatError`."""
    root = Path(path)
    if root.is_dir():
        files = sorted(root.rglob("traj_data.json"))
        if not files:
            raise AlfredFormatError("directory", str(root), "no traj_data.json found under it")
        return [task_from_traj(_read_json(f), str(f)) for f in files]
    if not root.is_file():
        raise AlfredFormatError("path", str(root), "no such file or directory")
    if root.name.endswith((".jsonl", ".jsonl.gz")):
        return [task_from_traj(traj, where) for where, traj in _jsonl_records(root)]
    return [task_from_traj(_read_json(root), str(root))]


def load_alfred_default() -> list[Task]:
    """The vendored ALFRED valid-seen tasks (251)."""
    return load_alfred(ALFRED_VALID_SEEN)


def _open_text(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        with _open_text(path) as fh:
            return json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlfredFormatError("file", str(path), f"unreadable JSON: {exc}") from None


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        with _open_text(path) as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{n}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AlfredFormatError(where, line.strip(), f"invalid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlfredFormatError("file", str(path), f"unreadable: {exc}") from None


def _get(traj: Mapping[str, Any], dotted: str, where: str) -> Any:
    value: Any = traj
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise AlfredFormatError(f"{where} {dotted}", None, "missing field")
        value = value[key]
    return value


def _text(value: Any, field_name: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AlfredFormatError(f"{where} {field_name}", value, "expected non-empty text")
    return value.strip()


def _annotations(traj: Mapping[str, Any], where: str) -> tuple[Annotation, ...]:
    key = "annotations" if "annotations" in traj else "turk_annotations.anns"
    anns = _get(traj, key, where)
    if not isinstance(anns, list) or not anns:
        raise AlfredFormatError(f"{where} {key}", anns, "expected a non-empty list")
    out = []
    for i, ann in enumerate(anns):
        f = f"{key}[{i}]"
        if not isinstance(ann, Mapping):
            raise AlfredFormatError(f"{where} {f}", type(ann).__name__, "expected an object")
        descs = ann.get("high_descs")
        if not isinstance(descs, list):
            raise AlfredFormatError(f"{where} {f}.high_descs", descs, "expected a list of text")
        out.append(
            Annotation(
                task_desc=_text(ann.get("task_desc"), f"{f}.task_desc", where),
                high_descs=tuple(
                    _text(d, f"{f}.high_descs[{j}]", where) for j, d in enumerate(descs)
                ),
            )
        )
    return tuple(out)


def task_from_traj(traj: Any, where: str = "<traj>") -> Task:
    """A `Task` from one ALFRED trajectory dict (either layout); `where` names it in errors."""
    if not isinstance(traj, Mapping):
        raise AlfredFormatError(where, type(traj).__name__, "expected a trajectory object")
    floor_plan = _get(traj, "scene.floor_plan", where)
    try:
        scene = f"FloorPlan{scene_number(floor_plan)}"
    except ValidationError:
        raise AlfredFormatError(
            f"{where} scene.floor_plan", floor_plan, "expected FloorPlanN"
        ) from None
    key = "low_actions" if "low_actions" in traj else "plan.low_actions"
    low_actions = _get(traj, key, where)
    if not isinstance(low_actions, list):
        raise AlfredFormatError(f"{where} {key}", type(low_actions).__name__, "expected a list")
    task_type = _get(traj, "task_type", where)
    pddl = _get(traj, "pddl_params", where)
    try:
        goal = goal_from_pddl(task_type, pddl)
    except ValidationError as exc:
        raise AlfredFormatError(f"{where} {exc.field}", exc.value, exc.reason) from None
    annotations = _annotations(traj, where)
    api_actions = tuple(
        dict(a["api_action"])
        for a in _records(low_actions, key, where)
        if isinstance(a.get("api_action"), Mapping)
    )
    goal, retyped = repose_goal(goal, task_type, pddl, scene, api_actions)
    goal = pin_goal(goal, scene, api_actions)
    scene_info = traj["scene"]
    init = scene_info.get("init_action")
    poses = _records(scene_info.get("object_poses", []), "scene.object_poses", where)
    toggles = _records(scene_info.get("object_toggles", []), "scene.object_toggles", where)
    dirty = scene_info.get("dirty_and_empty", False)
    if not isinstance(dirty, bool):
        raise AlfredFormatError(f"{where} scene.dirty_and_empty", dirty, "expected true or false")
    return Task(
        task_id=_text(_get(traj, "task_id", where), "task_id", where),
        scene=scene,
        instruction=annotations[0].task_desc,
        step_instructions=annotations[0].high_descs,
        goal=goal,
        expert_plan_length=len(low_actions),
        task_type=task_type,
        pddl_params=dict(pddl),
        annotations=annotations,
        init_action=dict(init) if isinstance(init, Mapping) else None,
        source=where,
        object_poses=poses,
        object_toggles=toggles,
        dirty_and_empty=dirty,
        low_actions=api_actions,
        retyped=retyped,
    )


def _records(value: Any, field_name: str, where: str) -> tuple[dict[str, Any], ...]:
    """A list of JSON objects (copied), or `AlfredFormatError` naming the field."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise AlfredFormatError(f"{where} {field_name}", value, "expected a list of objects")
    return tuple(dict(v) for v in value)
