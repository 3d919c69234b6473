"""Fidelity of the offline simulator against real ai2thor 5.0.0 episodes.

Each recorded episode (../shared/data/ithor/episodes/*.jsonl beside the repository) starts the
offline controller from its first step's metadata and replays the actions; the table shows, per
episode, how many of the compared fields (lastActionSuccess, and the states / positions of every
object the real step changed) agree.
Run: .venv/bin/python experiments/offline_fidelity.py [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sim.offline.fidelity import Agreement, replay

EPISODES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ithor" / "episodes"


def load(path: Path) -> list[dict]:
    """Steps of one recorded episode."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """Print the agreement table; exit status 1 when overall agreement is below 95%."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=Path, default=EPISODES)
    ap.add_argument("--verbose", action="store_true", help="list the mismatching fields")
    args = ap.parse_args(argv)
    paths = sorted(args.episodes.glob("*.jsonl"))
    if not paths:
        print(f"no episodes under {args.episodes}")
        return 1
    total = Agreement()
    print(f"{'episode':42s} {'steps':>5s} {'compared':>8s} {'equal':>6s} {'%':>7s}")
    for path in paths:
        res = replay(load(path))
        print(
            f"{path.stem:42s} {res.steps:5d} {res.compared:8d} {res.equal:6d} {res.percent:6.1f}%"
        )
        if args.verbose:
            for m in res.mismatches:
                print(f"    {m}")
        total.add(res)
    print(
        f"{'overall':42s} {total.steps:5d} {total.compared:8d} {total.equal:6d} "
        f"{total.percent:6.1f}%"
    )
    plain = Agreement()
    for path in paths:
        plain.add(replay(load(path), occlusion=False))
    for name, agg in (("with occlusion", total), ("without occlusion", plain)):
        print(
            f"\nvisible flag {name} (object-steps): precision {agg.visible_precision:.3f}, "
            f"recall {agg.visible_recall:.3f} ({agg.visible_real} visible in THOR, "
            f"{agg.visible_sim} here)"
        )
    print(f"agent pose equal after {total.pose_equal} of {total.steps} steps")
    return 0 if total.percent >= 95.0 else 1


if __name__ == "__main__":
    sys.exit(main())
