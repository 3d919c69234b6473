"""A burst of detections at memory_server: absorbed with bounded queues, the node keeps serving.

The server runs in its own process (DDS on loopback, this module's own domain); 1,000 detection
messages are published as fast as the client can, then the server must answer queries, hold at
most what its KEEP_LAST queue let through, and integrate a message sent after the burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embodmem.types import ObjectObservation, Observation, Pose, yaw_quat
from tests import ros_harness as rh

if not rh.built():
    pytest.skip("ros2_ws is not built: run `make ros`", allow_module_level=True)
ENV = {**rh.workspace_env(3), "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
rh.activate(ENV)
DOMAIN = int(ENV["ROS_DOMAIN_ID"])

from embodmem_interfaces.msg import ObjectObservationArray  # noqa: E402
from embodmem_interfaces.srv import QueryMemory, SaveMemory  # noqa: E402
from embodmem_ros import convert  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

NS = 10**9
BURST, OBJECTS = 1000, 50
QUEUE_DEPTH = 100  # the server's detections_depth
# A queue that kept every message of the burst would hold ~1,000 x 57 kB of Python message
# objects; bounded queues keep the server's growth well below that.
MAX_RSS_GROWTH_MB = 40
SERVER_ARGS = ["-m", "embodmem_ros.memory_server", "--ros-args", "-p", "memory.embedder:=hashing"]
SERVER_ARGS += ["-p", f"detections_depth:={QUEUE_DEPTH}", "-p", "update_rate_hz:=5.0"]
LABELS = ("Mug", "Apple", "Bowl", "Knife", "Book")


def detection(i: int, rng: np.random.Generator, label: str | None = None) -> Observation:
    """The i-th detection message of the stream: the same objects, jittered a little."""
    if label is not None:
        objects = [ObjectObservation(label, (0.0, 0.0, 1.0), id_hint="marker")]
    else:
        xyz = rng.uniform((-3, -3, 0), (3, 3, 2), (OBJECTS, 3)) * 0.01 + np.arange(OBJECTS)[
            :, None
        ] * (0.1, 0.05, 0.0)
        objects = [
            ObjectObservation(LABELS[j % len(LABELS)], tuple(xyz[j]), id_hint=f"obj{j}")
            for j in range(OBJECTS)
        ]
    pose = Pose((0.0, 0.0, 1.5), yaw_quat(0.0))
    return Observation((i + 1) * NS, tuple(objects), agent_pose=pose)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rh.NodeProcess]:
    before = rh.shm_files()
    log = tmp_path_factory.mktemp("ros_load") / "memory_server.log"
    with rh.node_process(SERVER_ARGS, ENV, log) as node:
        yield node
    rh.clean_shm(before)


@pytest.fixture(scope="module")
def client(server: rh.NodeProcess) -> Iterator[rh.Client]:
    c = rh.Client("embodmem_load_client", DOMAIN)
    yield c
    c.close()


def test_a_burst_of_detections_is_absorbed(
    server: rh.NodeProcess, client: rh.Client, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    reliable = QoSProfile(depth=QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    publisher = client.node.create_publisher(
        ObjectObservationArray, "/embodmem/detections", reliable
    )
    rh.wait_for(lambda: publisher.get_subscription_count() > 0, 20, "detections subscriber")
    client.call(QueryMemory, "/embodmem/query", text="mug")  # the services are up
    messages = [convert.observation_to_msg(detection(i, rng), "map") for i in range(BURST)]
    pid = server.proc.pid
    rss_before, peak = rss_mb(pid), [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        t0 = time.monotonic()
        for msg in messages:
            publisher.publish(msg)
        sent_s = time.monotonic() - t0
        t1 = time.monotonic()
        r = client.call(QueryMemory, "/embodmem/query", timeout=10, text="mug", k=5)
        answered_s = time.monotonic() - t1
        assert r.success and r.hits, r.message
        last = convert.observation_to_msg(detection(BURST + 10, rng, label="Marker"), "map")
        publisher.publish(last)

        def marker_found() -> bool:
            hits = client.call(QueryMemory, "/embodmem/query", labels=["Marker"], k=1).hits
            return bool(hits)

        rh.wait_for(marker_found, 20, "the message after the burst integrated")
    finally:
        done.set()
        watcher.join()
    saved = client.call(SaveMemory, "/embodmem/save", path=str(tmp_path / "after_burst.json"))
    assert saved.success, saved.message
    growth = max(peak[0], rss_mb(pid)) - rss_before
    print(
        f"burst of {BURST} x {OBJECTS} objects sent in {sent_s:.2f} s; query answered in "
        f"{answered_s * 1000:.0f} ms; {saved.observations} observations integrated; "
        f"server RSS +{growth:.1f} MB"
    )
    assert 1 < saved.observations <= BURST + 1  # KEEP_LAST drops are expected, nothing extra
    assert growth < MAX_RSS_GROWTH_MB, f"server RSS grew {growth:.1f} MB during the burst"
    assert server.proc.poll() is None
