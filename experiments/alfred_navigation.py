"""Replay the navigation actions of ALFRED's expert trajectories (MoveAhead 0.25, Rotate 90,
Look 15, as in its low_actions) in the offline simulator from ALFRED's start pose, and report
how many start poses TeleportFull accepts, how many trajectories replay without a failed move,
and what stopped the others (the object THOR's message names; "Wall" for leaving the room).

The interaction actions are left out here (their translation from ai2thor 2.1.0 is issue 10,
part 2); the start is forced when refused, so the moves are still tried.

Run: .venv/bin/python experiments/alfred_navigation.py [--split valid_seen train_sample]
"""

from __future__ import annotations

import time
from collections import Counter

from alfred_splits import run

from sim.offline import OfflineController
from sim.tasks import Task
from sim.tasks.episode import start_pose

NAVIGATION = {"MoveAhead", "RotateLeft", "RotateRight", "LookUp", "LookDown"}


def replay(env: OfflineController, task: Task) -> tuple[bool, str | None]:
    """(start pose accepted, what stopped the replay or None)."""
    env.reset(task.scene)
    teleport = start_pose(task)
    accepted = bool(env.step(teleport))
    if not accepted:
        env.step({**teleport, "forceAction": True})
    for a in task.low_actions:
        name = a["action"]
        if name not in NAVIGATION:
            continue
        args = {"action": name}
        if name == "MoveAhead":
            args["moveMagnitude"] = a.get("moveMagnitude", 0.25)
        else:
            args["degrees"] = 90 if name.startswith("Rotate") else 15
        event = env.step(args)
        if not event:
            message = event.metadata["errorMessage"]
            return accepted, message.split(" is blocking")[0].rsplit("_", 1)[0]
    return accepted, None


def report(name: str, tasks: list[Task]) -> None:
    envs: dict[str, OfflineController] = {}
    starts = done = 0
    stops: Counter[str] = Counter()
    start = time.perf_counter()
    for task in tasks:
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        accepted, stop = replay(env, task)
        starts += accepted
        done += stop is None
        if stop is not None:
            stops[stop] += 1
    n = len(tasks)
    print(f"\nALFRED {name}: {n} expert trajectories, navigation actions only")
    print(f"  start poses accepted         {starts:5d}  {100 * starts / n:5.1f} %")
    print(f"  replayed without a failure   {done:5d}  {100 * done / n:5.1f} %")
    print(f"  ({time.perf_counter() - start:.1f} s)  stopped by (object type: count):")
    print("   ", ", ".join(f"{k} {v}" for k, v in stops.most_common(12)))


def main() -> None:
    run(report, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
