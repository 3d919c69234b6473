"""sim.thor_env: ThorEnv wiring (fake Controller), fail-fast without a Unity build, and
observation_from_event on real recorded ai2thor 5.0.0 metadata."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import sim.thor_env as thor_env
from embodmem.errors import ValidationError
from embodmem.types import quat_to_matrix
from sim.thor import observation_from_metadata
from sim.thor_env import (
    OFFLINE_BACKEND,
    SimulatorUnavailableError,
    ThorEnv,
    build_problem,
    observation_from_event,
)

UNROUTABLE = "http://192.0.2.1/ai2-thor-public/"  # TEST-NET-1: never answers


@pytest.fixture
def no_build(monkeypatch, tmp_path):
    """A home without ~/.ai2thor and a build server that cannot be reached: never downloads."""
    import ai2thor.build

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(ai2thor.build, "base_url", UNROUTABLE)
    return tmp_path


class FakeController:
    """Records how ThorEnv drives ai2thor's Controller."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[tuple] = []
        self.last_event = SimpleNamespace(metadata={"objects": [], "lastAction": "Initialize"})
        self.depth_format = SimpleNamespace(name="Meters")

    def step(self, action=None, **kwargs):
        self.calls.append(("step", action, kwargs))
        self.last_event = SimpleNamespace(metadata={"objects": [], "lastAction": action})
        return self.last_event

    def reset(self, scene=None, **params):
        self.calls.append(("reset", scene, params))
        return self.last_event

    def stop(self):
        self.calls.append(("stop",))


@pytest.fixture
def fake_env(monkeypatch, tmp_path):
    exe = tmp_path / "thor-Linux64-local"
    exe.write_text("")
    monkeypatch.setattr(thor_env, "controller_class", lambda: FakeController)
    return ThorEnv("FloorPlan7", local_executable_path=str(exe), width=64, renderDepthImage=True)


def test_construction_options_pass_through(fake_env):
    ctl = fake_env.controller
    assert ctl.kwargs == {
        "scene": "FloorPlan7",
        "local_executable_path": ctl.kwargs["local_executable_path"],
        "width": 64,
        "renderDepthImage": True,
    }


def test_step_reset_stop_are_forwarded(fake_env):
    ctl = fake_env.controller
    event = fake_env.step(action="PickupObject", objectId="Mug|1", forceAction=True)
    assert event is fake_env.last_event is ctl.last_event
    fake_env.step({"action": "MoveAhead", "moveMagnitude": 0.25})
    fake_env.reset("FloorPlan2", gridSize=0.25)
    assert ctl.calls == [
        ("step", "PickupObject", {"objectId": "Mug|1", "forceAction": True}),
        ("step", {"action": "MoveAhead", "moveMagnitude": 0.25}, {}),
        ("reset", "FloorPlan2", {"gridSize": 0.25}),
    ]
    with fake_env:
        pass
    fake_env.stop()
    assert ctl.calls[-1] == ("stop",) and ctl.calls.count(("stop",)) == 1
    with pytest.raises(SimulatorUnavailableError, match="stopped"):
        fake_env.step(action="MoveAhead")


def test_bad_action_and_scene_are_rejected(fake_env):
    with pytest.raises(ValidationError, match="action"):
        fake_env.step()
    with pytest.raises(ValidationError, match="action"):
        fake_env.step(action=7)
    assert fake_env.controller.calls == []
    with pytest.raises(ValidationError, match="scene"):
        ThorEnv("")
    with pytest.raises(ValidationError, match="probe_timeout"):
        ThorEnv(probe_timeout=-1)


@pytest.mark.timeout(30)
def test_fails_fast_without_build_or_network(no_build):
    with pytest.raises(SimulatorUnavailableError) as info:
        ThorEnv("FloorPlan1", probe_timeout=0.5)
    message = str(info.value)
    assert OFFLINE_BACKEND in message and "192.0.2.1" in message
    assert str(no_build / ".ai2thor" / "releases") in message


@pytest.mark.timeout(30)
def test_cloud_rendering_build_is_looked_up_and_controller_errors_are_wrapped(
    no_build, monkeypatch
):
    from ai2thor.platform import CloudRendering

    assert "CloudRendering" in build_problem({"platform": CloudRendering}, 0.2)
    for d in thor_env._local_build_dirs({"platform": CloudRendering}):
        os.makedirs(d)
    assert build_problem({"platform": CloudRendering}, 0.2) is None

    def broken(**kwargs):
        raise RuntimeError("vulkan driver missing")

    monkeypatch.setattr(thor_env, "controller_class", lambda: broken)
    with pytest.raises(SimulatorUnavailableError, match="vulkan driver missing") as info:
        ThorEnv(platform=CloudRendering)
    assert OFFLINE_BACKEND in str(info.value)


def test_missing_local_executable_is_reported(tmp_path):
    problem = build_problem({"local_executable_path": str(tmp_path / "nope")})
    assert problem is not None and "nope" in problem


def test_reachability_probe_sees_a_listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert thor_env._reachable("127.0.0.1", port, 2.0)
    assert not thor_env._reachable("127.0.0.1", port, 2.0)


# --- observation_from_event on real recorded metadata ------------------------------------------


@pytest.fixture
def recorded(episodes) -> dict:
    """Full event metadata of a real ai2thor 5.0.0 step (FloorPlan1, agent holding a mug)."""
    return episodes["pickup_mug"][3]["metadata"]


def test_metadata_only_event(recorded):
    event = SimpleNamespace(metadata=recorded)  # frames absent, as in a default Controller
    obs = observation_from_event(event, time_ns=5)
    ref = observation_from_metadata(recorded, time_ns=5, visible_only=True)
    assert obs == ref and obs.points is None
    visible = {o["objectId"] for o in recorded["objects"] if o["visible"]}
    assert {o.id_hint for o in obs.objects} == visible
    everything = observation_from_event(event, visible_only=False)
    assert len(everything.objects) == len(recorded["objects"])
    assert obs.action == "PickupObject" and obs.region == "kitchen"


def _frames(recorded: dict, size: int = 41, depth_m: float = 2.0):
    """A synthetic frame: left half one visible object, right half an id outside the list."""
    visible = next(o["objectId"] for o in recorded["objects"] if o["visible"])
    seg = np.zeros((size, size, 3), dtype=np.uint8)
    seg[:, : size // 2] = (10, 20, 30)
    seg[:, size // 2 :] = (40, 50, 60)
    colors = {(10, 20, 30): visible, (40, 50, 60): "Wall|1|2"}
    depth = np.full((size, size), depth_m, dtype=np.float32)
    return visible, seg, colors, depth


def test_frames_add_world_points_tagged_with_objects(recorded):
    visible, seg, colors, depth = _frames(recorded)
    event = SimpleNamespace(
        metadata=recorded,
        depth_frame=depth,
        instance_segmentation_frame=seg,
        color_to_object_id=colors,
    )
    obs = observation_from_event(event)
    assert obs.points.shape == (41 * 41, 3)
    k = [o.id_hint for o in obs.objects].index(visible)
    index = obs.point_object_index.reshape(41, 41)
    assert (index[:, :20] == k).all() and (index[:, 20:] == -1).all()
    # The centre pixel lies 2 m straight ahead of the camera.
    pose = obs.agent_pose
    forward = quat_to_matrix(pose.orientation)[:, 0]
    centre = obs.points.reshape(41, 41, 3)[20, 20]
    assert np.allclose(centre, np.asarray(pose.position) + 2.0 * forward, atol=1e-5)
    # Every point is at planar depth 2 m along the forward axis.
    ahead = (obs.points - np.asarray(pose.position)) @ forward
    assert np.allclose(ahead, 2.0, atol=1e-5)


def test_depth_units_and_bad_frames(recorded, fake_env):
    _, seg, colors, depth = _frames(recorded)
    metres = SimpleNamespace(
        metadata=recorded,
        depth_frame=depth,
        instance_segmentation_frame=seg,
        color_to_object_id=colors,
    )
    mm = SimpleNamespace(**{**vars(metres), "depth_frame": depth * 1000})
    a = observation_from_event(metres)
    b = observation_from_event(mm, depth_scale=0.001)
    assert np.allclose(a.points, b.points, atol=1e-5)
    fake_env.controller.depth_format = SimpleNamespace(name="Millimeters")
    assert np.allclose(fake_env.observation(mm).points, a.points, atol=1e-5)
    fake_env.controller.depth_format = SimpleNamespace(name="Normalized")
    with pytest.raises(ValidationError, match="depth_scale"):
        fake_env.observation(mm)
    no_agent = SimpleNamespace(**{**vars(metres), "metadata": {"objects": recorded["objects"]}})
    with pytest.raises(ValidationError, match="agent"):
        observation_from_event(no_agent)
    with pytest.raises(ValidationError, match="event.metadata"):
        observation_from_event(SimpleNamespace())
    fake_env.controller.last_event = SimpleNamespace(metadata=recorded)
    assert fake_env.observation() == observation_from_metadata(recorded, visible_only=True)


def test_no_import_circle_between_the_thor_modules():
    """sim.thor_env builds on sim.thor; sim.thor never imports sim.thor_env."""
    import ast
    from pathlib import Path

    import sim.thor

    tree = ast.parse(Path(sim.thor.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {
        f"{n.module}.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module
        for a in n.names
    }
    assert not any("thor_env" in name for name in names)
