"""Benchmark: the ROS 2 memory_server across processes over DDS on loopback (issue 14).

1. Round trips from a client process (executor spinning in a thread + `client.call()`, the fast
   pattern of ../shared/ros2.md) to a memory_server holding a 2,000-object memory (real iTHOR
   objects tiled side by side, loaded from a snapshot over LoadMemory) and to a bare
   std_srvs/Trigger server in a third process (the DDS floor): Trigger, QueryMemory text (k=10),
   QueryMemory near + radius. Target: QueryMemory median <= 2 ms.
2. Sustained load on a fresh memory_server: 30 Hz ObjectObservationArray of 100 objects (one room,
   positions jittering by a few mm, six labels, tracker ids, agent pose set) plus 10 Hz
   PointCloud2 of 50,000 points, from a publisher process. Counted: messages published and
   integrated per topic (SaveMemory's `observations`; each cloud carries one marker point in
   its own voxel, counted in the saved octree), backlog (now minus the newest detection stamp the
   memory holds, from a QueryMemory hit's `last_seen`), server CPU and RSS, query latency under
   load. Target: >= 95 % of each topic integrated, no backlog growth.
3. With --profile (or when the target is missed): cProfile of the same messages fed in this
   process through deserialize -> embodmem.ros_messages.MessageReader -> EmbodiedMemory.integrate.

    .venv/bin/python experiments/bench_ros.py             # full run (~1.5 min on 2 cores)
    .venv/bin/python experiments/bench_ros.py --quick     # small smoke run
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from embodmem.tables import format_table  # noqa: E402
from tests import ros_harness as rh  # noqa: E402

PARAMS = ROOT / "configs" / "ros_memory_server.yaml"
FRAME = "map"
LABELS = ("Chair", "Mug", "Book", "Bottle", "Plant", "Laptop")
ROOM_LO, ROOM_HI = (-4.0, -3.0, 0.1), (4.0, 3.0, 1.8)  # the room the detections lie in (m)
MARKER_X, MARKER_STEP = 60.0, 0.2  # cloud j's marker point: x = MARKER_X + j * MARKER_STEP
DISTINCT = 90  # distinct detection messages (jitter) cycled by the publisher
PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # a Fast DDS XML profile for every process
STAMP = slice(4, 12)  # CDR bytes of header.stamp (sec int32, nanosec uint32) after encapsulation


# ------------------------------------------------------------------------------ helpers
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    return float(np.percentile(np.asarray(values), q))


def stamp_bytes(ns: int) -> bytes:
    """Little-endian CDR of builtin_interfaces/Time for ns."""
    sec, nanosec = divmod(ns, 10**9)
    return struct.pack("<iI", sec, nanosec)


def server_args(*extra: str) -> list[str]:
    """memory_server command line: the project's parameters, the hashing embedder, `extra`."""
    args = ["-m", "embodmem_ros.memory_server", "--ros-args", "--params-file", str(PARAMS)]
    for param in ("memory.embedder:=hashing", "autosave_period_s:=0.0", *extra):
        args += ["-p", param]
    return args


def room_observations(n_objects: int, count: int, seed: int = 0) -> list[Any]:
    """`count` observations of the same `n_objects` objects in one room, positions jittering by
    a few mm between them, the agent pose turning slowly."""
    from embodmem import ObjectObservation, Observation, Pose
    from embodmem.types import BBox3D, yaw_quat

    rng = np.random.default_rng(seed)
    base = rng.uniform(ROOM_LO, ROOM_HI, (n_objects, 3))
    sizes = rng.uniform(0.1, 0.8, (n_objects, 3))
    out = []
    for t in range(count):
        pos = base + rng.normal(0.0, 0.003, base.shape)
        objects = tuple(
            ObjectObservation(
                label=LABELS[i % len(LABELS)],
                position=(float(x), float(y), float(z)),
                bbox=BBox3D((float(x), float(y), float(z)), tuple(map(float, sizes[i]))),
                states={"isOpen": False} if i % 10 == 0 else {},
                confidence=0.9,
                id_hint=f"track_{i}",
            )
            for i, (x, y, z) in enumerate(pos)
        )
        yaw = 2 * math.pi * t / count
        pose = Pose((0.5 * math.cos(yaw), 0.5 * math.sin(yaw), 1.2), yaw_quat(yaw))
        out.append(Observation(t + 1, objects, agent_pose=pose))
    return out


def room_cloud(n_points: int, seed: int) -> np.ndarray:
    """(n, 3) float32 points on the room's floor and walls (+ noise)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform((ROOM_LO[0], ROOM_LO[1], 0.0), (ROOM_HI[0], ROOM_HI[1], 2.5), (n_points, 3))
    wall = rng.integers(0, 3, n_points)  # 0 floor, 1 x wall, 2 y wall
    pts[wall == 0, 2] = 0.0
    pts[wall == 1, 0] = np.where(pts[wall == 1, 0] > 0, ROOM_HI[0], ROOM_LO[0])
    pts[wall == 2, 1] = np.where(pts[wall == 2, 1] > 0, ROOM_HI[1], ROOM_LO[1])
    return (pts + rng.normal(0.0, 0.005, pts.shape)).astype(np.float32)


def serialized_load(n_objects: int, n_points: int) -> tuple[list[bytes], list[bytes]]:
    """(DISTINCT detection messages, 10 point clouds), CDR-serialized, stamps to be patched."""
    from embodmem_ros import convert
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    detections = [
        serialize_message(convert.observation_to_msg(o, FRAME))
        for o in room_observations(n_objects, DISTINCT)
    ]
    clouds = [
        serialize_message(convert.points_to_cloud(room_cloud(n_points, s), Header(frame_id=FRAME)))
        for s in range(10)
    ]
    return detections, clouds


# ---------------------------------------------------------------- roles in other processes
def serve_trigger() -> int:
    """The DDS floor: a std_srvs/Trigger server, nothing else."""
    from embodmem_ros.spin import run_node
    from rclpy.node import Node
    from std_srvs.srv import Trigger

    def make(_: threading.Event) -> Node:
        node = Node("bench_trigger")

        def answer(_: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            response.success = True
            return response

        node.create_service(Trigger, "/bench/trigger", answer)
        return node

    return run_node("bench_trigger", make, [sys.argv[0]])


def publish_load(args: argparse.Namespace) -> int:
    """Publish the detections + clouds load for `args.seconds`; write counts to `args.result`."""
    import rclpy
    from embodmem_interfaces.msg import ObjectObservationArray
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import PointCloud2

    detections, clouds = serialized_load(args.objects, args.points)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("bench_load")
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    det_pub = node.create_publisher(ObjectObservationArray, "/embodmem/detections", reliable)
    cloud_qos = QoSProfile(
        depth=5,
        reliability=qos_profile_sensor_data.reliability,
        durability=qos_profile_sensor_data.durability,
    )
    cloud_pub = node.create_publisher(PointCloud2, "/embodmem/points", cloud_qos)
    end = time.monotonic() + 30
    while det_pub.get_subscription_count() == 0 or cloud_pub.get_subscription_count() == 0:
        if time.monotonic() > end:
            raise TimeoutError("memory_server did not subscribe within 30 s")
        time.sleep(0.05)
    time.sleep(0.5)  # let best effort settle
    det_period, cloud_period = 1.0 / args.rate, 1.0 / args.cloud_rate
    start = time.monotonic() + 0.1
    stop = start + args.seconds
    i = j = late = 0
    first_ns = last_detection_ns = time.time_ns()
    while True:
        t_det, t_cloud = start + i * det_period, start + j * cloud_period
        due = min(t_det, t_cloud)
        if due >= stop:
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.01:
            late += 1
        if t_det <= t_cloud:
            raw = bytearray(detections[i % len(detections)])
            last_detection_ns = time.time_ns()
            raw[STAMP] = stamp_bytes(last_detection_ns)
            det_pub.publish(bytes(raw))
            i += 1
        else:
            raw = bytearray(clouds[j % len(clouds)])
            raw[STAMP] = stamp_bytes(time.time_ns())
            raw[-13:-1] = struct.pack("<fff", MARKER_X + j * MARKER_STEP, 0.0, 0.5)
            cloud_pub.publish(bytes(raw))
            j += 1
    elapsed = time.monotonic() - start
    last_ns = time.time_ns()
    Path(args.result).write_text(
        json.dumps(
            {
                "detections": i,
                "clouds": j,
                "elapsed": elapsed,
                "late": late,
                "first_ns": first_ns,
                "last_ns": last_ns,
                "last_detection_ns": last_detection_ns,
                "detection_bytes": len(detections[0]),
                "cloud_bytes": len(clouds[0]),
            }
        )
    )
    det_pub.wait_for_all_acked(Duration(seconds=30))  # the server's queue has every detection
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# ----------------------------------------------------------------------- 1. round trips
def build_snapshot(n_objects: int, path: Path) -> tuple[float, float, float]:
    """A memory of `n_objects` real iTHOR objects (scenes tiled side by side), saved to path;
    returns the position of its middle object (the near query's centre)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from scene_tiles import tiled_objects

    from embodmem import EmbodiedMemory, MemoryConfig, Observation

    objects = tiled_objects(n_objects)
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    for t, i in enumerate(range(0, n_objects, 100), start=1):
        memory.integrate(Observation(t * 10**9, tuple(objects[i : i + 100])))
    memory.save(path)
    return objects[n_objects // 2].position  # type: ignore[return-value]


def time_calls(client: rh.Client, calls: dict[str, tuple[Any, str, dict]], n: int) -> dict:
    """ms of each call, n rounds interleaved (one of each per round); checks every answer."""
    out: dict[str, list[float]] = {name: [] for name in calls}
    for srv, service, fields in calls.values():  # warm up: discovery, first call
        for _ in range(20):
            client.call(srv, service, **fields)
    for _ in range(n):
        for name, (srv, service, fields) in calls.items():
            start = time.perf_counter()
            r = client.call(srv, service, **fields)
            out[name].append((time.perf_counter() - start) * 1000)
            if not r.success or (hasattr(r, "hits") and not r.hits):
                raise RuntimeError(f"{name} failed: {r}")
    return out


# Server settings part 1 runs under: the project's parameter file as is (SceneGraphUpdate and
# MarkerArray timers at 1 Hz, each a few hundred ms of the one executor thread on 2,000 objects),
# and with both timers off (the query path alone).
LATENCY_CONFIGS = {
    "project defaults (updates + markers 1 Hz)": (),
    "updates + markers off": ("update_rate_hz:=0.0", "marker_rate_hz:=0.0"),
}


def round_trips(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> list[str]:
    """Part 1: the round-trip table; returns its verdict lines."""
    from embodmem_interfaces.srv import LoadMemory, QueryMemory
    from embodmem_ros import convert
    from std_srvs.srv import Trigger

    t = time.perf_counter()
    snapshot = tmp / "memory2000.json"
    centre = build_snapshot(args.objects_memory, snapshot)
    print(f"[1] built a {args.objects_memory}-object snapshot in {time.perf_counter() - t:.1f} s")
    near = {"use_near": True, "near_point": convert.point(centre), "radius": 2.0, "k": 10}
    calls = {
        "std_srvs/Trigger (DDS floor)": (Trigger, "/bench/trigger", {}),
        "QueryMemory text k=10": (
            QueryMemory,
            "/embodmem/query",
            {"text": "something to drink from", "k": 10},
        ),
        "QueryMemory near + radius 2 m, k=10": (QueryMemory, "/embodmem/query", near),
    }
    rows, verdicts = [], []
    trigger = rh.NodeProcess([__file__, "--role", "trigger"], env, tmp / "trigger.log")
    try:
        for k, (config, extra) in enumerate(LATENCY_CONFIGS.items()):
            server = rh.NodeProcess(server_args(*extra), env, tmp / f"server1_{k}.log")
            client = rh.Client(f"bench_client_{k}", int(env["ROS_DOMAIN_ID"]))
            try:
                loaded = client.call(LoadMemory, "/embodmem/load", path=str(snapshot))
                assert loaded.success and loaded.objects == args.objects_memory, loaded
                print(f"[1] {config}: {args.calls} round trips of each call, interleaved")
                ms = time_calls(client, calls, args.calls)
            finally:
                client.close()
                server.stop()
            floor = statistics.median(ms["std_srvs/Trigger (DDS floor)"])
            for name, v in ms.items():
                med = statistics.median(v)
                p90, p99 = percentile(v, 90), percentile(v, 99)
                rows.append((config, name, len(v), med, p90, p99, med / floor))
            worst = max(statistics.median(v) for n, v in ms.items() if n.startswith("Query"))
            verdict = "met" if worst <= 2.0 else "NOT met"
            verdicts.append(
                f"QueryMemory median <= 2 ms on {loaded.objects} objects, {config}: "
                f"{verdict} (slowest median {worst:.2f} ms)"
            )
    finally:
        trigger.stop()
    print()
    print(f"QueryMemory round trips, memory of {args.objects_memory} objects")
    print(
        format_table(
            ["memory_server", "call", "calls", "median ms", "p90 ms", "p99 ms", "x Trigger"],
            rows,
        )
    )
    return verdicts


# ------------------------------------------------------------------------ 2. sustained load
class Sampler:
    """Polls the server during the load: QueryMemory latency + backlog, CPU and RSS."""

    def __init__(self, client: rh.Client, pid: int, every: float) -> None:
        import psutil

        self.client, self.proc, self.every = client, psutil.Process(pid), every
        self.latency_ms: list[float] = []
        self.lag_s: list[tuple[float, float]] = []  # (monotonic, backlog s)
        self.rss: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def newest_stamp_ns(self) -> tuple[float, int]:
        """(ms of one QueryMemory, newest last_seen among its hits in ns; 0 when none)."""
        from embodmem_interfaces.srv import QueryMemory

        from embodmem.ros_messages import stamp_to_ns

        start = time.perf_counter()
        r = self.client.call(QueryMemory, "/embodmem/query", labels=["Mug"], k=5)
        ms = (time.perf_counter() - start) * 1000
        if not r.success:
            raise RuntimeError(r.message)
        return ms, max((stamp_to_ns(h.last_seen) for h in r.hits), default=0)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            ms, newest = self.newest_stamp_ns()
            now = time.time_ns()
            self.latency_ms.append(ms)
            if newest:
                self.lag_s.append((time.monotonic(), (now - newest) / 1e9))
            self.rss.append(self.proc.memory_info().rss)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def bare_cloud_counter(client: rh.Client) -> list[int]:
    """Subscribe the client to the clouds with the server's QoS, counting only; returns the
    live count (one element)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import PointCloud2

    count = [0]
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=5,
        reliability=qos_profile_sensor_data.reliability,
        durability=qos_profile_sensor_data.durability,
    )

    def got(_: PointCloud2) -> None:
        count[0] += 1

    client.node.create_subscription(PointCloud2, "/embodmem/points", got, qos)
    return count


def cloud_markers(snapshot: Path) -> int:
    """Clouds integrated: marker voxels (x beyond the room) occupied in the saved octree."""
    from embodmem import EmbodiedMemory

    centres, _ = EmbodiedMemory.load(snapshot).octree.occupied_voxels()
    return int((centres[:, 0] > MARKER_X - MARKER_STEP / 2).sum())


def sustained(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> tuple[list[str], bool]:
    """Part 2: the load table; returns (verdict lines, whether the target was met)."""
    import psutil
    from embodmem_interfaces.srv import QueryMemory, SaveMemory

    server = rh.NodeProcess(server_args(), env, tmp / "server2.log")
    client = rh.Client("bench_load_client", int(env["ROS_DOMAIN_ID"]))
    result = tmp / "published.json"
    try:
        proc = psutil.Process(server.proc.pid)
        idle = client.call(QueryMemory, "/embodmem/query", text="mug")  # up and discovered
        assert idle.success, idle.message
        bare = bare_cloud_counter(client)  # what DDS delivers to a subscriber doing nothing
        time.sleep(1.0)
        rss_before = proc.memory_info().rss
        publisher = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--role",
                "publish",
                "--result",
                str(result),
                "--seconds",
                str(args.seconds),
                "--rate",
                str(args.rate),
                "--cloud-rate",
                str(args.cloud_rate),
                "--objects",
                str(args.objects),
                "--points",
                str(args.points),
            ],
            env=env,
            cwd=ROOT,
        )
        print(
            f"[2] load: {args.rate:g} Hz x {args.objects} objects + {args.cloud_rate:g} Hz x "
            f"{args.points} points for {args.seconds:g} s (publisher pid {publisher.pid})"
        )
        # The first detection integrated starts the clock of the server's CPU share.
        sampler = Sampler(client, server.proc.pid, 0.25)
        rh.wait_for(lambda: sampler.newest_stamp_ns()[1], 60, "first detection integrated")
        cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
        sampler.start()
        rh.wait_for(
            lambda: result.exists() or publisher.poll() is not None, args.seconds + 90, "load"
        )
        cpu1, wall1 = sum(proc.cpu_times()[:2]), time.monotonic()
        sampler.stop()
        pub = json.loads(result.read_text())
        drain, end = math.inf, time.monotonic() + 30
        while time.monotonic() < end:  # until the last detection published is integrated
            if sampler.newest_stamp_ns()[1] >= pub["last_detection_ns"]:
                drain = (time.time_ns() - pub["last_ns"]) / 1e9
                break
            time.sleep(0.02)
        if publisher.wait(60) != 0:
            raise RuntimeError("publisher failed")
        rss_after = proc.memory_info().rss
        saved = client.call(SaveMemory, "/embodmem/save", path=str(tmp / "after_load.json"))
        assert saved.success, saved.message
    finally:
        client.close()
        server.stop()
    clouds_in = cloud_markers(Path(saved.path))
    detections_in = saved.observations - clouds_in
    lags = sampler.lag_s
    half = len(lags) // 2
    lag_first = statistics.median(lag for _, lag in lags[:half]) if half else math.nan
    lag_second = statistics.median(lag for _, lag in lags[half:]) if half else math.nan
    cpu = 100 * (cpu1 - cpu0) / (wall1 - wall0)
    elapsed = pub["elapsed"]
    rows = [
        (
            f"detections ({args.objects} objects, {pub['detection_bytes'] / 1e3:.0f} kB)",
            args.rate,
            pub["detections"],
            detections_in,
            100 * detections_in / pub["detections"],
            pub["detections"] / elapsed,
            detections_in / elapsed,
        ),
        (
            f"points ({args.points} points, {pub['cloud_bytes'] / 1e6:.2f} MB)",
            args.cloud_rate,
            pub["clouds"],
            clouds_in,
            100 * clouds_in / pub["clouds"],
            pub["clouds"] / elapsed,
            clouds_in / elapsed,
        ),
    ]
    print()
    print(
        format_table(
            ["topic", "target Hz", "published", "integrated", "%", "published Hz", "integrated Hz"],
            rows,
        )
    )
    lat = sampler.latency_ms
    server_rows = [
        ("load duration s", elapsed),
        ("clouds a bare best-effort subscriber got (DDS delivery)", bare[0]),
        ("publisher sends > 10 ms late", pub["late"]),
        ("server CPU % (100 = one core)", cpu),
        ("server RSS before MB", rss_before / 1e6),
        ("server RSS after MB", rss_after / 1e6),
        ("server RSS max during load MB", max(sampler.rss, default=0) / 1e6),
        ("backlog s, median 1st half", lag_first),
        ("backlog s, median 2nd half", lag_second),
        ("backlog s, max", max((lag for _, lag in lags), default=math.nan)),
        ("drain after the last message s", drain),
        (f"QueryMemory during load: calls ({1 / 0.25:g}/s)", len(lat)),
        ("QueryMemory during load: median ms", statistics.median(lat) if lat else math.nan),
        ("QueryMemory during load: p90 ms", percentile(lat, 90) if lat else math.nan),
        ("QueryMemory during load: p99 ms", percentile(lat, 99) if lat else math.nan),
        ("QueryMemory during load: max ms", max(lat, default=math.nan)),
    ]
    print()
    print(format_table(["memory_server under load", "value"], server_rows))
    share = [r[4] for r in rows]
    no_growth = lag_second <= max(0.5, 2 * lag_first) and drain < 2.0
    ok = min(share) >= 95.0 and no_growth
    verdict = "SUSTAINED" if ok else "NOT sustained"
    notes = []
    if share[1] < 95.0 and bare[0] < 0.95 * pub["clouds"]:
        notes.append(
            f"  clouds: a bare subscriber got only {bare[0]} of {pub['clouds']} too, with the "
            f"server at {cpu:.0f} % of a core: lost in DDS delivery, not in the server. Fast "
            f"DDS's shared-memory segment is 0.5 MB; a {pub['cloud_bytes'] / 1e6:.2f} MB sample "
            "goes as UDP fragments, best effort "
            "(try --fastdds-profile configs/fastdds_large_clouds.xml)"
        )
    return [
        f"{args.rate:g} Hz detections + {args.cloud_rate:g} Hz clouds: {verdict} "
        f"(integrated {share[0]:.1f} % / {share[1]:.1f} %, backlog {lag_first:.3f} -> "
        f"{lag_second:.3f} s, drain {drain:.2f} s)",
        *notes,
    ], ok


# ---------------------------------------------------------------------------- 3. profile
def feed(args: argparse.Namespace, profiler: cProfile.Profile | None) -> list[tuple]:
    """Feed `args.profile_seconds` of the load through the server's per-message work in this
    process (deserialize, read, integrate; markers and scene-graph updates once a second);
    returns per-kind rows of mean ms per stage."""
    from embodmem_interfaces.msg import ObjectObservationArray
    from embodmem_ros.markers import marker_array
    from embodmem_ros.updates import UpdateTracker
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    from embodmem import EmbodiedMemory, MemoryConfig
    from embodmem.ros_messages import MessageReader

    detections, clouds = serialized_load(args.objects, args.points)
    reader = MessageReader(world_frame=FRAME)  # as the memory_server reads messages
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    tracker = UpdateTracker(10)
    header = Header(frame_id=FRAME)
    n_det = int(args.rate * args.profile_seconds)
    acc: dict[str, list[float]] = {k: [0.0, 0.0, 0.0, 0] for k in ("detections", "points")}
    periodic: dict[str, list[float]] = {k: [0.0, 0] for k in ("markers", "updates")}

    def one(raw: bytes, kind: Any, t_ns: int) -> None:
        raw = bytearray(raw)
        raw[STAMP] = stamp_bytes(t_ns)
        a = time.perf_counter()
        msg = deserialize_message(bytes(raw), kind)
        b = time.perf_counter()
        obs = reader.points(msg) if kind is PointCloud2 else reader.detections(msg)
        c = time.perf_counter()
        memory.integrate(obs)
        d = time.perf_counter()
        row = acc["points" if kind is PointCloud2 else "detections"]
        row[0] += b - a
        row[1] += c - b
        row[2] += d - c
        row[3] += 1

    def timed(name: str, work: Callable[[], Any]) -> None:
        start = time.perf_counter()
        work()
        periodic[name][0] += time.perf_counter() - start
        periodic[name][1] += 1

    per_cloud = max(1, round(args.rate / args.cloud_rate))
    t_ns, j = 10**18, 0
    if profiler is not None:
        profiler.enable()
    for i in range(n_det):
        t_ns += int(1e9 / args.rate)
        one(detections[i % len(detections)], ObjectObservationArray, t_ns)
        if i % per_cloud == 0:
            one(clouds[j % len(clouds)], PointCloud2, t_ns)
            j += 1
        if i % int(args.rate) == 0:  # the server's 1 Hz timers (publish ~ serialize)
            timed("markers", lambda: serialize_message(marker_array(memory, header, 1.0)))
            timed("updates", lambda: (u := tracker.update(memory, header)) and serialize_message(u))
    if profiler is not None:
        profiler.disable()
    rows = []
    for name, (des, conv, integ, n) in acc.items():
        rate = args.rate if name == "detections" else args.cloud_rate
        per = [1000 * x / n for x in (des, conv, integ)]
        rows.append((f"{name} ({rate:g} Hz)", n, *per, sum(per), sum(per) * rate / 10))
    for name, (tt, n) in periodic.items():
        ms = 1000 * tt / n
        rows.append((f"{name} (1 Hz timer)", n, "-", "-", ms, ms, ms / 10))
    return rows


def profile(args: argparse.Namespace) -> None:
    """Where the server's time goes: stage timings, then cProfile hot spots, in this process."""
    print()
    print(f"[3] the server's work on {args.profile_seconds:g} s of the load, in this process")
    rows = feed(args, None)
    header = ["work", "n", "deserialize ms", "read ms", "integrate ms", "total ms", "% of a core"]
    print(format_table(header, rows))
    print(f"total: {sum(r[-1] for r in rows):.0f} % of one core at the target rates")
    profiler = cProfile.Profile()
    feed(args, profiler)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = [
        (f"{Path(file).parent.name}/{Path(file).name}:{line}({func})", calls, tt, ct)
        for (file, line, func), (_, calls, tt, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
        if Path(file).name != Path(__file__).name
    ]
    for key, title in ((3, "cumulative"), (2, "own")):
        top = sorted(entries, key=lambda e: -e[key])[: args.top]
        rows = [
            (w, c, 1000 * tt, 1000 * ct, 100 * (ct if key == 3 else tt) / total)
            for w, c, tt, ct in top
        ]
        print()
        print(f"hot spots by {title} time ({total:.2f} s profiled)")
        print(format_table(["function", "calls", "own ms", "cumulative ms", "% of total"], rows))


# ---------------------------------------------------------------------------------- main
def main() -> int:
    """Run the parts asked for and print their tables."""
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 100 calls, 5 s of load")
    ap.add_argument("--calls", type=int, default=500, help="round trips of each call (500)")
    ap.add_argument("--objects-memory", type=int, default=2000, help="memory size in part 1")
    ap.add_argument("--seconds", type=float, default=20.0, help="load duration in part 2 (20)")
    ap.add_argument("--rate", type=float, default=30.0, help="detection messages per s (30)")
    ap.add_argument("--objects", type=int, default=100, help="objects per detection msg (100)")
    ap.add_argument("--cloud-rate", type=float, default=10.0, help="point clouds per s (10)")
    ap.add_argument("--points", type=int, default=50_000, help="points per cloud (50,000)")
    ap.add_argument(
        "--only", choices=("latency", "load", "profile"), help="run one part (default: all)"
    )
    ap.add_argument(
        "--profile", action="store_true", help="profile even when the load target is met"
    )
    ap.add_argument("--profile-seconds", type=float, default=5.0, help="load seconds profiled")
    ap.add_argument("--top", type=int, default=15, help="hot spots listed")
    ap.add_argument(
        "--fastdds-profile",
        type=Path,
        default=None,
        help="Fast DDS XML profile for every process, e.g. configs/fastdds_large_clouds.xml "
        "(default: Fast DDS's builtin transports, whose 0.5 MB shared-memory segment sends "
        "larger samples as UDP fragments that best effort loses)",
    )
    ap.add_argument("--domain", type=int, default=rh.DOMAIN_ID, help="ROS_DOMAIN_ID to use")
    ap.add_argument("--role", choices=("trigger", "publish"), help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "trigger":
        return serve_trigger()
    if args.role == "publish":
        return publish_load(args)
    if args.quick:
        args.calls, args.seconds, args.profile_seconds = 100, 5.0, 2.0
    if not rh.built():
        print("ros2_ws is not built: run `make ros`", file=sys.stderr)
        return 1
    env = rh.workspace_env()
    env["ROS_DOMAIN_ID"] = str(args.domain)
    rh.activate(env)
    start = time.perf_counter()
    before = rh.shm_files()
    verdicts: list[str] = []
    met = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.fastdds_profile is not None:
                profile_xml = str(args.fastdds_profile.resolve())
                env[PROFILE_ENV] = os.environ[PROFILE_ENV] = profile_xml
                print(f"Fast DDS profile {profile_xml}")
            if args.only in (None, "latency"):
                verdicts += round_trips(args, env, Path(tmp))
            if args.only in (None, "load"):
                lines, met = sustained(args, env, Path(tmp))
                verdicts += lines
    finally:
        rh.clean_shm(before)
    if args.only == "profile" or args.profile or not met:
        profile(args)
    print()
    for line in verdicts:
        print(line)
    print(f"(domain {args.domain}, {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
