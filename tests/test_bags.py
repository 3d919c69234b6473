"""Bags without ROS: `sim.bags` refuses what is not a bag of memory messages, clearly.

The replay of a recorded robot stream into memory is checked against the memory server with real
ROS messages in test_ros_memory_server.py and test_ros_sim.py; here only rosbags is used.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from embodmem.cli import main
from embodmem.errors import ValidationError
from sim.bags import ODOMETRY, POINTS, BagWriter, ingest_bag

TYPES = get_typestore(Stores.ROS2_JAZZY)


def string_cdr(text: str) -> bytes:
    """A std_msgs/String as CDR bytes."""
    msg = TYPES.types["std_msgs/msg/String"](data=text)
    return bytes(TYPES.serialize_cdr(msg, "std_msgs/msg/String"))


@pytest.fixture
def chatter_bag(tmp_path: Path) -> Path:
    """A bag with one std_msgs/String topic and nothing memory reads."""
    path = tmp_path / "chatter"
    with BagWriter(path, storage="sqlite3") as writer:
        writer.write("/chatter", "std_msgs/msg/String", 1, string_cdr("hello"))
    return path


def test_what_is_not_a_bag_is_refused(tmp_path: Path, chatter_bag: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        ingest_bag(tmp_path / "missing", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="not a readable rosbag2"):
        ingest_bag(tmp_path / "empty", progress=False)
    cut = tmp_path / "cut"
    with BagWriter(cut) as writer:
        for i in range(200):
            writer.write("/chatter", "std_msgs/msg/String", i, string_cdr("x" * 100))
    (mcap,) = cut.glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])  # a recording cut short
    with pytest.raises(ValidationError, match="not a readable rosbag2"):
        ingest_bag(cut, progress=False)
    (tmp_path / "notes.mcap").write_text("not a bag")
    with pytest.raises(ValidationError, match="not a readable rosbag2"):
        ingest_bag(tmp_path / "notes.mcap", progress=False)
    with pytest.raises(ValidationError, match=r"holds no .*/chatter \(std_msgs/msg/String\)"):
        ingest_bag(chatter_bag, progress=False)
    with pytest.raises(ValidationError, match=r"topics.*'/odom'.*not in the bag"):
        ingest_bag(chatter_bag, topics=["/odom"], progress=False)
    with pytest.raises(ValidationError, match="not of a type memory reads"):
        ingest_bag(chatter_bag, topics=["/chatter"], progress=False)


def test_undecodable_messages_are_counted_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "garbled"
    writer = Writer(path, version=9)
    writer.open()
    odom = writer.add_connection("/odom", ODOMETRY, typestore=TYPES)
    writer.write(odom, 1, b"\x00\x01\x00\x00garbage")
    writer.close()
    memory, report = ingest_bag(path, progress=False)
    (topic,) = report.topics
    assert (topic.topic, topic.messages, topic.used, topic.dropped) == ("/odom", 1, 0, 1)
    assert report.dropped == 1 and "CDR" in report.table()
    assert memory.observations == 0


def test_writer_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="storage"):
        BagWriter(tmp_path / "a", storage="rosbag1")
    with BagWriter(tmp_path / "b") as writer:
        with pytest.raises(ValidationError, match="msgtype.*no definition"):
            writer.write("/x", "my_msgs/msg/Unknown", 1, b"")
        with pytest.raises(ValidationError, match="not a CDR sensor_msgs/msg/PointCloud2"):
            writer.write("/points", POINTS, 1, b"\x00\x01\x00\x00\x01")
        writer.write("/chatter", "std_msgs/msg/String", 1, string_cdr("hi"))
        with pytest.raises(ValidationError, match="carries std_msgs/msg/String"):
            writer.write("/chatter", ODOMETRY, 2, string_cdr("hi"))
    with pytest.raises(ValidationError, match="exists already"):
        BagWriter(tmp_path / "b")


def test_cli_reports_a_bad_bag_and_writes_nothing(
    tmp_path: Path, chatter_bag: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "memory.json"
    assert main(["ingest-bag", str(chatter_bag), "--out", str(out), "--quiet"]) == 2
    assert "holds no" in capsys.readouterr().err
    assert not out.exists()
