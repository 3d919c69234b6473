"""Hostile-input fuzzing of every public entry point: cases tried and promises broken.

Each entry point gets N hypothesis-generated cases (tests/hostile.py: real FloorPlan1 metadata
and real snapshots with random hostile edits, corrupted bytes, hostile controller steps and
command lines). A case is "accepted" or "rejected" (an EmbodmemError / ValueError that changed
nothing); a "failure" is any broken promise: another exception, a change made by a rejected
input, an accepted input that left the memory unsavable or unusable, altered data loaded
without an error, a file the command did not own touched. Prints one table (the README's).

    .venv/bin/python experiments/fuzz_entry_points.py [--cases N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embodmem.tables import format_table
from tests import hostile as h


def run(name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], str], n: int) -> dict:
    """Run `n` cases, counting outcomes and distinct failure messages."""
    counts: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(strategy)
    def one(case: Any) -> None:
        try:
            counts[check(case)] += 1
        except h.PropertyViolation as exc:
            counts["failed"] += 1
            text = re.sub(r"/tmp/[^/\s']+", "TMP", str(exc))
            kinds[text.split(":")[0] + ":" + text.split(":", 2)[-1][:90]] += 1

    start = time.perf_counter()
    one()
    return {
        "name": name,
        "counts": counts,
        "kinds": kinds,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per entry point")
    parser.add_argument("--only", nargs="*", help="entry points whose name contains one of these")
    args = parser.parse_args()
    results = []
    for name, (strategy, check) in h.entry_points().items():
        if args.only and not any(o in name for o in args.only):
            continue
        res = run(name, strategy, check, args.cases)
        results.append(res)
        c = res["counts"]
        print(
            f"{name}: {sum(c.values())} cases, {c['failed']} failures ({res['seconds']:.0f} s)",
            flush=True,
        )
        for kind, count in res["kinds"].most_common(5):
            print(f"    {count:5d}  {kind}")
    rows = [
        (
            r["name"],
            sum(r["counts"].values()),
            r["counts"]["accepted"],
            r["counts"]["rejected"],
            r["counts"]["failed"],
        )
        for r in results
    ]
    print()
    print(format_table(["entry point", "cases", "accepted", "rejected", "failures"], rows))


if __name__ == "__main__":
    main()
