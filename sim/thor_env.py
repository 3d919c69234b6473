"""The real AI2-THOR simulator (ai2thor 5.0.0) behind the offline simulator's interface.

`ThorEnv(scene, **controller_kwargs)` wraps `ai2thor.controller.Controller`: `step(action=...,
**kw) -> Event`, `reset(scene)`, `stop()`, `last_event`, and `observation()` for the memory.
Construction options go to the Controller unchanged, for example

    ThorEnv("FloorPlan1", width=300, height=300, renderDepthImage=True,
            renderInstanceSegmentation=True, visibilityDistance=1.5)

On a headless GPU machine (no X server) pass `platform=CloudRendering`
(`from ai2thor.platform import CloudRendering`; needs the NVIDIA driver and libvulkan1).

ai2thor downloads its Unity build (~0.5 GB, into ~/.ai2thor/releases) the first time, from
AI2's S3 bucket, with no network timeout. Before constructing the Controller, ThorEnv
therefore checks for a local build and otherwise probes the download host with a short timeout,
and raises `SimulatorUnavailableError` (pointing at `sim.offline.OfflineController`, which
needs neither) instead of hanging.
"""

from __future__ import annotations

import dataclasses
import os
import platform as host_platform
import socket
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import numpy as np

from embodmem.errors import EmbodmemError, ValidationError
from embodmem.perception import CameraIntrinsics, segment_frame
from embodmem.types import Observation
from embodmem.validate import finite_float
from sim.thor import observation_from_metadata

OFFLINE_BACKEND = "sim.offline.OfflineController"
# Metres per depth unit of each ai2thor DepthFormat a frame can be converted from.
DEPTH_SCALE = {"Meters": 1.0, "Millimeters": 0.001}


class SimulatorUnavailableError(EmbodmemError):
    """The real simulator cannot run here (no Unity build, no network, Unity failed to start)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"AI2-THOR is unavailable: {reason}. Use the offline backend {OFFLINE_BACKEND} "
            "(same step/reset/stop interface, no Unity build needed)."
        )


def controller_class() -> type:
    """`ai2thor.controller.Controller`, imported on first use (ai2thor is an optional extra)."""
    try:
        from ai2thor.controller import Controller
    except ImportError as exc:
        raise SimulatorUnavailableError(f"ai2thor is not installed ({exc})") from None
    return Controller


def _reachable(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to host:port opens within `timeout` s (DNS included)."""
    done: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                done.append(True)
        except OSError:
            done.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(done and done[0])


def _local_build_dirs(kwargs: Mapping[str, Any]) -> list[str]:
    """Where ai2thor would look for the Unity build these Controller options select."""
    import ai2thor.build
    import ai2thor.platform

    commit = kwargs.get("commit_id") or ai2thor.build.COMMIT_ID
    if kwargs.get("platform") is not None:
        platforms = [kwargs["platform"]]
    else:
        request = ai2thor.platform.Request(
            host_platform.system(),
            kwargs.get("width", 300),
            kwargs.get("height", 300),
            kwargs.get("x_display") or os.environ.get("DISPLAY"),
            kwargs.get("headless", False),
        )
        platforms = list(ai2thor.platform.select_platforms(request))
    # The Controller's releases_dir: ~/.ai2thor/releases.
    releases = os.path.join(os.path.expanduser("~"), ".ai2thor", "releases")
    private = bool(kwargs.get("include_private_scenes", False))
    return [ai2thor.build.Build(p, commit, private, releases).base_dir for p in platforms]


def build_problem(kwargs: Mapping[str, Any], probe_timeout: float = 3.0) -> str | None:
    """Why a Controller with these options cannot start here, or None if it may: no local
    build and the build server unreachable within `probe_timeout` seconds."""
    controller_class()
    path = kwargs.get("local_executable_path")
    if path:
        return None if os.path.isfile(path) else f"local_executable_path={path!r} does not exist"
    if kwargs.get("start_unity") is False or kwargs.get("local_build"):
        return None
    import ai2thor.build

    dirs = [] if kwargs.get("branch") else _local_build_dirs(kwargs)
    if any(os.path.isdir(d) for d in dirs):
        return None
    host = urlparse(ai2thor.build.base_url).hostname or ""
    if _reachable(host, 80, probe_timeout):
        return None
    where = f"at {', '.join(dirs)}" if dirs else "for the requested branch"
    return (
        f"no local Unity build {where}, and the build server {host} is unreachable "
        f"(probed for {probe_timeout:g} s)"
    )


class ThorEnv:
    """A real ai2thor Controller with the offline simulator's interface."""

    def __init__(
        self, scene: str = "FloorPlan1", *, probe_timeout: float = 3.0, **controller_kwargs: Any
    ) -> None:
        if not isinstance(scene, (str, Mapping)) or not scene:
            raise ValidationError("scene", scene, "expected a scene name like 'FloorPlan1'")
        if not 0 < finite_float("probe_timeout", probe_timeout) <= 60:
            raise ValidationError("probe_timeout", probe_timeout, "expected seconds in (0, 60]")
        problem = build_problem(controller_kwargs, probe_timeout)
        if problem is not None:
            raise SimulatorUnavailableError(problem)
        try:
            self._controller = controller_class()(scene=scene, **controller_kwargs)
        except Exception as exc:
            raise SimulatorUnavailableError(
                f"the ai2thor Controller failed to start: {exc}"
            ) from exc
        self._stopped = False

    @property
    def controller(self) -> Any:
        """The wrapped `ai2thor.controller.Controller`."""
        return self._controller

    @property
    def last_event(self) -> Any:
        """The Event of the latest step or reset."""
        return self._controller.last_event

    def _live(self) -> Any:
        if self._stopped:
            raise SimulatorUnavailableError("this ThorEnv was stopped")
        return self._controller

    def step(self, action: str | Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run one THOR action (`action="PickupObject", objectId=...`) and return its Event."""
        if not (isinstance(action, str) and action) and not isinstance(action, Mapping):
            raise ValidationError("action", action, "expected an action name or an action dict")
        return self._live().step(action=action, **kwargs)

    def reset(self, scene: str | None = None, **init_params: Any) -> Any:
        """Load a scene (the current one when None) and return the first Event."""
        return self._live().reset(scene, **init_params)

    def stop(self) -> None:
        """Shut Unity down; safe to call twice."""
        if not self._stopped:
            self._stopped = True
            self._controller.stop()

    def __enter__(self) -> ThorEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def observation(
        self, event: Any = None, time_ns: int = 0, visible_only: bool = True, stride: int = 1
    ) -> Observation:
        """`observation_from_event` of `event` (default: the last), in this env's depth units."""
        fmt = getattr(getattr(self._controller, "depth_format", None), "name", "Meters")
        return observation_from_event(
            self.last_event if event is None else event,
            time_ns,
            visible_only,
            depth_scale=DEPTH_SCALE.get(fmt, float("nan")),
            stride=stride,
        )


def observation_from_event(
    event: Any,
    time_ns: int = 0,
    visible_only: bool = True,
    depth_scale: float = 1.0,
    stride: int = 1,
    from_frames: bool = False,
) -> Observation:
    """An `Observation` of an ai2thor Event: objects and agent pose from `event.metadata`, plus
    world points from `depth_frame` + `instance_segmentation_frame` when the event has them.

    `depth_scale` is metres per depth unit (1 for DepthFormat.Meters). Each point's
    `point_object_index` refers to the observation's objects (-1 for walls, floor and objects
    not in the list, e.g. beyond the visibility distance with `visible_only`). With
    `from_frames` (which needs the frames) the objects are those the segmentation shows, at the
    box their depth points span; their states and attributes are the metadata's.
    """
    metadata = getattr(event, "metadata", None)
    if not isinstance(metadata, Mapping):
        raise ValidationError("event.metadata", type(metadata).__name__, "expected a dict")
    obs = observation_from_metadata(metadata, time_ns=time_ns, visible_only=visible_only)
    depth = getattr(event, "depth_frame", None)
    seg = getattr(event, "instance_segmentation_frame", None)
    colors = getattr(event, "color_to_object_id", None)
    if depth is None or seg is None or not colors:
        if from_frames:
            raise ValidationError(
                "event",
                "no frames",
                "from_frames needs depth and instance segmentation frames: start the "
                "controller with renderDepthImage=True, renderInstanceSegmentation=True",
            )
        return obs
    return _with_points(obs, metadata, depth, seg, colors, depth_scale, stride, from_frames)


def _with_points(
    obs: Observation,
    metadata: Mapping[str, Any],
    depth: Any,
    seg: Any,
    colors: Mapping[Any, str],
    depth_scale: float,
    stride: int,
    from_frames: bool,
) -> Observation:
    """`obs` plus the frame's back-projected points, each tagged with its object in `obs`;
    `from_frames`: only the segmented objects, at their boxes from depth."""
    if not (isinstance(depth_scale, (int, float)) and 0 < depth_scale < float("inf")):
        raise ValidationError(
            "depth_scale",
            depth_scale,
            "expected metres per unit > 0 (DepthFormat.Normalized frames cannot be converted)",
        )
    if obs.agent_pose is None:
        raise ValidationError("event.metadata.agent", None, "frames need the camera pose")
    z = np.asarray(depth, dtype=np.float32) * np.float32(depth_scale)
    if z.ndim != 2:
        raise ValidationError("event.depth_frame", f"shape {z.shape}", "expected (H, W)")
    fov = metadata.get("fov")
    intrinsics = CameraIntrinsics.from_fov(z.shape[1], z.shape[0], fov)  # type: ignore[arg-type]
    found, points, index = segment_frame(
        z,
        np.asarray(seg),
        {tuple(int(c) for c in k): v for k, v in colors.items()},
        intrinsics,
        obs.agent_pose,
        stride=stride,
    )
    objects = obs.objects
    if from_frames:
        known = {o.id_hint: o for o in obs.objects}
        objects = tuple(
            dataclasses.replace(known[o.id_hint], position=o.position, bbox=o.bbox)
            for o in found
            if o.id_hint in known
        )
    position = {o.id_hint: i for i, o in enumerate(objects)}
    # Index of each segmented object in `objects`; the trailing -1 serves index -1 (no object).
    remap = np.array([position.get(o.id_hint, -1) for o in found] + [-1], dtype=np.int64)
    return Observation(
        time_ns=obs.time_ns,
        objects=objects,
        agent_pose=obs.agent_pose,
        points=points,
        point_object_index=remap[index],
        region=obs.region,
        action=obs.action,
    )
