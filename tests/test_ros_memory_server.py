"""The ROS 2 memory server, across processes over DDS on loopback: real iTHOR detections, a point
cloud and odometry in; queries, scene graph, context, save and load out, each equal to what the
same observations give `EmbodiedMemory` directly. Malformed messages are dropped while the node
keeps serving, and a killed server restarts from its last autosave. The message conversions,
incremental updates and markers are also checked in this process, without DDS."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from embodmem import EmbodiedMemory, MemoryConfig, Observation, Pose, graph_io, ros_messages
from embodmem.errors import ValidationError
from embodmem.types import yaw_quat
from embodmem.viz.style import CATEGORIES, rgba
from sim.bags import DETECTIONS, ODOMETRY, POINTS, STORAGES, BagWriter
from sim.thor import observation_from_metadata
from tests import ros_harness as rh
from tests.floorplan1 import APPLE, FRIDGE, START
from tests.helpers import box_surface_points, canonical, moved_copy

if not rh.built():
    pytest.skip("ros2_ws is not built: run `make ros`", allow_module_level=True)
ENV = rh.workspace_env()
rh.activate(ENV)
DOMAIN = int(ENV["ROS_DOMAIN_ID"])

from builtin_interfaces.msg import Time  # noqa: E402
from embodmem_interfaces.msg import ObjectObservationArray, SceneGraphUpdate  # noqa: E402
from embodmem_interfaces.srv import (  # noqa: E402
    GetContext,
    GetSceneGraph,
    LoadMemory,
    QueryMemory,
    SaveMemory,
)
from embodmem_ros import convert  # noqa: E402
from embodmem_ros.markers import marker_array  # noqa: E402
from embodmem_ros.memory_server import PARAMETERS  # noqa: E402
from embodmem_ros.updates import UpdateTracker  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import PointCloud2, PointField  # noqa: E402
from std_msgs.msg import Header, String  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

NS = 10**9
PARAMS = rh.ROOT / "configs" / "ros_memory_server.yaml"
LAUNCH = rh.ROOT / "ros2_ws" / "src" / "embodmem_ros" / "launch" / "memory_server.launch.xml"
FRAME = "map"
MAX_OBJECTS, MAX_POINTS = 100, 20_000  # the test server's limits
ODOM_POSE = Pose((-0.5, -1.5, 0.9), yaw_quat(math.pi))  # the robot, facing the fridge side
SERVER_ARGS = [
    "-m",
    "embodmem_ros.memory_server",
    "--ros-args",
    "--params-file",
    str(PARAMS),
    "-p",
    "memory.embedder:=hashing",
    "-p",
    "update_rate_hz:=5.0",
    "-p",
    "full_update_every:=5",
    "-p",
    "marker_rate_hz:=2.0",
    "-p",
    f"max_objects_per_message:={MAX_OBJECTS}",
    "-p",
    f"max_points_per_cloud:={MAX_POINTS}",
]


# ------------------------------------------------------------------------------ the data
@pytest.fixture(scope="module")
def scene(shared_data: Path) -> dict[str, dict]:
    """The real FloorPlan1 scene dump (ai2thor 5.0.0 objects keyed by objectId)."""
    return json.loads((shared_data / "ithor" / "objects" / "FloorPlan1_physics.json").read_text())


def thor_observation(
    objects: dict[str, dict], time_ns: int, agent: dict | None, action: str | None = None
) -> Observation:
    """An observation of THOR objects (and the agent, when given) in the kitchen."""
    meta: dict[str, Any] = {"objects": list(objects.values())}
    if agent is not None:
        meta["agent"] = agent
    return observation_from_metadata(meta, time_ns=time_ns, region="kitchen", action=action)


@pytest.fixture(scope="module")
def stream(scene: dict[str, dict]) -> list[tuple[str, Observation]]:
    """(topic, what the memory integrates) in publishing order: the whole kitchen with box
    surface points, a float32 room cloud, the apple moved, then the apple and fridge seen
    again with no pose in the message (odometry gives it)."""
    rng = np.random.default_rng(7)
    first = box_surface_points(thor_observation(scene, 1 * NS, START), 40, rng)
    cloud = rng.uniform((-2.9, -2.4, 0.0), (2.5, 2.4, 2.4), (2000, 3)).astype(np.float32)
    moved = moved_copy(scene, APPLE, 0.3, 0.0, 0.2)
    agent = {**START, "position": {"x": -1.0, "y": 0.901, "z": 0.0}}
    second = thor_observation(moved, 3 * NS, agent, action="PutObject")
    seen = {k: moved[k] for k in (APPLE, FRIDGE)}
    third = dataclasses.replace(thor_observation(seen, 4 * NS, None), agent_pose=ODOM_POSE)
    return [
        ("detections", first),
        ("points", Observation(2 * NS, points=cloud.astype(np.float64))),
        ("detections", second),
        ("detections_odom", third),
    ]


def direct_memory(stream: list[tuple[str, Observation]]) -> EmbodiedMemory:
    """The same observations given to `EmbodiedMemory` directly."""
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    for _, obs in stream:
        memory.integrate(obs)
    return memory


# ----------------------------------------------------------------------------- processes
@pytest.fixture(scope="module")
def ros_session() -> Iterator[None]:
    """Removes the Fast DDS shared-memory files this module's processes left behind."""
    before = rh.shm_files()
    yield
    rh.clean_shm(before)


@pytest.fixture(scope="module")
def server(ros_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[rh.NodeProcess]:
    """One memory server for the module, started with the project's parameter file."""
    log = tmp_path_factory.mktemp("ros") / "memory_server.log"
    with rh.node_process(SERVER_ARGS, ENV, log) as node:
        yield node


@pytest.fixture(scope="module")
def client(ros_session: None) -> Iterator[rh.Client]:
    c = rh.Client("embodmem_test_client", DOMAIN)
    yield c
    c.close()


class Collector:
    """Messages received on one topic, in order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, msg: Any) -> None:
        with self.lock:
            self.messages.append(msg)

    def all(self) -> list[Any]:
        with self.lock:
            return list(self.messages)


def wait_matched(publisher: Any, what: str) -> None:
    """Wait until the server subscribes to a publisher (then give best effort a moment)."""
    rh.wait_for(lambda: publisher.get_subscription_count() > 0, 20, f"{what} subscriber")


def graph_stamp(client: rh.Client) -> int:
    """The served memory's last observation time (ns)."""
    r = client.call(GetSceneGraph, "/embodmem/get_scene_graph")
    return ros_messages.stamp_to_ns(r.header.stamp)


def apply_updates(updates: list[SceneGraphUpdate]) -> dict[str, dict] | None:
    """The node records a subscriber holds after applying the updates from the first full one
    (None before any full update)."""
    nodes: dict[str, dict] | None = None
    for u in updates:
        if u.full_update:
            nodes = {}
        if nodes is None:
            continue
        for text in u.nodes_json:
            record = json.loads(text)
            nodes[record["id"]] = record
        for node_id in u.deleted_node_ids:
            nodes.pop(node_id, None)
    return nodes


def hits_of(memory: EmbodiedMemory, **query: Any) -> list[Any]:
    return [convert.hit_to_msg(h) for h in memory.query(**query)]


# --------------------------------------------------------------------- across processes
def test_server_serves_what_the_memory_gives_directly(
    server: rh.NodeProcess,
    client: rh.Client,
    stream: list[tuple[str, Observation]],
    tmp_path: Path,
) -> None:
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    updates, markers = Collector(), Collector()
    node.create_subscription(SceneGraphUpdate, "/embodmem/scene_graph_updates", updates, reliable)
    node.create_subscription(MarkerArray, "/embodmem/markers", markers, latched)
    detections = node.create_publisher(ObjectObservationArray, "/embodmem/detections", reliable)
    points = node.create_publisher(PointCloud2, "/embodmem/points", 5)
    odom = node.create_publisher(Odometry, "/odom", 5)

    def publish_odometry() -> None:
        msg = Odometry(header=Header(frame_id=FRAME), child_frame_id="base_link")
        msg.pose.pose = convert.pose_to_msg(ODOM_POSE)
        odom.publish(msg)

    node.create_timer(0.05, publish_odometry)  # the robot's odometry, throughout
    for publisher, what in ((detections, "detections"), (points, "points"), (odom, "odom")):
        wait_matched(publisher, what)
    client.call(GetSceneGraph, "/embodmem/get_scene_graph")  # the services are up
    time.sleep(0.5)  # best-effort readers accept samples once they matched the writer too

    for topic, obs in stream:
        if topic == "points":
            header = Header(stamp=convert.ns_to_stamp(obs.time_ns), frame_id=FRAME)
            points.publish(convert.points_to_cloud(obs.points, header))
        else:
            msg = convert.observation_to_msg(obs, FRAME)
            if topic == "detections_odom":
                msg.has_agent_pose = False  # the server takes the pose from odometry
            detections.publish(msg)
        # Topics are not ordered with each other: let each message land before the next.
        rh.wait_for(lambda t=obs.time_ns: graph_stamp(client) == t, 20, f"{topic} integrated")
    direct = direct_memory(stream)

    graph = client.call(GetSceneGraph, "/embodmem/get_scene_graph")
    assert graph.success and graph.header.frame_id == FRAME
    assert json.loads(graph.graph_json) == graph_io.to_dict(direct.scene_graph)
    assert graph.node_count == len(direct.scene_graph.nodes())

    queries = [
        {"text": "apple"},
        {"text": "something to keep food cold", "k": 3},
        {"near": (-1.0, 1.0, 0.9), "radius": 1.5},
        {"labels": ["Apple", "Fridge"], "since": 3 * NS},
    ]
    for q in queries:
        request: dict[str, Any] = {
            "text": q.get("text", ""),
            "labels": q.get("labels", []),
            "k": q.get("k", 0),
            "use_since": "since" in q,
            "since": convert.ns_to_stamp(q.get("since", 0)),
        }
        if "near" in q:
            request.update(use_near=True, near_point=convert.point(q["near"]), radius=q["radius"])
        r = client.call(QueryMemory, "/embodmem/query", **request)
        assert r.success, r.message
        assert list(r.hits) == hits_of(direct, **q), q
        assert r.hits, q
    apple = next(h for h in r.hits if h.label == "Apple")
    assert apple.source_id == APPLE and apple.last_seen == Time(sec=4)

    ctx = client.call(
        GetContext, "/embodmem/get_context", task="chill the apple", budget_tokens=400
    )
    want = direct.context("chill the apple", budget_tokens=400)
    assert ctx.success and (ctx.text, ctx.token_count) == (want.text, want.token_count)
    assert list(ctx.node_ids) == list(want.node_ids)

    saved = client.call(SaveMemory, "/embodmem/save", path=str(tmp_path / "served.json"))
    assert saved.success, saved.message
    assert saved.observations == len(stream) == direct.observations
    assert canonical(EmbodiedMemory.load(saved.path).to_dict()) == canonical(direct.to_dict())

    loaded = client.call(LoadMemory, "/embodmem/load", path=saved.path)
    assert loaded.success and loaded.objects == len(direct.scene_graph.objects())
    r = client.call(QueryMemory, "/embodmem/query", text="mug")
    assert list(r.hits) == hits_of(direct, text="mug")
    again = client.call(GetSceneGraph, "/embodmem/get_scene_graph")
    assert json.loads(again.graph_json) == graph_io.to_dict(direct.scene_graph)

    want_nodes = {n["id"]: n for n in graph_io.to_dict(direct.scene_graph)["nodes"]}
    rh.wait_for(lambda: apply_updates(updates.all()) == want_nodes, 10, "updates rebuild graph")
    seq = [u.sequence_number for u in updates.all()]
    assert seq == list(range(seq[0], seq[0] + len(seq)))  # reliable: no gaps
    last = rh.wait_for(lambda: markers.all(), 10, "markers")[-1]
    cubes = [m for m in last.markers if m.type == Marker.CUBE]
    assert len(cubes) == sum(n.bbox is not None for n in direct.scene_graph.objects())
    assert all(m.header.frame_id == FRAME for m in last.markers)


def test_malformed_messages_are_dropped_and_the_node_keeps_serving(
    server: rh.NodeProcess, client: rh.Client, stream: list[tuple[str, Observation]]
) -> None:
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    detections = node.create_publisher(ObjectObservationArray, "/embodmem/detections", reliable)
    points = node.create_publisher(PointCloud2, "/embodmem/points", reliable)
    odom = node.create_publisher(Odometry, "/odom", reliable)
    for publisher, what in ((detections, "detections"), (points, "points"), (odom, "odom")):
        wait_matched(publisher, what)
    before = client.call(GetSceneGraph, "/embodmem/get_scene_graph")
    good = stream[0][1]
    stamp = convert.ns_to_stamp(9 * NS)

    def detection(**change: Any) -> ObjectObservationArray:
        msg = convert.observation_to_msg(dataclasses.replace(good, time_ns=9 * NS), FRAME)
        for key, value in change.items():
            setattr(msg, key, value)
        return msg

    nan_pose = detection()
    nan_pose.agent_pose.position.x = math.nan
    nan_object = detection()
    nan_object.objects[5].position.y = math.nan
    bad_json = detection()
    bad_json.objects[0].states_json = "{not json"
    too_many = detection(objects=detection().objects * 2)  # 154 > MAX_OBJECTS
    big = np.zeros((MAX_POINTS + 1, 3))
    too_many_points = detection(points=convert.points_to_cloud(big, Header(frame_id=FRAME)))
    bad_index = detection()
    bad_index.points = convert.points_to_cloud(
        good.points, Header(frame_id=FRAME), np.full(len(good.points), 999)
    )
    for msg in (
        nan_pose,
        nan_object,
        bad_json,
        too_many,
        too_many_points,
        bad_index,
        detection(header=Header(stamp=stamp, frame_id="camera_link")),
    ):
        detections.publish(msg)
    nan_cloud = convert.points_to_cloud(
        np.full((10, 3), np.nan), Header(stamp=stamp, frame_id=FRAME)
    )
    empty_cloud = PointCloud2(header=Header(stamp=stamp, frame_id=FRAME))
    short_cloud = convert.points_to_cloud(np.ones((10, 3)), Header(stamp=stamp, frame_id=FRAME))
    short_cloud.width, short_cloud.row_step = 20, 20 * short_cloud.point_step  # holds 10
    for msg in (nan_cloud, empty_cloud, short_cloud):
        points.publish(msg)
    bad_odom = Odometry(header=Header(frame_id=FRAME))
    bad_odom.pose.pose.orientation.w = math.inf
    odom.publish(bad_odom)

    expected = [
        "agent_pose.position",
        "objects[5]/object.position",
        "objects[0]/states_json",
        "at most 100",
        "at most 20000 per cloud",
        "observation/observation.point_object_index",
        "header.frame_id='camera_link'",
        "dropped a message on points",
        "empty cloud",
        "points.data",
        "dropped a message on odometry",
    ]
    rh.wait_for(lambda: all(text in server.output() for text in expected), 10, "every drop logged")
    after = client.call(GetSceneGraph, "/embodmem/get_scene_graph")
    assert after.success and after.graph_json == before.graph_json
    assert server.proc.poll() is None
    r = client.call(QueryMemory, "/embodmem/query", text="apple", k=0)
    assert r.success and r.hits
    for bad in ({"k": 0}, {"text": "x", "use_near": True, "near_node_id": "O99999"}):
        r = client.call(QueryMemory, "/embodmem/query", **bad)
        assert not r.success and r.message
    r = client.call(GetContext, "/embodmem/get_context", task="", budget_tokens=10)
    assert not r.success and "task" in r.message
    r = client.call(LoadMemory, "/embodmem/load", path="/nonexistent/memory.json")
    assert not r.success and "no such snapshot" in r.message
    r = client.call(SaveMemory, "/embodmem/save", path=str(PARAMS))  # not a snapshot: refused
    assert not r.success and PARAMS.read_text().startswith("# Parameters")


def test_killed_server_restarts_from_its_autosave(
    ros_session: None,
    client: rh.Client,
    stream: list[tuple[str, Observation]],
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "robot.sqlite"
    args = [
        *SERVER_ARGS,
        "-r",
        "__ns:=/robot",
        "-p",
        f"snapshot_path:={snapshot}",
        "-p",
        "autosave_period_s:=0.2",
    ]
    with rh.node_process(args, ENV, tmp_path / "first.log") as first:
        detections = client.node.create_publisher(
            ObjectObservationArray, "/robot/detections", QoSProfile(depth=10)
        )
        wait_matched(detections, "detections")
        detections.publish(convert.observation_to_msg(stream[0][1], FRAME))
        rh.wait_for(lambda: snapshot.exists(), 20, "autosave")
        graph = rh.wait_for(
            lambda: (g := client.call(GetSceneGraph, "/robot/get_scene_graph")).node_count and g,
            10,
            "detections integrated",
        )
        rh.wait_for(lambda: EmbodiedMemory.load(snapshot).observations == 1, 10, "saved")
        first.kill()
    fresh = rh.Client("embodmem_restart_client", DOMAIN)  # knows nothing of the killed server
    try:
        with rh.node_process(args, ENV, tmp_path / "second.log") as second:
            restored = fresh.call(GetSceneGraph, "/robot/get_scene_graph")
            assert restored.graph_json == graph.graph_json
            assert "restored" in second.output()
    finally:
        fresh.close()


# ------------------------------------------------------------------ in this process only
def test_observation_survives_the_message_bit_exact(stream: list[tuple[str, Observation]]) -> None:
    for _, obs in stream:
        msg = convert.observation_to_msg(obs, FRAME)
        wire = deserialize_message(serialize_message(msg), ObjectObservationArray)
        back = ros_messages.observation_from_msg(wire, "/" + FRAME, None, 1000, 10**6)
        assert back.objects == obs.objects and back.agent_pose == obs.agent_pose
        assert (back.region, back.action, back.time_ns) == (obs.region, obs.action, obs.time_ns)
        if obs.points is None:
            assert back.points is None
        else:
            assert np.array_equal(back.points, obs.points)
            if obs.point_object_index is not None:
                assert np.array_equal(back.point_object_index, obs.point_object_index)
    with pytest.raises(ValidationError, match="header.frame_id"):
        ros_messages.observation_from_msg(msg, "odom", None, 1000, 10**6)
    with pytest.raises(ValidationError, match="at most 1"):
        ros_messages.observation_from_msg(msg, FRAME, None, 1, 10**6)


INTERFACE_MSGS = rh.INSTALL / "embodmem_interfaces" / "share" / "embodmem_interfaces" / "msg"


@pytest.mark.parametrize("storage", STORAGES)
def test_a_recorded_bag_gives_the_memory_what_the_topics_give(
    stream: list[tuple[str, Observation]], tmp_path: Path, storage: str
) -> None:
    bag = tmp_path / "robot_bag"
    odom = Odometry(header=Header(stamp=convert.ns_to_stamp(3 * NS + 1), frame_id=FRAME))
    odom.pose.pose = convert.pose_to_msg(ODOM_POSE)
    nan_pose = convert.observation_to_msg(dataclasses.replace(stream[0][1], time_ns=5 * NS), FRAME)
    nan_pose.agent_pose.position.x = math.nan
    with BagWriter(bag, [INTERFACE_MSGS], storage) as writer:
        for topic, obs in stream:
            if topic == "points":
                header = Header(stamp=convert.ns_to_stamp(obs.time_ns), frame_id=FRAME)
                cloud = convert.points_to_cloud(obs.points, header)
                writer.write("/embodmem/points", POINTS, obs.time_ns, serialize_message(cloud))
                continue
            msg = convert.observation_to_msg(obs, FRAME)
            if topic == "detections_odom":  # its pose comes from the odometry before it
                msg.has_agent_pose = False
                writer.write("/odom", ODOMETRY, obs.time_ns - 1, serialize_message(odom))
            writer.write("/embodmem/detections", DETECTIONS, obs.time_ns, serialize_message(msg))
        writer.write("/embodmem/detections", DETECTIONS, 5 * NS, serialize_message(nan_pose))
        chatter = String(data="not for memory")
        writer.write("/chatter", "std_msgs/msg/String", 6 * NS, serialize_message(chatter))

    config = tmp_path / "memory.yaml"
    config.write_text("memory:\n  embedder: hashing\n")
    out = tmp_path / "replayed.json"
    args = ["ingest-bag", str(bag), "--out", str(out), "--config", str(config), "--quiet"]
    done = rh.cli_without_ros(*args)
    assert done.returncode == 0, done.stderr
    direct = direct_memory(stream)
    assert canonical(EmbodiedMemory.load(out).to_dict()) == canonical(direct.to_dict())
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "| /" in line}
    assert set(rows) == {"/embodmem/detections", "/embodmem/points", "/odom"}  # not /chatter
    assert "agent_pose.position[] (1)" in rows["/embodmem/detections"]


def test_point_cloud_layouts() -> None:
    pts = np.arange(18, dtype=np.float64).reshape(6, 3) / 4
    cloud = convert.points_to_cloud(pts, Header(), np.array([0, 1, -1, 0, 1, -1]), np.float64)
    xyz, index = ros_messages.cloud_to_points(cloud, 10)
    assert np.array_equal(xyz, pts) and index.tolist() == [0, 1, -1, 0, 1, -1]
    assert ros_messages.cloud_to_points(cloud, 10, with_index=False)[1] is None
    # An organised 2 x 3 big-endian float32 cloud with padding in every point and row, one
    # invalid (NaN) point.
    step, row = 16, 16 * 3 + 8
    raw = np.zeros((2, row), np.uint8)
    values = pts.astype(">f4")
    values[4] = np.nan
    for i in range(6):
        r, c = divmod(i, 3)
        raw[r, c * step + 4 : c * step + 16] = np.frombuffer(values[i].tobytes(), np.uint8)
    organised = PointCloud2(
        height=2, width=3, is_bigendian=True, point_step=step, row_step=row, data=raw.tobytes()
    )
    organised.fields = [
        PointField(name=name, offset=4 + 4 * i, datatype=PointField.FLOAT32, count=1)
        for i, name in enumerate("xyz")
    ]
    xyz, index = ros_messages.cloud_to_points(organised, 10)
    assert index is None and np.array_equal(xyz, np.delete(pts, 4, axis=0).astype(np.float32))
    with pytest.raises(ValidationError, match="at most 5"):
        ros_messages.cloud_to_points(organised, 5)
    organised.fields = organised.fields[:2]
    with pytest.raises(ValidationError, match="no field 'z'"):
        ros_messages.cloud_to_points(organised, 10)
    short = convert.points_to_cloud(pts, Header())
    short.height = 2
    with pytest.raises(ValidationError, match="points.data"):
        ros_messages.cloud_to_points(short, 100)


def test_incremental_updates_rebuild_the_graph(stream: list[tuple[str, Observation]]) -> None:
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    tracker = UpdateTracker(full_every=100)
    header = Header(frame_id=FRAME)
    sent = []
    for _, obs in stream:
        memory.integrate(obs)
        sent.append(tracker.update(memory, header))
    assert sent[0].full_update and not any(u and u.full_update for u in sent[1:])
    assert sent[1] is None  # the cloud changed no node, state or edge
    moved = sent[2]
    assert any(json.loads(n)["label"] == "Apple" for n in moved.nodes_json)
    assert {c.field for c in moved.changes} >= {"position"}
    assert len(moved.nodes_json) < len(sent[0].nodes_json)
    memory.forget([memory.scene_graph.object_by_source(APPLE).node_id])
    sent.append(tracker.update(memory, header))
    assert sent[-1].deleted_node_ids and sent[-1].evicted_node_ids
    want = {n["id"]: n for n in graph_io.to_dict(memory.scene_graph)["nodes"]}
    assert apply_updates([u for u in sent if u is not None]) == want
    assert [u.sequence_number for u in sent if u is not None] == [1, 2, 3, 4]
    assert tracker.update(memory, header) is None
    tracker.reset()
    assert tracker.update(memory, header).full_update
    ticker = UpdateTracker(full_every=3)  # ticks of an unchanged memory are skipped...
    assert ticker.update(memory, header).full_update and ticker.skip() and ticker.skip()
    assert not ticker.skip() and ticker.update(memory, header).full_update  # ...but full ones


def test_markers_draw_the_memory_in_the_viewer_colours(
    stream: list[tuple[str, Observation]],
) -> None:
    memory = direct_memory(stream)
    markers = marker_array(memory, Header(frame_id=FRAME), layer_offset=1.5).markers
    assert markers[0].action == Marker.DELETEALL
    cubes = [m for m in markers if m.type == Marker.CUBE]
    label = next(m for m in markers if m.ns == "labels" and m.text.startswith("Fridge"))
    box = next(m for m in cubes if m.id == label.id)
    assert box.pose.position.x == pytest.approx(
        memory.scene_graph.object_by_source(FRIDGE).bbox.center[0], abs=1e-4
    )
    r, g, b, _ = rgba(CATEGORIES["appliance"][0])
    assert (box.color.r, box.color.g, box.color.b) == pytest.approx((r, g, b))
    assert {m.ns for m in markers} >= {"objects", "labels", "places", "rooms", "relations/on"}
    room = next(m for m in markers if m.ns == "rooms")
    top = max(b.center[2] + b.size[2] / 2 for o in memory.scene_graph.objects() if (b := o.bbox))
    assert room.pose.position.z > top + 1.5  # layers lifted above the scene
    assert len({(m.ns, m.id) for m in markers[1:]}) == len(markers) - 1


def test_launch_file_and_parameter_file_match_the_node() -> None:
    launch = ET.parse(LAUNCH).getroot()
    node = launch.find("node")
    assert (node.get("pkg"), node.get("exec")) == ("embodmem_ros", "memory_server")
    assert (rh.INSTALL / "embodmem_ros" / "lib" / "embodmem_ros" / "memory_server").is_file()
    share = rh.INSTALL / "embodmem_ros" / "share" / "embodmem_ros"
    assert (share / "launch" / LAUNCH.name).is_file()
    assert (share / "config" / PARAMS.name).read_text() == PARAMS.read_text()
    params = yaml.safe_load(PARAMS.read_text())["/**/memory_server"]["ros__parameters"]
    memory = params.pop("memory")
    assert set(params) == set(PARAMETERS)
    assert all(type(params[k]) is type(default) for k, (default, _) in PARAMETERS.items())
    defaults = dataclasses.asdict(MemoryConfig())
    assert memory == {k: 0.0 if v is None else v for k, v in defaults.items()}
