"""planner_node: the embodmem agent loop behind the ExecuteTask action (/embodmem/execute_task).

A goal names a task: `task_json` `{"task_id": "trial_..."}` (an ALFRED valid-seen task), else
`instruction` equal to one such task's instruction. `embodmem.planning.Agent` runs it with the
`planner` (symbolic by default) and the node's one `EmbodiedMemory`, carried from goal to goal
(made from `memory_config`, or restored from `snapshot_path` and saved there after each goal).
Its skills expand into THOR actions (`embodmem.planning.executor`), which `BridgeEnv` sends to
`thor_bridge` over the `thor_step` service: the simulated robot. Every action answers with the
event's metadata; the agent perceives only the visible objects in it, the task's goal checker
reads the full state (as in `embodmem demo`). Feedback after every action: actions so far, the
skill that action belongs to, the latest plan, the action's outcome. A cancel stops at the next
action.

Run: `source ros2_ws/install/setup.bash && python -m embodmem_ros.planner_node` (with
`python -m embodmem_ros.thor_bridge` running).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import orjson
from embodmem_interfaces.action import ExecuteTask
from embodmem_interfaces.srv import ThorStep
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from embodmem.config import MemoryConfig
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.planning import Agent, make_planner
from embodmem.planning.executor import StepRecord
from embodmem.planning.protocol import Plan, Planner, PlanRequest, TaskSpec
from embodmem.ros_messages import json_object
from embodmem_ros import convert
from embodmem_ros.spin import run_node
from sim.offline.event import Event
from sim.tasks import EpisodeError, Task, load_alfred_default

NAMESPACE = "embodmem"
RESET_TRIES = 3
# name -> (default, description); all are read once at start.
PARAMETERS: dict[str, tuple[Any, str]] = {
    "planner": ("symbolic", "embodmem planner: symbolic (offline) or llm"),
    "llm_base_url": (
        "",
        "llm: OpenAI-compatible endpoint (vLLM, Ollama...); '' = embedded SmolLM2",
    ),
    "llm_model": ("", "llm: the model served at llm_base_url"),
    "llm_timeout_s": (60.0, "llm: seconds one completion may take"),
    "step_service": ("thor_step", "ThorStep service of the robot (thor_bridge)"),
    "step_timeout_s": (30.0, "seconds one action may take before the goal aborts"),
    "max_steps": (1000, "THOR actions per goal when the goal says 0"),
    "memory_config": ("", "memory YAML (configs/memory.yaml) of a new memory; '' = defaults"),
    "snapshot_path": ("", "memory restored at start when present, saved after every goal"),
}


class Cancelled(Exception):
    """The action client cancelled the goal."""


class BridgeEnv:
    """A THOR controller (`reset`, `step` -> event with metadata) whose actions run on the
    robot behind a ThorStep service."""

    def __init__(self, node: Node, service: str, timeout_s: float) -> None:
        self.client = node.create_client(ThorStep, service, callback_group=ReentrantCallbackGroup())
        self.name = node.resolve_service_name(service)
        self.timeout_s = timeout_s
        self.last_event: Event | None = None

    def reset(self, scene: str | None = None, **kw: Any) -> Event:
        """Reset the robot's scene."""
        return self._call({"scene": scene, **kw}, reset=True)

    def step(self, action: Any = None, **kw: Any) -> Event:
        """Run one THOR action (a name or a dict, plus keyword arguments)."""
        args = {"action": action} if isinstance(action, str) else dict(action or {})
        return self._call({**args, **kw}, reset=False)

    def _call(self, args: dict[str, Any], reset: bool) -> Event:
        if not self.client.wait_for_service(timeout_sec=self.timeout_s):
            raise EmbodmemError(f"{self.name}: no robot answers")
        request = ThorStep.Request(action_json=convert.dumps(args), reset=reset)
        # A request sent before the service matched this client is lost: a reset (the first
        # call of every goal, and safe to repeat) is sent again, an action never is.
        response = None
        for _ in range(RESET_TRIES if reset else 1):
            response = self.client.call(
                request, timeout_sec=self.timeout_s / (RESET_TRIES if reset else 1)
            )
            if response is not None:
                break
        if response is None:
            raise EmbodmemError(f"{self.name}: no answer in {self.timeout_s} s")
        if not response.metadata_json:
            raise ValidationError("action", args, response.message)
        self.last_event = Event(orjson.loads(response.metadata_json))
        return self.last_event


class WatchedPlanner:
    """A planner whose latest plan is kept for feedback."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.name = planner.name
        self.skills: list[str] = []

    def reset(self, task: TaskSpec, memory: EmbodiedMemory) -> None:
        self.planner.reset(task, memory)

    def plan(self, request: PlanRequest) -> Plan:
        plan = self.planner.plan(request)
        self.skills = [s.call() for s in plan.skills]
        return plan


def find_task(tasks: list[Task], instruction: str, task_json: str) -> Task:
    """The vendored ALFRED task a goal names (task_json's task_id, else the instruction)."""
    wanted = json_object(task_json, "task_json").get("task_id")
    field, value = ("task_json.task_id", wanted) if wanted else ("instruction", instruction.strip())
    for task in tasks:
        if (task.task_id if wanted else task.instruction) == value:
            return task
    raise ValidationError(field, value, "names no vendored ALFRED valid-seen task")


class PlannerNode(Node):
    """The ExecuteTask action server."""

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__("planner_node", namespace=NAMESPACE)
        self.stopping = stopping  # set on SIGTERM / SIGINT: a running goal stops too
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=text, read_only=True)
            )
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.planner_name: str = p["planner"]
        self.planner_options: dict[str, Any] = (
            {
                "base_url": p["llm_base_url"] or None,
                "model": p["llm_model"] or None,
                "timeout": p["llm_timeout_s"],
            }
            if self.planner_name == "llm"
            else {}
        )
        self.max_steps: int = p["max_steps"]
        make_planner(self.planner_name, **self.planner_options)  # checked now, not at a goal
        self.snapshot_path: str = p["snapshot_path"]
        self.memory = self._initial_memory(p["memory_config"])
        self.tasks = load_alfred_default()
        self.env = BridgeEnv(self, p["step_service"], p["step_timeout_s"])
        self.busy = threading.Lock()  # one goal at a time: there is one robot
        ActionServer(
            self,
            ExecuteTask,
            "execute_task",
            execute_callback=self._execute,
            goal_callback=self._goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self.get_logger().info(f"{self.planner_name} planner on {self.env.name}")

    def _initial_memory(self, config: str) -> EmbodiedMemory:
        """The snapshot at snapshot_path when present, else a new memory (memory_config)."""
        if self.snapshot_path and Path(self.snapshot_path).exists():
            memory = EmbodiedMemory.load(self.snapshot_path)
            self.get_logger().info(f"restored {self.snapshot_path}")
            return memory
        return EmbodiedMemory(MemoryConfig.from_yaml(config) if config else None)

    def _save(self) -> None:
        """Save the memory after a goal (atomic: a crash keeps the previous snapshot)."""
        if not self.snapshot_path:
            return
        try:
            self.memory.save(self.snapshot_path)
        except (EmbodmemError, OSError) as exc:
            self.get_logger().error(f"saving {self.snapshot_path} failed: {exc}")

    def _goal(self, _: ExecuteTask.Goal) -> GoalResponse:
        return GoalResponse.REJECT if self.busy.locked() else GoalResponse.ACCEPT

    def _execute(self, goal: ServerGoalHandle) -> ExecuteTask.Result:
        """Run one task to its end; succeed when its goal holds, else abort with the reason."""
        with self.busy:
            try:
                return self._run(goal)
            finally:
                self._save()

    def _run(self, goal: ServerGoalHandle) -> ExecuteTask.Result:
        request, result = goal.request, ExecuteTask.Result()
        planner = WatchedPlanner(make_planner(self.planner_name, **self.planner_options))

        def on_step(record: StepRecord) -> None:
            if goal.is_cancel_requested or self.stopping.is_set():
                raise Cancelled
            outcome = "ok" if record.success else f"failed: {record.error}"
            goal.publish_feedback(
                ExecuteTask.Feedback(
                    step=record.step,
                    current_step=record.skill,
                    plan=planner.skills,
                    status=f"{record.action.get('action')} {outcome}",
                )
            )

        try:
            task = find_task(self.tasks, request.instruction, request.task_json)
            agent = Agent(planner, self.memory, self.env)
            out = agent.run(task, max_steps=request.max_steps or self.max_steps, on_step=on_step)
        except Cancelled:
            goal.canceled()
            result.reason = "cancelled"
            return result
        except (EmbodmemError, EpisodeError) as exc:
            goal.abort()
            result.reason = f"{type(exc).__name__}: {exc}"
            return result
        result.success, result.steps, result.reason = out.success, out.steps, out.reason
        result.executed = list(out.skills)
        goal.succeed() if out.success else goal.abort()
        self.get_logger().info(f"{out.task_id}: success={out.success} in {out.steps} actions")
        return result


def main(args: list[str] | None = None) -> int:
    """Run the planner until SIGTERM / SIGINT (a goal under way stops at its next action);
    several threads, so a goal runs while the bridge's responses come in."""
    return run_node(
        "planner_node", PlannerNode, args, executor=lambda: MultiThreadedExecutor(num_threads=3)
    )


if __name__ == "__main__":
    sys.exit(main())
