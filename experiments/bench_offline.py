"""Throughput of the offline THOR simulator: non-rendering steps/s over a navigation +
interaction mix (with THOR's occlusion raycasts for the visible flag, the default, and without
them), and rendering frames/s at 300x300 (depth + instance segmentation).

Then the cost of one step against the magnitude of its argument (MoveAhead's moveMagnitude,
RotateRight's and LookDown's degrees): the swept-path test is exact and analytic, so a step
costs the same for any value; the sampled segment test it replaced (a point every 12.5 cm,
kept here as the peer) grows with the distance.

Run: .venv/bin/python experiments/bench_offline.py [--quick]
Targets: >= 500 non-rendering steps/s with occlusion, >= 2,000 without, >= 10 rendered
frames/s; the ratio column is measured / target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from sim.offline import OfflineController
from sim.offline.state import ReachableGrid

SCENES = ("FloorPlan1", "FloorPlan201", "FloorPlan301", "FloorPlan401")
NAV = (
    "MoveAhead",
    "RotateLeft",
    "MoveBack",
    "LookDown",
    "RotateRight",
    "LookUp",
    "MoveLeft",
    "MoveRight",
)


def _mix(ctl: OfflineController) -> list[dict]:
    """One cycle of actions: navigation plus pick / put / open / close / toggle, forced."""
    objs = ctl.state.objects
    pick = next(k for k, o in sorted(objs.items()) if o["pickupable"])
    rec = next(
        k
        for k, o in sorted(objs.items())
        if o["receptacle"] and not o["openable"] and o["objectType"] != "Floor"
    )
    opener = next((k for k, o in sorted(objs.items()) if o["openable"]), rec)
    cycle = [dict(action=a) for a in NAV]
    cycle += [
        dict(action="PickupObject", objectId=pick, forceAction=True),
        dict(action="MoveAhead"),
        dict(action="RotateLeft"),
        dict(action="PutObject", objectId=rec, forceAction=True),
        dict(action="OpenObject", objectId=opener, forceAction=True),
        dict(action="CloseObject", objectId=opener, forceAction=True),
    ]
    return cycle


def bench_steps(scene: str, n: int, **kw) -> tuple[float, float]:
    """(steps/s, share of successful steps) over `n` steps of the mix in `scene`."""
    ctl = OfflineController(scene, **kw)
    cycle = _mix(ctl)
    ok = 0
    t0 = time.perf_counter()
    for i in range(n):
        event = ctl.step(cycle[i % len(cycle)])
        ok += bool(event)
        _ = event.depth_frame  # frames are drawn when read: read them, as a renderer client does
    return n / (time.perf_counter() - t0), ok / n


def sampled_path_clear(grid: ReachableGrid, start: np.ndarray, end: np.ndarray) -> bool:
    """The peer: the segment test sampled every half grid step (cost grows with length)."""
    n = max(2, int(np.ceil(np.linalg.norm(end - start) / (grid.step / 2))) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return bool(grid.contains(start + t * (end - start)).all())


def _median_us(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def bench_magnitudes(reps: int) -> None:
    """Step time against argument magnitude, and the sampled peer on the same segments. The
    controller skips the occlusion raycasts here: their cost follows what is in view (a turn
    changes it), not the argument."""
    ctl = OfflineController("FloorPlan1", occlusion=False)
    grid = ctl.state.grid
    start = ctl.state.agent.position[[0, 2]]
    base = None
    print(
        f"\n{'action':12s} {'argument':>12s} {'step us':>9s} {'x first':>8s} "
        f"{'path test us':>13s} {'sampled peer us':>16s}"
    )
    for action, key, values in (
        ("MoveAhead", "moveMagnitude", (0.25, 10.0, 1e3, 1e6, 1e12, 1e30, 3.4e38)),
        ("RotateRight", "degrees", (90.0, 1e6, 1e30, 3.4e38)),
        ("LookDown", "degrees", (30.0, 1e6, 1e30, 3.4e38)),
    ):
        for value in values:
            us = _median_us(lambda a=action, k=key, x=value: ctl.step(action=a, **{k: x}), reps)
            base = base or us
            exact = peer = "-"
            if action == "MoveAhead":
                end = start + np.array((value, 0.0))
                exact = f"{_median_us(lambda e=end: grid.path_clear(start, e), reps):.0f}"
                if value <= 1e4:  # beyond, the sampled line takes seconds to gigabytes
                    peer = (
                        f"{_median_us(lambda e=end: sampled_path_clear(grid, start, e), reps):.0f}"
                    )
            print(f"{action:12s} {value:12.3g} {us:9.0f} {us / base:8.2f} {exact:>13s} {peer:>16s}")


def main(argv: list[str] | None = None) -> int:
    """Print the throughput table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps, one scene")
    args = ap.parse_args(argv)
    scenes = SCENES[:1] if args.quick else SCENES
    n_steps, n_frames = (600, 10) if args.quick else (5000, 60)
    print(
        f"{'scene':14s} {'mode':28s} {'steps':>6s} {'rate/s':>9s} {'ok %':>6s} "
        f"{'target':>7s} {'ratio':>6s}"
    )
    for scene in scenes:
        rows = [
            ("no rendering, occlusion", n_steps, 500.0, {}),
            ("no rendering, no occlusion", n_steps, 2000.0, {"occlusion": False}),
            (
                "depth+seg 300x300",
                n_frames,
                10.0,
                {"render_depth_image": True, "render_instance_segmentation": True},
            ),
            ("depth only 300x300", n_frames, 10.0, {"render_depth_image": True}),
        ]
        for mode, n, target, kw in rows:
            rate, ok = bench_steps(scene, n, **kw)
            print(
                f"{scene:14s} {mode:28s} {n:6d} {rate:9.1f} {100 * ok:6.1f} "
                f"{target:7.0f} {rate / target:6.2f}"
            )
    bench_magnitudes(50 if args.quick else 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
