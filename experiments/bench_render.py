"""Offline box renderer throughput on a real iTHOR kitchen, against two peers in the same run.

Scene: the vendored FloorPlan1 objects (77, all drawn as boxes). Room bounds come from
`sim.offline.render.room_bounds`: the union of all objects' axis-aligned boxes (the scene's Floor
object spans the room and wall-mounted objects reach the walls). Cameras: the scene's reachable
positions (ALFRED layout), camera height = floor top + 1.576 m (AI2-THOR's standing camera:
agent y 0.901 + 0.675 camera offset), yaw 0/90/180/270, horizon 0/30, vertical FOV 90, 300x300.

Rows:
- ours: `render_frames` (frustum/range culling, per-box screen rectangles, numpy, one thread).
- numpy dense: the same slab test over every pixel x every box in chunks of 8 boxes, no culling.
- open3d: Embree ray casting (`open3d.t.geometry.RaycastingScene`, all cores) of the same boxes
  as 12 triangles each; "build+cast" builds the scene every frame (objects move between steps),
  "cast only" reuses one scene. Peers get their boxes pre-parsed, outside the timing.
`agree` is the share of pixels whose object id equals ours. A last table times perception
(`observation_from_frame`) on our frames.

Run: .venv/bin/python experiments/bench_render.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from embodmem.frames import thor_camera_pose
from embodmem.perception import CameraIntrinsics, observation_from_frame, optical_rotation
from sim.offline.render import (
    _concat,
    _object_boxes,
    _structure_boxes,
    render_frames,
    room_bounds,
)
from sim.scenes import reachable_positions, scene_objects

SCENE = "FloorPlan1"
CAMERA_HEIGHT = 1.576
FOV, WIDTH, HEIGHT = 90.0, 300, 300
NEAR = 0.05


def camera_poses(n: int) -> list[tuple[dict, float, float]]:
    """`n` (position, yaw, horizon) spread evenly over the scene's reachable grid."""
    grid = reachable_positions(SCENE)
    poses = [
        ({"x": float(x), "y": CAMERA_HEIGHT, "z": float(z)}, yaw, hor)
        for x, z in grid
        for yaw in (0.0, 90.0, 180.0, 270.0)
        for hor in (0.0, 30.0)
    ]
    return [poses[i] for i in np.linspace(0, len(poses) - 1, n).astype(int)]


def dense_render(boxes, origin, rot, intr: CameraIntrinsics, chunk: int = 8) -> np.ndarray:
    """Box index per pixel by the slab test over all pixels x all boxes (-1 none)."""
    xs, ys = intr.normalized_coords(np.float32)
    depth = np.full(intr.shape, np.inf, dtype=np.float32)
    index = np.full(intr.shape, -1, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b0 in range(0, len(boxes.ids), chunk):
            rots = boxes.rotations[b0 : b0 + chunk]
            m = np.einsum("bji,jk->bik", rots, rot).astype(np.float32)  # box <- optical
            o = np.einsum("bji,bj->bi", rots, origin - boxes.centers[b0 : b0 + chunk])
            h = boxes.halves[b0 : b0 + chunk]
            enter = leave = None
            for k in range(3):
                d = (m[:, k, 0, None, None] * xs) + (m[:, k, 1, None] * ys + m[:, k, 2, None])[
                    :, :, None
                ]
                ta = (-h[:, k] - o[:, k]).astype(np.float32)[:, None, None] / d
                tb = (h[:, k] - o[:, k]).astype(np.float32)[:, None, None] / d
                near, far = np.fmin(ta, tb), np.fmax(ta, tb)
                enter = near if enter is None else np.fmax(enter, near)
                leave = far if leave is None else np.fmin(leave, far)
            t = np.where((enter <= leave) & (enter >= NEAR), enter, np.inf)
            best = t.argmin(axis=0)
            t_best = np.take_along_axis(t, best[None], 0)[0]
            closer = t_best < depth
            depth[closer] = t_best[closer]
            index[closer] = b0 + best[closer]
    return index


def box_mesh(boxes) -> tuple[np.ndarray, np.ndarray]:
    """All boxes as one triangle mesh: vertices (8B, 3) and triangles (12B, 3)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = boxes.centers[:, None, :] + np.einsum(
        "bij,bkj->bki", boxes.rotations, signs[None] * boxes.halves[:, None, :]
    )
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    tris = (faces[None] + 8 * np.arange(len(corners))[:, None, None]).reshape(-1, 3)
    return corners.reshape(-1, 3).astype(np.float32), tris.astype(np.uint32)


def open3d_rays(origin, rot, intr: CameraIntrinsics) -> np.ndarray:
    """(H, W, 6) rays whose direction has unit optical z, so t_hit is planar depth."""
    xs, ys = intr.normalized_coords()
    q = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), -1)
    dirs = q @ rot.T
    return np.concatenate([np.broadcast_to(origin, dirs.shape), dirs], -1).astype(np.float32)


def ids_of(result) -> np.ndarray:
    """Per-pixel id strings of a render result (via its colour map)."""
    seg = result.instance_segmentation_frame.astype(np.int64)
    keys = (seg[..., 0] << 16) | (seg[..., 1] << 8) | seg[..., 2]
    table = {(r << 16) | (g << 8) | b: i for (r, g, b), i in result.color_to_object_id.items()}
    uniq, inv = np.unique(keys, return_inverse=True)
    return np.array([table.get(int(k)) for k in uniq], dtype=object)[inv].reshape(keys.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 camera poses instead of 64")
    args = parser.parse_args()
    import open3d as o3d

    objects = list(scene_objects(SCENE).values())
    lo, hi = room_bounds(objects)
    poses = camera_poses(8 if args.quick else 64)
    intr = CameraIntrinsics.from_fov(WIDTH, HEIGHT, FOV)
    # The peers draw exactly our boxes (the scene has a Floor object, so no floor slab).
    boxes = _concat(_object_boxes(objects), _structure_boxes(lo, hi, with_floor=False))
    box_ids = np.array([*boxes.ids, None], dtype=object)
    verts, tris = box_mesh(boxes)

    def ours(pose):
        return render_frames(objects, lo, hi, *pose, FOV, WIDTH, HEIGHT)

    def cam(pose):
        p = thor_camera_pose(*pose)
        return np.asarray(p.position), optical_rotation(p)

    def dense(pose):
        return dense_render(boxes, *cam(pose), intr)

    def o3d_scene():
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
        return scene

    static_scene = o3d_scene()

    def o3d_cast(pose, scene=None):
        hit = (scene or o3d_scene()).cast_rays(o3d.core.Tensor(open3d_rays(*cam(pose), intr)))
        prim = hit["primitive_ids"].numpy().astype(np.int64)
        return np.where(np.isfinite(hit["t_hit"].numpy()), prim // 12, -1)

    def box_index_ids(index):
        return box_ids[index]

    # Perception first: open3d's worker threads can keep spinning after a cast.
    frames = [ours(p) for p in poses]
    n_obj = 0
    for i, (p, f) in enumerate(zip([poses[0], *poses], [frames[0], *frames], strict=True)):
        if i == 1:  # the first call was a warm-up
            t0, n_obj = time.perf_counter(), 0
        obs = observation_from_frame(
            f.depth_frame,
            f.instance_segmentation_frame,
            f.color_to_object_id,
            intr,
            thor_camera_pose(*p),
        )
        n_obj += len(obs.objects)
    pms = (time.perf_counter() - t0) / len(poses) * 1000

    methods = [
        ("ours (numpy, culled)", ours, ids_of),
        ("numpy dense (all px x all boxes)", dense, box_index_ids),
        ("open3d Embree build+cast", o3d_cast, box_index_ids),
        ("open3d Embree cast only", lambda p: o3d_cast(p, static_scene), box_index_ids),
    ]
    rows, ref = [], None
    for name, fn, to_ids in methods:
        fn(poses[0])  # warm-up
        t0 = time.perf_counter()
        out = [fn(p) for p in poses]
        ms = (time.perf_counter() - t0) / len(poses) * 1000
        ids = [to_ids(o) for o in out]
        if ref is None:
            ref = ids
        agree = np.mean([(a == b).mean() for a, b in zip(ids, ref, strict=True)])
        rows.append((name, ms, agree))
    visible = np.mean([len(set(r.ravel()) - {None, "Wall", "Ceiling"}) for r in ref])
    ours_ms = rows[0][1]
    print(
        f"scene {SCENE}: {len(objects)} objects, {len(poses)} camera poses, "
        f"{WIDTH}x{HEIGHT}, fov {FOV:g}; objects drawn = mean distinct objects per frame"
    )
    print("| scene | method | objects drawn | ms/frame | fps | time / ours | agree |")
    print("|---|---|---|---|---|---|---|")
    for name, ms, agree in rows:
        print(
            f"| {SCENE} | {name} | {visible:.1f} | {ms:.1f} | {1000 / ms:.0f} | "
            f"{ms / ours_ms:.2f} | {agree:.4f} |"
        )
    print("\n| step | objects / frame (with Floor, Wall, Ceiling) | ms/frame | fps |")
    print("|---|---|---|---|")
    print(
        f"| observation_from_frame ({WIDTH}x{HEIGHT}) | {n_obj / len(poses):.1f} | "
        f"{pms:.1f} | {1000 / pms:.0f} |"
    )


if __name__ == "__main__":
    main()
