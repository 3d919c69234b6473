"""Benchmark: scene-graph integrate and snapshot save/load on real iTHOR objects.

Builds large graphs by tiling the real ai2thor 5.0.0 object metadata of the 120 iTHOR scenes
side by side (each scene shifted 20 m along x, ids prefixed by scene), then measures:
  - integrate of a 100-object frame into a 2,000-object graph: all re-observed unchanged, 10
    pickupable objects moved (alternating 5 / 10 cm), 100 new objects;
  - save + load of a 10,000-object graph (JSON file and SQLite store).

    python experiments/bench_memory.py            # full run
    python experiments/bench_memory.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scene_tiles import tiled_objects, translated

from embodmem import EmbodiedMemory, ObjectObservation, Observation
from embodmem.tables import format_table


def time_integrate(
    base: list[ObjectObservation], frames: list[tuple[ObjectObservation, ...]]
) -> list[float]:
    """ms per integrate call of each frame, in order, into a memory holding `base`."""
    mem = EmbodiedMemory()
    mem.integrate(Observation(0, tuple(base)))
    out = []
    for t, frame in enumerate(frames, start=1):
        start = time.perf_counter()
        mem.integrate(Observation(t, frame))
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = ap.parse_args()
    graph_n, frame_n, big_n, reps = (300, 50, 1000, 10) if args.quick else (2000, 100, 10000, 60)

    objs = tiled_objects(graph_n + frame_n)
    base, extra = objs[:graph_n], objs[graph_n:]
    stride = max(1, graph_n // frame_n)
    reobserved = tuple(base[::stride][:frame_n])
    movers = [i for i, o in enumerate(reobserved) if o.attributes.get("pickupable")][:10]
    rows = []
    cases = {
        f"{frame_n} re-observed (unchanged)": [reobserved] * reps,
        f"{frame_n} re-observed, 10 pickupable moved": [
            tuple(
                translated(o, (0.0, 0.05 * (t % 2 + 1), 0.0)) if i in movers else o
                for i, o in enumerate(reobserved)
            )
            for t in range(reps)
        ],
        f"{frame_n} new objects": [tuple(extra)] * 1,
    }
    for name, frames in cases.items():
        if name.endswith("new objects"):
            ms = []
            for _ in range(max(3, reps // 10)):
                ms += time_integrate(base, frames)
        else:
            ms = time_integrate(base, frames)
        rows.append((name, graph_n, len(ms), statistics.median(ms), max(ms)))
    print(format_table(["integrate frame", "graph objects", "runs", "median ms", "max ms"], rows))

    big = EmbodiedMemory()
    big.integrate(Observation(0, tuple(tiled_objects(big_n))))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".json", ".sqlite"):
            path = Path(tmp) / f"big{suffix}"
            saves, loads = [], []
            for _ in range(3):
                start = time.perf_counter()
                big.save(path)
                saves.append(time.perf_counter() - start)
                start = time.perf_counter()
                back = EmbodiedMemory.load(path)
                loads.append(time.perf_counter() - start)
            assert len(back.scene_graph.objects()) == big_n
            rows.append(
                (
                    suffix,
                    big_n,
                    path.stat().st_size / 1e6,
                    min(saves),
                    min(loads),
                    min(saves) + min(loads),
                )
            )
    print()
    print(format_table(["snapshot", "objects", "MB", "save s", "load s", "save+load s"], rows))


if __name__ == "__main__":
    main()
