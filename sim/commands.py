"""`embodmem` sub-commands of the simulator side (registered through entry points)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from embodmem.cli import add_output_options, positive_int, summary_table
from embodmem.errors import ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.store import check_target
from sim import ros_up
from sim.demo import run_demo
from sim.tasks.session import PERCEPTIONS
from sim.thor import observation_from_metadata, region_of_scene

DEMO_SCENE = "FloorPlan1"
DEMO_TASKS = 3
ALL_EPISODES = 2**31 - 1  # `--viz` without N: every episode


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


def _ingest_bag(args: argparse.Namespace) -> int:
    """A recorded ROS 2 bag replayed into a new memory (no ROS needed), saved as a snapshot."""
    from embodmem.config import MemoryConfig
    from sim.bags import ingest_bag

    check_target(args.out, args.force)
    config = MemoryConfig.from_yaml(args.config) if args.config else None
    memory, report = ingest_bag(
        args.bag,
        config,
        topics=args.topics,
        world_frame=args.world_frame,
        max_objects=args.max_objects,
        max_points=args.max_points,
        progress=not args.quiet,
    )
    print(report.table())
    print()
    print(summary_table(memory))
    out = memory.save(args.out, force=args.force, keep_last=args.keep)
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


def _run_suite(args: argparse.Namespace) -> int:
    """Run a suite into --out (resuming what is there), print and plot its summary."""
    from sim.runner import RunConfig, load_config, run_suite, table_text
    from sim.runner.plots import plot_runs

    base = load_config(args.config) if args.config else {}
    names = [f.name for f in fields(RunConfig)]
    given = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    config = RunConfig(**{**base, **given}).with_overrides(args.overrides)
    table = run_suite(config, args.out, progress=not args.quiet)
    print(
        f"{config.suite}: planner={config.planner} memory={config.memory} "
        f"experience={config.experience} policy={config.policy} perception={config.perception}"
    )
    print(table_text(table))
    plot = plot_runs({f"memory={config.memory}": table}, args.out / "summary.png")
    print(f"wrote {args.out / 'episodes.jsonl'}, summary.json/.md/.csv and {plot}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Side-by-side table of finished runs with ratios to the first, and its plot."""
    from sim.runner.compare import compare
    from sim.runner.plots import plot_runs

    text, runs = compare(args.runs)
    print(text)
    if args.plot is not None:
        print(f"wrote {plot_runs(runs, args.plot)}")
    return 0


def _add_run_suite(sub: Any) -> None:
    from sim.runner.config import CHOICES

    p = sub.add_parser(
        "run-suite",
        help="run a task suite with a planner and memory configuration, and summarize it",
        description="Run a suite's episodes (ALFRED tasks started with start_episode, the "
        "agent seeing only what it sees) and write DIR/episodes.jsonl, summary.json/.md/.csv "
        "and summary.png. Re-running with the same --out skips finished episodes. Options "
        "override the --config file; trailing key=value pairs override both.",
    )
    p.add_argument(
        "--suite",
        help="alfred-valid-seen (default), alfred-train-sample, simple, composite, complex, "
        "streams, alfred:PATH",
    )
    for name in ("planner", "memory", "experience", "policy", "context", "perception", "backend"):
        p.add_argument(f"--{name}", choices=CHOICES[name], default=None)
    p.add_argument("--episodes", type=int, default=None, help="only the first N episodes")
    p.add_argument("--workers", type=int, default=None, help="parallel worker processes")
    p.add_argument("--address", default=None, help="Ray cluster address (backend ray)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None)
    p.add_argument("--capacity", type=int, default=None, help="short-term buffer size (64)")
    p.add_argument("--base-url", dest="base_url", default=None, help="OpenAI-compatible LLM URL")
    p.add_argument("--model", default=None, help="model name at --base-url")
    p.add_argument("--record", default=None, help="record every LLM call to this cassette")
    p.add_argument("--replay", default=None, help="answer LLM calls from this cassette")
    p.add_argument(
        "--viz",
        type=int,
        nargs="?",
        const=ALL_EPISODES,
        default=None,
        metavar="N",
        help="record the memory of the first N episodes (all without N): states/<i>.json and "
        "a playback page viz/<i>.html in --out",
    )
    p.add_argument("--config", type=Path, default=None, help="YAML run config (configs/run.yaml)")
    p.add_argument("--out", type=Path, required=True, help="results folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=_run_suite)
    p = sub.add_parser("compare", help="finished suite runs side by side, with ratios")
    p.add_argument("runs", nargs="+", type=Path, help="run folders (the first is the baseline)")
    p.add_argument("--plot", type=Path, default=None, help="write the comparison plot (PNG)")
    p.set_defaults(func=_compare)


def _add_ingest_bag(sub: Any) -> None:
    from embodmem.ros_messages import MAX_OBJECTS, MAX_POINTS
    from sim.bags import READERS

    p = sub.add_parser(
        "ingest-bag",
        help="replay a recorded ROS 2 bag (mcap / sqlite3) into a memory snapshot, without ROS",
        description="Read a rosbag2 (a folder with metadata.yaml, or a .mcap / .db3 file) with "
        f"the pure-Python rosbags package: every {', '.join(READERS)} topic (or --topics) in "
        "recording order, read as the memory server reads them. Malformed messages are counted "
        "and dropped. Prints what each topic gave and the memory's summary.",
    )
    p.add_argument("bag", type=Path, help="rosbag2 folder or .mcap / .db3 file")
    p.add_argument("--out", required=True, type=Path, help="snapshot to write (.json/.sqlite)")
    p.add_argument("--topics", nargs="+", default=None, help="only these topics (default: all)")
    p.add_argument(
        "--world-frame", default="map", help="frame every message must be in (default map)"
    )
    p.add_argument(
        "--max-objects",
        type=positive_int,
        default=MAX_OBJECTS,
        help=f"detection messages with more objects are dropped (default {MAX_OBJECTS})",
    )
    p.add_argument(
        "--max-points",
        type=positive_int,
        default=MAX_POINTS,
        help=f"point clouds with more points are dropped (default {MAX_POINTS:,})",
    )
    p.add_argument("--config", type=Path, default=None, help="memory YAML (configs/memory.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    p.set_defaults(func=_ingest_bag)


def register(sub: Any) -> None:
    """Add `ingest-thor`, `ingest-bag`, `demo`, `run-suite`, `compare` and `ros up` to the
    embodmem command line."""
    _add_run_suite(sub)
    ros_up.register(sub)
    p = sub.add_parser("ingest-thor", help="build long-term memory from AI2-THOR metadata dumps")
    p.add_argument("paths", nargs="+", type=Path, help="scene JSON, episode JSONL, or folders")
    p.add_argument("--out", required=True, type=Path, help="snapshot to write (.json/.sqlite)")
    p.add_argument("--visible-only", action="store_true", help="only objects THOR marks visible")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    p.set_defaults(func=_ingest_thor)
    _add_ingest_bag(sub)
    p = sub.add_parser(
        "demo", help="the agent solves ALFRED tasks in one iTHOR scene, one memory carried along"
    )
    p.add_argument("--scene", default=DEMO_SCENE, help="iTHOR scene with ALFRED valid-seen tasks")
    p.add_argument("--tasks", type=int, default=DEMO_TASKS, help="how many of its tasks to run")
    p.add_argument("--perception", choices=PERCEPTIONS, default="metadata")
    p.add_argument("--out", type=Path, default=Path("out/demo_memory.json"))
    p.add_argument("--force", action="store_true", help="replace a file that is not a snapshot")
    p.set_defaults(func=_demo)
