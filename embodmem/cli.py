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

from embodmem.errors import EmbodmemError
from embodmem.tables import format_table


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

    mem = EmbodiedMemory.load(args.snapshot)
    out = write_graphml(mem.scene_graph, args.out)
    print(f"wrote {out}")
    return 0


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
    p.set_defaults(func=_export_graphml)
    for ep in entry_points(group="embodmem.commands"):
        ep.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; EmbodmemErrors become a one-line message and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EmbodmemError as exc:
        print(f"embodmem {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
