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
- `complex`: an ALFRED task (heat / cool / clean / pick-and-place, whole objects), then a task
  that names its object only by reference to it (`sim.tasks.references`): "Put the fruit you
  cooled back where it was" (`return_object`) or "Put the fruit you cooled in the bowl"
  (`place_referenced`, a receptacle type of the scene the object may go in, other than where
  the first task put it). Pick-and-place tasks give "the ... you moved" and only return_object.
- `streams`: `STREAM_LENGTH` ALFRED tasks of one FloorPlan (different tasks, each satisfiable
  in the scene the first starts in) run one after another with the memory carried, and before
  each later task the seeded randomizer moves `SHUFFLE` of the pickupable objects (the agent is
  not told), so what long-term memory holds goes stale; `STREAMS_PER_ROOM` per room type.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import defaultdict

import orjson

from embodmem.store import atomic_write
from sim.object_types import object_types
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


# Words an instruction uses for a kind of object; the reference covers every type of the kind.
KINDS = {
    "fruit": ("Apple", "Tomato"),
    "vegetable": ("Potato", "Lettuce"),
    "dish": ("Mug", "Cup", "Bowl", "Plate"),
    "cookware": ("Pan", "Pot", "Kettle"),
    "utensil": ("Fork", "Spoon", "Knife", "ButterKnife", "Spatula", "Ladle"),
}
VERBS = {"hot": "heated", "cold": "cooled", "clean": "washed", "moved": "moved"}
HEAD_STATE = {
    "pick_heat_then_place_in_recep": "hot",
    "pick_cool_then_place_in_recep": "cold",
    "pick_clean_then_place_in_recep": "clean",
    "pick_and_place_simple": "moved",
}


def _kind(otype: str) -> tuple[str, tuple[str, ...]]:
    """The word for an object type and the types it covers ("fruit", (Apple, Tomato))."""
    for word, types in KINDS.items():
        if otype in types:
            return word, types
    return _words(otype), (otype,)


def _words(otype: str) -> str:
    return " ".join(re.findall(r"[A-Z][a-z]*", otype)).lower()


def complex_suite(seed: int) -> dict:
    """`PER_ROOM` ALFRED-task-then-reference episodes per room type (module docstring)."""
    rng = random.Random(seed)
    heads: dict[str, list[Task]] = defaultdict(list)
    for t in _pool():
        if t.task_type in HEAD_STATE and not t.goal.targets["object"].endswith("Sliced"):
            heads[_room(t.scene)].append(t)
    envs: dict[str, OfflineController] = {}
    episodes = []
    for room in ROOMS:
        candidates = sorted(heads[room], key=lambda t: t.task_id)
        rng.shuffle(candidates)
        kept = 0
        for head in candidates:
            reference = _reference_task(head, envs, rng)
            if reference is None:
                continue
            episodes.append(
                {
                    "episode_id": f"complex-{head.task_id}-{reference['reference']}",
                    "category": "complex",
                    "room": room,
                    "tasks": [head.task_id, reference],
                }
            )
            kept += 1
            if kept == PER_ROOM:
                break
    for env in envs.values():
        env.stop()
    return _header("complex", seed, episodes)


def _reference_task(
    head: Task, envs: dict[str, OfflineController], rng: random.Random
) -> dict | None:
    """The reference task following `head`, or None when the scene does not allow one (the
    head is unsatisfiable, or an object of the kind stands in no receptacle at the start, or
    already in one of the type the head puts it in)."""
    env = envs.setdefault(head.scene, OfflineController(head.scene))
    meta = start_episode(env, head).metadata
    if head.goal.unsatisfiable_reasons(meta):
        return None
    otype = head.goal.targets["object"]
    word, types = _kind(otype)
    objects = [o for o in meta["objects"] if o["objectType"] in types]
    if not objects or not all(o.get("parentReceptacles") for o in objects):
        return None
    goal_parent = head.goal.targets["parent"]
    by_id = {o["objectId"]: o["objectType"] for o in meta["objects"]}
    if any(by_id.get(p) == goal_parent for o in objects for p in o["parentReceptacles"]):
        return None  # one already stands where the task puts it: "back" would mean nothing
    state = HEAD_STATE[head.task_type]
    entry = {"source": 0, "state": state, "types": list(types)}
    present = {o["objectType"] for o in meta["objects"] if o.get("receptacle")}
    options = sorted((object_types()[otype].compatible_receptacles & present) - {goal_parent})
    if state == "moved" or not options or rng.random() < 0.5:
        how = "back where you found it" if state == "moved" else "back where it was"
        entry |= {
            "reference": "return_object",
            "instruction": f"Put the {word} you {VERBS[state]} {how}.",
        }
    else:
        parent = rng.choice(options)
        entry |= {
            "reference": "place_referenced",
            "parent": parent,
            "instruction": f"Put the {word} you {VERBS[state]} in the {_words(parent)}.",
        }
    return entry


STREAM_LENGTH = 5
STREAMS_PER_ROOM = 6
SHUFFLE = 0.3


def streams_suite(seed: int) -> dict:
    """Task streams, `STREAMS_PER_ROOM` per room type (see the module docstring)."""
    rng = random.Random(seed)
    by_scene: dict[str, list[Task]] = defaultdict(list)
    for t in _pool():
        by_scene[t.scene].append(t)
    envs: dict[str, OfflineController] = {}
    episodes = []
    for room in ROOMS:
        scenes = sorted(s for s, ts in by_scene.items() if _room(s) == room and len(ts) > 8)
        rng.shuffle(scenes)
        for scene in scenes:
            tasks = sorted(by_scene[scene], key=lambda t: t.task_id)
            rng.shuffle(tasks)
            stream = tasks[:STREAM_LENGTH]
            if not _satisfiable(stream, envs):
                continue
            episodes.append(
                {
                    "episode_id": f"stream-{scene}",
                    "category": "stream",
                    "room": room,
                    "shuffle": SHUFFLE,
                    "tasks": [t.task_id for t in stream],
                }
            )
            if sum(e["room"] == room for e in episodes) == STREAMS_PER_ROOM:
                break
    for env in envs.values():
        env.stop()
    return _header("streams", seed, episodes)


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
    suites = (simple_suite, composite_suite, complex_suite, streams_suite)
    for doc in (make(args.seed) for make in suites):
        path = SUITE_DIR / f"{doc['name']}.json"
        atomic_write(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {path} ({len(doc['episodes'])} episodes)")


if __name__ == "__main__":
    main()
