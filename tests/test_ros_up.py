"""`embodmem ros up --with-sim --with-planner` across processes: the node set starts, the memory
server answers with what the simulated robot sees, the planner's action server is up, and one
TERM stops everything within seconds. The launch files name the same node set."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import ros_harness as rh

if not rh.built():
    pytest.skip("ros2_ws is not built: run `make ros`", allow_module_level=True)
# The nodes talk over UDP on loopback only: shared-memory segments of the Fast DDS participants
# of earlier test modules in this process (same domain) left later node pairs deaf at times.
ENV = {**rh.workspace_env(2), "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
rh.activate(ENV)
DOMAIN = int(ENV["ROS_DOMAIN_ID"])

from embodmem_interfaces.action import ExecuteTask  # noqa: E402
from embodmem_interfaces.srv import QueryMemory  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402

from sim.ros_up import PARAMS, node_set  # noqa: E402

LAUNCH = rh.ROOT / "ros2_ws" / "src" / "embodmem_ros" / "launch"
CLI = [sys.executable, "-m", "embodmem.cli"]


def alive(pid: int) -> bool:
    """Whether a process with this id still runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_ros_up_starts_serves_and_stops(tmp_path: Path) -> None:
    before = rh.shm_files()
    log, params = tmp_path / "ros_up.log", tmp_path / "params.yaml"
    config = yaml.safe_load(PARAMS.read_text())
    config["/**/memory_server"]["ros__parameters"]["memory"]["embedder"] = "hashing"  # no model
    params.write_text(yaml.safe_dump(config))
    with log.open("wb") as out:
        up = subprocess.Popen(
            [*CLI, "ros", "up", "--with-sim", "--with-planner", "--params", str(params)],
            env=ENV,
            cwd=rh.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = rh.Client("embodmem_ros_up_test", DOMAIN)
    try:
        # The bridge republishes its view every second: the server soon remembers objects.
        def seen() -> list[Any]:
            """Remembered objects; a request sent before the server matched this client is
            lost, so a late answer is asked again."""
            try:
                r = client.call(QueryMemory, "/embodmem/query", 3.0, use_since=True, k=5)
            except TimeoutError:
                return []
            return r.hits

        rh.wait_for(seen, 60, "remembered objects")
        action = ActionClient(client.node, ExecuteTask, "/embodmem/execute_task")
        try:
            assert action.wait_for_server(timeout_sec=20)
        finally:
            action.destroy()
    finally:
        client.close()
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", log.read_text())]
        t0 = time.monotonic()
        up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(10)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
        finally:
            rh.clean_shm(before)
    stopped_s = time.monotonic() - t0
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert len(pids) == 3 and not any(alive(p) for p in pids), text[-3000:]
    assert stopped_s < 5 and "ignored TERM" not in text and "all nodes stopped" in text
    print(f"ros up stopped 3 nodes {stopped_s:.2f} s after TERM")


def test_launch_files_name_the_node_set() -> None:
    names = [n.name for n in node_set(True, True, "FloorPlan1", Path("p.yaml"))]
    nodes = ET.parse(LAUNCH / "sim.launch.xml").getroot().findall("node")
    assert [(n.get("pkg"), n.get("exec")) for n in nodes] == [("embodmem_ros", x) for x in names]
    lib = rh.INSTALL / "embodmem_ros" / "lib" / "embodmem_ros"
    assert all((lib / name).is_file() for name in names)
    assert (
        rh.INSTALL / "embodmem_ros" / "share" / "embodmem_ros" / "launch" / "sim.launch.xml"
    ).is_file()
    assert [n.name for n in node_set(False, False, "x", Path("p.yaml"))] == ["memory_server"]


def test_ros_up_refuses_an_unbuilt_workspace(tmp_path: Path) -> None:
    from embodmem.errors import EmbodmemError
    from sim.ros_up import workspace_env

    before = dict(os.environ)
    with pytest.raises(EmbodmemError, match="make ros"):
        workspace_env(tmp_path / "setup.bash")
    assert dict(os.environ) == before
