"""The offline renderer where THOR's meshes are hollow and its boxes are not."""

from __future__ import annotations

import math

from sim.offline import OfflineController
from tests.floorplan1 import BASIN


def test_a_sink_cut_into_the_counter_shows_in_the_segmentation() -> None:
    """THOR's counter mesh has a hole for the sink; the counter's box must not hide it."""
    env = OfflineController("FloorPlan1", renderDepthImage=True, renderInstanceSegmentation=True)
    basin = next(o for o in env.last_event.metadata["objects"] if o["objectId"] == BASIN)
    reachable = env.step(action="GetReachablePositions").metadata["actionReturn"]
    b = basin["position"]
    p = min(reachable, key=lambda p: math.hypot(p["x"] - b["x"], p["z"] - b["z"]))
    yaw = round(math.degrees(math.atan2(b["x"] - p["x"], b["z"] - p["z"])) / 90) * 90 % 360
    ev = env.step(
        action="TeleportFull",
        position=p,
        rotation={"x": 0, "y": yaw, "z": 0},
        horizon=60,
        standing=True,
    )
    colors = {tuple(c) for c in ev.instance_segmentation_frame.reshape(-1, 3)}
    shown = {ev.color_to_object_id.get(c) for c in colors}
    assert BASIN in shown or BASIN.rsplit("|", 1)[0] in shown
