"""Accuracy and speed of geometric on/in inference against AI2-THOR's own `parentReceptacles`.

For every pickupable or moveable object of the 120 iTHOR scenes (initial states, ai2thor 5.0.0):
  precision = predicted direct parents that appear in the object's parentReceptacles list,
  recall    = listed receptacles reachable through the predicted on/in chain from the object.
Both micro-averaged, per scene type and overall, for `embodmem.relations` (batch), for the
full pipeline (`EmbodiedMemory.integrate`, incremental scene graph) and for a plain
axis-aligned-box baseline run on the same bodies. THOR's list is read here only, never by the
library. Then timings on a 2,000-object house (scenes laid side by side), and with `--sweep`
the accuracy as each tolerance of `embodmem.relations` moves around its default.

    .venv/bin/python experiments/relation_accuracy.py [--data DIR] [--misses N] [--sweep]

`--data` reads FloorPlan*_physics.json from a folder (default: the vendored copies in sim.scenes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embodmem import EmbodiedMemory, relations
from embodmem.relations import Body, RelationIndex, body_from_object, infer_relations, make_body
from sim.scenes import scene_names, scene_number, scene_objects
from sim.thor import observation_from_metadata

SCENE_TYPES = (
    ("kitchens", 1, 30),
    ("living rooms", 201, 230),
    ("bedrooms", 301, 330),
    ("bathrooms", 401, 430),
)
SWEEP = {
    "SINK_TOL": (0.03, 0.05, 0.08, 0.12),
    "LIFT_TOL": (0.005, 0.01, 0.02, 0.03),
    "TOP_TIE": (0.0, 0.01, 0.015, 0.03),
    "MIN_SUPPORT_COVER": (0.3, 0.5, 0.7),
    "MIN_INSIDE_FRACTION": (0.3, 0.5, 0.7),
    "MIN_WEAK_COVER": (0.0, 0.1, 0.3),
    "PART_FRACTION": (0.3, 0.5, 0.9),
}
Parents = dict[str, tuple[str, str]]


def load_scene(scene: str, data: Path | None = None) -> dict[str, dict[str, Any]]:
    """Object metadata of one scene, from `data` when given, else the vendored copy."""
    if data is None:
        return scene_objects(scene)
    return json.loads((data / f"FloorPlan{scene_number(scene)}_physics.json").read_text())


def scene_bodies(objects: Mapping[str, Mapping[str, Any]]) -> list[Body]:
    """Bodies of all objects of a scene dump, keyed by objectId."""
    obs = observation_from_metadata(objects)
    return [body_from_object(o.id_hint or o.label, o) for o in obs.objects]


def relation_parents(bodies: Sequence[Body]) -> Parents:
    """child -> (kind, parent) from `embodmem.relations`."""
    return {c: (k, p) for c, k, p in infer_relations(bodies) if k != "near"}


def memory_parents(objects: Mapping[str, Mapping[str, Any]]) -> Parents:
    """child -> (kind, parent) as the full pipeline keeps them: the scene dump integrated into an
    `EmbodiedMemory` (incremental scene graph), mapped back to THOR objectIds."""
    mem = EmbodiedMemory()
    mem.integrate(observation_from_metadata(objects))
    g = mem.scene_graph
    source = {n.node_id: n.source_id for n in g.objects()}
    return {source[c]: (k, source[p]) for c, k, p in g.relations() if k in ("on", "in")}


def baseline_parents(bodies: Sequence[Body]) -> Parents:
    """Plain AABB heuristic: the smallest receptacle box whose xy span holds the child's centre
    and whose vertical span (plus 5 cm above its top) holds the child's bottom."""
    out: Parents = {}
    for c in bodies:
        cx, cy = (c.lo[:2] + c.hi[:2]) / 2
        best: tuple[float, Body] | None = None
        for p in bodies:
            if p.key == c.key or not p.receptacle:
                continue
            if not (p.lo[0] <= cx <= p.hi[0] and p.lo[1] <= cy <= p.hi[1]):
                continue
            if not (p.lo[2] - 0.02 <= c.lo[2] <= p.hi[2] + 0.05):
                continue
            vol = float((p.hi - p.lo).prod())
            if best is None or vol < best[0]:
                best = (vol, p)
        if best is not None:
            out[c.key] = ("in" if c.lo[2] < best[1].hi[2] - 0.02 else "on", best[1].key)
    return out


def score(objects: Mapping[str, Mapping[str, Any]], parents: Parents) -> Counter[str]:
    """Counts for precision/recall over the scene's pickupable and moveable objects."""
    n: Counter[str] = Counter()
    for oid, o in objects.items():
        if not (o.get("pickupable") or o.get("moveable")):
            continue
        truth = set(o.get("parentReceptacles") or ())
        n["objects"] += 1
        if oid in parents:
            n["predicted"] += 1
            n["correct"] += parents[oid][1] in truth
        chain, k = set(), oid
        while k in parents and parents[k][1] not in chain:
            k = parents[k][1]
            chain.add(k)
        n["listed"] += len(truth)
        n["reached"] += len(truth & chain)
    return n


def misses(objects: Mapping[str, Mapping[str, Any]], parents: Parents) -> list[str]:
    """One line per scored object whose direct parent disagrees with THOR's list."""
    out = []
    for oid, o in objects.items():
        if not (o.get("pickupable") or o.get("moveable")):
            continue
        truth = sorted(o.get("parentReceptacles") or ())
        got = parents.get(oid)
        if (got is None) != (not truth) or (got is not None and got[1] not in truth):
            out.append(f"{oid}: predicted {got}, THOR {truth}")
    return out


def ratios(n: Counter[str]) -> tuple[float, float]:
    """(precision, recall) of summed counts."""
    return n["correct"] / max(n["predicted"], 1), n["reached"] / max(n["listed"], 1)


def table(per_scene: Mapping[str, Counter[str]]) -> list[tuple[str, int, int, float, float]]:
    """Rows (group, scenes, scored objects, precision, recall) per scene type and overall."""
    rows = []
    for name, lo, hi in (*SCENE_TYPES, ("all", 0, 10_000)):
        group = [n for s, n in per_scene.items() if lo <= scene_number(s) <= hi]
        total = sum(group, Counter())
        p, r = ratios(total)
        rows.append((name, len(group), total["objects"], p, r))
    return rows


def house(scenes: Sequence[str], n: int, data: Path | None) -> list[Body]:
    """At least `n` bodies: whole scenes laid side by side 30 m apart along x, keys made unique."""
    out: list[Body] = []
    for i, s in enumerate(scenes):
        d = np.array([30.0 * i, 0.0, 0.0])
        for b in scene_bodies(load_scene(s, data)):
            corners = None if b.corners is None else b.corners + d
            out.append(
                make_body(
                    f"{s}/{b.key}",
                    b.label,
                    b.lo + d,
                    b.hi + d,
                    corners,
                    b.receptacle,
                    b.receptacle_mode,
                    b.openable,
                    b.movable,
                )
            )
        if len(out) >= n:
            break
    return out


def timings(bodies: Sequence[Body]) -> None:
    """Print batch and per-object timings of embodmem.relations and of the baseline."""
    t0 = time.perf_counter()
    index = RelationIndex(bodies)
    t1 = time.perf_counter()
    parents = relations.infer_parents(index)
    t2 = time.perf_counter()
    relations.near_pairs(index, parents)
    t3 = time.perf_counter()
    baseline_parents(bodies)
    t4 = time.perf_counter()
    search = []
    for b in bodies:
        candidates = index.candidates_for(b)
        c0 = time.perf_counter()
        relations.infer_parent(b, candidates)
        search.append(time.perf_counter() - c0)
    rng = np.random.default_rng(0)
    step = np.array([0.05, 0.0, 0.0])
    per_child: dict[str, list[float]] = {"same": [], "moved": []}
    integrate: dict[str, list[float]] = {"same": [], "moved": []}
    for _ in range(20):
        same = [bodies[i] for i in rng.choice(len(bodies), 100, replace=False)]
        moved = [
            make_body(
                b.key,
                b.label,
                b.lo + step,
                b.hi + step,
                None if b.corners is None else b.corners + step,
                b.receptacle,
                b.receptacle_mode,
                b.openable,
                b.movable,
            )
            for b in same
        ]
        for case, batch in (("same", same), ("moved", moved)):
            s0 = time.perf_counter()
            for b in batch:
                c0 = time.perf_counter()
                index.add(b)
                relations.infer_parent(b, index.candidates_for(b))
                if case == "moved":  # what rests on it may have a new parent too
                    for key in index.dependents(b):
                        other = index.bodies[key]
                        relations.infer_parent(other, index.candidates_for(other))
                per_child[case].append(time.perf_counter() - c0)
            integrate[case].append(time.perf_counter() - s0)
        for b in same:
            index.add(b)
    ours = t2 - t0
    scenes = len({b.key.split("/")[0] for b in bodies})
    print(f"\ntimings on a {len(bodies)}-object house ({scenes} scenes side by side), ms")
    print(f"{'step':<62}{'time':>10}")
    print(f"{'RelationIndex build':<62}{(t1 - t0) * 1e3:>10.1f}")
    print(f"{'infer_parents, all bodies':<62}{(t2 - t1) * 1e3:>10.1f}")
    print(f"{'near_pairs, all bodies':<62}{(t3 - t2) * 1e3:>10.1f}")
    print(f"{'AABB baseline, all bodies (O(n^2))':<62}{(t4 - t3) * 1e3:>10.1f}")
    print(
        f"{'infer_parent over candidates, median (us)':<62}{statistics.median(search) * 1e6:>10.1f}"
    )
    for case, what in (("same", "unchanged"), ("moved", "moved 5 cm (+ dependents)")):
        print(
            f"{what + ': add + infer_parent, per object (us)':<62}"
            f"{statistics.median(per_child[case]) * 1e6:>10.1f}"
        )
        print(
            f"{what + ': 100 objects, median':<62}{statistics.median(integrate[case]) * 1e3:>10.2f}"
        )
    print(f"ratio baseline / ours (index + all parents): {(t4 - t3) / ours:.1f}x")


def sweep(scenes: Sequence[str], data: Path | None) -> None:
    """Overall precision/recall as each tolerance moves (others at their defaults)."""
    loaded = {s: load_scene(s, data) for s in scenes}
    bodies = {s: scene_bodies(o) for s, o in loaded.items()}
    print("\nsensitivity: overall precision / recall per tolerance value (default marked *)")
    for name, values in SWEEP.items():
        default = getattr(relations, name)
        cells = []
        for v in values:
            setattr(relations, name, v)
            total = sum((score(loaded[s], relation_parents(bodies[s])) for s in scenes), Counter())
            p, r = ratios(total)
            cells.append(f"{v:g}{'*' if v == default else ''} {p:.3f}/{r:.3f}")
        setattr(relations, name, default)
        print(f"{name:<20}" + "  ".join(f"{c:<20}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder of FloorPlan*_physics.json")
    ap.add_argument("--misses", type=int, default=0, help="print up to N misses per scene")
    ap.add_argument("--sweep", action="store_true", help="print the tolerance sensitivity table")
    args = ap.parse_args()
    scenes = scene_names()
    methods = (
        ("embodmem.relations", lambda o: relation_parents(scene_bodies(o))),
        ("EmbodiedMemory.integrate", memory_parents),
        ("AABB baseline", lambda o: baseline_parents(scene_bodies(o))),
    )
    totals = {}
    for name, method in methods:
        t0 = time.perf_counter()
        per_scene = {
            s: score(o, method(o)) for s, o in ((s, load_scene(s, args.data)) for s in scenes)
        }
        print(f"\n{name}  ({time.perf_counter() - t0:.1f} s incl. loading)")
        print(f"{'scene type':<14}{'scenes':>7}{'objects':>9}{'precision':>11}{'recall':>8}")
        for group, ns, no, p, r in table(per_scene):
            print(f"{group:<14}{ns:>7}{no:>9}{p:>11.3f}{r:>8.3f}")
        totals[name] = table(per_scene)[-1]
    ours, base = totals["embodmem.relations"], totals["AABB baseline"]
    print(
        f"\nratio ours / baseline: precision {ours[3] / base[3]:.3f}, "
        f"recall {ours[4] / base[4]:.3f}"
    )
    timings(house(scenes, 2000, args.data))
    if args.sweep:
        sweep(scenes, args.data)
    for s in scenes if args.misses else ():
        objects = load_scene(s, args.data)
        for line in misses(objects, relation_parents(scene_bodies(objects)))[: args.misses]:
            print(s, line)


if __name__ == "__main__":
    main()
