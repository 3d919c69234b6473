"""ROS 2 test harness: the built ros2_ws environment, node subprocesses, a client context.

DDS stays on this machine (`ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`) on a domain id of this test
process's own. `activate()` gives the running interpreter what `source ros2_ws/install/setup.bash`
gives a new one: the workspace's Python packages and its interface libraries, which are
preloaded because the dynamic loader read LD_LIBRARY_PATH when this process started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "ros2_ws" / "install"
SETUP = INSTALL / "setup.bash"
DOMAIN_ID = 10 + os.getpid() % 90  # distinct per test process; 0-101 map to standard ports
# Each test module takes its own domain (DOMAIN_ID + its offset): the Fast DDS participants a
# module leaves in this process (shared-memory segments included) cannot deafen the next one.
SHM = Path("/dev/shm")


def built() -> bool:
    """Whether `make ros` has built the workspace."""
    return SETUP.is_file()


def workspace_env(offset: int = 0) -> dict[str, str]:
    """This process's environment after `source ros2_ws/install/setup.bash`, on the test
    domain (DOMAIN_ID + `offset`, one per test module) and localhost only."""
    from sim.ros_up import workspace_env as sourced

    env = sourced(SETUP)
    env.update(ROS_DOMAIN_ID=str(DOMAIN_ID + offset), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    return env


ACTIVATED = ("LD_LIBRARY_PATH", "AMENT_PREFIX_PATH", "ROS_DOMAIN_ID")  # what activate() sets


def plain_env() -> dict[str, str]:
    """This process's environment without the workspace: what a new interpreter gets when no
    ROS setup was sourced."""
    return {k: v for k, v in os.environ.items() if k not in (*ACTIVATED, "PYTHONPATH")}


# `embodmem ARGS...` in a fresh interpreter that must load no ROS module (ingest-bag needs none).
_CLI_WITHOUT_ROS = """
import sys
from embodmem.cli import main
rc = main(sys.argv[1:])
ros = sorted(m for m in sys.modules if m.split(".")[0] in ("rclpy", "embodmem_interfaces",
             "embodmem_ros", "sensor_msgs", "nav_msgs", "std_msgs", "geometry_msgs"))
assert not ros, ros
sys.exit(rc)
"""


def cli_without_ros(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the embodmem command line without the workspace, checking it loaded no ROS module."""
    return subprocess.run(
        [sys.executable, "-c", _CLI_WITHOUT_ROS, *args],
        env=plain_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def activate(env: dict[str, str]) -> None:
    """Make the workspace's packages importable here (sys.path, environment for type-support
    lookups, preloaded interface libraries)."""
    for key in ACTIVATED:
        os.environ[key] = env[key]
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    for entry in reversed(env.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    pending = sorted(INSTALL.glob("*/lib/lib*.so"))
    while pending:  # a library loads once the ones it needs are in
        failed = []
        for lib in pending:
            try:
                ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                failed.append(lib)
        if len(failed) == len(pending):
            raise OSError(f"cannot load {[p.name for p in failed]}")
        pending = failed


def shm_files() -> set[Path]:
    """Fast DDS shared-memory files now present."""
    return set(SHM.glob("fastrtps_*")) | set(SHM.glob("sem.fastrtps_*"))


def _used_elsewhere() -> set[str]:
    """Files under /dev/shm that a live process other than this one has mapped or open."""
    used: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            used.update(
                line.split(maxsplit=5)[-1]
                for line in (proc / "maps").read_text().splitlines()
                if "/dev/shm/" in line
            )
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    used.add(target)
        except OSError:  # the process ended, or is not ours to read
            continue
    return used


def clean_shm(before: set[Path]) -> None:
    """Remove the Fast DDS files that appeared since `before` and no other live process uses:
    those a killed node left behind (this process may still map them; unlinking leaves a mapping
    valid, and nothing here talks to another domain's participants)."""
    used = _used_elsewhere()
    for path in shm_files() - before:
        if str(path) not in used:
            path.unlink(missing_ok=True)


class NodeProcess:
    """A ROS node in its own process, its output in a log file; stopped with TERM, then KILL."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args], env=env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        """What the node printed so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """TERM, wait, then KILL; returns the exit status (negative: killed by that signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would end it."""
        self.proc.kill()
        self.proc.wait()
        self._out.close()


class Client:
    """A client node on `domain` (its test module's) whose executor spins in a thread;
    services answer through `call`."""

    def __init__(self, name: str, domain: int = DOMAIN_ID) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.context = rclpy.Context()
        rclpy.init(
            context=self.context,
            domain_id=domain,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._clients: dict[str, Any] = {}

    def call(self, srv_type: Any, name: str, timeout: float = 20.0, **fields: Any) -> Any:
        """Call a service (waiting for it the first time) and return its response."""
        client = self._clients.get(name)
        if client is None:
            client = self.node.create_client(srv_type, name)
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} did not appear in {timeout} s")
            self._clients[name] = client
        response = client.call(srv_type.Request(**fields), timeout_sec=timeout)
        if response is None:
            raise TimeoutError(f"service {name} did not answer in {timeout} s")
        return response

    def close(self) -> None:
        """Stop spinning and shut the context down (its DDS participant goes away cleanly)."""
        self.executor.shutdown()
        self._thread.join(5)
        self.node.destroy_node()
        self.context.try_shutdown()


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `check` until it returns something true; raise after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(every)


@contextmanager
def node_process(args: list[str], env: dict[str, str], log: Path) -> Iterator[NodeProcess]:
    """A node subprocess for the duration of the block; it must exit cleanly on TERM."""
    node = NodeProcess(args, env, log)
    try:
        yield node
    finally:
        if node.proc.poll() is None:
            code = node.stop()
            assert code == 0, f"node exited with {code} on SIGTERM:\n{node.output()[-3000:]}"
        else:
            node.stop()
