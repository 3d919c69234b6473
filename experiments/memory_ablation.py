"""The experiment that shows what memory is worth, with the symbolic planner on the offline
simulator (the agent sees only what it sees):

1. memory none / stm / ltm / full on the simple, composite, complex and streams suites;
2. experience memory off / on, full memory, on the task streams;
3. the five short-term replacement policies on the task streams, memory `stm` (the planner
   knows only what the short-term buffer holds) with a buffer of --capacity records, ranked
   by memory hit rate and steps.

Every run goes into its own resumable folder under --out (an interrupted ablation goes on
where it stopped); the tables (ratios to the first run of each group) are printed and written
to --out/ablation.md, one comparison plot per group to --plots.

Run: .venv/bin/python experiments/memory_ablation.py [--suites simple composite complex streams]
     [--workers 2] [--episodes N] [--capacity 32] [--out runs/ablation] [--plots docs]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from embodmem.config import CHOICES as MEMORY_CHOICES
from embodmem.planning.scope import SCOPES
from embodmem.store import atomic_write
from sim.runner import RunConfig, run_suite
from sim.runner.compare import compare
from sim.runner.plots import plot_runs

SUITES = ("simple", "composite", "complex", "streams")
POLICIES = MEMORY_CHOICES["short_term_policy"]


def group(
    name: str, configs: list[tuple[str, RunConfig]], out: Path, plots: Path, report: list[str]
) -> dict[str, Any]:
    """Run each configuration into out/<label>, print and record the comparison."""
    dirs = []
    for label, config in configs:
        t0 = time.perf_counter()
        run_suite(config, out / label, progress=True)
        print(f"{label}: {time.perf_counter() - t0:.0f} s")
        dirs.append(out / label)
    text, runs = compare(dirs)
    plot = plot_runs(runs, plots / f"ablation-{name}.png")
    section = f"### {name}\n\nRatios to `{configs[0][0]}`.\n\n{text}\n\nPlot: `{plot}`\n"
    print("\n" + section)
    report.append(section)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--episodes", type=int, default=None)
    ap.add_argument("--capacity", type=int, default=32, help="short-term buffer (policies)")
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--plots", type=Path, default=Path("docs"))
    args = ap.parse_args()
    args.plots.mkdir(parents=True, exist_ok=True)
    base = RunConfig(workers=args.workers, episodes=args.episodes)
    report: list[str] = ["## Memory ablation (experiments/memory_ablation.py)\n"]
    overview: dict[str, dict[str, Any]] = {f"memory={m}": {} for m in SCOPES}
    for suite in args.suites:
        configs = [(f"{suite}-{m}", replace(base, suite=suite, memory=m)) for m in SCOPES]
        runs = group(suite, configs, args.out, args.plots, report)
        for m, table in zip(SCOPES, runs.values(), strict=True):
            overview[f"memory={m}"][suite] = table["all"]
    print(f"wrote {plot_runs(overview, args.plots / 'ablation-overview.png')}")
    if "streams" in args.suites:
        configs = [
            (f"streams-experience-{e}", replace(base, suite="streams", experience=e))
            for e in ("off", "on")
        ]
        group("experience", configs, args.out, args.plots, report)
        configs = [
            (
                f"streams-stm{args.capacity}-{p}",
                replace(base, suite="streams", memory="stm", policy=p, capacity=args.capacity),
            )
            for p in POLICIES
        ]
        runs = group("policies", configs, args.out, args.plots, report)
        ranked = sorted(
            runs.items(), key=lambda kv: (-kv[1]["all"]["memory_hit_rate"], kv[1]["all"]["steps"])
        )
        lines = ["Policies ranked by hit rate, then steps:", ""]
        for rank, (label, table) in enumerate(ranked, 1):
            row = table["all"]
            lines.append(
                f"{rank}. {label}: hit rate {100 * row['memory_hit_rate']:.1f} %, "
                f"steps {row['steps']:.1f}, task SR {100 * row['task_SR']:.1f} %"
            )
        print("\n".join(lines))
        report.append("\n".join(lines) + "\n")
    path = args.out / "ablation.md"
    atomic_write(path, "\n".join(report).encode())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
