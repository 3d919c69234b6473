"""The `embodmem` command line.

Core commands live here; packages that build on embodmem (the simulator side, ROS tools) add
their own through the `embodmem.commands` entry-point group: each entry is a function
`register(subparsers)`. That keeps the dependency arrow pointing one way (sim -> embodmem).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from embodmem.errors import EmbodmemError
from embodmem.store import DEFAULT_KEEP
from embodmem.tables import format_table
from embodmem.viz.scene_data import DEFAULT_MAX_VOXELS


def summary_table(mem: object) -> str:
    """Counts of an `EmbodiedMemory` as a table."""
    stats = mem.stats()  # type: ignore[attr-defined]
    rows = [
        ("observations", stats["observations"]),
        ("objects", stats["objects"]),
        ("rooms", stats["rooms"]),
        ("places", stats["places"]),
        *((f"relations: {k}", n) for k, n in stats["relations"].items()),
        ("octree voxels", stats["voxels"]),
    ]
    return format_table(["memory", "count"], rows)


def _inspect(args: argparse.Namespace) -> int:
    from embodmem.memory import EmbodiedMemory

    mem = EmbodiedMemory.load(args.snapshot)
    print(summary_table(mem))
    if args.objects:
        g = mem.scene_graph
        rows = []
        for node in g.objects():
            parent = g.parent(node.node_id)
            rows.append(
                (
                    node.node_id,
                    node.label,
                    node.source_id or "",
                    f"{parent[0]} {g.node(parent[1]).label} ({parent[1]})" if parent else "",
                )
            )
        print()
        print(format_table(["node", "label", "source id", "on/in"], rows))
    return 0


def _export_graphml(args: argparse.Namespace) -> int:
    from embodmem.graph_io import write_graphml
    from embodmem.memory import EmbodiedMemory
    from embodmem.store import check_target

    check_target(args.out, args.force, kind="graphml")
    mem = EmbodiedMemory.load(args.snapshot)
    out = write_graphml(mem.scene_graph, args.out, force=args.force)
    print(f"wrote {out}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from embodmem.store import compact_store

    dropped, before, after = compact_store(args.store, args.keep)
    print(
        f"{args.store}: dropped {dropped} old snapshots, kept the last {args.keep}; "
        f"{before / 1e6:.2f} MB -> {after / 1e6:.2f} MB"
    )
    return 0


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if not 1 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_output_options(p: argparse.ArgumentParser) -> None:
    """--force and --keep for commands that write a snapshot."""
    p.add_argument(
        "--force", action="store_true", help="replace an existing file that is not a snapshot"
    )
    p.add_argument(
        "--keep",
        type=positive_int,
        default=DEFAULT_KEEP,
        help=f"snapshots a .sqlite store keeps (default {DEFAULT_KEEP})",
    )


def _viz(args: argparse.Namespace) -> int:
    """Draw a snapshot: outputs checked before the (slow) load, written atomically after."""
    from embodmem.errors import ValidationError
    from embodmem.memory import EmbodiedMemory
    from embodmem.store import check_target
    from embodmem.viz import render

    if args.out is None and args.png is None and args.rrd is None:
        raise ValidationError(
            "--out/--png/--rrd", None, "give --out FILE.html, --png FILE.png or --rrd FILE.rrd"
        )
    for option, path, suffixes, kind in (
        ("--out", args.out, (".html", ".htm"), "html"),
        ("--png", args.png, (".png",), "png"),
        ("--rrd", args.rrd, (".rrd",), "rrd"),
    ):
        if path is not None and path.suffix.lower() not in suffixes:
            raise ValidationError(
                option, str(path), f"expected a file name ending in {suffixes[0]}"
            )
        if path is not None:
            check_target(path, args.force, kind=kind)
    if args.snapshot.is_dir():
        return _viz_episode(args)
    mem = EmbodiedMemory.load(args.snapshot)
    for path in render(
        mem,
        html=args.out,
        png=args.png,
        query=args.query,
        explode=args.explode,
        max_voxels=args.max_voxels,
        title=str(args.snapshot),
        rrd=args.rrd,
    ):
        print(f"wrote {path}")
    return 0


def _viz_episode(args: argparse.Namespace) -> int:
    """`embodmem viz RUN_DIR`: the playback page of one recorded episode of a suite run."""
    from embodmem.errors import ValidationError
    from embodmem.trace import load_trace
    from embodmem.viz.episode import render_episode

    states = sorted((args.snapshot / "states").glob("*.json"))
    if not states:
        raise ValidationError(
            "RUN_DIR",
            str(args.snapshot),
            "holds no recorded episode (states/*.json); run `embodmem run-suite --viz` first",
        )
    if args.png is not None:
        raise ValidationError("--png", str(args.png), "a run folder gives --out or --rrd")
    chosen = [p for p in states if args.episode is None or p.stem == f"{args.episode:05d}"]
    if not chosen:
        valid = ", ".join(str(int(p.stem)) for p in states if p.stem.isdigit())
        raise ValidationError("--episode", args.episode, f"not recorded; recorded: {valid}")
    trace = load_trace(chosen[0])
    if args.out is not None:
        print(f"wrote {render_episode(trace, args.out, args.max_voxels)}")
    if args.rrd is not None:
        from embodmem.memory import EmbodiedMemory
        from embodmem.viz.rerun_export import write_rrd
        from embodmem.viz.scene_data import scene_data

        data = scene_data(EmbodiedMemory.from_dict(trace["memory"]), args.max_voxels)
        print(f"wrote {write_rrd(data, args.rrd, trace)}")
    return 0


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _add_viz(sub: Any) -> None:
    p = sub.add_parser(
        "viz",
        help="draw a snapshot: interactive offline HTML page and/or PNG",
        description="Draw a memory snapshot (.json or .sqlite): the layered scene graph at its "
        "3D positions with boxes, relations, states and occupancy; the short-term changes and "
        "the experience memory beside it. A run folder written by `embodmem run-suite --viz` "
        "gives the playback page of a recorded episode. The HTML page needs no network.",
    )
    p.add_argument("snapshot", type=Path, help="a snapshot, or a run folder (run-suite --viz)")
    p.add_argument(
        "--episode",
        type=non_negative_int,
        default=None,
        help="with a run folder: the episode index to replay (default: the first recorded)",
    )
    p.add_argument("--out", type=Path, default=None, help="self-contained HTML page to write")
    p.add_argument("--png", type=Path, default=None, help="plan view + 3D view PNG to write")
    p.add_argument(
        "--rrd", type=Path, default=None, help="rerun recording to write (needs rerun-sdk)"
    )
    p.add_argument("--query", default=None, help="highlight the hits of this text query")
    p.add_argument(
        "--explode",
        type=non_negative_float,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="M",
        help="lift each scene-graph layer M metres above the one below (1.0 if no M)",
    )
    p.add_argument(
        "--max-voxels",
        dest="max_voxels",
        type=non_negative_int,
        default=DEFAULT_MAX_VOXELS,
        help=f"occupancy points drawn at most; coarser octree levels beyond "
        f"(default {DEFAULT_MAX_VOXELS:,}; 0: none)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace existing files that are not HTML / PNG"
    )
    p.set_defaults(func=_viz)


def _llm_serve(args: argparse.Namespace) -> int:
    from embodmem.planning.local_llm import LocalServer

    server = LocalServer(port=args.port, threads=args.threads).start()
    print(f"serving {server.model} at {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        return server.wait()
    finally:
        server.stop()


def build_parser() -> argparse.ArgumentParser:
    """The full parser: core commands plus every registered plug-in command."""
    parser = argparse.ArgumentParser(prog="embodmem", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="print a snapshot's summary (and objects with --objects)")
    p.add_argument("snapshot", type=Path)
    p.add_argument("--objects", action="store_true", help="list every object and its support")
    p.set_defaults(func=_inspect)
    p = sub.add_parser("export-graphml", help="export a snapshot's scene graph as GraphML")
    p.add_argument("snapshot", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--force", action="store_true", help="replace a file that is not GraphML")
    p.set_defaults(func=_export_graphml)
    p = sub.add_parser("compact", help="drop old snapshots of a .sqlite store, reclaim space")
    p.add_argument("store", type=Path)
    p.add_argument(
        "--keep",
        type=positive_int,
        default=DEFAULT_KEEP,
        help=f"snapshots to keep (default {DEFAULT_KEEP})",
    )
    p.set_defaults(func=_compact)
    _add_viz(sub)
    llm = sub.add_parser("llm", help="the embedded offline LLM").add_subparsers(
        dest="llm_command", required=True
    )
    p = llm.add_parser("serve", help="serve SmolLM2-135M on 127.0.0.1 (OpenAI-compatible API)")
    p.add_argument("--port", type=positive_int, default=8093, help="TCP port (default 8093)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads")
    p.set_defaults(func=_llm_serve)
    for ep in entry_points(group="embodmem.commands"):
        ep.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a non-zero exit (2: bad input or
    output path, 130: interrupted, 70: a bug in embodmem, reported as such)."""
    args = build_parser().parse_args(argv)
    where = f"embodmem {args.command}"
    try:
        return int(args.func(args) or 0)
    except EmbodmemError as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        name = exc.filename if exc.filename is not None else ""
        print(f"{where}: error: {name}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line instead of a traceback
        print(
            f"{where}: internal error: {type(exc).__name__}: {exc} (please report this)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
