"""Write the shipped suite files: `python -m sim.suites.generate` (deterministic; `--seed`).

- `alfred-valid-seen`, `alfred-train-sample`: every task of the vendored split once, in the
  split's order, one task per episode.
- `simple`: one ALFRED task per episode, `PER_ROOM` episodes from each room type (kitchens,
  living rooms, bedrooms, bathrooms), drawn with the seed from valid-seen and the train sample.
- `composite`: 2-4 ALFRED tasks of one FloorPlan on the same object type, in one episode
  (the scene is restored for the first task only; the later ones go on from there, so they
  depend on where the earlier ones left the object): "heat the apple", then "put the apple in
  the fridge". Every later task must be satisfiable in the first task's scene (checked here on
  the offline simulator), and the task types in a chain differ.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict

import orjson

from embodmem.store import atomic_write
from sim.offline import OfflineController
from sim.suites import FORMAT, SOURCES, SUITE_DIR, VERSION
from sim.tasks.alfred import Task, load_alfred
from sim.tasks.episode import start_episode
from sim.thor import region_of_scene

SPLIT_SUITES = {
    "alfred-valid-seen": "alfred/valid_seen",
    "alfred-train-sample": "alfred/train_sample",
}


def split_suite(name: str, source: str, seed: int) -> dict:
    """One episode per task of an ALFRED split, in its order."""
    tasks = load_alfred(SOURCES[source])
    episodes = [
        {"episode_id": t.task_id, "category": "simple", "tasks": [t.task_id]} for t in tasks
    ]
    return _header(name, seed, episodes, source)


PER_ROOM = 12
ROOMS = ("kitchen", "living_room", "bedroom", "bathroom")
POOL = ("alfred/valid_seen", "alfred/train_sample")


def _pool() -> list[Task]:
    return [t for source in POOL for t in load_alfred(SOURCES[source])]


def _room(scene: str) -> str:
    return region_of_scene(scene) or ""


def _header(name: str, seed: int, episodes: list[dict], source: str | list[str] = POOL) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "source": source if isinstance(source, str) else list(source),
        "seed": seed,
        "generator": "python -m sim.suites.generate",
        "episodes": episodes,
    }


def simple_suite(seed: int) -> dict:
    """`PER_ROOM` single-task episodes per room type."""
    rng = random.Random(seed)
    by_room: dict[str, list[Task]] = defaultdict(list)
    for t in _pool():
        by_room[_room(t.scene)].append(t)
    episodes = []
    for room in ROOMS:
        for t in rng.sample(by_room[room], PER_ROOM):
            episodes.append(
                {
                    "episode_id": f"simple-{t.task_id}",
                    "category": "simple",
                    "room": room,
                    "tasks": [t.task_id],
                }
            )
    return _header("simple", seed, episodes)


def composite_suite(seed: int) -> dict:
    """`PER_ROOM` chains of 2-4 same-object tasks per room type (see the module docstring)."""
    rng = random.Random(seed)
    chains: dict[str, list[list[Task]]] = defaultdict(list)
    groups: dict[tuple[str, str], list[Task]] = defaultdict(list)
    for t in _pool():
        groups[(t.scene, t.goal.targets["object"].removesuffix("Sliced"))].append(t)
    for (scene, _), tasks in sorted(groups.items()):
        by_type: dict[str, list[Task]] = defaultdict(list)
        for t in tasks:
            by_type[t.task_type].append(t)
        if len(by_type) >= 2:
            chains[_room(scene)].append([by_type[k][0] for k in sorted(by_type)])
    episodes = []
    envs: dict[str, OfflineController] = {}
    for room in ROOMS:
        candidates = chains[room]
        rng.shuffle(candidates)
        kept = 0
        for chain in candidates:
            rng.shuffle(chain)
            chain = chain[: rng.randint(2, min(4, len(chain)))]
            if not _satisfiable(chain, envs):
                continue
            head = chain[0]
            obj = head.goal.targets["object"].removesuffix("Sliced")
            episodes.append(
                {
                    "episode_id": f"composite-{head.scene}-{obj}-{len(chain)}",
                    "category": "composite",
                    "room": room,
                    "tasks": [t.task_id for t in chain],
                }
            )
            kept += 1
            if kept == PER_ROOM:
                break
    for env in envs.values():
        env.stop()
    return _header("composite", seed, episodes)


def _satisfiable(chain: list[Task], envs: dict[str, OfflineController]) -> bool:
    """Every later task's goal can be reached in the scene the first task starts in."""
    head = chain[0]
    env = envs.setdefault(head.scene, OfflineController(head.scene))
    meta = start_episode(env, head).metadata
    return all(not t.goal.unsatisfiable_reasons(meta) for t in chain)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name, source in SPLIT_SUITES.items():
        doc = split_suite(name, source, args.seed)
        path = SUITE_DIR / f"{name}.json"
        atomic_write(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {path} ({len(doc['episodes'])} episodes)")
    for doc in (simple_suite(args.seed), composite_suite(args.seed)):
        path = SUITE_DIR / f"{doc['name']}.json"
        atomic_write(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {path} ({len(doc['episodes'])} episodes)")


if __name__ == "__main__":
    main()
