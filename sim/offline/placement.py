"""Where an object goes when it is put on / in a receptacle or dropped: free space on the
receptacle's top (mode "on") or floor (mode "in"), found on a 5 cm grid of candidate spots,
vectorised over candidates x obstacles. Boxes are treated as bounds (see data/README)."""

from __future__ import annotations

import numpy as np

from sim.object_types import object_types
from sim.offline.state import SceneState

GRID_STEP = 0.05
SURFACE_SLACK = 0.03  # metres: flat things at the support height (slabs, burners) do not block
# Receptacles without a documented mode whose contents sit inside them.
IN_TYPES = frozenset(
    {
        "SinkBasin",
        "BathtubBasin",
        "Toaster",
        "CoffeeMachine",
        "Safe",
        "Toilet",
        "Mug",
        "LaundryHamper",
    }
)
# Fridges have shelves: objects inside the 120 scene dumps rest at a median 57% of the fridge's
# height, so that is where a put object goes instead of the fridge's floor.
SHELF_FRACTION = {"Fridge": 0.57}


def placement_mode(receptacle_type: str) -> str:
    """ "in" or "on" for a receptacle type."""
    known = object_types().get(receptacle_type)
    mode = known.placement_mode if known is not None else None
    if mode is None:
        return "in" if receptacle_type in IN_TYPES else "on"
    return mode


def _candidates(lo: np.ndarray, hi: np.ndarray, half: np.ndarray) -> np.ndarray:
    """(K, 2) x/z spots where a footprint of half-size `half` fits inside [lo, hi]."""
    axes = []
    for a, h in ((0, half[0]), (2, half[2])):
        start, stop = lo[a] + h, hi[a] - h
        if stop <= start:
            axes.append(np.array([(lo[a] + hi[a]) / 2]))
        else:
            n = int(np.floor((stop - start) / GRID_STEP)) + 1
            offset = (stop - start - (n - 1) * GRID_STEP) / 2
            axes.append(start + offset + GRID_STEP * np.arange(n))
    gx, gz = np.meshgrid(*axes, indexing="ij")
    return np.stack([gx.ravel(), gz.ravel()], axis=1)


def support_height(state: SceneState, receptacle: str) -> float:
    """Height objects rest at on / in `receptacle` (its top, floor or shelf)."""
    r = state.row[receptacle]
    rlo, rhi = state.lo[r], state.hi[r]
    rtype = state.objects[receptacle]["objectType"]
    surface = float(rlo[1] if placement_mode(rtype) == "in" else rhi[1])
    return surface + SHELF_FRACTION.get(rtype, 0.0) * float(rhi[1] - rlo[1])


def free_spots(
    state: SceneState,
    oid: str,
    receptacle: str,
    surface: float | None = None,
    crowd: bool = False,
) -> tuple[np.ndarray, float]:
    """Free x/z spots for `oid` on / in `receptacle` at height `surface` (default the support
    height) and that height; with `crowd` nothing else blocks."""
    r = state.row[receptacle]
    rlo, rhi = state.lo[r], state.hi[r]
    if surface is None:
        surface = support_height(state, receptacle)
    i = state.row[oid]
    half = (state.hi[i] - state.lo[i]) / 2
    spots = _candidates(rlo, rhi, half)
    ignore = {oid, *state.descendants(oid), receptacle, *state.parents(receptacle)}
    keep = np.array([k not in ignore and not crowd for k in state.ids])
    top = surface + 2 * half[1]
    obstacle = (
        keep
        & (state.lo[:, 1] >= surface - SURFACE_SLACK)
        & (state.hi[:, 1] > surface + SURFACE_SLACK)
        & (state.lo[:, 1] < top)
    )
    olo, ohi = state.lo[obstacle][:, [0, 2]], state.hi[obstacle][:, [0, 2]]
    if len(olo):
        slo, shi = spots - half[[0, 2]], spots + half[[0, 2]]
        hit = np.all((slo[:, None, :] < ohi[None]) & (shi[:, None, :] > olo[None]), axis=2)
        spots = spots[~hit.any(axis=1)]
    return spots, surface


def put_spot(
    state: SceneState,
    oid: str,
    receptacle: str,
    rng: np.random.Generator | None = None,
    crowd: bool = False,
) -> np.ndarray | None:
    """New THOR position of `oid` placed on / in `receptacle` (None when there is no room).

    Without `rng` the free spot nearest the receptacle's centre is used, with `rng` a random one.
    When the bottom of an "in" receptacle is full, objects stack on top of its contents (a
    garbage can, a box), as THOR's physics lets them. With `crowd` (a forced put), a receptacle
    the boxes call full takes the object anyway: boxes are bounds, and the meshes of what is
    there (dishes in a sink, a faucet over it, the counter round it) leave room they do not.
    """
    spots, surface = free_spots(state, oid, receptacle)
    contents = [
        state.row[k] for k in state.objects[receptacle].get("receptacleObjectIds") or () if k != oid
    ]
    if (
        not len(spots)
        and contents
        and placement_mode(state.objects[receptacle]["objectType"]) == "in"
    ):
        spots, surface = free_spots(state, oid, receptacle, float(state.hi[contents, 1].max()))
    if not len(spots) and crowd:
        spots, surface = free_spots(state, oid, receptacle, crowd=True)
    if not len(spots):
        return None
    r = state.row[receptacle]
    if rng is None:
        centre = ((state.lo[r] + state.hi[r]) / 2)[[0, 2]]
        x, z = spots[np.argmin(np.linalg.norm(spots - centre, axis=1))]
    else:
        x, z = spots[rng.integers(len(spots))]
    i = state.row[oid]
    return np.array((x, surface + state.pos[i][1] - state.lo[i][1], z))


def drop_target(state: SceneState, oid: str) -> tuple[np.ndarray, str | None]:
    """Where `oid` lands when released: straight down onto the highest receptacle below it
    (other objects are pushed aside by THOR's physics), else the floor.

    Returns the new position and the receptacle it lands on.
    """
    i = state.row[oid]
    below = {oid, *state.descendants(oid)}
    p = state.pos[i]
    under = (
        np.array([k not in below and bool(state.objects[k].get("receptacle")) for k in state.ids])
        & (state.lo[:, 0] <= p[0])
        & (state.hi[:, 0] >= p[0])
        & (state.lo[:, 2] <= p[2])
        & (state.hi[:, 2] >= p[2])
        & (state.hi[:, 1] <= state.lo[i][1] + 1e-3)
    )
    if not under.any():
        surface, support = state.floor_top, state.floor_id
    else:
        j = int(np.argmax(np.where(under, state.hi[:, 1], -np.inf)))
        surface, support = float(state.hi[j][1]), state.ids[j]
    return np.array((p[0], surface + p[1] - state.lo[i][1], p[2])), support
