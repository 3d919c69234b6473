"""thor_bridge: the offline THOR simulator seen as a robot, and driven as one.

Names are relative to the node's namespace (`/embodmem` unless remapped):

- publishes `detections` (embodmem_interfaces/ObjectObservationArray, reliable: the objects THOR
  reports visible, `sim.thor.observation_from_metadata(..., visible_only=True)`, with the camera
  pose), `points` (sensor_msgs/PointCloud2, best effort: the depth frame back-projected into the
  world frame, `sim.thor_env.observation_from_event`) and `/odom` (nav_msgs/Odometry, best
  effort: the camera pose) after every action, and again at `publish_rate_hz`;
- serves `thor_step` (embodmem_interfaces/ThorStep): one THOR action as JSON, or a reset; the
  answer carries THOR's success, error message and the event's full metadata (what a simulated
  task's goal checker reads; the memory only ever gets the visible objects);
- records everything it publishes into a rosbag2 at `bag_path` when set (`sim.bags.BagWriter`:
  the CDR bytes as sent, with their definitions; `embodmem ingest-bag` reads it without ROS).

The simulator starts on `scene`, or on the ALFRED valid-seen task `task_id` (its recorded layout
and start pose, `sim.tasks.episode.start_episode`). The node converts, nothing more.

Run: `source ros2_ws/install/setup.bash && python -m embodmem_ros.thor_bridge --ros-args
-p scene:=FloorPlan1`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import orjson
from ament_index_python.packages import get_package_share_directory
from embodmem_interfaces.msg import ObjectObservationArray
from embodmem_interfaces.srv import ThorStep
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from embodmem.errors import EmbodmemError
from embodmem.ros_messages import json_object
from embodmem.types import Observation
from embodmem_ros import convert
from embodmem_ros.spin import run_node
from sim.bags import DETECTIONS, ODOMETRY, POINTS, BagWriter
from sim.offline import OfflineController
from sim.tasks import load_alfred_default, start_episode
from sim.thor_env import observation_from_event

NAMESPACE = "embodmem"
# name -> (default, description); all are read once at start.
PARAMETERS: dict[str, tuple[Any, str]] = {
    "scene": ("FloorPlan1", "iTHOR scene to start in (ignored when task_id is set)"),
    "task_id": ("", "ALFRED valid-seen task to start (its layout and start pose); '' = none"),
    "world_frame": ("map", "frame of everything published"),
    "region": ("", "room name the detections carry; '' = none"),
    "depth": (True, "render depth (and instance) frames and publish them as points"),
    "point_stride": (4, "back-project every n-th depth pixel in each direction"),
    "publish_rate_hz": (1.0, "republish the current view this often; 0 = after actions only"),
    "bag_path": ("", "also record everything published to this new rosbag2 folder; '' = none"),
    "bag_storage": ("mcap", "storage of the recorded bag: mcap or sqlite3"),
}


def _json(value: Any) -> str:
    """JSON text of THOR metadata (numpy values included)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class ThorBridge(Node):
    """One offline THOR controller behind ROS topics and a step service."""

    def __init__(self) -> None:
        super().__init__("thor_bridge", namespace=NAMESPACE)
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=text, read_only=True)
            )
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.world_frame: str = p["world_frame"]
        self.region: str = p["region"]
        self.stride: int = p["point_stride"]
        self.depth: bool = p["depth"]
        self.env = OfflineController(
            p["scene"], render_depth_image=self.depth, render_instance_segmentation=self.depth
        )
        self.event = self._start(p["task_id"])
        self.bag = self._bag(p["bag_path"], p["bag_storage"])
        reliable = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
        )
        self.detections = self.create_publisher(ObjectObservationArray, "detections", reliable)
        self.points = self.create_publisher(PointCloud2, "points", qos_profile_sensor_data)
        self.odom = self.create_publisher(Odometry, "/odom", qos_profile_sensor_data)
        self.types = {self.detections: DETECTIONS, self.points: POINTS, self.odom: ODOMETRY}
        self.create_service(ThorStep, "thor_step", self._step)
        if p["publish_rate_hz"] > 0:
            self.create_timer(1.0 / p["publish_rate_hz"], self._publish)
        self.get_logger().info(f"simulating {self.env.scene} in frame {self.world_frame!r}")

    @staticmethod
    def _bag(path: str, storage: str) -> BagWriter | None:
        """The bag recording what is published (definitions from the installed interfaces)."""
        if not path:
            return None
        share = Path(get_package_share_directory("embodmem_interfaces"))
        return BagWriter(path, [share / "msg"], storage)

    def _send(self, publisher: Any, msg: Any, time_ns: int) -> None:
        """Publish, and record in the bag when there is one."""
        publisher.publish(msg)
        if self.bag is not None:
            self.bag.write(
                publisher.topic_name, self.types[publisher], time_ns, serialize_message(msg)
            )

    def close(self) -> None:
        """Stop the simulator; finish the bag."""
        self.env.stop()
        if self.bag is not None:
            self.bag.close()

    def _start(self, task_id: str) -> Any:
        """The first event: the scene as it is, or the ALFRED task's start."""
        if not task_id:
            return self.env.last_event
        tasks = {t.task_id: t for t in load_alfred_default()}
        if task_id not in tasks:
            raise EmbodmemError(f"task_id: {task_id!r} is not a vendored ALFRED valid-seen task")
        return start_episode(self.env, tasks[task_id])

    def _observation(self) -> Observation:
        """What the robot perceives now (visible objects, camera pose, depth points)."""
        obs = observation_from_event(
            self.event, self.get_clock().now().nanoseconds, visible_only=True, stride=self.stride
        )
        return dataclasses.replace(obs, region=self.region) if self.region else obs

    def _publish(self) -> None:
        """Publish the current view: detections, point cloud, odometry."""
        obs = self._observation()
        header = Header(stamp=convert.ns_to_stamp(obs.time_ns), frame_id=self.world_frame)
        cloud = obs.points
        objects = dataclasses.replace(obs, points=None, point_object_index=None)
        if obs.agent_pose is not None:
            odom = Odometry(header=header, child_frame_id="camera")
            odom.pose.pose = convert.pose_to_msg(obs.agent_pose)
            self._send(self.odom, odom, obs.time_ns)
        self._send(
            self.detections, convert.observation_to_msg(objects, self.world_frame), obs.time_ns
        )
        if cloud is not None and len(cloud):
            self._send(self.points, convert.points_to_cloud(cloud, header), obs.time_ns)

    def _step(self, request: ThorStep.Request, response: ThorStep.Response) -> Any:
        """Run one action (or reset), publish the view after it, answer with its metadata."""
        try:
            args = json_object(request.action_json, "action_json")
            if request.reset:
                self.event = self.env.reset(args.pop("scene", None), **args)
            else:
                self.event = self.env.step(args)
        except (EmbodmemError, TypeError, ValueError) as exc:
            response.success, response.message = False, f"{type(exc).__name__}: {exc}"
            return response
        meta = self.event.metadata
        response.success = bool(meta["lastActionSuccess"])
        response.message = meta.get("errorMessage") or ""
        response.metadata_json = _json(meta)
        self._publish()
        return response


def main(args: list[str] | None = None) -> int:
    """Run the bridge until SIGTERM / SIGINT, stopping the simulator on the way out."""
    return run_node("thor_bridge", lambda stop: ThorBridge(), args, close=ThorBridge.close)


if __name__ == "__main__":
    sys.exit(main())
