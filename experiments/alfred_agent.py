"""Run the agent on ALFRED tasks in the offline simulator, seeing only what it sees, and report
per task type the success rate (SR), ALFRED's goal-condition rate (GC), THOR actions taken,
failed actions and wall time, and what ended the failed episodes.

Every episode starts with an empty memory (so the figures measure planning from perception,
not recall) and is started with `start_episode`; only tasks whose goal is satisfiable in the
5.0.0 scene count (all of valid-seen is).

Run: .venv/bin/python experiments/alfred_agent.py [--split valid_seen] [--perception metadata]
     [--planner symbolic] [--limit N] [--per-type N] [--max-steps 1000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import Counter, defaultdict

from alfred_splits import SPLITS, TRAIN_SAMPLE, print_counts
from tqdm import tqdm

from embodmem import EmbodiedMemory
from embodmem.config import MemoryConfig
from embodmem.planning import Agent, make_planner
from sim.offline import OfflineController
from sim.tasks import Task, format_table, load_alfred, load_alfred_default

_IDS = re.compile(r"\b[A-Z][0-9]+\b|[A-Z][A-Za-z]+\|[-+0-9.|A-Za-z_]+")


def report(name: str, tasks: list[Task], args: argparse.Namespace) -> None:
    """Run every task once and print the per-type table and the failure reasons."""
    envs: dict[str, OfflineController] = {}
    rows: dict[str, list] = defaultdict(list)
    reasons: Counter[str] = Counter()
    start = time.perf_counter()
    for task in tqdm(tasks, desc=name, unit="task"):
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        memory = EmbodiedMemory(MemoryConfig(embedder=args.embedder))
        agent = Agent(make_planner(args.planner), memory, env, perception=args.perception)
        result = agent.run(task, max_steps=args.max_steps)
        for key in (task.task_type, "all"):
            rows[key].append(result)
        if not result.success:
            reasons[_IDS.sub("<id>", result.reason)[:110]] += 1
    seconds = time.perf_counter() - start
    table = {}
    for kind, rs in sorted(rows.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        table[kind] = {
            "tasks": len(rs),
            "SR": sum(r.success for r in rs) / len(rs),
            "GC": sum(r.goal.met for r in rs) / sum(r.goal.total for r in rs),
            "steps": round(statistics.mean(r.steps for r in rs), 1),
            "failed": round(statistics.mean(r.failed_actions for r in rs), 1),
            "wall ms (median)": round(1000 * statistics.median(r.wall_s for r in rs)),
        }
    print(
        f"\nALFRED {name}: {len(tasks)} episodes, planner={args.planner}, "
        f"perception={args.perception}, max_steps={args.max_steps}, {seconds:.1f} s"
    )
    print(format_table(table))
    print_counts("what ended the failed episodes (count):", reasons, 15)


def first_of_each_type(tasks: list[Task], n: int) -> list[Task]:
    """The first `n` tasks of each task type, in the split's order."""
    by_type: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_type[task.task_type].append(task)
    return [t for t in tasks if t in by_type[t.task_type][:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", nargs="*", choices=SPLITS, default=["valid_seen"])
    ap.add_argument("--planner", default="symbolic")
    ap.add_argument("--perception", choices=("metadata", "segmentation"), default="metadata")
    ap.add_argument("--embedder", default="hashing")
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None, help="first N tasks of each split")
    ap.add_argument("--per-type", type=int, default=None, help="first N tasks of each type")
    args = ap.parse_args()
    for name in args.split:
        if name == "valid_seen":
            tasks = load_alfred_default()
        elif TRAIN_SAMPLE.is_file():
            tasks = load_alfred(TRAIN_SAMPLE)
        else:
            print(f"(train sample not found at {TRAIN_SAMPLE}; skipped)")
            continue
        if args.per_type is not None:
            tasks = first_of_each_type(tasks, args.per_type)
        report(name, tasks[: args.limit], args)


if __name__ == "__main__":
    main()
