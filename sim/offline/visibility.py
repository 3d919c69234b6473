"""Per-step visibility of every object from the agent's camera, vectorised over objects.

An object counts as visible (THOR's `visible`) when one of its sample points (box centre, the 8
corners and the box point nearest the camera) lies inside the camera frustum and within the
visibility distance of the camera, and the object is not inside a closed receptacle. Occlusion
by other objects is not modelled.
"""

from __future__ import annotations

import math

import numpy as np

from sim.offline.geometry import camera_axes

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
) -> np.ndarray:
    """Bool per object box (lo, hi: (N, 3)): some sample point in the frustum and in range.

    `fov` is the vertical field of view in degrees, `aspect` the width / height ratio;
    `samples` may pass a cached `box_samples(lo, hi)` (its last slot is overwritten).
    """
    if samples is None:
        samples = box_samples(lo, hi)
    samples[:, -1, :] = np.clip(camera, lo, hi)
    rel = samples - camera
    right, up, forward = camera_axes(yaw, horizon)
    zc, xc, yc = rel @ forward, rel @ right, rel @ up
    tan_v = math.tan(math.radians(fov) / 2)
    in_view = (zc > 1e-3) & (np.abs(yc) <= zc * tan_v) & (np.abs(xc) <= zc * tan_v * aspect)
    in_range = np.einsum("nkd,nkd->nk", rel, rel) <= distance * distance
    return np.any(in_view & in_range, axis=1)
