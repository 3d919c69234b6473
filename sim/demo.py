"""`embodmem demo`: the agent solves ALFRED tasks in one iTHOR scene from what it sees, one
memory carried from task to task, and shows its plans, its steps and what memory contributed.

Each task is started with `start_episode` (ALFRED's recorded layout and start pose, real
ai2thor 5.0.0 scene data, offline simulator); the planner and the memory get only what the
agent perceives. The same task is then run once more with an empty memory, so the step counts
side by side show what remembering the earlier tasks saved (or cost, when ALFRED laid the
scene out differently and a remembered object is not where it was).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby

from embodmem.errors import ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.planning import Agent, EpisodeResult, make_planner
from embodmem.scene_graph import SceneGraph
from embodmem.tables import format_table
from sim.offline import OfflineController
from sim.scenes import scene_number
from sim.tasks import Task, load_alfred_default

_NODE = re.compile(r"\bO\d+\b")
MAX_STEPS = 1000


def demo_tasks(scene: str, count: int) -> list[Task]:
    """The first `count` vendored ALFRED valid-seen tasks posed in `scene`."""
    every = load_alfred_default()
    tasks = [t for t in every if t.scene == scene]
    if not tasks:
        scenes = sorted({t.scene for t in every}, key=scene_number)
        raise ValidationError(
            "scene", scene, f"has no ALFRED valid-seen task; try one of {', '.join(scenes[:12])}…"
        )
    if count < 1:
        raise ValidationError("tasks", count, "expected at least 1")
    return tasks[:count]


def readable(skills: Sequence[str], graph: SceneGraph) -> str:
    """Skills with each node id followed by its label: `pickup(O77 Pot)`."""

    def name(match: re.Match[str]) -> str:
        node_id = match.group(0)
        return f"{node_id} {graph.object(node_id).label}" if node_id in graph else node_id

    return " ".join(_NODE.sub(name, s) for s in skills)


def plan_lines(result: EpisodeResult, graph: SceneGraph) -> list[str]:
    """One line per planner answer; repeats of the same answer in a row are folded."""
    lines = []
    for (shown, plan, rejected), group in groupby(
        result.plans, key=lambda p: (p.shown, p.plan, p.rejected)
    ):
        records = list(group)
        steps = f"step {records[0].step}" + (f" (x{len(records)})" if len(records) > 1 else "")
        text = readable(plan, graph) or "(no plan)"
        lines.append(
            f"    {steps:<16} {shown}: {text}" + (f"  REJECTED: {rejected}" if rejected else "")
        )
    return lines


def run_demo(scene: str, count: int, perception: str = "metadata") -> EmbodiedMemory:
    """Run the demo and print it; the memory the tasks shared."""
    tasks = demo_tasks(scene, count)
    env = OfflineController(scene)
    memory = EmbodiedMemory()
    print(
        f"{scene}: {len(tasks)} ALFRED valid-seen tasks, symbolic planner, one memory carried "
        f"from task to task; perception={perception} (the agent sees only what it sees)\n"
    )
    rows = []
    for i, task in enumerate(tasks, 1):
        result = Agent(make_planner("symbolic"), memory, env, perception=perception).run(
            task, max_steps=MAX_STEPS
        )
        fresh = Agent(make_planner("symbolic"), EmbodiedMemory(), env, perception=perception)
        alone = fresh.run(task, max_steps=MAX_STEPS)
        graph = memory.scene_graph
        print(f"task {i}/{len(tasks)}  {task.task_type}  ({task.task_id})")
        print(f'  "{task.instruction}"')
        print("  plans:")
        print("\n".join(plan_lines(result, graph)))
        outcome = "success" if result.success else f"failed ({result.reason})"
        print(
            f"  {outcome}: {result.steps} THOR actions ({result.failed_actions} failed), goal "
            f"conditions {result.goal.met}/{result.goal.total}, {result.wall_s:.1f} s"
        )
        recalled = readable(result.recalled, graph) if result.recalled else "nothing"
        print(f"  recalled from earlier tasks: {recalled}\n")
        rows.append(
            (
                i,
                task.task_type,
                "yes" if result.success else "no",
                result.steps,
                alone.steps if alone.success else f"{alone.steps} (failed)",
                len(result.recalled),
            )
        )
    print("What memory contributed (THOR actions with the shared memory vs an empty one):")
    print(
        format_table(
            ["task", "type", "success", "steps", "steps, empty memory", "objects recalled"],
            rows,
        )
    )
    env.stop()
    return memory
