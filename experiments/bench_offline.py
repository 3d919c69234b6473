"""Throughput of the offline THOR simulator: non-rendering steps/s over a navigation +
interaction mix, and rendering frames/s at 300x300 (depth + instance segmentation).

Run: .venv/bin/python experiments/bench_offline.py [--quick]
Targets: >= 2,000 non-rendering steps/s, >= 10 rendered frames/s; the ratio column is
measured / target.
"""

from __future__ import annotations

import argparse
import sys
import time

from sim.offline import OfflineController

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
        ok += bool(ctl.step(cycle[i % len(cycle)]))
    return n / (time.perf_counter() - t0), ok / n


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
            ("no rendering", n_steps, 2000.0, {}),
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
