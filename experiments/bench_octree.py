"""Benchmark: the linear octree against open3d and OctoMap on a map of real iTHOR objects.

The map tiles the real ai2thor 5.0.0 object boxes of the 120 iTHOR scenes on a 20 m grid
(repeating the scenes until there are `--objects` objects, each its own id), samples the box
surfaces until `--voxels` distinct 5 cm voxels are covered, and streams every voxel `--passes`
times as depth-like frames of `--frame` points (uniform jitter inside the voxel, frames in random
order). Queries start at real reachable agent positions (ALFRED grids) at 0.9 m height.
Everything runs side by side in one process; ratios are ours / peer speed (> 1: ours faster).

    python experiments/bench_octree.py            # full run (2.5M voxels, 10,000 objects)
    python experiments/bench_octree.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import open3d as o3d
import pyoctomap

from embodmem import morton
from embodmem.frames import thor_to_world
from embodmem.octree import DTYPES, OFFSET, Octree
from embodmem.tables import format_table
from sim.scenes import reachable_positions, scene_names, scene_objects

RES = 0.05
TILE = 20.0  # m between scene tiles
TILES_PER_ROW = 16


def tiled_world(n_objects: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(box lo (n, 3), box hi (n, 3), agent positions (m, 3)) of real iTHOR objects, scenes
    repeated and laid out on a grid until there are n objects."""
    lows, highs, agents = [], [], []
    count, tile = 0, 0
    while count < n_objects:
        scene = scene_names()[tile % len(scene_names())]
        shift = np.array([(tile % TILES_PER_ROW) * TILE, (tile // TILES_PER_ROW) * TILE, 0.0])
        corners = np.array(
            [o["axisAlignedBoundingBox"]["cornerPoints"] for o in scene_objects(scene).values()]
        )
        world = thor_to_world(corners) + shift
        lows.append(world.min(axis=1))
        highs.append(world.max(axis=1))
        xz = reachable_positions(scene)
        agents.append(
            thor_to_world(np.column_stack([xz[:, 0], np.full(len(xz), 0.9), xz[:, 1]])) + shift
        )
        count += len(corners)
        tile += 1
    return (
        np.concatenate(lows)[:n_objects],
        np.concatenate(highs)[:n_objects],
        np.concatenate(agents),
    )


def surface_voxels(
    lo: np.ndarray, hi: np.ndarray, n_voxels: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(voxel indices (n, 3), object ids (n,)) of n distinct voxels on the boxes' faces, sampled
    uniformly by area; a voxel shared by boxes belongs to the first sample that hit it."""
    ext = np.maximum(hi - lo, RES / 10)
    areas = np.stack([ext[:, 1] * ext[:, 2], ext[:, 0] * ext[:, 2], ext[:, 0] * ext[:, 1]], 1)
    face_p = np.repeat(areas, 2, axis=1).ravel()
    face_p /= face_p.sum()
    samples = int(n_voxels * 1.2)
    while True:
        face = rng.choice(len(face_p), size=samples, p=face_p)
        obj, axis, side = face // 6, (face % 6) // 2, face % 2
        pts = lo[obj] + rng.random((samples, 3)) * ext[obj]
        rows = np.arange(samples)
        pts[rows, axis] = np.where(side == 1, hi[obj, axis], lo[obj, axis])
        index = np.floor(pts / RES).astype(np.int64) + OFFSET
        keys = morton.encode(index)
        order = np.argsort(keys, kind="stable")
        k = keys[order]
        first = order[np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))]
        if len(first) >= n_voxels:
            first = np.sort(first)[:n_voxels]
            return index[first], obj[first]
        samples *= 2


def frames(
    index: np.ndarray, ids: np.ndarray, passes: int, frame: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each voxel `passes` times as a jittered point inside it, cut into frames that each view
    one region (like a camera looking at a room): voxels in Morton order are cut into
    frame-sized regions, region order is shuffled per pass and points within a frame too."""
    spatial = np.argsort(morton.encode(index))
    regions = [spatial[i : i + frame] for i in range(0, len(spatial), frame)]
    out = []
    for _ in range(passes):
        for r in rng.permutation(len(regions)):
            sel = rng.permutation(regions[r])
            pts = (index[sel] - OFFSET + 0.5 + rng.uniform(-0.45, 0.45, (len(sel), 3))) * RES
            out.append((pts, ids[sel]))
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median_us(fn: Callable[[Any], Any], args: list[Any]) -> float:
    """Median wall time of fn(arg) over the args, in microseconds (one warm-up call)."""
    fn(args[0])
    times = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def insert_all(tree: Octree, batches: list[tuple[np.ndarray, np.ndarray]], ids: bool) -> float:
    start = time.perf_counter()
    for t, (pts, obj) in enumerate(batches):
        tree.insert_points(pts, time_ns=t, object_ids=obj if ids else None)
    return time.perf_counter() - start


def bench_inserts(
    batches: list, peer_points: int, scan: tuple[np.ndarray, np.ndarray]
) -> tuple[list, Octree, Any]:
    total = sum(len(p) for p, _ in batches)
    rows = []
    ours = Octree(RES)
    sec = insert_all(ours, batches, ids=True)
    rows.append(
        (
            "ours insert_points (+object ids)",
            total,
            ours.voxel_count,
            sec,
            total / sec / 1e6,
            "",
            "",
        )
    )
    plain = Octree(RES)
    sec = insert_all(plain, batches, ids=False)
    rows.append(("ours insert_points", total, plain.voxel_count, sec, total / sec / 1e6, "", ""))
    del plain

    sub, n = [], 0
    for pts, obj in batches:
        if n >= peer_points:
            break
        sub.append((pts[: peer_points - n], obj[: peer_points - n]))
        n += len(sub[-1][0])
    cloud = np.concatenate([p for p, _ in sub])
    ours_sub = Octree(RES)
    ours_sec = insert_all(ours_sub, sub, ids=False)

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud))
    extent = float((cloud.max(axis=0) - cloud.min(axis=0)).max())
    depth = int(np.ceil(np.log2(extent / RES)))
    octree = o3d.geometry.Octree(max_depth=depth)
    sec, _ = timed(lambda: octree.convert_from_point_cloud(pcd, size_expand=0.01))
    rows.append(
        (
            f"open3d Octree.convert_from_point_cloud (depth {depth})",
            n,
            "",
            sec,
            n / sec / 1e6,
            n / ours_sec / 1e6,
            sec / ours_sec,
        )
    )

    om = pyoctomap.OcTree(RES)

    def octomap_endpoints() -> None:
        for pts, _ in sub:
            om.updateNodes(pts, True, lazy_eval=True)
        om.updateInnerOccupancy()

    sec, _ = timed(octomap_endpoints)
    rows.append(
        (
            "OctoMap updateNodes (endpoints)",
            n,
            om.getNumLeafNodes(),
            sec,
            n / sec / 1e6,
            n / ours_sec / 1e6,
            sec / ours_sec,
        )
    )

    origin, pts = scan
    carve = Octree(RES, free_space=True)
    carve.insert_points(cloud)
    ours_scan, _ = timed(lambda: carve.insert_scan(origin, pts))
    cell = RES * 2**carve.free_space_level
    rows.append(
        (
            f"ours insert_scan, free space in {cell:.2f} m cells",
            len(pts),
            "",
            ours_scan,
            len(pts) / ours_scan / 1e6,
            "",
            "",
        )
    )
    rays = pyoctomap.OcTree(RES)
    sec, _ = timed(lambda: rays.insertPointCloud(pts, origin))
    rows.append(
        (
            "OctoMap insertPointCloud (ray casting)",
            len(pts),
            rays.getNumLeafNodes(),
            sec,
            len(pts) / sec / 1e6,
            len(pts) / ours_scan / 1e6,
            sec / ours_scan,
        )
    )
    return rows, ours, om


def bench_queries(
    tree: Octree, agents: np.ndarray, n_queries: int, rng: np.random.Generator
) -> list:
    pts = [agents[i] for i in rng.choice(len(agents), n_queries)]
    centres, obj = tree.occupied_voxels()
    rows = []

    build, kd = timed(
        lambda: o3d.geometry.KDTreeFlann(
            o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centres))
        )
    )
    for p in pts[:20]:  # same answers as the KD-tree
        assert len(tree.query_radius(p, 1.0)) == kd.search_radius_vector_3d(p, 1.0)[0]
    ours = median_us(lambda p: tree.query_radius(p, 1.0), pts)
    peer = median_us(lambda p: kd.search_radius_vector_3d(p, 1.0), pts)
    counts = statistics.median(len(tree.query_radius(p, 1.0)) for p in pts)
    rows.append(
        (
            "query_radius r=1 m",
            f"{counts:.0f}",
            ours,
            "open3d KDTreeFlann radius",
            peer,
            peer / ours,
            (peer + build * 1e6) / ours,
        )
    )

    # right after each insert: new voxels sit in the write buffer, both runs are searched
    held = rng.random(len(centres)) < 0.01
    fresh = Octree(RES)
    fresh.insert_points(centres[~held])
    fresh.compact()  # start from one merged run
    news = np.array_split(centres[held], n_queries)
    lat = []
    for p, new in zip(pts, news, strict=True):
        fresh.insert_points(new)
        start = time.perf_counter()
        fresh.query_radius(p, 1.0)
        lat.append(time.perf_counter() - start)
    after = statistics.median(lat) * 1e6
    rows.append(
        (
            f"query_radius r=1 m, right after an insert of {len(news[0])} new voxels",
            f"{counts:.0f}",
            after,
            "KDTreeFlann rebuild + radius",
            peer + build * 1e6,
            (peer + build * 1e6) / after,
            "",
        )
    )

    ours = median_us(lambda p: tree.knn(p, 10), pts)
    peer = median_us(lambda p: kd.search_knn_vector_3d(p, 10), pts)
    rows.append(
        (
            "knn k=10",
            10,
            ours,
            "open3d KDTreeFlann knn",
            peer,
            peer / ours,
            (peer + build * 1e6) / ours,
        )
    )

    has = obj >= 0
    kd_obj = o3d.geometry.KDTreeFlann(
        o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centres[has]))
    )
    obj_ids = obj[has]

    def kd_objects(p: np.ndarray) -> list[tuple[int, float]]:
        _, idx, d2 = kd_obj.search_radius_vector_3d(p, 1.0)
        ids, dist = obj_ids[np.asarray(idx, dtype=np.int64)], np.sqrt(np.asarray(d2))
        order = np.lexsort((dist, ids))
        first = order[np.flatnonzero(np.diff(ids[order], prepend=-2))]
        best = first[np.lexsort((ids[first], dist[first]))]
        return list(zip(ids[best].tolist(), dist[best].tolist(), strict=True))

    index_s, _ = timed(tree.build_object_index)  # the inserts left it stale
    rows.append(
        (
            f"object index build ({len(obj_ids):,} labelled voxels)",
            "",
            index_s * 1e6,
            "KDTreeFlann build",
            build * 1e6,
            build / index_s,
            "",
        )
    )
    for p in pts[:20]:  # same objects and distances as the KD-tree
        got, ref = dict(tree.objects_near(p, 1.0)), dict(kd_objects(p))
        assert got.keys() == ref.keys()
        assert np.allclose([got[i] for i in ref], list(ref.values()))
    ours = median_us(lambda p: tree.objects_near(p, 1.0), pts)
    peer = median_us(kd_objects, pts)
    n_near = statistics.median(len(tree.objects_near(p, 1.0)) for p in pts)
    rows.append(
        (
            f"objects_near r=1 m ({len(np.unique(obj_ids)):,} objects)",
            f"{n_near:.0f}",
            ours,
            "KDTreeFlann radius + min per id",
            peer,
            peer / ours,
            (peer + build * 1e6) / ours,
        )
    )

    # right after each insert of new labelled voxels the object index is stale: queries are
    # answered from the voxels until they have cost as much as a rebuild (then one rebuilds)
    labelled = Octree(RES)
    labelled.insert_points(centres[~held], object_ids=obj[~held])
    labelled.compact()
    labelled.build_object_index()
    lat, rebuilds = [], 0
    for p, new, ids in zip(pts, news, np.array_split(obj[held], n_queries), strict=True):
        labelled.insert_points(new, object_ids=ids)
        start = time.perf_counter()
        labelled.objects_near(p, 1.0)
        lat.append(time.perf_counter() - start)
        rebuilds += labelled.object_index_nbytes > 0
    kd_after = peer + build * 1e6
    for what, us in (
        ("median", statistics.median(lat) * 1e6),
        ("mean", statistics.mean(lat) * 1e6),
    ):
        rows.append(
            (
                f"objects_near r=1 m right after an insert of {len(news[0])} labelled "
                f"voxels, {what} ({rebuilds}/{n_queries} rebuilt)",
                f"{n_near:.0f}",
                us,
                "KDTreeFlann rebuild + radius + min per id",
                kd_after,
                kd_after / us,
                "",
            )
        )

    om_build, om = timed(lambda: octomap_of(centres))
    dirs = rng.normal(size=(n_queries, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    rays = list(zip(pts, dirs, strict=True))
    ours = median_us(lambda a: tree.raycast(a[0], a[1], 10.0), rays)
    end = np.zeros(3)
    peer = median_us(lambda a: om.castRay(a[0], a[1], end, True, 10.0), rays)
    hits = sum(tree.raycast(a[0], a[1], 10.0) is not None for a in rays)
    rows.append(
        (
            f"raycast 10 m ({hits}/{len(rays)} hit)",
            1,
            ours,
            "OctoMap castRay (same voxels)",
            peer,
            peer / ours,
            (peer + om_build * 1e6) / ours,
        )
    )
    return rows


def octomap_of(centres: np.ndarray) -> Any:
    om = pyoctomap.OcTree(RES)
    om.updateNodes(centres, True, lazy_eval=True)
    om.updateInnerOccupancy()
    return om


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--voxels", type=int, default=2_500_000)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--passes", type=int, default=4, help="times each voxel is observed")
    ap.add_argument("--frame", type=int, default=250_000, help="points per insert call")
    ap.add_argument(
        "--peer-points",
        type=int,
        default=2_000_000,
        help="points given to the slower peers (and to ours for their ratios)",
    )
    ap.add_argument("--scan-points", type=int, default=20_000, help="rays of the scan test")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.voxels, args.objects, args.peer_points = 100_000, 1_000, 100_000
        args.scan_points, args.queries, args.frame = 2_000, 50, 50_000
    rng = np.random.default_rng(args.seed)

    lo, hi, agents = tiled_world(args.objects)
    index, ids = surface_voxels(lo, hi, args.voxels, rng)
    batches = frames(index, ids, args.passes, args.frame, rng)
    a = agents[0] + np.array([0.0, 0.0, 0.6])  # a camera at 1.5 m in the first tile
    centres = (index - OFFSET + 0.5) * RES
    near = centres[np.linalg.norm(centres - a, axis=1) < 6.0]
    scan = (a, near[rng.permutation(len(near))[: args.scan_points]])
    print(
        f"map: {len(index):,} voxels of {args.objects:,} real iTHOR objects "
        f"({len(batches)} frames x {args.frame:,} points, {args.passes} passes), "
        f"{RES} m voxels\n"
    )

    rows, tree, om = bench_inserts(batches, args.peer_points, scan)
    print(
        format_table(
            [
                "insert",
                "points",
                "voxels",
                "s",
                "Mpts/s",
                "ours Mpts/s same input",
                "speed-up (ours / peer)",
            ],
            rows,
        )
    )
    print()
    qrows = bench_queries(tree, agents, args.queries, rng)
    print(
        format_table(
            [
                "query (median)",
                "results",
                "ours us",
                "peer",
                "peer us",
                "speed-up",
                "speed-up if peer rebuilds",
            ],
            qrows,
        )
    )
    print()
    index_bytes = sum(np.dtype(DTYPES[f]).itemsize for f in ("keys", "x", "y", "z"))
    per_voxel = tree.nbytes / tree.voxel_count
    tracemalloc.start()
    insert_all(Octree(RES), batches, ids=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        format_table(
            [
                "memory",
                "voxels",
                "bytes/voxel",
                "index (key + xyz)",
                "payload",
                "peak while building",
            ],
            [
                (
                    "ours (sorted arrays)",
                    tree.voxel_count,
                    per_voxel,
                    index_bytes,
                    per_voxel - index_bytes,
                    peak / tree.voxel_count,
                ),
                (
                    "ours object index (objects_near, built lazily)",
                    tree.voxel_count,
                    tree.object_index_nbytes / tree.voxel_count,
                    "",
                    "",
                    "",
                ),
                (
                    "OctoMap (endpoint map of the peer points)",
                    om.getNumLeafNodes(),
                    om.memoryUsage() / om.getNumLeafNodes(),
                    "",
                    "",
                    "",
                ),
            ],
        )
    )


if __name__ == "__main__":
    main()
