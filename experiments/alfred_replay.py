"""Replay every ALFRED expert trajectory (`sim.tasks.replay_expert`: ALFRED's scene restored,
its 2.1.0 actions translated to 5.0.0 calls) in the offline simulator and report, per task
type, how many replay with every action succeeding and the goal met at the end, and what
stopped the others (the action and THOR's message, ids blanked).

Run: .venv/bin/python experiments/alfred_replay.py [--split valid_seen train_sample]
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict

from alfred_splits import print_counts, run

from sim.offline import OfflineController
from sim.tasks import Task, format_table, replay_expert

_IDS = re.compile(r"[A-Z][A-Za-z]+\|[-+0-9.|A-Za-z_]+|[A-Z][A-Za-z]*_[0-9a-f]{8}\S*")


def report(name: str, tasks: list[Task]) -> None:
    """Print the per-type table and the failure reasons of one split."""
    envs: dict[str, OfflineController] = {}
    rows: dict[str, list[bool]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    start = time.perf_counter()
    for task in tasks:
        result = replay_expert(envs.setdefault(task.scene, OfflineController(task.scene)), task)
        rows[task.task_type].append(result.success)
        rows["all"].append(result.success)
        if not result.success:
            reasons[_IDS.sub("<id>", result.reason or "")[:100]] += 1
    seconds = time.perf_counter() - start
    table = {
        kind: {"tasks": len(r), "replayed": sum(r), "replayed %": 100 * sum(r) / len(r)}
        for kind, r in sorted(rows.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }
    print(f"\nALFRED {name}: {len(tasks)} expert trajectories replayed in {seconds:.1f} s")
    print(format_table(table))
    print_counts("what stopped the others (count):", reasons, 12)


def main() -> None:
    run(report, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
