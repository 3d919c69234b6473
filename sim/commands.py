"""`embodmem` sub-commands of the simulator side (registered through entry points)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from embodmem.cli import summary_table
from embodmem.errors import SnapshotError, ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.tables import format_table
from sim.scenes import scene_objects
from sim.thor import observation_from_metadata, region_of_scene

DEMO_SCENE = "FloorPlan1"


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
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            for i, line in enumerate(text.splitlines()):
                if line.strip():
                    record = json.loads(line)
                    meta = record.get("metadata", record) if isinstance(record, dict) else record
                    yield f"{path.name}:{i + 1}", meta
        else:
            yield path.name, json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not valid JSON ({exc})") from None


def ingest(paths: list[Path], visible_only: bool = False, progress: bool = True) -> EmbodiedMemory:
    """Long-term memory built from THOR metadata dumps, one observation per dump/step."""
    mem = EmbodiedMemory()
    items = [item for p in paths for item in iter_metadata(p)]
    for step, (name, meta) in enumerate(
        tqdm(items, desc="ingest", unit="obs", disable=not progress)
    ):
        region = region_of_scene(name)  # a bare scene dump is named after its scene
        obs = observation_from_metadata(
            meta, time_ns=step, visible_only=visible_only, region=region
        )
        mem.integrate(obs)
    return mem


def _ingest_thor(args: argparse.Namespace) -> int:
    mem = ingest(args.paths, visible_only=args.visible_only, progress=not args.quiet)
    out = mem.save(args.out)
    print(summary_table(mem))
    print(f"wrote {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Build the long-term memory of a real iTHOR kitchen and print what it holds."""
    start = time.perf_counter()
    mem = EmbodiedMemory()
    region = region_of_scene(args.scene)
    mem.integrate(observation_from_metadata(scene_objects(args.scene), time_ns=0, region=region))
    g = mem.scene_graph
    elapsed = time.perf_counter() - start
    print(
        f"Long-term memory of {args.scene} (real ai2thor 5.0.0 metadata), built in "
        f"{elapsed * 1000:.0f} ms\n"
    )
    print(summary_table(mem))
    rows = []
    for node in g.objects():
        parent = g.parent(node.node_id)
        if parent is not None and node.attributes.get("pickupable"):
            rows.append((node.label, parent[0], g.node(parent[1]).label, node.node_id))
    print(f"\nWhere the pickupable objects are ({len(rows)}):")
    print(format_table(["object", "relation", "support / container", "node"], sorted(rows)))
    out = mem.save(args.out)
    print(f"\nwrote snapshot {out}  (inspect it: embodmem inspect {out} --objects)")
    return 0


def register(sub: Any) -> None:
    """Add `ingest-thor` and `demo` to the embodmem command line."""
    p = sub.add_parser("ingest-thor", help="build long-term memory from AI2-THOR metadata dumps")
    p.add_argument("paths", nargs="+", type=Path, help="scene JSON, episode JSONL, or folders")
    p.add_argument("--out", required=True, type=Path, help="snapshot to write (.json/.sqlite)")
    p.add_argument("--visible-only", action="store_true", help="only objects THOR marks visible")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_ingest_thor)
    p = sub.add_parser("demo", help="build and print the memory of a real iTHOR kitchen")
    p.add_argument("--scene", default=DEMO_SCENE, help="iTHOR scene (default FloorPlan1)")
    p.add_argument("--out", type=Path, default=Path("out/demo_memory.json"))
    p.set_defaults(func=_demo)
