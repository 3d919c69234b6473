"""The Ray backend of `run-suite`: the same `run_episode` calls as Ray tasks, on a local Ray
instance (`address=None`, `workers` CPUs) or a running cluster (`ray.init(address=...)`).

Results equal the local backend's for the same config: episodes are independent and each
task builds its own memory and controller. An unreachable address fails fast and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.runner.config import ConfigError, RunConfig
from sim.runner.episode import run_episode

CONNECT_TIMEOUT_S = 5


def _episode_task(config: RunConfig, index: int) -> dict[str, Any]:
    return run_episode(config, index)


def run_on_ray(config: RunConfig, todo: list[int], finished: Callable, errors: list[str]) -> None:
    """Run `todo` as Ray tasks (one retry each on a worker crash or error)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "backend", "ray", "Ray is not installed: pip install 'embodmem[ray]'"
        ) from None
    started = not ray.is_initialized()
    if started:
        _connect(ray, config)
    try:
        remote = ray.remote(num_cpus=1, max_retries=1, retry_exceptions=True)(_episode_task)
        refs = {remote.remote(config, i): i for i in todo}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                i = refs.pop(ref)
                try:
                    finished(ray.get(ref))
                except Exception as exc:
                    errors.append(f"#{i}: {type(exc).__name__}: {exc}")
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, config: RunConfig) -> None:
    if config.address is None:
        ray.init(
            num_cpus=config.workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        return
    _check_reachable(config.address)
    try:
        ray.init(address=config.address, log_to_driver=False)
    except Exception as exc:
        raise ConfigError(
            "address", config.address, f"cannot join the Ray cluster ({exc})"
        ) from None


def _check_reachable(address: str) -> None:
    """A `host:port` address must accept a TCP connection within a few seconds."""
    import socket

    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as exc:
        raise ConfigError("address", address, f"no Ray cluster answers there ({exc})") from None
