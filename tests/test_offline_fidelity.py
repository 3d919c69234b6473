"""Offline simulator vs real ai2thor 5.0.0 episodes, and the renderer wiring."""

from __future__ import annotations

import numpy as np

from sim.offline import OfflineController
from sim.offline.fidelity import Agreement, replay


def test_replayed_episodes_agree_with_reality(episodes):
    total = Agreement()
    for name, steps in episodes.items():
        res = replay(steps)
        assert res.steps == len(steps) - 1
        assert res.percent >= 80.0, (name, res.mismatches)
        total.add(res)
    assert total.compared > 200
    assert total.percent >= 95.0
    assert total.pose_equal == total.steps  # replayed from the recorded start, poses agree
    # THOR's visible flag, with occlusion (measured: recall 1.000, precision 0.906; without
    # occlusion 1.000 and 0.672)
    assert total.visible_recall >= 0.99 and total.visible_precision >= 0.9


def test_occlusion_raises_precision_on_recorded_episodes(episodes):
    """The same episodes without the occlusion raycasts: more flags THOR does not report."""
    plain = Agreement()
    for steps in episodes.values():
        plain.add(replay(steps, occlusion=False))
    assert plain.visible_recall >= 0.99 and plain.visible_precision < 0.75


def test_from_metadata_restores_recorded_state(episodes):
    meta = episodes["DoHomework"][0]["metadata"]  # starts with a phone in hand
    ctl = OfflineController.from_metadata(meta)
    ev = ctl.last_event.metadata
    assert ev["agent"]["position"] == meta["agent"]["position"]
    assert ev["inventoryObjects"] == meta["inventoryObjects"]
    real = {o["objectId"]: o["isOpen"] for o in meta["objects"]}
    assert {o["objectId"]: o["isOpen"] for o in ev["objects"]} == real


def test_rendering_produces_frames_and_masks():
    ctl = OfflineController(
        "FloorPlan1",
        width=64,
        height=48,
        render_depth_image=True,
        render_instance_segmentation=True,
    )
    ev = ctl.last_event
    assert ev.depth_frame.shape == (48, 64) and ev.depth_frame.dtype == np.float32
    assert ev.instance_segmentation_frame.shape == (48, 64, 3)
    assert ev.frame.shape == (48, 64, 3)
    assert ev.instance_masks and set(ev.instance_masks) <= set(ev.object_id_to_color)
    for oid, mask in ev.instance_masks.items():
        c0, r0, c1, r1 = ev.instance_detections2D[oid]
        assert mask[r0 : r1 + 1, c0 : c1 + 1].sum() == mask.sum()
    assert ev.metadata["colors"]
    plain = OfflineController("FloorPlan1").last_event
    assert plain.frame is None and plain.depth_frame is None


def test_frames_are_drawn_on_first_read_from_their_own_step():
    """Frames are drawn lazily, yet show the scene of their step, not of a later one; the
    colours in the metadata are the ones the frame is drawn with; cv2img is BGR."""
    kw = dict(width=64, height=48, render_depth_image=True, render_instance_segmentation=True)
    lazy = OfflineController("FloorPlan1", **kw)
    first = lazy.last_event
    assert first._draw is not None  # nothing drawn yet
    for _ in range(3):
        lazy.step(action="RotateRight")
    eager = OfflineController("FloorPlan1", **kw).last_event
    assert np.array_equal(first.depth_frame, eager.depth_frame)  # drawn now, as it was then
    assert np.array_equal(first.frame, eager.frame)
    colors = {c["name"]: tuple(c["color"]) for c in first.metadata["colors"]}
    assert colors == first.object_id_to_color
    assert np.array_equal(first.cv2img, first.frame[..., ::-1])
    assert OfflineController("FloorPlan1").last_event.cv2img is None


def test_reset_puts_the_agent_where_the_recordings_start(episodes):
    """After reset / Initialize the agent stands where real THOR put it in every recording that
    starts with Initialize (look_in_light_book starts after a teleport, 5 cm off)."""
    checked = 0
    for name, steps in episodes.items():
        first = steps[0]
        if (first.get("action") or {}).get(
            "action"
        ) != "Initialize" or name == "look_in_light_book":
            continue
        meta = first["metadata"]
        got = OfflineController(meta["sceneName"].split("_")[0]).last_event.metadata["agent"]
        real = meta["agent"]
        assert np.allclose(
            [got["position"][k] for k in "xyz"], [real["position"][k] for k in "xyz"]
        )
        assert got["rotation"]["y"] == real["rotation"]["y"]
        assert got["cameraHorizon"] == real["cameraHorizon"] and got["isStanding"]
        checked += 1
    assert checked == 8
