"""Planner-context size vs recall on the ALFRED valid-seen tasks (real iTHOR scenes).

For each of the 251 vendored ALFRED valid-seen tasks: a memory of its FloorPlan (the ai2thor
5.0.0 initial state, every object), then `EmbodiedMemory.context(task)` in each mode. Reported:
tokens (cl100k_base) of `collapsed` / `retrieved` against `full`, and recall of the objects the
task's expert plan acts on (the object types of the high-level PDDL actions' objectId,
receptacleObjectId and cleanObjectId; "AppleSliced" counts as "Apple"; types the 5.0.0 scene
does not contain are left out and counted). An object type is recalled when a node of that type
is named by id in the context. Task text: the person's goal sentence alone ("goal"), or with
their step-by-step instructions, one a line ("goal+steps"), as an ALFRED agent receives them.

    .venv/bin/python experiments/context_tokens.py                # MiniLM, all 251 tasks
    .venv/bin/python experiments/context_tokens.py --embedder hashing --limit 60
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from collections.abc import Sequence

import numpy as np

from embodmem import EmbodiedMemory, MemoryConfig
from embodmem.embedders import make_embedder
from sim.scenes import scene_objects
from sim.tasks.alfred import ALFRED_VALID_SEEN
from sim.thor import observation_from_metadata, region_of_scene

ID_KEYS = ("objectId", "receptacleObjectId", "cleanObjectId")


class CachedEmbedder:
    """Memoizes another embedder by text, so the per-task memories share embeddings."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            self.cache.update(zip(new, self.inner.embed(new), strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else self.inner.embed([])


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


def memory_of(scene: str, embedder) -> EmbodiedMemory:
    mem = EmbodiedMemory(MemoryConfig(), embedder=embedder)
    obs = observation_from_metadata(scene_objects(scene), time_ns=1)
    mem.integrate(obs.__class__(obs.time_ns, obs.objects, region=region_of_scene(scene)))
    return mem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[80, 120, 1500], help="0 = no limit"
    )
    parser.add_argument("--limit", type=int, default=0, help="first N tasks only (0 = all)")
    args = parser.parse_args()

    with gzip.open(ALFRED_VALID_SEEN, "rt", encoding="utf-8") as fh:
        trajs = [json.loads(line) for line in fh if line.strip()]
    if args.limit:
        trajs = trajs[: args.limit]
    embedder = CachedEmbedder(make_embedder(args.embedder))
    texts = {
        "goal": lambda tr: tr["annotations"][0]["task_desc"],
        "goal+steps": lambda tr: "\n".join(
            [tr["annotations"][0]["task_desc"], *tr["annotations"][0]["high_descs"]]
        ),
    }
    rows: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    missing_types = needed_total = 0
    start = time.perf_counter()
    for traj in trajs:
        scene = f"FloorPlan{int(traj['scene']['floor_plan'].removeprefix('FloorPlan'))}"
        mem = memory_of(scene, embedder)
        present = {n.label for n in mem.scene_graph.objects()}
        need = needed_types(traj)
        missing_types += len(need - present)
        need &= present
        needed_total += len(need)
        full = mem.context("full scene", budget_tokens=None, mode="full")
        cases = [("-", "full", None, full)]
        for variant, text_of in texts.items():
            for mode in ("retrieved", "collapsed"):
                for budget in args.budgets:
                    ctx = mem.context(text_of(traj), budget_tokens=budget or None, mode=mode)
                    cases.append((variant, mode, str(budget or "none"), ctx))
        for variant, mode, budget, ctx in cases:
            shown = {mem.scene_graph.node(n).label for n in ctx.node_ids}
            r = rows.setdefault(
                (variant, mode, budget or "none"), {"tokens": [], "found": [], "need": []}
            )
            r["tokens"].append(ctx.token_count)
            r["found"].append(len(need & shown))
            r["need"].append(len(need))
    elapsed = time.perf_counter() - start

    print(
        f"ALFRED valid_seen: {len(trajs)} tasks, embedder {embedder.name}, "
        f"tokenizer cl100k_base, {elapsed:.0f} s"
    )
    print(
        f"needed object types present in the 5.0.0 scenes: {needed_total} "
        f"({missing_types} more named by ALFRED but absent from the scene: left out)"
    )
    head = (
        f"{'task text':<11} {'mode':<10} {'budget':>6} {'mean tok':>9} {'median':>7} "
        f"{'fewer than full':>16} {'recall':>7} {'tasks 100%':>10}"
    )
    print(head)
    print("-" * len(head))
    full_mean = statistics.mean(rows[("-", "full", "none")]["tokens"])
    for (variant, mode, budget), r in rows.items():
        mean = statistics.mean(r["tokens"])
        recall = sum(r["found"]) / max(1, sum(r["need"]))
        complete = sum(f == n for f, n in zip(r["found"], r["need"], strict=True)) / len(r["need"])
        print(
            f"{variant:<11} {mode:<10} {budget:>6} {mean:>9.1f} "
            f"{statistics.median(r['tokens']):>7.0f} {1 - mean / full_mean:>16.1%} "
            f"{recall:>7.3f} {complete:>10.1%}"
        )


if __name__ == "__main__":
    main()
