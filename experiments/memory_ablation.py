"""The memory ablation of `embodmem run-suite`: memory none / stm / ltm / full on each category
suite with the symbolic planner, printed side by side with ratios to `none` (and a plot).

Each configuration runs into its own resumable folder under --out, so an interrupted ablation
goes on where it stopped.

Run: .venv/bin/python experiments/memory_ablation.py [--suites simple composite]
     [--memory none stm ltm full] [--workers 2] [--episodes N] [--out runs/ablation]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from embodmem.planning.scope import SCOPES
from sim.runner import RunConfig, run_suite
from sim.runner.compare import compare
from sim.runner.plots import plot_runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", nargs="+", default=["simple", "composite"])
    ap.add_argument("--memory", nargs="+", choices=SCOPES, default=list(SCOPES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--episodes", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = ap.parse_args()
    for suite in args.suites:
        dirs = []
        for memory in args.memory:
            config = RunConfig(
                suite=suite, memory=memory, workers=args.workers, episodes=args.episodes
            )
            out = args.out / f"{suite}-{memory}"
            run_suite(config, out, progress=True)
            dirs.append(out)
        text, runs = compare(dirs)
        print(f"\n{suite}: ratios to memory={args.memory[0]}")
        print(text)
        print(f"wrote {plot_runs(runs, args.out / f'{suite}.png')}")


if __name__ == "__main__":
    main()
