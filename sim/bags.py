"""ROS 2 bags without ROS: recorded robot data replayed into an `EmbodiedMemory`, and bags written.

`ingest_bag` reads a rosbag2 (mcap or sqlite3, a folder with metadata.yaml or a bare .mcap /
.db3 file) with the pure-Python `rosbags` package, in recording order: detections
(embodmem_interfaces/ObjectObservationArray), point clouds (sensor_msgs/PointCloud2) and odometry
(nav_msgs/Odometry) go through `embodmem.ros_messages.MessageReader`, the same reading the memory
server does, so a bag gives the memory the live topics would have given. Message definitions come
from the bag (rosbag2 stores them since Iron). A malformed message is counted and dropped, as the
server drops it. `BagWriter` writes CDR bytes (e.g. `rclpy.serialization.serialize_message`) with
their definitions, so bags written here read back in ROS and here alike.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from embodmem.config import MemoryConfig
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.ros_messages import MAX_OBJECTS, MAX_POINTS, MessageReader
from embodmem.tables import format_table

DETECTIONS = "embodmem_interfaces/msg/ObjectObservationArray"
POINTS = "sensor_msgs/msg/PointCloud2"
ODOMETRY = "nav_msgs/msg/Odometry"
# message type -> the MessageReader method that reads it
READERS = {DETECTIONS: "detections", POINTS: "points", ODOMETRY: "odometry"}
STORAGES = ("mcap", "sqlite3")


@dataclass
class TopicCount:
    """What one topic of a bag gave the memory."""

    topic: str
    msgtype: str
    messages: int = 0
    used: int = 0  # integrated (detections, clouds) or taken as the pose (odometry)
    dropped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # field of the defect -> messages


@dataclass
class BagReport:
    """Per-topic counts of one ingest, in the order the topics appear in the bag."""

    path: Path
    topics: list[TopicCount]

    @property
    def dropped(self) -> int:
        """Messages dropped over all topics."""
        return sum(t.dropped for t in self.topics)

    def table(self) -> str:
        """The counts as a markdown table, with the most common defects of each topic."""
        rows = [
            (
                t.topic,
                t.msgtype.rsplit("/", 1)[-1],
                t.messages,
                t.used,
                t.dropped,
                ", ".join(f"{r} ({n})" for r, n in t.reasons.most_common(3)),
            )
            for t in self.topics
        ]
        return format_table(["topic", "type", "messages", "used", "dropped", "defects"], rows)


def _open(path: Path) -> Any:
    """An open `rosbags` AnyReader on a rosbag2 folder or file, or a clear error."""
    from rosbags.highlevel import AnyReader, AnyReaderError

    if not path.exists():
        raise ValidationError("bag", str(path), "no such file or directory")
    try:
        reader = AnyReader([path])
        reader.open()
    except (AnyReaderError, OSError, ValueError, KeyError) as exc:
        raise ValidationError("bag", str(path), f"not a readable rosbag2 ({exc})") from None
    return reader


def _select(reader: Any, path: Path, topics: Sequence[str] | None) -> list[Any]:
    """The bag's connections to read: every one of a known type, or the named topics."""
    connections = reader.connections
    if topics is not None:
        names = {c.topic for c in connections}
        missing = sorted(set(topics) - names)
        if missing:
            raise ValidationError("topics", missing, f"not in the bag (it has {sorted(names)})")
        connections = [c for c in connections if c.topic in topics]
        wrong = sorted({c.topic for c in connections if c.msgtype not in READERS})
        if wrong:
            raise ValidationError(
                "topics", wrong, f"not of a type memory reads ({', '.join(READERS)})"
            )
    known = [c for c in connections if c.msgtype in READERS]
    if not known:
        have = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
        raise ValidationError(
            "bag", str(path), f"holds no {', '.join(READERS)} messages (it has {have or 'none'})"
        )
    return known


def ingest_bag(
    path: Path | str,
    config: MemoryConfig | None = None,
    *,
    topics: Sequence[str] | None = None,
    world_frame: str = "map",
    max_objects: int = MAX_OBJECTS,
    max_points: int = MAX_POINTS,
    progress: bool = True,
) -> tuple[EmbodiedMemory, BagReport]:
    """A new memory fed with a bag's detections, point clouds and odometry (all topics of those
    types, or `topics`), in recording order; malformed messages are counted and dropped."""
    from rosbags.highlevel import AnyReaderError

    path = Path(path)
    memory = EmbodiedMemory(config)
    feed = MessageReader(world_frame, max_objects, max_points)
    reader = _open(path)
    try:
        connections = _select(reader, path, topics)
        counts = {c.id: TopicCount(c.topic, c.msgtype) for c in connections}
        total = sum(c.msgcount for c in connections)
        messages = reader.messages(connections=connections)
        for connection, _, raw in tqdm(
            messages, total=total, desc="ingest", unit="msg", disable=not progress
        ):
            count = counts[connection.id]
            count.messages += 1
            try:
                msg = reader.deserialize(raw, connection.msgtype)
                observation = getattr(feed, READERS[connection.msgtype])(msg)
                if observation is not None:
                    memory.integrate(observation)
            except AnyReaderError as exc:
                count.dropped += 1
                count.reasons[f"CDR ({exc})"[:60]] += 1
            except EmbodmemError as exc:
                count.dropped += 1
                count.reasons[re.sub(r"\[\d+\]", "[]", getattr(exc, "field", "message"))] += 1
            else:
                count.used += 1
    finally:
        reader.close()
    return memory, BagReport(path, list(counts.values()))


def message_types(msg_dirs: Iterable[Path]) -> dict[str, Any]:
    """rosbags type definitions of every `<package>/msg/<Name>.msg` under the given folders."""
    from rosbags.typesys import get_types_from_msg

    types: dict[str, Any] = {}
    for folder in msg_dirs:
        for msg in sorted(Path(folder).glob("*.msg")):
            name = f"{msg.parent.parent.name}/msg/{msg.stem}"
            types.update(get_types_from_msg(msg.read_text(), name))
    return types


class BagWriter:
    """A rosbag2 being written: serialized (CDR) messages on topics, with their definitions
    (ROS 2 Jazzy's standard types, plus the `.msg` files of `msg_dirs`)."""

    def __init__(
        self, path: Path | str, msg_dirs: Sequence[Path] = (), storage: str = "mcap"
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
        from rosbags.typesys import Stores, get_typestore

        if storage not in STORAGES:
            raise ValidationError("storage", storage, f"expected one of {', '.join(STORAGES)}")
        self.path = Path(path)
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self.typestore.register(message_types(msg_dirs))
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self._writer = Writer(self.path, version=9, storage_plugin=plugin)
            self._writer.open()
        except WriterError as exc:
            raise ValidationError("bag", str(self.path), str(exc)) from None
        self._connections: dict[str, Any] = {}

    def write(self, topic: str, msgtype: str, time_ns: int, data: bytes) -> None:
        """Append one serialized message of type `msgtype` ('sensor_msgs/msg/PointCloud2')."""
        connection = self._connections.get(topic)
        if connection is not None and connection.msgtype != msgtype:
            raise ValidationError("msgtype", msgtype, f"{topic} carries {connection.msgtype}")
        if msgtype not in self.typestore.fielddefs:
            raise ValidationError("msgtype", msgtype, "no definition (give its msg folder)")
        exact = self._exact(msgtype, bytes(data))
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = connection
        self._writer.write(connection, int(time_ns), exact)

    def _exact(self, msgtype: str, data: bytes) -> bytes:
        """The CDR message in `data`, checked against its definition and cut to its length:
        rclpy's `serialize_message` returns the buffer's estimated size, which can run past the
        message (seen with pip ROS 2 Jazzy), and strict readers refuse such trailing bytes."""
        msgdef = self.typestore.get_msgdef(msgtype)
        read = msgdef.deserialize_cdr_le if data[1:2] == b"\x01" else msgdef.deserialize_cdr_be
        try:
            _, end = read(data[4:], 0, msgdef.cls, self.typestore)
        except (ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
            raise ValidationError(
                "data", f"{len(data)} bytes", f"not a CDR {msgtype} ({exc})"
            ) from None
        return data[: 4 + end]

    def close(self) -> None:
        """Finish the bag (its index and metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
