"""`embodmem` sub-commands of the simulator side (registered through entry points)."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from embodmem.cli import add_output_options, summary_table
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.store import check_target
from embodmem.tables import format_table
from sim.offline import OfflineController
from sim.scenes import scene_objects
from sim.thor import observation_from_metadata, region_of_scene
from sim.thor_env import observation_from_event

DEMO_SCENE = "FloorPlan1"


class SimulatorError(EmbodmemError):
    """A scripted simulator step failed (the message carries THOR's error)."""


def iter_metadata(path: Path) -> Iterator[tuple[str, Any]]:
    """(source name, metadata) pairs from a THOR dump: a scene JSON (objects keyed by id or an
    event metadata dict), a JSONL episode (one `{step, action, metadata}` or metadata per line),
    or a directory of those."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix in (".json", ".jsonl"):
                yield from iter_metadata(child)
        return
    if not path.is_file():
        raise ValidationError("path", str(path), "no such file or directory")
    data = path.read_bytes()
    lines = data.splitlines() if path.suffix == ".jsonl" else [data]
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path.name}:{i + 1}" if path.suffix == ".jsonl" else path.name
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(str(path), where, f"not valid UTF-8 JSON ({exc})") from None
        if path.suffix == ".jsonl" and isinstance(record, dict):
            record = record.get("metadata", record)
        yield where, record


def ingest(paths: list[Path], visible_only: bool = False, progress: bool = True) -> EmbodiedMemory:
    """Long-term memory built from THOR metadata dumps, one observation per dump/step; an
    input that holds no THOR metadata or no objects is refused."""
    mem = EmbodiedMemory()
    items = [item for p in paths for item in iter_metadata(p)]
    if not items:
        raise ValidationError(
            "paths", [str(p) for p in paths], "no THOR metadata found (.json / .jsonl files)"
        )
    for step, (name, meta) in enumerate(
        tqdm(items, desc="ingest", unit="obs", disable=not progress)
    ):
        region = region_of_scene(name)  # a bare scene dump is named after its scene
        try:
            obs = observation_from_metadata(
                meta, time_ns=step, visible_only=visible_only, region=region
            )
            mem.integrate(obs)
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc.field}", exc.value, exc.reason) from None
    if not mem.scene_graph.objects():
        raise ValidationError("paths", [str(p) for p in paths], "the input holds no objects")
    return mem


def _ingest_thor(args: argparse.Namespace) -> int:
    check_target(args.out, args.force)
    mem = ingest(args.paths, visible_only=args.visible_only, progress=not args.quiet)
    out = mem.save(args.out, force=args.force, keep_last=args.keep)
    print(summary_table(mem))
    print(f"wrote {out}")
    return 0


def explore(scene: str, positions: int = 6, seed: int = 0) -> tuple[EmbodiedMemory, Any]:
    """An agent explores a scene in the offline simulator: at a few reachable positions it
    looks around (4 x 90 degrees), integrating what it sees (visible objects, depth points)."""
    env = OfflineController(
        scene=scene, render_depth_image=True, render_instance_segmentation=True, seed=seed
    )
    mem = EmbodiedMemory()
    reachable = env.step(action="GetReachablePositions").metadata["actionReturn"]
    picks = reachable[:: max(1, len(reachable) // positions)][:positions]
    t = 0
    for pos in tqdm(picks, desc=f"explore {scene}", unit="place", leave=False):
        event = env.step(action="Teleport", position=pos)
        for _ in range(4):
            t += 1
            mem.integrate(observation_from_event(event, time_ns=t * 10**9, stride=2))
            event = env.step(action="RotateRight")
    return mem, env


def face(env: Any, object_id: str) -> Any:
    """Teleport the agent to the reachable grid point nearest to an object (at least 0.5 m
    away) and turn it towards the object, looking 30 degrees down."""
    meta = env.last_event.metadata
    target = next(o["position"] for o in meta["objects"] if o["objectId"] == object_id)
    reachable = env.step(action="GetReachablePositions").metadata["actionReturn"]

    def gap(p: dict[str, float]) -> float:
        d = math.hypot(p["x"] - target["x"], p["z"] - target["z"])
        return d if d >= 0.5 else math.inf

    pos = min(reachable, key=gap)
    yaw = math.degrees(math.atan2(target["x"] - pos["x"], target["z"] - pos["z"])) % 360
    return env.step(
        action="TeleportFull",
        position=pos,
        rotation={"x": 0, "y": yaw, "z": 0},
        horizon=30,
        standing=True,
    )


def _demo(args: argparse.Namespace) -> int:
    """Explore a real iTHOR kitchen in the offline simulator, move an apple into the fridge,
    and print what the memory holds."""
    check_target(args.out, args.force)
    objects = list(scene_objects(args.scene).values())
    apple, fridge = (_first_of(objects, args.scene, kind) for kind in ("Apple", "Fridge"))
    start = time.perf_counter()
    mem, env = explore(args.scene)
    g = mem.scene_graph
    t = mem.observations + 1
    plan = (
        ("face", apple),
        ("PickupObject", apple),
        ("face", fridge),
        ("OpenObject", fridge),
        ("PutObject", fridge),
        ("CloseObject", fridge),
    )
    for action, target in plan:
        event = face(env, target) if action == "face" else env.step(action=action, objectId=target)
        if not event.metadata["lastActionSuccess"]:
            raise SimulatorError(f"demo step {action} {target}: {event.metadata['errorMessage']}")
        mem.integrate(observation_from_event(event, time_ns=t * 10**9, stride=2))
        t += 1
    env.stop()
    elapsed = time.perf_counter() - start
    print(
        f"{args.scene} (real ai2thor 5.0.0 scene data, offline simulator): explored "
        f"{len(g.places())} places, then moved the apple into the fridge; {elapsed:.1f} s\n"
    )
    print(summary_table(mem))
    rows = []
    for node in g.objects():
        parent = g.parent(node.node_id)
        if parent is not None and node.attributes.get("pickupable"):
            rows.append((node.label, parent[0], g.node(parent[1]).label, node.node_id))
    print(f"\nWhere the pickupable objects it saw are ({len(rows)}):")
    print(format_table(["object", "relation", "support / container", "node"], sorted(rows)))
    changes = [c for c in mem.short_term.changes() if c.field != "position"]
    print("\nWhat changed (short-term memory):")
    print(
        format_table(
            ["time s", "object", "field", "before", "after", "cause"],
            [
                (
                    c.time_ns / 1e9,
                    c.label,
                    c.field,
                    _short(c.before),
                    _short(c.after),
                    c.cause or "",
                )
                for c in changes
            ],
        )
    )
    out = mem.save(args.out, force=args.force)
    print(f"\nwrote snapshot {out}  (inspect it: embodmem inspect {out} --objects)")
    return 0


def _first_of(objects: list[dict[str, Any]], scene: str, object_type: str) -> str:
    """objectId of the first object of a type (the demo moves an apple into a fridge)."""
    for obj in objects:
        if obj["objectType"] == object_type:
            return obj["objectId"]
    raise ValidationError(
        "scene", scene, f"has no {object_type}; the demo needs an apple and a fridge"
    )


def _short(value: Any) -> str:
    """Readable cell for a state value (receptacle ids cut to their type)."""
    if isinstance(value, list):
        return "[" + ", ".join(str(v).split("|")[0] for v in value) + "]"
    return str(value)


def register(sub: Any) -> None:
    """Add `ingest-thor` and `demo` to the embodmem command line."""
    p = sub.add_parser("ingest-thor", help="build long-term memory from AI2-THOR metadata dumps")
    p.add_argument("paths", nargs="+", type=Path, help="scene JSON, episode JSONL, or folders")
    p.add_argument("--out", required=True, type=Path, help="snapshot to write (.json/.sqlite)")
    p.add_argument("--visible-only", action="store_true", help="only objects THOR marks visible")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    p.set_defaults(func=_ingest_thor)
    p = sub.add_parser("demo", help="explore a real iTHOR kitchen offline and print the memory")
    p.add_argument("--scene", default=DEMO_SCENE, help="iTHOR scene (default FloorPlan1)")
    p.add_argument("--out", type=Path, default=Path("out/demo_memory.json"))
    p.add_argument("--force", action="store_true", help="replace a file that is not a snapshot")
    p.set_defaults(func=_demo)
