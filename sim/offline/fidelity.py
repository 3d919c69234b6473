"""Replay a recorded ai2thor episode in the offline simulator and score the agreement.

An episode is a list of steps `{step, action, metadata}` (the recorded format under
data/ithor/episodes). The first step's metadata is the initial state; every later action is
replayed and compared with the real next state: lastActionSuccess, and for every object the
real step changed, the state fields below plus the position (within `POSITION_TOLERANCE`) of
objects that moved. parentReceptacles is compared as a set: THOR's own order is not stable.
Separately, every step's `visible` flags are scored (precision and recall over object-steps)
and the agent's pose is compared (position within `POSITION_TOLERANCE`, yaw and horizon).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from sim.offline.controller import OfflineController

STATE_FIELDS = (
    "isPickedUp",
    "isOpen",
    "isToggled",
    "isSliced",
    "isCooked",
    "isDirty",
    "isFilledWithLiquid",
    "temperature",
    "parentReceptacles",
)
POSITION_TOLERANCE = 0.3  # metres
MOVED = 0.01  # metres: a real displacement above this counts as a move


@dataclass
class Agreement:
    """Per-episode agreement counts and the mismatches, for a table and for debugging."""

    steps: int = 0
    compared: int = 0
    equal: int = 0
    mismatches: list[str] = field(default_factory=list)
    visible_both: int = 0  # object-steps visible in THOR and here
    visible_real: int = 0  # ... in THOR
    visible_sim: int = 0  # ... here
    pose_equal: int = 0  # steps whose agent pose agrees

    def add(self, other: Agreement) -> None:
        """Accumulate another episode's counts (mismatches are not kept)."""
        self.steps += other.steps
        self.compared += other.compared
        self.equal += other.equal
        self.visible_both += other.visible_both
        self.visible_real += other.visible_real
        self.visible_sim += other.visible_sim
        self.pose_equal += other.pose_equal

    @property
    def visible_precision(self) -> float:
        return self.visible_both / self.visible_sim if self.visible_sim else 1.0

    @property
    def visible_recall(self) -> float:
        return self.visible_both / self.visible_real if self.visible_real else 1.0

    @property
    def percent(self) -> float:
        """Share of compared fields that agree, in percent (100 when nothing was compared)."""
        return 100.0 * self.equal / self.compared if self.compared else 100.0


def _pos(o: Mapping[str, Any]) -> np.ndarray:
    p = o["position"]
    return np.array((p["x"], p["y"], p["z"]))


def _same(name: str, a: Any, b: Any) -> bool:
    if name == "parentReceptacles":
        return set(a or ()) == set(b or ())
    return a == b


def _compare(
    before: Mapping[str, Any],
    real: Mapping[str, Any],
    sim: Mapping[str, Any],
    step: int,
    out: Agreement,
) -> None:
    def check(what: str, ok: bool) -> None:
        out.compared += 1
        out.equal += ok
        if not ok:
            out.mismatches.append(f"step {step}: {what}")

    check(
        f"lastActionSuccess real={real['lastActionSuccess']} sim={sim['lastActionSuccess']} "
        f"({sim['errorMessage']})",
        real["lastActionSuccess"] == sim["lastActionSuccess"],
    )
    prev = {o["objectId"]: o for o in before["objects"]}
    mine = {o["objectId"]: o for o in sim["objects"]}
    for o in real["objects"]:
        oid = o["objectId"]
        if oid not in prev:
            continue
        old, new = prev[oid], mine.get(oid)
        for name in STATE_FIELDS:
            if not _same(name, old[name], o[name]):
                got = None if new is None else new[name]
                check(
                    f"{oid}.{name} real={o[name]} sim={got}",
                    new is not None and _same(name, got, o[name]),
                )
        if np.linalg.norm(_pos(o) - _pos(old)) > MOVED:
            err = np.inf if new is None else float(np.linalg.norm(_pos(new) - _pos(o)))
            check(f"{oid}.position off by {err:.2f} m", err <= POSITION_TOLERANCE)
    seen = {o["objectId"] for o in sim["objects"] if o["visible"]}
    for o in real["objects"]:
        out.visible_real += bool(o["visible"])
        out.visible_both += bool(o["visible"]) and o["objectId"] in seen
    out.visible_sim += len(seen)
    ra, sa = real["agent"], sim["agent"]
    out.pose_equal += bool(
        np.linalg.norm(_pos(ra) - _pos(sa)) <= POSITION_TOLERANCE
        and abs((ra["rotation"]["y"] - sa["rotation"]["y"] + 180) % 360 - 180) < 1
        and abs(ra["cameraHorizon"] - sa["cameraHorizon"]) < 1
    )


def replay(steps: Sequence[Mapping[str, Any]], **kw: Any) -> Agreement:
    """Replay the recorded `steps` from the first one's state and count agreeing fields
    (`kw`: controller arguments, e.g. occlusion=False)."""
    ctl = OfflineController.from_metadata(steps[0]["metadata"], **kw)
    out = Agreement()
    for before, rec in pairwise(steps):
        action = {k: v for k, v in rec["action"].items() if k != "sequenceId"}
        event = ctl.step(action)
        out.steps += 1
        _compare(before["metadata"], rec["metadata"], event.metadata, rec["step"], out)
    return out
