"""Planner-context size vs recall on ALFRED tasks in the real iTHOR scenes (train / valid_seen).

For each ALFRED task: a memory of its FloorPlan (the ai2thor 5.0.0 initial state, every
object), then `EmbodiedMemory.context(task)` in each mode. Reported: tokens (cl100k_base) of
`collapsed` / `retrieved` against `full` (the whole scene graph: states, positions, every
relation) and against `hierarchy` (objects nested by on/in only), and recall of the objects the
task's expert plan acts on (the object types of the high-level PDDL actions' objectId,
receptacleObjectId and cleanObjectId; "AppleSliced" counts as "Apple"; types the 5.0.0 scene
does not contain are left out and counted). An object type is recalled when a node of that type
is named by id in the context. Task text: the person's goal sentence alone ("goal"), or with
their step-by-step instructions, one a line ("goal+steps"), as an ALFRED agent receives them.

Protocol: settings and the lexicon are chosen on the 1,200 train tasks only (`--sweep`, and
`--misses` which lists what the train split misses); valid_seen (251 tasks, vendored) is then
reported as is. Rule for the defaults (MemoryConfig.context_*): the highest train recall of
`retrieved` (goal+steps, no budget, MiniLM) among settings with at least 81 % fewer tokens than
`hierarchy` (one point of margin over the 80 % goal; every setting is > 93 % below `full`).
The train sample is read from ../shared/data/alfred beside the repository (not shipped).

    .venv/bin/python experiments/context_tokens.py                  # both splits, both embedders
    .venv/bin/python experiments/context_tokens.py --split train --sweep --embedders minilm
    .venv/bin/python experiments/context_tokens.py --split train --misses 25
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from embodmem import EmbodiedMemory, MemoryConfig
from embodmem.context import clauses
from embodmem.embedders import make_embedder
from sim.scenes import scene_objects
from sim.tasks.alfred import ALFRED_VALID_SEEN, Task, task_from_traj
from sim.thor import observation_from_metadata, region_of_scene

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "alfred" / "train_sample.jsonl"
ID_KEYS = ("objectId", "receptacleObjectId", "cleanObjectId")
MODES = ("retrieved", "collapsed")
TEXTS = {
    "goal": lambda t: t.instruction,
    "goal+steps": lambda t: "\n".join([t.instruction, *t.step_instructions]),
}


class CachedEmbedder:
    """Memoizes another embedder by text, so the per-scene memories share embeddings."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            self.cache.update(zip(new, self.inner.embed(new), strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else self.inner.embed([])

    def warm(self, tasks: list[tuple[Task, set[str]]]) -> None:
        """Embed every clause of every task text in one batch (the memory embeds one at a
        time), so the timings below measure context building rather than query embedding."""
        self.embed([c for t, _ in tasks for text in TEXTS.values() for c in clauses(text(t))])


def object_type(object_id: str) -> str:
    """THOR type of an object id ("Sink|..|SinkBasin" -> "SinkBasin"; slices -> the whole)."""
    parts = object_id.split("|")
    name = parts[-1] if len(parts) > 4 else parts[0]
    name = name.split("_")[0]
    return name.removesuffix("Sliced")


def needed_types(traj: dict) -> set[str]:
    out = set()
    for step in traj["high_pddl"]:
        action = step["planner_action"]
        out |= {object_type(action[k]) for k in ID_KEYS if isinstance(action.get(k), str)}
    return out


def load_split(path: Path) -> list[tuple[Task, set[str]]]:
    """(task, object types its expert plan acts on) for every trajectory of a JSONL file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        trajs = [json.loads(line) for line in fh if line.strip()]
    return [
        (task_from_traj(tr, f"{path.name}:{i + 1}"), needed_types(tr)) for i, tr in enumerate(trajs)
    ]


def memory_of(scene: str, config: MemoryConfig, embedder) -> EmbodiedMemory:
    mem = EmbodiedMemory(config, embedder=embedder)
    obs = observation_from_metadata(scene_objects(scene), time_ns=1)
    mem.integrate(obs.__class__(obs.time_ns, obs.objects, region=region_of_scene(scene)))
    return mem


@dataclass
class Row:
    tokens: list[int] = field(default_factory=list)
    full: list[int] = field(default_factory=list)
    hierarchy: list[int] = field(default_factory=list)
    found: list[int] = field(default_factory=list)
    need: list[int] = field(default_factory=list)

    def add(self, tokens: int, refs: tuple[int, int], found: int, need: int) -> None:
        self.tokens.append(tokens)
        self.full.append(refs[0])
        self.hierarchy.append(refs[1])
        self.found.append(found)
        self.need.append(need)

    def recall(self) -> float:
        return sum(self.found) / max(1, sum(self.need))

    def fewer(self, ref: str) -> float:
        return 1 - statistics.mean(self.tokens) / statistics.mean(getattr(self, ref))

    def complete(self) -> float:
        return sum(f == n for f, n in zip(self.found, self.need, strict=True)) / len(self.need)


def evaluate(
    tasks: list[tuple[Task, set[str]]],
    config: MemoryConfig,
    embedder,
    cases: list[tuple[str, str, int | None]],
    misses: Counter | None = None,
) -> tuple[dict[tuple[str, str, int | None], Row], int, int]:
    """Rows per (task text, mode, budget), needed types present, and those absent."""
    rows = {case: Row() for case in [("-", "full", None), ("-", "hierarchy", None), *cases]}
    memories: dict[str, tuple[EmbodiedMemory, set[str], tuple[int, int]]] = {}
    absent = present_total = 0
    for task, needed in tasks:
        if task.scene not in memories:
            mem = memory_of(task.scene, config, embedder)
            refs = tuple(
                mem.context("whole scene", budget_tokens=None, mode=m).token_count
                for m in ("full", "hierarchy")
            )
            memories[task.scene] = (mem, {n.label for n in mem.scene_graph.objects()}, refs)
        mem, labels, refs = memories[task.scene]
        need = needed & labels
        absent += len(needed - labels)
        present_total += len(need)
        rows[("-", "full", None)].add(refs[0], refs, len(need), len(need))
        rows[("-", "hierarchy", None)].add(refs[1], refs, len(need), len(need))
        for variant, mode, budget in cases:
            ctx = mem.context(TEXTS[variant](task), budget_tokens=budget, mode=mode)
            shown = {mem.scene_graph.node(n).label for n in ctx.node_ids}
            rows[(variant, mode, budget)].add(ctx.token_count, refs, len(need & shown), len(need))
            if misses is not None and (mode, budget) == ("retrieved", cases[-1][2]):
                misses.update((variant, label) for label in need - shown)
    return rows, present_total, absent


def print_table(rows: dict[tuple[str, str, int | None], Row]) -> None:
    head = (
        f"{'task text':<11} {'mode':<10} {'budget':>6} {'mean tok':>9} {'median':>7} "
        f"{'fewer than full':>16} {'fewer than hier.':>17} {'recall':>7} {'tasks 100%':>10}"
    )
    print(head)
    print("-" * len(head))
    for (variant, mode, budget), r in rows.items():
        print(
            f"{variant:<11} {mode:<10} {budget or 'none':>6} {statistics.mean(r.tokens):>9.1f} "
            f"{statistics.median(r.tokens):>7.0f} {r.fewer('full'):>16.1%} "
            f"{r.fewer('hierarchy'):>17.1%} {r.recall():>7.3f} {r.complete():>10.1%}"
        )


def sweep(tasks: list[tuple[Task, set[str]]], embedder) -> None:
    """Recall and size of `retrieved` (goal+steps, no budget) over the selection settings."""
    print(
        f"{'per_clause':>10} {'relative':>8} {'min_sim':>7} {'mean tok':>9} "
        f"{'fewer than full':>16} {'fewer than hier.':>17} {'recall':>7}"
    )
    base = MemoryConfig()
    case = ("goal+steps", "retrieved", None)
    for per_clause, relative, min_sim in itertools.product(
        (1, 2, 3, 4, 6), (0.7, 0.8, 0.9), (0.3, 0.4, 0.5)
    ):
        config = replace(
            base,
            context_per_clause=per_clause,
            context_relative=relative,
            context_min_similarity=min_sim,
        )
        r = evaluate(tasks, config, embedder, [case])[0][case]
        print(
            f"{per_clause:>10} {relative:>8.2f} {min_sim:>7.2f} "
            f"{statistics.mean(r.tokens):>9.1f} {r.fewer('full'):>16.1%} "
            f"{r.fewer('hierarchy'):>17.1%} {r.recall():>7.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="both", choices=["train", "valid_seen", "both"])
    parser.add_argument("--train-path", type=Path, default=TRAIN)
    parser.add_argument(
        "--embedders", nargs="+", default=["minilm", "hashing"], choices=["minilm", "hashing"]
    )
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[80, 120, 1500], help="0 = no limit"
    )
    parser.add_argument("--limit", type=int, default=0, help="first N tasks only (0 = all)")
    parser.add_argument("--sweep", action="store_true", help="train only: selection settings")
    parser.add_argument("--misses", type=int, default=0, help="train only: top N missed types")
    args = parser.parse_args()

    splits = ["train", "valid_seen"] if args.split == "both" else [args.split]
    if (args.sweep or args.misses) and splits != ["train"]:
        parser.error("--sweep and --misses look at the train split only (use --split train)")
    paths = {"train": args.train_path, "valid_seen": ALFRED_VALID_SEEN}
    cases = [
        (variant, mode, budget or None)
        for variant in TEXTS
        for mode in MODES
        for budget in args.budgets
    ]
    for split in splits:
        if not paths[split].is_file():
            print(f"{split}: {paths[split]} not found, skipped")
            continue
        tasks = load_split(paths[split])
        if args.limit:
            tasks = tasks[: args.limit]
        for name in args.embedders:
            embedder = CachedEmbedder(make_embedder(name))
            embedder.warm(tasks)
            if args.sweep:
                sweep(tasks, embedder)
                continue
            misses: Counter | None = Counter() if args.misses else None
            start = time.perf_counter()
            rows, present, absent = evaluate(tasks, MemoryConfig(), embedder, cases, misses)
            elapsed = time.perf_counter() - start
            print(
                f"\nALFRED {split}: {len(tasks)} tasks, embedder {embedder.name}, "
                f"tokenizer cl100k_base, {elapsed:.0f} s"
            )
            print(
                f"needed object types present in the 5.0.0 scenes: {present} "
                f"({absent} more named by ALFRED but absent from the scene: left out)"
            )
            print_table(rows)
            if misses:
                budget = cases[-1][2] or "none"
                print(f"most missed types (retrieved, budget {budget}; task text, type: tasks):")
                for (variant, label), n in misses.most_common(args.misses):
                    print(f"  {variant:<11} {label:<16} {n}")


if __name__ == "__main__":
    main()
