"""The simulated robot over ROS 2, across processes over DDS on loopback: thor_bridge publishes
the offline simulator as a robot is seen and memory_server remembers what it saw; planner_node
solves an ALFRED task through the ExecuteTask action, driving the bridge's step service."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import llm_server as scripted
from tests import ros_harness as rh
from tests.llm_server import MODEL, scripted_server

if not rh.built():
    pytest.skip("ros2_ws is not built: run `make ros`", allow_module_level=True)
# The nodes talk over UDP on loopback only: shared-memory segments of the Fast DDS participants
# of earlier test modules in this process (same domain) left later node pairs deaf at times.
ENV = {**rh.workspace_env(1), "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
rh.activate(ENV)
DOMAIN = int(ENV["ROS_DOMAIN_ID"])

from action_msgs.msg import GoalStatus  # noqa: E402
from embodmem_interfaces.action import ExecuteTask  # noqa: E402
from embodmem_interfaces.srv import QueryMemory, ThorStep  # noqa: E402
from embodmem_ros.planner_node import find_task  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from embodmem import EmbodiedMemory, ros_messages  # noqa: E402
from embodmem.errors import ValidationError  # noqa: E402
from sim.tasks import load_alfred_default  # noqa: E402
from sim.thor import observation_from_metadata  # noqa: E402

TASK_ID = "trial_T20190907_222640_487432"  # FloorPlan1: "Put a heated mug on the coffee machine."
LONG_TASK_ID = (
    "trial_T20190908_103955_680867"  # FloorPlan1, 535 actions: "Put a pot with sponge ..."
)
SERVER_ARGS = ["-m", "embodmem_ros.memory_server", "--ros-args", "-p", "memory.embedder:=hashing"]
BRIDGE_ARGS = ["-m", "embodmem_ros.thor_bridge", "--ros-args", "-p", "publish_rate_hz:=2.0"]
PLANNER_ARGS = ["-m", "embodmem_ros.planner_node"]


@pytest.fixture(scope="module")
def planner_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where planner_node saves its memory after every goal."""
    return tmp_path_factory.mktemp("planner") / "planner_memory.sqlite"


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, planner_snapshot: Path
) -> Iterator[dict[str, rh.NodeProcess]]:
    """memory_server, thor_bridge (FloorPlan1) and planner_node, each in its own process."""
    before = rh.shm_files()
    logs = tmp_path_factory.mktemp("ros_sim")
    planner_args = [*PLANNER_ARGS, "--ros-args", "-p", f"snapshot_path:={planner_snapshot}"]
    with (
        rh.node_process(SERVER_ARGS, ENV, logs / "memory_server.log") as server,
        rh.node_process(BRIDGE_ARGS, ENV, logs / "thor_bridge.log") as bridge,
        rh.node_process(planner_args, ENV, logs / "planner_node.log") as planner,
    ):
        yield {"memory_server": server, "thor_bridge": bridge, "planner_node": planner}
    rh.clean_shm(before)


@pytest.fixture(scope="module")
def client(nodes: dict[str, rh.NodeProcess]) -> Iterator[rh.Client]:
    c = rh.Client("embodmem_sim_test_client", DOMAIN)
    yield c
    c.close()


def test_bridge_feeds_the_memory_server(client: rh.Client) -> None:
    clouds: list[PointCloud2] = []
    odometry: list[Odometry] = []
    node = client.node
    node.create_subscription(
        PointCloud2, "/embodmem/points", clouds.append, qos_profile_sensor_data
    )
    node.create_subscription(Odometry, "/odom", odometry.append, qos_profile_sensor_data)
    visible: set[str] = set()
    for action in ("RotateRight", "MoveAhead", "RotateLeft", "RotateLeft"):
        r = client.call(ThorStep, "/embodmem/thor_step", action_json=json.dumps({"action": action}))
        assert r.message == "" or not r.success
        meta = json.loads(r.metadata_json)
        visible |= {o["objectType"] for o in meta["objects"] if o["visible"]}
    assert visible

    def remembered() -> set[str]:
        hits = client.call(QueryMemory, "/embodmem/query", labels=sorted(visible), k=200).hits
        return {h.label for h in hits}

    rh.wait_for(lambda: remembered() >= visible, 20, f"the memory server remembers {visible}")
    rh.wait_for(lambda: clouds and odometry, 20, "a point cloud and odometry")
    points, _ = ros_messages.cloud_to_points(clouds[-1], 10**6)
    assert len(points) > 100
    camera = observation_from_metadata(meta).agent_pose  # where the last step left the robot
    rh.wait_for(
        lambda: ros_messages.pose_from_odometry(odometry[-1], "map") == camera, 20, "odometry"
    )

    for action_json, why in (("not json", "action_json"), ('{"action": "Fly"}', "Invalid action")):
        refused = client.call(ThorStep, "/embodmem/thor_step", action_json=action_json)
        assert not refused.success and why in refused.message and not refused.metadata_json


def test_bridge_records_a_bag_that_replays_without_ros(
    nodes: dict[str, rh.NodeProcess], client: rh.Client, tmp_path: Path
) -> None:
    bag = tmp_path / "bridge_bag"
    args = ["-m", "embodmem_ros.thor_bridge", "--ros-args", "-r", "__ns:=/recorder"]
    args += ["-p", "publish_rate_hz:=0.0", "-p", f"bag_path:={bag}"]  # after actions only
    seen: set[str] = set()
    actions = ("RotateLeft", "MoveAhead", "LookDown", "RotateRight")
    with rh.node_process(args, ENV, tmp_path / "recorder.log"):
        for action in actions:
            r = client.call(
                ThorStep, "/recorder/thor_step", action_json=json.dumps({"action": action})
            )
            meta = json.loads(r.metadata_json)
            seen |= {o["objectId"] for o in meta["objects"] if o["visible"]}
    assert seen

    out = tmp_path / "bag_memory.json"
    done = rh.cli_without_ros("ingest-bag", str(bag), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    memory = EmbodiedMemory.load(out)
    assert {o.source_id for o in memory.scene_graph.objects()} == seen  # what it saw, no more
    assert memory.observations == 2 * len(actions)  # detections and a depth cloud per action
    assert "| /odom " in done.stdout and "| /recorder/points " in done.stdout


def test_find_task() -> None:
    tasks = load_alfred_default()
    task = find_task(tasks, "", json.dumps({"task_id": TASK_ID}))
    assert find_task(tasks, f"  {task.instruction} ", "") is task
    with pytest.raises(ValidationError, match="instruction"):
        find_task(tasks, "juggle the fridge", "")


def execute(
    client: rh.Client,
    goal: Any,
    timeout: float,
    cancel: bool = False,
    server: str = "/embodmem/execute_task",
) -> tuple[Any, list[Any], int]:
    """Send an ExecuteTask goal (cancelled at its first feedback with `cancel`); its result,
    the feedback received and the goal's final status."""
    feedback: list[Any] = []
    action = ActionClient(client.node, ExecuteTask, server)
    assert action.wait_for_server(timeout_sec=20), "the planner's action server did not appear"
    done, first = threading.Event(), threading.Event()

    def on_feedback(message: Any) -> None:
        feedback.append(message.feedback)
        first.set()

    try:
        sent = action.send_goal_async(goal, feedback_callback=on_feedback)
        sent.add_done_callback(lambda _: done.set())
        assert done.wait(20) and sent.result().accepted
        done.clear()
        result = sent.result().get_result_async()
        result.add_done_callback(lambda _: done.set())
        if cancel:
            assert first.wait(20), "no feedback"
            sent.result().cancel_goal_async()
        assert done.wait(timeout), "the task did not end in time"
        return result.result().result, feedback, result.result().status
    finally:
        action.destroy()  # else the client node outlives close() and lingers in the graph


def test_planner_solves_an_alfred_task(client: rh.Client, planner_snapshot: Path) -> None:
    goal = ExecuteTask.Goal(task_json=json.dumps({"task_id": TASK_ID}), max_steps=300)
    t0 = time.monotonic()
    result, feedback, status = execute(client, goal, 240)
    assert status == GoalStatus.STATUS_SUCCEEDED
    assert result.success, result.reason
    assert 0 < result.steps <= 300 and result.executed
    assert feedback and feedback[-1].step == result.steps  # one per action
    assert all(f.current_step for f in feedback)  # every action belongs to a skill
    assert [f.current_step for f in feedback if f.current_step.startswith("pickup")]
    print(f"ExecuteTask {TASK_ID}: {result.steps} actions in {time.monotonic() - t0:.1f} s")

    # The memory server saw the episode too: the mug the agent heated is remembered.
    hits = client.call(QueryMemory, "/embodmem/query", labels=["Mug", "CoffeeMachine"], k=20).hits
    assert {"Mug", "CoffeeMachine"} <= {h.label for h in hits}
    # And the planner saved its own memory of the goal (snapshot_path).
    saved = EmbodiedMemory.load(planner_snapshot)
    assert {"Mug", "CoffeeMachine"} <= {o.label for o in saved.scene_graph.objects()}

    unknown, _, status = execute(client, ExecuteTask.Goal(instruction="juggle the fridge"), 20)
    assert not unknown.success and "instruction" in unknown.reason
    assert status == GoalStatus.STATUS_ABORTED


def test_planner_node_plans_with_an_llm_endpoint(
    nodes: dict[str, rh.NodeProcess], client: rh.Client, tmp_path: Path
) -> None:
    args = ["-m", "embodmem_ros.planner_node", "--ros-args", "-r", "__ns:=/llm"]
    with scripted_server() as llm:
        args += ["-p", "planner:=llm", "-p", f"llm_base_url:={llm.base_url}"]
        args += ["-p", f"llm_model:={MODEL}", "-p", "step_service:=/embodmem/thor_step"]
        llm.script(scripted.plan({"skill": "done"}))
        with rh.node_process(args, ENV, tmp_path / "llm_planner.log"):
            goal = ExecuteTask.Goal(task_json=json.dumps({"task_id": TASK_ID}), max_steps=50)
            result, _, status = execute(client, goal, 60, server="/llm/execute_task")
        prompt = json.dumps(llm.requests[0]["messages"])
    task = next(t for t in load_alfred_default() if t.task_id == TASK_ID)
    assert task.instruction in prompt  # the endpoint was asked to plan this task
    assert status == GoalStatus.STATUS_ABORTED and not result.success
    assert result.reason == "done" and not result.executed


def test_planner_goal_is_cancelled(client: rh.Client) -> None:
    long_task = json.dumps({"task_id": LONG_TASK_ID})
    result, feedback, status = execute(client, ExecuteTask.Goal(task_json=long_task), 60, True)
    assert status == GoalStatus.STATUS_CANCELED and result.reason == "cancelled"
    assert feedback and not result.success
