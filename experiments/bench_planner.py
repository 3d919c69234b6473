"""Benchmarks of the symbolic planner (targets: one planning decision on a 2,000-object memory,
median <= 5 ms; an ALFRED episode with the symbolic planner offline, median wall <= 1 s).

(a) `SymbolicPlanner.plan` on a memory of ~2,000 real iTHOR objects (whole scenes of every
    room type laid side by side, `scene_tiles.translated`, taken in through
    `EmbodiedMemory.integrate`), one request per ALFRED task type with the targets of a
    valid-seen task of that type whose types the memory holds, from the middle of the world,
    nothing in the hand. One more row times the exploration fallback: a type the memory lacks
    after the floor is looked over, so every openable receptacle is ranked by where the type
    is likely to be.
(b) `Agent(make_planner("symbolic"), EmbodiedMemory(), OfflineController()).run(task)` over a
    deterministic sample of valid-seen tasks (`--tasks`, `--seed`), a fresh memory each episode,
    one simulator per scene: wall time (`EpisodeResult.wall_s`, start of the episode included)
    and success rate.

    .venv/bin/python experiments/bench_planner.py                # defaults: 40 tasks, seed 0
    .venv/bin/python experiments/bench_planner.py --tasks 10 --repeats 50
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from scene_tiles import translated
from tqdm import tqdm

from embodmem import EmbodiedMemory, Observation
from embodmem.planning import (
    Agent,
    EpisodeResult,
    PlanRequest,
    Skill,
    SymbolicPlanner,
    TaskSpec,
    make_planner,
)
from embodmem.planning.executor import NO_FRONTIER
from embodmem.tables import format_table
from sim.offline import OfflineController
from sim.scenes import scene_names, scene_number, scene_objects
from sim.tasks import TASK_TYPES, Task, load_alfred_default
from sim.thor import observation_from_metadata

PLAN_TARGET_MS = 5.0
EPISODE_TARGET_S = 1.0
ROLES = {"object": "pickupable", "mrecep": "pickupable", "parent": "receptacle"}
ROLES["toggle"] = "toggleable"
ABSENT = "Nonexistent"  # an object type no scene has


def build_memory(n_objects: int, spacing: float = 30.0) -> EmbodiedMemory:
    """A memory holding at least `n_objects` real iTHOR objects: whole scenes, kitchens,
    living rooms, bedrooms and bathrooms in turn, each `spacing` m further along x."""
    rooms: dict[int, list[str]] = defaultdict(list)
    for name in scene_names():
        rooms[scene_number(name) // 100].append(name)
    order = [s for group in zip(*rooms.values(), strict=False) for s in group]
    memory = EmbodiedMemory()
    for i, scene in enumerate(order * (1 + n_objects // 1000)):
        if len(memory.scene_graph.objects()) >= n_objects:
            break
        objects = observation_from_metadata(scene_objects(scene)).objects
        moved = tuple(translated(o, (i * spacing, 0.0, 0.0), str(i)) for o in objects)
        memory.integrate(Observation(i, moved))
    return memory


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values, dtype=float), 90))


def timed_ms(fn: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds per call of `fn`, `repeats` times after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def requests(memory: EmbodiedMemory, tasks: Sequence[Task]) -> dict[str, PlanRequest]:
    """One plan request per task type (targets of its first task the memory can plan), and
    the exploration fallback's."""
    graph = memory.scene_graph
    have: dict[str, set[str]] = defaultdict(set)
    for n in graph.objects():
        for flag in set(ROLES.values()):
            if n.attributes.get(flag):
                have[flag].add(n.label)
    xs = [n.position[0] for n in graph.objects()]
    middle = (statistics.median(xs), 0.0, 0.9)
    out: dict[str, PlanRequest] = {}
    for task_type in TASK_TYPES:
        for task in tasks:
            targets = dict(task.goal.targets)
            if task.task_type == task_type and all(
                t in have[ROLES[role]] for role, t in targets.items()
            ):
                spec = TaskSpec(task.instruction, task_type, targets, task.task_id)
                out[task_type] = PlanRequest(spec, memory, position=middle)
                break
    spec = TaskSpec("find it", "pick_and_place_simple", {"object": ABSENT, "parent": "Fridge"})
    looked = ((Skill("explore"), NO_FRONTIER),)  # the floor is looked over: rank receptacles
    out["explore fallback (type unknown)"] = PlanRequest(
        spec, memory, position=middle, history=looked
    )
    return out


def bench_plans(n_objects: int, repeats: int, tasks: Sequence[Task]) -> list[list[object]]:
    """Rows of (a): per task type, plan latency on the big memory."""
    t0 = time.perf_counter()
    memory = build_memory(n_objects)
    size = len(memory.scene_graph.objects())
    print(f"memory: {size} objects (whole scenes), built in {time.perf_counter() - t0:.1f} s")
    planner = SymbolicPlanner()
    rows = []
    for name, request in tqdm(requests(memory, tasks).items(), desc="plan", unit="type"):
        planner.reset(request.task, memory)
        plan = planner.plan(request)
        ms = timed_ms(lambda r=request: planner.plan(r), repeats)
        med = statistics.median(ms)
        first = f"{plan.skills[0].name} +{len(plan.skills) - 1}" if plan.skills else plan.reason
        rows.append(
            [
                f"plan: {name}",
                size,
                first,
                f"{med:.2f} ms",
                f"{p90(ms):.2f} ms",
                f"<= {PLAN_TARGET_MS:g} ms",
                "pass" if med <= PLAN_TARGET_MS else "FAIL",
            ]
        )
    return rows


def run_episodes(tasks: Sequence[Task], max_steps: int) -> list[tuple[Task, EpisodeResult]]:
    """One symbolic episode per task: fresh memory, one simulator per scene."""
    envs: dict[str, OfflineController] = {}
    out = []
    for task in tqdm(tasks, desc="episodes", unit="task"):
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        agent = Agent(make_planner("symbolic"), EmbodiedMemory(), env)
        out.append((task, agent.run(task, max_steps=max_steps)))
    return out


def episode_rows(results: Sequence[tuple[Task, EpisodeResult]]) -> list[list[object]]:
    """Rows of (b): median / p90 wall time and SR, over all episodes."""
    walls = [r.wall_s for _, r in results]
    med = statistics.median(walls)
    sr = sum(r.success for _, r in results) / len(results)
    return [
        [
            f"episode: {len(results)} valid-seen tasks",
            f"SR {100 * sr:.1f} %",
            f"{statistics.median(r.steps for _, r in results):.0f} steps (median)",
            f"{med:.3f} s",
            f"{p90(walls):.3f} s",
            f"<= {EPISODE_TARGET_S:g} s",
            "pass" if med <= EPISODE_TARGET_S else "FAIL",
        ]
    ]


def by_type(results: Sequence[tuple[Task, EpisodeResult]]) -> str:
    """Per task type: episodes, SR, median steps and wall time."""
    groups: dict[str, list[EpisodeResult]] = defaultdict(list)
    for task, r in results:
        groups[task.task_type].append(r)
    rows = [
        [
            kind,
            len(rs),
            f"{100 * sum(r.success for r in rs) / len(rs):.1f}",
            f"{statistics.median(r.steps for r in rs):.0f}",
            f"{statistics.median(r.wall_s for r in rs):.3f}",
            f"{p90([r.wall_s for r in rs]):.3f}",
        ]
        for kind, rs in sorted(groups.items())
    ]
    headers = ["task type", "tasks", "SR %", "steps (median)", "wall s (median)", "wall s (p90)"]
    return format_table(headers, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=2000, help="memory size for (a)")
    ap.add_argument("--repeats", type=int, default=200, help="plan calls timed per task type")
    ap.add_argument("--tasks", type=int, default=40, help="valid-seen episodes for (b)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the task sample")
    ap.add_argument("--max-steps", type=int, default=1000)
    args = ap.parse_args()

    tasks = load_alfred_default()
    rows = bench_plans(args.objects, args.repeats, tasks)
    sample = random.Random(args.seed).sample(tasks, min(args.tasks, len(tasks)))
    results = run_episodes(sample, args.max_steps)
    rows += episode_rows(results)
    print(
        f"\nsymbolic planner: {args.repeats} plan calls per row, {len(sample)} episodes "
        f"(seed {args.seed}, max_steps {args.max_steps})"
    )
    headers = ["benchmark", "size", "plan / outcome", "median", "p90", "target", "result"]
    print(format_table(headers, rows))
    print("\nepisodes by task type:")
    print(by_type(results))


if __name__ == "__main__":
    main()
