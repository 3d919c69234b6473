"""A rerun recording (`.rrd`) of a memory state or a recorded episode, for the rerun viewer
(`pip install rerun-sdk`, then `rerun FILE.rrd`): the optional backend of `embodmem viz`.

A snapshot becomes one moment: object boxes coloured by kind with labels, relation edges by
type, places, the occupancy as points. An episode trace (`embodmem.trace`) adds a `step`
timeline: at each step the objects memory held then, what appeared or moved, and the agent,
so rerun's time slider replays how memory evolved. Colours come from `embodmem.viz.style`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from embodmem.errors import ValidationError
from embodmem.trace import replay
from embodmem.viz import layout
from embodmem.viz.style import (
    AGENT_COLOUR,
    CATEGORIES,
    LAYERS,
    QUERY_COLOUR,
    RELATIONS,
    rgba,
)


def _rerun() -> Any:
    try:
        import rerun
    except ImportError:
        raise ValidationError(
            "--rrd", "rerun", "needs the rerun-sdk package (pip install rerun-sdk)"
        ) from None
    return rerun


def _rgb(colour: str) -> list[int]:
    return [round(255 * c) for c in rgba(colour)[:3]]


def write_rrd(data: dict[str, Any], path: str | Path, trace: dict[str, Any] | None = None) -> Path:
    """Write the recording of a memory state (`scene_data`), with the playback of `trace`."""
    rr = _rerun()
    out = Path(path)
    rec = rr.RecordingStream("embodmem")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # as the store
    rec.save(tmp)
    _log_state(rr, rec, data)
    if trace is not None:
        _log_trace(rr, rec, trace)
    rec.flush()
    rec.disconnect()
    tmp.replace(out)  # atomic: a reader never sees half a recording
    return out


def _log_state(rr: Any, rec: Any, data: dict[str, Any]) -> None:
    pos = layout.display_positions(data)
    objects = [n for n in data["nodes"] if n["layer"] == "object" and n.get("bbox")]
    if objects:
        rec.log(
            "memory/objects",
            rr.Boxes3D(
                centers=[n["bbox"]["center"] for n in objects],
                half_sizes=[[s / 2 for s in n["bbox"]["size"]] for n in objects],
                quaternions=[n["bbox"]["rotation"] for n in objects],
                colors=[_rgb(CATEGORIES[n["category"]][0]) for n in objects],
                labels=[f"{n['label']} {n['id']}" for n in objects],
            ),
            static=True,
        )
    for layer in ("place", "room", "building"):
        nodes = [n for n in data["nodes"] if n["layer"] == layer]
        if nodes:
            rec.log(
                f"memory/{layer}s",
                rr.Points3D(
                    [pos[n["id"]] for n in nodes],
                    colors=_rgb(LAYERS[layer].colour),
                    labels=[n.get("label") or n["id"] for n in nodes],
                    radii=0.06,
                ),
                static=True,
            )
    for kind, style in RELATIONS.items():
        segments = layout.edge_segments(data, pos, kind)
        if len(segments):
            rec.log(
                f"memory/relations/{kind}",
                rr.LineStrips3D(segments, colors=_rgb(style.colour), radii=0.005),
                static=True,
            )
    vox = data["voxels"]
    if vox["shown"]:
        rec.log(
            "memory/occupancy",
            rr.Points3D(np.column_stack([vox["x"], vox["y"], vox["z"]]), radii=0.01),
            static=True,
        )
    hits = (data.get("query") or {}).get("hits") or []
    if hits:
        rec.log(
            "memory/query",
            rr.Points3D(
                [pos[h["node_id"]] for h in hits if h["node_id"] in pos],
                colors=_rgb(QUERY_COLOUR),
                radii=0.08,
            ),
            static=True,
        )


def _log_trace(rr: Any, rec: Any, trace: dict[str, Any]) -> None:
    frames = trace["frames"]
    for k, (frame, objects) in enumerate(zip(frames, replay(frames), strict=True)):
        rec.set_time("step", sequence=k)
        ids = sorted(objects)
        rec.log(
            "episode/memory",
            rr.Points3D(
                [objects[i]["position"] for i in ids] or np.empty((0, 3)),
                labels=[f"{objects[i]['label']} {i}" for i in ids],
                radii=0.04,
            ),
        )
        changed = [i for i in (*frame["new"], *frame["moved"]) if i in objects]
        rec.log(
            "episode/changed",
            rr.Points3D(
                [objects[i]["position"] for i in changed] or np.empty((0, 3)),
                colors=_rgb(QUERY_COLOUR),
                radii=0.09,
            ),
        )
        if frame.get("agent"):
            rec.log("episode/agent", rr.Points3D([frame["agent"]], colors=_rgb(AGENT_COLOUR)))
        action = f"{frame.get('action', '')} {'ok' if frame.get('success', True) else 'failed'}"
        rec.log("episode/action", rr.TextLog(action))
