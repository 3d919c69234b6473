"""`embodmem` sub-commands of the simulator side (registered through entry points)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from embodmem.cli import add_output_options, summary_table
from embodmem.errors import ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.store import check_target
from sim.demo import run_demo
from sim.tasks.session import PERCEPTIONS
from sim.thor import observation_from_metadata, region_of_scene

DEMO_SCENE = "FloorPlan1"
DEMO_TASKS = 3


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


def _demo(args: argparse.Namespace) -> int:
    """The agent solves ALFRED tasks in one scene from what it sees (`sim.demo`), then the
    memory the tasks shared is saved."""
    check_target(args.out, args.force)
    memory = run_demo(args.scene, args.tasks, perception=args.perception)
    print("\nThe memory the tasks shared:")
    print(summary_table(memory))
    out = memory.save(args.out, force=args.force)
    print(f"\nwrote snapshot {out}  (inspect it: embodmem inspect {out} --objects)")
    return 0


def register(sub: Any) -> None:
    """Add `ingest-thor` and `demo` to the embodmem command line."""
    p = sub.add_parser("ingest-thor", help="build long-term memory from AI2-THOR metadata dumps")
    p.add_argument("paths", nargs="+", type=Path, help="scene JSON, episode JSONL, or folders")
    p.add_argument("--out", required=True, type=Path, help="snapshot to write (.json/.sqlite)")
    p.add_argument("--visible-only", action="store_true", help="only objects THOR marks visible")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    p.set_defaults(func=_ingest_thor)
    p = sub.add_parser(
        "demo", help="the agent solves ALFRED tasks in one iTHOR scene, one memory carried along"
    )
    p.add_argument("--scene", default=DEMO_SCENE, help="iTHOR scene with ALFRED valid-seen tasks")
    p.add_argument("--tasks", type=int, default=DEMO_TASKS, help="how many of its tasks to run")
    p.add_argument("--perception", choices=PERCEPTIONS, default="metadata")
    p.add_argument("--out", type=Path, default=Path("out/demo_memory.json"))
    p.add_argument("--force", action="store_true", help="replace a file that is not a snapshot")
    p.set_defaults(func=_demo)
