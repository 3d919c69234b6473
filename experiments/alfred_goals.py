"""Start every ALFRED task as ALFRED recorded it (`sim.tasks.start_episode`: its object poses,
toggles, dirty-and-empty state and start pose, restored in the offline simulator over the
ai2thor 5.0.0 scene of its FloorPlan) and report, per task type: tasks, goals satisfiable in the
restored scene, goals already satisfied at the start (should be 0), mean conditions, mean GC at
the start, and the median time of `start_episode`.

Splits: the vendored valid-seen tasks, and ALFRED's train sample from ../shared/data/alfred when
it is there (valid-unseen is the held-out test set and is never read).

Run: .venv/bin/python experiments/alfred_goals.py [--split valid_seen train_sample]
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict

from alfred_splits import print_counts, run

from sim.offline import OfflineController
from sim.tasks import Task, format_table
from sim.tasks.episode import start_episode


def report(name: str, tasks: list[Task]) -> None:
    """Print the per-type table of one split."""
    rows: dict[str, list[tuple[bool, bool, int, float]]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    envs: dict[str, OfflineController] = {}
    times = []
    for task in tasks:
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        start = time.perf_counter()
        event = start_episode(env, task)
        times.append(time.perf_counter() - start)
        result = task.goal.check(event.metadata)
        reasons.update(f"{task.task_type}: {r}" for r in result.unsatisfiable)
        record = (not result.unsatisfiable, result.success, result.total, result.goal_condition)
        rows[task.task_type].append(record)
        rows["all"].append(record)
    table = {
        kind: {
            "tasks": len(recs),
            "satisfiable": sum(r[0] for r in recs),
            "satisfiable %": 100 * sum(r[0] for r in recs) / len(recs),
            "satisfied_at_start": sum(r[1] for r in recs),
            "mean_conditions": sum(r[2] for r in recs) / len(recs),
            "GC_at_start": sum(r[3] for r in recs) / len(recs),
        }
        for kind, recs in sorted(rows.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }
    print(f"\nALFRED {name}: {len(tasks)} tasks started with start_episode")
    print(format_table(table, percent={"GC_at_start"}))
    print(
        f"start_episode: median {1000 * statistics.median(times):.1f} ms, "
        f"max {1000 * max(times):.0f} ms (a scene's first task also loads the scene)"
    )
    print_counts(
        "why goals are unsatisfiable (count; each a receptacle the 5.0.0 scene lacks):", reasons
    )


def main() -> None:
    run(report, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
