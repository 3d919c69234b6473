"""Per-step visibility of every object from the agent's camera, vectorised over objects.

THOR 5.0.0's rule (BaseFPSAgentController.GetAllVisibleSimObjPhysicsCollider) without its
occlusion raycasts: an object is a candidate when its box comes within `visibilityDistance` of
the segment along the agent's capsule, raised by that distance (THOR's OverlapCapsule), and it
is visible when one of its sample points (box centre, the 8 corners and the box point nearest
the camera) lies inside the camera's viewport; objects inside a closed receptacle are not.
Measured on the recorded 5.0.0 episodes (experiments/offline_fidelity.py) this agrees better
with THOR's flag than a distance from the camera did.
"""

from __future__ import annotations

import math

import numpy as np

from sim.offline.geometry import CAMERA_HEIGHT, camera_axes

CAPSULE_BELOW, CAPSULE_ABOVE = 0.7, 0.7  # m: the capsule's segment around the agent position

_CORNER_BITS = np.array([[(i >> k) & 1 for k in range(3)] for i in range(8)], dtype=bool)


def box_samples(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, 10, 3) sample points per box: centre, 8 corners and a slot for the nearest point."""
    corners = np.where(_CORNER_BITS[None], hi[:, None, :], lo[:, None, :])  # (N, 8, 3)
    centre = ((lo + hi) / 2)[:, None, :]
    return np.concatenate([centre, corners, centre], axis=1)


def visible_mask(
    camera: np.ndarray,
    yaw: float,
    horizon: float,
    fov: float,
    aspect: float,
    distance: float,
    lo: np.ndarray,
    hi: np.ndarray,
    samples: np.ndarray | None = None,
    agent: np.ndarray | None = None,
) -> np.ndarray:
    """Bool per object box (lo, hi: (N, 3)): near the agent's capsule, some sample in view.

    `fov` is the vertical field of view in degrees, `aspect` the width / height ratio; `agent`
    is the agent's position (default: below a standing camera); `samples` may pass a cached
    `box_samples(lo, hi)` (its last slot is overwritten).
    """
    if agent is None:
        agent = camera - np.array((0.0, CAMERA_HEIGHT, 0.0))
    if samples is None:
        samples = box_samples(lo, hi)
    samples[:, -1, :] = np.clip(camera, lo, hi)
    bottom = np.array((agent[0], agent[1] - CAPSULE_BELOW, agent[2]))
    top = np.array((agent[0], agent[1] + CAPSULE_ABOVE + distance, agent[2]))
    gap = np.maximum(np.maximum(lo - top, bottom - hi), 0.0)  # box to the vertical segment
    near = np.einsum("nd,nd->n", gap, gap) <= distance * distance
    rel = samples - camera
    right, up, forward = camera_axes(yaw, horizon)
    zc, xc, yc = rel @ forward, rel @ right, rel @ up
    tan_v = math.tan(math.radians(fov) / 2)
    in_view = (zc > 1e-3) & (np.abs(yc) <= zc * tan_v) & (np.abs(xc) <= zc * tan_v * aspect)
    return near & np.any(in_view, axis=1)
