"""memory_server: one `embodmem.EmbodiedMemory`, fed from ROS topics and served over ROS services.

Names are relative to the node's namespace (`/embodmem` unless remapped with `-r __ns:=...`):

- subscribes `detections` (embodmem_interfaces/ObjectObservationArray, reliable by default),
  `points` (sensor_msgs/PointCloud2, best effort: occupancy for the octree) and `/odom`
  (nav_msgs/Odometry, best effort: the agent pose of detections that carry none);
- serves `query`, `get_scene_graph`, `get_context`, `save`, `load`;
- publishes `scene_graph_updates` (SceneGraphUpdate, reliable, at `update_rate_hz`) and `markers`
  (visualization_msgs/MarkerArray, reliable + transient local, at most `marker_rate_hz`, only
  when the memory changed: transient local keeps the last one for late RViz windows);
- saves to `snapshot_path` every `autosave_period_s` when the memory changed, and on exit; on
  start restores that snapshot when it exists (`load_on_start`).

The node converts and calls the memory, nothing more (reading: `embodmem.ros_messages`; writing:
`embodmem_ros.convert`). A malformed message (NaN pose, unknown frame, empty or oversized cloud,
bad JSON) is logged and dropped before the memory changes; a failed request answers
success=false with the reason. Messages must be in `world_frame`: no TF lookups are made.

Run: `source ros2_ws/install/setup.bash && python -m embodmem_ros.memory_server --ros-args
--params-file configs/ros_memory_server.yaml`.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from embodmem_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
from embodmem_interfaces.srv import GetContext, GetSceneGraph, LoadMemory, QueryMemory, SaveMemory
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from embodmem import graph_io
from embodmem.config import MemoryConfig
from embodmem.errors import EmbodmemError
from embodmem.memory import EmbodiedMemory
from embodmem.ros_messages import MAX_OBJECTS, MAX_POINTS, MessageReader
from embodmem.types import Observation
from embodmem_ros import convert
from embodmem_ros.markers import marker_array
from embodmem_ros.spin import run_node
from embodmem_ros.updates import UpdateTracker

NAMESPACE = "embodmem"
WARN_EVERY_S = 1.0  # a repeated defect (same topic and field) is logged at most this often
# Node parameters besides the memory's own (`memory.<MemoryConfig field>`): name -> (default,
# description). All are read once at start.
PARAMETERS: dict[str, tuple[Any, str]] = {
    "world_frame": ("map", "frame of every accepted message and of everything published"),
    "snapshot_path": ("", "autosave / default save and load file (.json or .sqlite); '' = none"),
    "load_on_start": (True, "restore snapshot_path at start when it exists"),
    "autosave_period_s": (30.0, "seconds between autosaves of a changed memory; 0 = never"),
    "update_rate_hz": (1.0, "SceneGraphUpdate publications per second; 0 = none"),
    "full_update_every": (10, "every n-th update tick is a full update"),
    "marker_rate_hz": (1.0, "MarkerArray drawings per second at most, when changed; 0 = none"),
    "layer_offset": (1.0, "m: how far markers lift each scene-graph layer above the last"),
    "detections_reliable": (True, "detections QoS reliable (else best effort)"),
    "detections_depth": (100, "detections queue depth (KEEP_LAST)"),
    "sensor_depth": (5, "point cloud and odometry queue depth (KEEP_LAST, best effort)"),
    "max_objects_per_message": (MAX_OBJECTS, "larger detection messages are dropped"),
    "max_points_per_cloud": (MAX_POINTS, "larger point clouds are dropped"),
}


def _memory_defaults() -> dict[str, Any]:
    """`memory.*` parameter defaults: MemoryConfig's (None, never forgetting, as 0.0)."""
    defaults = MemoryConfig()
    out = {}
    for f in fields(MemoryConfig):
        value = getattr(defaults, f.name)
        out[f.name] = 0.0 if value is None else value
    return out


class MemoryServer(Node):
    """The ROS face of one `EmbodiedMemory`."""

    def __init__(self) -> None:
        super().__init__("memory_server", namespace=NAMESPACE)
        declared = {name: default for name, (default, _) in PARAMETERS.items()}
        texts = {name: text for name, (_, text) in PARAMETERS.items()}
        for name, default in _memory_defaults().items():
            declared[f"memory.{name}"] = default
            texts[f"memory.{name}"] = f"MemoryConfig.{name} (configs/memory.yaml)"
        for name, default in declared.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=texts[name], read_only=True)
            )
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.world_frame: str = p["world_frame"]
        self.snapshot_path: str = p["snapshot_path"]
        self.reader = MessageReader(
            self.world_frame, p["max_objects_per_message"], p["max_points_per_cloud"]
        )
        self.layer_offset: float = p["layer_offset"]
        self.autosave = p["autosave_period_s"] > 0 and bool(self.snapshot_path)
        self.memory = self._initial_memory(p["load_on_start"])
        self.tracker = UpdateTracker(p["full_update_every"])
        self.dirty = False  # changed since the last save
        self.drawn = False  # the markers published show the memory as it is
        self.told = False  # the updates published tell the memory as it is
        self.dropped: Counter[str] = Counter()  # messages dropped, by topic
        self._warned: dict[tuple[str, str], float] = {}  # (topic, field) -> last warning

        detections_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=p["detections_depth"],
            reliability=ReliabilityPolicy.RELIABLE
            if p["detections_reliable"]
            else ReliabilityPolicy.BEST_EFFORT,
        )
        sensor_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=p["sensor_depth"],
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
        updates_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
        )
        markers_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.create_subscription(
            ObjectObservationArray, "detections", self._on_detections, detections_qos
        )
        self.create_subscription(PointCloud2, "points", self._on_points, sensor_qos)
        self.create_subscription(Odometry, "/odom", self._on_odometry, sensor_qos)
        self.create_service(QueryMemory, "query", self._query)
        self.create_service(GetSceneGraph, "get_scene_graph", self._get_scene_graph)
        self.create_service(GetContext, "get_context", self._get_context)
        self.create_service(SaveMemory, "save", self._save)
        self.create_service(LoadMemory, "load", self._load)
        self.updates = self.create_publisher(SceneGraphUpdate, "scene_graph_updates", updates_qos)
        self.markers = self.create_publisher(MarkerArray, "markers", markers_qos)
        if p["update_rate_hz"] > 0:
            self.create_timer(1.0 / p["update_rate_hz"], self._publish_update)
        if p["marker_rate_hz"] > 0:
            self.create_timer(1.0 / p["marker_rate_hz"], self._publish_markers)
        if self.autosave:
            self.create_timer(p["autosave_period_s"], self._autosave)
        self.get_logger().info(
            f"serving a memory of {self.memory.observations} observations in frame "
            f"{self.world_frame!r}; snapshot {self.snapshot_path or 'none'}"
        )

    # ------------------------------------------------------------------ setup
    def _initial_memory(self, load_on_start: bool) -> EmbodiedMemory:
        """The snapshot at snapshot_path when asked for and present, else a new memory from the
        `memory.*` parameters; an unreadable snapshot stops the node (it must not be replaced)."""
        path = Path(self.snapshot_path) if self.snapshot_path else None
        if load_on_start and path is not None and path.exists():
            memory = EmbodiedMemory.load(path)
            self.get_logger().info(f"restored {path} ({memory.observations} observations)")
            return memory
        values = {
            f.name: self.get_parameter(f"memory.{f.name}").value for f in fields(MemoryConfig)
        }
        if values["forget_tau_s"] == 0.0:
            values["forget_tau_s"] = None
        return EmbodiedMemory(MemoryConfig(**values))

    def _header(self) -> Header:
        """Header of what is published: the world frame, the memory's last observation time."""
        return Header(
            stamp=convert.ns_to_stamp(self.memory.last_time_ns or 0), frame_id=self.world_frame
        )

    # ---------------------------------------------------------------- topics in
    def _integrate(self, topic: str, make: Callable[[], Observation]) -> None:
        """Convert and integrate one message; a bad one is logged, counted and dropped."""
        try:
            self.memory.integrate(make())
        except EmbodmemError as exc:
            self._drop(topic, exc)
        else:
            self._changed()

    def _changed(self) -> None:
        """The memory changed: to be saved, drawn and told again."""
        self.dirty = True
        self.drawn = self.told = False

    def _drop(self, topic: str, exc: EmbodmemError) -> None:
        """Log a dropped message: each kind of defect (topic, field whatever its index) at once,
        repeats at most once a second."""
        self.dropped[topic] += 1
        key = (topic, re.sub(r"\[\d+\]", "[]", getattr(exc, "field", type(exc).__name__)))
        now = time.monotonic()
        if now - self._warned.get(key, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned[key] = now
            self.get_logger().warning(
                f"dropped a message on {topic} ({self.dropped[topic]} so far): {exc}"
            )

    def _on_detections(self, msg: ObjectObservationArray) -> None:
        self._integrate("detections", lambda: self.reader.detections(msg))

    def _on_points(self, msg: PointCloud2) -> None:
        self._integrate("points", lambda: self.reader.points(msg))

    def _on_odometry(self, msg: Odometry) -> None:
        try:
            self.reader.odometry(msg)
        except EmbodmemError as exc:
            self._drop("odometry", exc)

    # ---------------------------------------------------------------- services
    def _answer(self, response: Any, fill: Callable[[Any], None]) -> Any:
        """Fill a response; a refused request says why (success=false) and changes nothing."""
        try:
            fill(response)
        except (EmbodmemError, OSError) as exc:
            response.success, response.message = False, f"{type(exc).__name__}: {exc}"
        else:
            response.success = True
        return response

    def _query(self, request: QueryMemory.Request, response: QueryMemory.Response) -> Any:
        def fill(r: QueryMemory.Response) -> None:
            hits = self.memory.query(**convert.query_kwargs(request))
            r.hits = [convert.hit_to_msg(h) for h in hits]

        return self._answer(response, fill)

    def _get_scene_graph(self, _: GetSceneGraph.Request, response: GetSceneGraph.Response) -> Any:
        def fill(r: GetSceneGraph.Response) -> None:
            graph = graph_io.to_dict(self.memory.scene_graph)
            r.header = self._header()
            r.sequence_number = self.tracker.sequence
            r.graph_json = convert.dumps(graph)
            r.node_count, r.edge_count = len(graph["nodes"]), len(graph["links"])

        return self._answer(response, fill)

    def _get_context(self, request: GetContext.Request, response: GetContext.Response) -> Any:
        def fill(r: GetContext.Response) -> None:
            ctx = self.memory.context(**convert.context_kwargs(request))
            r.text, r.token_count, r.dropped = ctx.text, ctx.token_count, ctx.dropped
            r.node_ids = list(ctx.node_ids)

        return self._answer(response, fill)

    def _path(self, requested: str) -> str:
        path = requested or self.snapshot_path
        if not path:
            raise EmbodmemError("path: none given and no snapshot_path parameter set")
        return path

    def _save(self, request: SaveMemory.Request, response: SaveMemory.Response) -> Any:
        def fill(r: SaveMemory.Response) -> None:
            r.path = str(self.memory.save(self._path(request.path)))
            r.observations = self.memory.observations
            if self.snapshot_path and Path(r.path).resolve() == Path(self.snapshot_path).resolve():
                self.dirty = False

        return self._answer(response, fill)

    def _load(self, request: LoadMemory.Request, response: LoadMemory.Response) -> Any:
        def fill(r: LoadMemory.Response) -> None:
            path = self._path(request.path)
            self.memory = EmbodiedMemory.load(path, request.snapshot_id or None)
            self.tracker.reset()
            self._changed()
            r.path, r.observations = path, self.memory.observations
            r.objects = len(self.memory.scene_graph.objects())
            self.get_logger().info(f"loaded {path} ({r.observations} observations)")

        return self._answer(response, fill)

    # ------------------------------------------------------------ periodic work
    def _publish_update(self) -> None:
        """The next SceneGraphUpdate; an unchanged memory is not diffed (on 2,000 objects a diff
        takes ~0.1 s of the one executor thread), only its due full updates are sent."""
        if self.told and self.tracker.skip():
            return
        self.told = True
        msg = self.tracker.update(self.memory, self._header())
        if msg is not None:
            self.updates.publish(msg)

    def _publish_markers(self) -> None:
        """Draw the memory when it changed since the last drawing (on 2,000 objects a drawing
        takes ~0.3 s, which would hold up every service call of an idle server)."""
        if self.drawn:
            return
        self.drawn = True
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.world_frame)
        self.markers.publish(marker_array(self.memory, header, self.layer_offset))

    def _autosave(self) -> None:
        """Save to snapshot_path when the memory changed (atomic: a crash keeps the last one)."""
        if not self.dirty:
            return
        try:
            self.memory.save(self.snapshot_path)
        except (EmbodmemError, OSError) as exc:
            self.get_logger().error(f"autosave to {self.snapshot_path} failed: {exc}")
        else:
            self.dirty = False

    def close(self) -> None:
        """Last autosave before the node goes away."""
        if self.autosave:
            self._autosave()


def main(args: list[str] | None = None) -> int:
    """Run the server until SIGTERM / SIGINT, saving once more on the way out."""
    return run_node("memory_server", lambda stop: MemoryServer(), args, close=MemoryServer.close)


if __name__ == "__main__":
    sys.exit(main())
