"""The one main loop of every embodmem_ros node: own SIGTERM / SIGINT handlers (rclpy's left
nodes hanging in about half the runs, ../shared/ros2.md), `spin_once` until told to stop, a
failing callback logged without stopping the others, and a clean shutdown."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from embodmem.errors import EmbodmemError


def run_node(
    name: str,
    make: Callable[[threading.Event], Any],
    args: list[str] | None = None,
    close: Callable[[Any], None] | None = None,
    executor: Callable[[], Any] = SingleThreadedExecutor,
) -> int:
    """Build a node with `make(stop)` and spin it on `executor()` (made after rclpy.init)
    until SIGTERM / SIGINT; `close(node)` runs before it is destroyed. A configuration error
    exits 1 with one line on stderr."""
    rclpy.init(
        args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = make(stop)
    except EmbodmemError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    spinner = executor()
    spinner.add_node(node)
    try:
        while not stop.is_set():
            try:
                spinner.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                break
            except Exception as exc:  # a bug in one callback must not stop the others
                node.get_logger().error(f"callback failed: {type(exc).__name__}: {exc}")
    finally:
        if close is not None:
            close(node)
        spinner.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
