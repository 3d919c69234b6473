"""How memory evolved over an episode, step by step, for playback (`embodmem viz RUN_DIR`).

`MemoryTrace` is fed every THOR step (`on_step`, the executor's hook) and, when a task ends,
its planner calls (`end_task`); per step it keeps a frame: the action and its outcome, where
the agent stood, the objects in view, the objects that appeared in memory or moved (id ->
position), those forgotten, the state changes logged, and the plans made there with what the
planner was shown. Frames hold only what changed, so a long episode stays small; `state_at(i)`
rebuilds the objects memory held after frame i.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embodmem import store
from embodmem.errors import SnapshotError
from embodmem.memory import EmbodiedMemory

FORMAT = "embodmem.trace"
VERSION = 1
MOVE_M = 0.02  # a remembered position that shifts by more than this is a move in the trace


class MemoryTrace:
    """Frames of one episode's memory (see the module docstring)."""

    def __init__(self, memory: EmbodiedMemory, title: str = "") -> None:
        self.memory = memory
        self.title = title
        self.frames: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []  # one per task: instruction, first frame, outcome
        self._known: dict[str, tuple[float, float, float]] = {}
        self._last_ns = -1  # changes logged up to this observation time are in the frames
        self._frame(None)  # frame 0: memory before the first action

    def begin_task(self, task_id: str, instruction: str) -> None:
        """A task starts at the next frame."""
        self.tasks.append(
            {"task_id": task_id, "instruction": instruction, "frame": len(self.frames)}
        )

    def end_task(self, result: Any) -> None:
        """The current task ended (`embodmem.planning.EpisodeResult`): its outcome, and each
        planner call attached to the frame it was made after (its step counts from the
        task's first action)."""
        task = self.tasks[-1]
        task |= {"success": bool(result.success), "reason": result.reason, "end": len(self.frames)}
        for p in result.plans:
            frame = self.frames[min(task["frame"] - 1 + p.step, len(self.frames) - 1)]
            frame.setdefault("plans", []).append(
                {"shown": p.shown, "plan": list(p.plan), "rejected": p.rejected}
            )

    def on_step(self, record: Any) -> None:
        """One executed THOR action (`embodmem.planning.executor.StepRecord`)."""
        self._frame(
            {
                "step": record.step,
                "action": record.action.get("action", ""),
                "args": {k: v for k, v in record.action.items() if k != "action"},
                "success": record.success,
                "error": record.error,
                "visible": list(record.visible),
            }
        )

    def _frame(self, action: dict[str, Any] | None) -> None:
        graph = self.memory.scene_graph
        now = {n.node_id: n for n in graph.objects()}
        new, moved = {}, {}
        for node_id, node in now.items():
            pos = tuple(float(c) for c in node.position)
            before = self._known.get(node_id)
            if before is None:
                new[node_id] = {"label": node.label, "position": list(pos)}
            elif math.dist(before, pos) > MOVE_M:
                moved[node_id] = list(pos)
            self._known[node_id] = pos  # type: ignore[assignment]
        gone = sorted(set(self._known) - set(now))
        for node_id in gone:
            del self._known[node_id]
        fresh = [c for c in self.memory.short_term.changes() if c.time_ns > self._last_ns]
        self._last_ns = max(self._last_ns, self.memory.last_time_ns or 0)
        pose = self.memory.short_term.last_pose
        self.frames.append(
            {
                **(action or {"step": 0, "action": "start"}),
                "time_ns": self.memory.last_time_ns,
                "agent": None if pose is None else [float(c) for c in pose.position],
                "new": new,
                "moved": moved,
                "gone": gone,
                "changes": [
                    {"node_id": c.node_id, "field": c.field, "before": c.before, "after": c.after}
                    for c in fresh
                ],
            }
        )

    def state_at(self, index: int) -> dict[str, dict[str, Any]]:
        """The objects memory held after frame `index`: id -> {label, position}."""
        *_, objects = replay(self.frames[: index + 1])  # frame 0 always exists
        return dict(objects)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, with the memory as it is now (the episode's last state)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "title": self.title,
            "tasks": self.tasks,
            "frames": self.frames,
            "memory": self.memory.to_dict(),
        }


def replay(frames: list[dict[str, Any]]) -> Iterator[dict[str, dict[str, Any]]]:
    """The objects memory held after each frame in turn (id -> {label, position}); the same
    dict is updated and yielded each time, so copy what is kept."""
    objects: dict[str, dict[str, Any]] = {}
    for frame in frames:
        for node_id, rec in frame["new"].items():
            objects[node_id] = dict(rec)
        for node_id, pos in frame["moved"].items():
            if node_id in objects:
                objects[node_id]["position"] = pos
        for node_id in frame["gone"]:
            objects.pop(node_id, None)
        yield objects


def save_trace(doc: dict[str, Any], path: str | Path) -> Path:
    """Write a trace's JSON form (`MemoryTrace.to_dict`) atomically."""
    import orjson

    store.atomic_write(path, orjson.dumps(doc, default=str))
    return Path(path)


def load_trace(path: str | Path) -> dict[str, Any]:
    """A saved trace's JSON form; raises `SnapshotError` for a file that is not one."""
    import orjson

    try:
        doc = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read a memory trace ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not an {FORMAT} file")
    if doc.get("version") != VERSION or not isinstance(doc.get("frames"), list):
        raise SnapshotError(f"{path}: expected {FORMAT} version {VERSION} with frames")
    return doc
