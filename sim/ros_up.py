"""`embodmem ros up`: the ROS 2 node set as subprocesses, for pip-only ROS (no `ros2 launch`).

Starts memory_server (with `configs/ros_memory_server.yaml`), and with `--with-sim` thor_bridge
on the offline simulator, with `--with-planner` planner_node, each `python -m embodmem_ros.<node>`
in the environment `source ros2_ws/install/setup.bash` gives (ROS_DOMAIN_ID and the discovery
range are inherited). It runs until SIGINT / SIGTERM or until a node exits, then stops the rest:
TERM, `grace_s` to exit, KILL. The same set for a full ROS install: `launch/sim.launch.xml`.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from embodmem.errors import EmbodmemError

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "ros2_ws" / "install" / "setup.bash"
PARAMS = ROOT / "configs" / "ros_memory_server.yaml"
GRACE_S = 5.0


@dataclass(frozen=True)
class NodeSpec:
    """One node of the set: its name and `python` arguments."""

    name: str
    args: tuple[str, ...]


def node_set(with_sim: bool, with_planner: bool, scene: str, params: Path) -> list[NodeSpec]:
    """The nodes `ros up` starts, memory_server first."""
    nodes = [NodeSpec("memory_server", ("--params-file", str(params)))]
    if with_sim:
        nodes.append(NodeSpec("thor_bridge", ("-p", f"scene:={scene}")))
    if with_planner:
        nodes.append(NodeSpec("planner_node", ()))
    return [
        NodeSpec(n.name, ("-m", f"embodmem_ros.{n.name}", "--ros-args", *n.args)) for n in nodes
    ]


def workspace_env(setup: Path = SETUP) -> dict[str, str]:
    """This environment after `source ros2_ws/install/setup.bash`."""
    if not setup.is_file():
        raise EmbodmemError(f"{setup} is missing: build the ROS 2 workspace with `make ros`")
    out = subprocess.run(
        ["bash", "-c", f'source "{setup}" && env -0'], capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def stop_all(procs: dict[str, subprocess.Popen], grace_s: float) -> None:
    """TERM every running node, wait up to `grace_s` in all, KILL what is left."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for name, proc in procs.items():
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            print(f"ros up: {name} ignored TERM; killed", file=sys.stderr)
            proc.kill()
            proc.wait()


def up(nodes: list[NodeSpec], env: dict[str, str], grace_s: float = GRACE_S) -> int:
    """Run the nodes until a signal or until one exits; 0 on a signal, else that node's code."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    procs: dict[str, subprocess.Popen] = {}
    code = 0
    try:
        for node in nodes:
            procs[node.name] = subprocess.Popen([sys.executable, *node.args], env=env, cwd=ROOT)
            print(f"ros up: {node.name} started (pid {procs[node.name].pid})", flush=True)
        while not stop.wait(0.2):
            ended = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                print(f"ros up: {name} exited with {code}; stopping the rest", file=sys.stderr)
                break
    finally:
        stop_all(procs, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("ros up: all nodes stopped", flush=True)
    return code


def _ros_up(args: argparse.Namespace) -> int:
    nodes = node_set(args.with_sim, args.with_planner, args.scene, args.params)
    return up(nodes, workspace_env(), args.grace)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ros up` to the embodmem command line."""
    ros = sub.add_parser("ros", help="the ROS 2 nodes (ros2_ws)").add_subparsers(
        dest="ros_command", required=True
    )
    p = ros.add_parser("up", help="start memory_server (+ sim bridge, planner); Ctrl-C stops")
    p.add_argument("--with-sim", action="store_true", help="thor_bridge on the offline simulator")
    p.add_argument("--with-planner", action="store_true", help="planner_node (ExecuteTask)")
    p.add_argument("--scene", default="FloorPlan1", help="iTHOR scene of thor_bridge")
    p.add_argument("--params", type=Path, default=PARAMS, help="memory_server parameter file")
    p.add_argument("--grace", type=float, default=GRACE_S, help="s between TERM and KILL")
    p.set_defaults(func=_ros_up)
