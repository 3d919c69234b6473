"""A static picture of a memory state for papers and CI: top-down plan view and 3D view side
by side (matplotlib, Agg canvas: no display, no pyplot global state)."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from embodmem.viz import layout
from embodmem.viz.style import (
    AGENT_COLOUR,
    CATEGORIES,
    LAYERS,
    QUERY_COLOUR,
    RELATIONS,
    STATES,
    VOXEL_COLOURSCALE,
)

MAP_CELLS = 1500  # the plan view's occupancy map is at most this many cells across
VIEW_VOXELS = 30_000  # voxels drawn in the 3D view (a random sample beyond)
LABEL_CELL = 0.2  # m: same-label objects this close share one plan label
LABEL_SIZE = 6.5  # pt
# Where a plan label may sit beside its point (points right/up, left/down), in preference order.
LABEL_OFFSETS = ((4, 2), (4, -2), (-4, 2), (-4, -2), (0, 7), (0, -7), (9, 6), (-9, -6))
LABELS_UP_TO = 150  # objects labelled in the plan view up to this many
PLAN_EDGES = ("on", "in", "connected_to")  # near and contains would hide the plan
VIEW_EDGES = ("contains", "on", "in", "connected_to")


def render_png(
    data: dict[str, Any], explode: float = 0.0, title: str = "memory", dpi: int = 110
) -> bytes:
    """PNG bytes of one memory state (`scene_data` output)."""
    fig = Figure(figsize=(17, 8.5), dpi=dpi, layout="constrained")
    fig.suptitle(_title(data, title), fontsize=13)
    grid = fig.add_gridspec(1, 2, width_ratios=(1.1, 1))
    plan = fig.add_subplot(grid[0])
    view = fig.add_subplot(grid[1], projection="3d")
    labels = _plan(plan, data)
    _view(view, data, explode)
    _legend(fig, data)
    fig.draw_without_rendering()  # fixes the layout, so labels can be placed in pixels
    _place_labels(plan, labels)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": "embodmem viz"})
    return buf.getvalue()


def _title(data: dict[str, Any], title: str) -> str:
    q = data["query"]
    extra = f" · query “{q['text']}”: {len(q['hits'])} hits" if q else ""
    return f"{title}\n{' · '.join(layout.summary_facts(data))}{extra}"


def _thinned(vox: dict[str, Any], limit: int) -> np.ndarray:
    """(N, 3) voxel centres, at most `limit`: a seeded random sample beyond (a stride over the
    Morton order would draw stripes)."""
    pts = np.column_stack([vox["x"], vox["y"], vox["z"]]) if vox["shown"] else np.empty((0, 3))
    if len(pts) > limit:
        pts = pts[np.sort(np.random.default_rng(0).choice(len(pts), limit, replace=False))]
    return pts


def _height_map(ax: Any, vox: dict[str, Any]) -> None:
    """Occupancy seen from above, cut below a ceiling (`layout.cut_height`): each floor cell
    shaded by the highest voxel over it, seen floor lightest."""
    if not vox["shown"]:
        return
    pts = np.column_stack([vox["x"], vox["y"], vox["z"]])
    pts = pts[pts[:, 2] <= layout.cut_height(pts[:, 2])]
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    cell = max(2 * vox["cell_size"], float((hi - lo).max()) / MAP_CELLS)
    idx = np.floor((pts[:, :2] - lo) / cell).astype(np.int64)
    top = np.full(idx.max(axis=0) + 1, np.nan)
    np.fmax.at(top, (idx[:, 0], idx[:, 1]), pts[:, 2])
    ax.imshow(
        top.T,
        origin="lower",
        extent=(lo[0], lo[0] + top.shape[0] * cell, lo[1], lo[1] + top.shape[1] * cell),
        cmap=VOXEL_COLOURSCALE,
        vmin=float(pts[:, 2].min()) - 0.6,
        vmax=float(pts[:, 2].max()) + 0.4,
        alpha=0.6,
        interpolation="nearest",
        zorder=0,
    )


def _objects(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in data["nodes"] if n["layer"] == "object"]


def _label_groups(data: dict[str, Any], pos: dict[str, np.ndarray]) -> list[tuple]:
    """(x, y, text) plan labels, most telling first (query hits, objects with states, then by
    footprint, largest first); one per label and 0.2 m cell ("StoveKnob ×4" for a stack)."""
    hits = {h["node_id"] for h in data["query"]["hits"]} if data["query"] else set()

    def rank(n: dict[str, Any]) -> tuple:
        area = n["bbox"]["size"][0] * n["bbox"]["size"][1] if n.get("bbox") else 0.0
        return (n["id"] not in hits, not n["badges"], -area)

    groups: dict[tuple, list[np.ndarray]] = {}
    for n in sorted(_objects(data), key=rank):
        xy = pos[n["id"]][:2]
        groups.setdefault((n["label"], *np.round(xy / LABEL_CELL).astype(int)), []).append(xy)
    return [
        (*np.mean(xys, axis=0), label + (f" ×{len(xys)}" if len(xys) > 1 else ""))
        for (label, *_), xys in groups.items()
    ]


def _place_labels(ax: Any, labels: list[tuple]) -> None:
    """Write labels beside their points where they overlap no label placed before (greedy,
    in display pixels once the figure's layout is final); labels that find no room are left
    out, the HTML page has them all."""
    px = ax.figure.dpi / 72
    w_char, h = 0.55 * LABEL_SIZE * px, 1.25 * LABEL_SIZE * px
    frame = ax.get_window_extent()
    taken: list[tuple[float, float, float, float]] = []
    for x, y, text in labels:
        ax_x, ax_y = ax.transData.transform((x, y))
        w = w_char * len(text)
        for dx, dy in LABEL_OFFSETS:
            x0 = ax_x + dx * px - (w if dx < 0 else 0)
            y0 = ax_y + dy * px - (h if dy < 0 else 0)
            box = (x0, y0, x0 + w, y0 + h)
            inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1]
            if inside and box[3] <= frame.y1 and not any(_overlap(box, b) for b in taken):
                taken.append(box)
                ax.annotate(
                    text,
                    (x, y),
                    xytext=(dx, dy),
                    textcoords="offset points",
                    ha="right" if dx < 0 else "left",
                    va="top" if dy < 0 else "bottom",
                    fontsize=LABEL_SIZE,
                    color="#333344",
                    zorder=4,
                    annotation_clip=True,
                ).set_in_layout(False)
                break


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _plan(ax: Any, data: dict[str, Any]) -> list[tuple]:
    """Top-down view: occupancy, box footprints, support and place edges, nodes, badges;
    returns the labels to place once the layout is final."""
    ax.set_title("plan view (top-down)", fontsize=11)
    pos = layout.display_positions(data)
    _height_map(ax, data["voxels"])
    objects = _objects(data)
    boxed = [n for n in objects if n.get("bbox")]
    boxed.sort(key=lambda n: -n["bbox"]["size"][0] * n["bbox"]["size"][1])  # big ones below
    colours = [CATEGORIES[n["category"]][0] for n in boxed]
    ax.add_collection(
        PolyCollection(
            [layout.footprint(n["bbox"]["corners"]) for n in boxed],
            facecolors=colours,
            edgecolors=colours,
            alpha=0.16,
            linewidths=0.8,
        )
    )
    for kind in PLAN_EDGES:
        seg = layout.edge_segments(data, pos, kind)
        if len(seg):
            st = RELATIONS[kind]
            ax.add_collection(
                LineCollection(
                    seg[:, :, :2],
                    colors=st.colour,
                    linewidths=st.width * 0.4,
                    linestyles=st.linestyle,
                    alpha=0.75,
                )
            )
    for layer in ("place", "object"):
        nodes = [n for n in data["nodes"] if n["layer"] == layer]
        if not nodes:
            continue
        xy = np.array([pos[n["id"]][:2] for n in nodes])
        st = LAYERS[layer]
        c = [CATEGORIES[n["category"]][0] for n in nodes] if layer == "object" else st.colour
        ax.scatter(
            *xy.T,
            s=st.size * 5,
            c=c,
            marker=st.marker,
            edgecolors="white",
            linewidths=0.5,
            zorder=3,
        )
    badges = [(pos[n["id"]][:2], i, name) for n in objects for i, name in enumerate(n["badges"])]
    if badges:
        xy = np.array([p for p, _, _ in badges])
        xy += np.array([(0.05 * (i + 1), -0.05) for _, i, _ in badges])
        colours = [STATES[name].colour for _, _, name in badges]
        ax.scatter(*xy.T, s=14, c=colours, edgecolors="black", linewidths=0.3, zorder=5)
    _plan_query(ax, data, pos)
    _plan_agent(ax, data)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.04)
    ax.grid(True, color="#e3e5ee", linewidth=0.6)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    return _label_groups(data, pos) if len(objects) <= LABELS_UP_TO else []


def _plan_query(ax: Any, data: dict[str, Any], pos: dict[str, np.ndarray]) -> None:
    q = data["query"]
    if not q or not q["hits"]:
        return
    xy = np.array([pos[h["node_id"]][:2] for h in q["hits"]])
    ax.scatter(*xy.T, s=260, facecolors="none", edgecolors=QUERY_COLOUR, linewidths=2.5, zorder=6)
    for h, (x, y) in zip(q["hits"], xy, strict=True):
        ax.annotate(
            f"#{h['rank']}",
            (x, y),
            xytext=(-6, -14),
            textcoords="offset points",
            fontsize=8,
            fontweight="bold",
            color="#7a6000",
            zorder=7,
        )


def _plan_agent(ax: Any, data: dict[str, Any]) -> None:
    pose = data["agent"]["last_pose"]
    if pose is None:
        return
    x, y = pose["position"][:2]
    dx, dy = 0.35 * math.cos(pose["yaw"]), 0.35 * math.sin(pose["yaw"])
    ax.annotate(
        "",
        (x + dx, y + dy),
        (x, y),
        zorder=8,
        arrowprops={"arrowstyle": "-|>", "color": AGENT_COLOUR, "lw": 2},
    )


def _view(ax: Any, data: dict[str, Any], explode: float) -> None:
    """3D view: occupancy, oriented boxes, layer hierarchy and relations, nodes by layer."""
    ax.set_title(
        "3D view" + (f" (layers exploded by {explode:g} m)" if explode else ""), fontsize=11
    )
    pos = layout.display_positions(data, explode)
    vox = _thinned(data["voxels"], VIEW_VOXELS)
    if len(vox):
        ax.scatter(
            vox[:, 0],
            vox[:, 1],
            vox[:, 2],
            c=vox[:, 2],
            cmap=VOXEL_COLOURSCALE,
            s=0.3,
            alpha=0.3,
            vmin=vox[:, 2].min() - 1.0,
            vmax=vox[:, 2].max() + 0.2,
            linewidths=0,
            depthshade=False,
            rasterized=True,
        )
    objects = _objects(data)
    for group, (colour, _) in CATEGORIES.items():
        seg = layout.box_segments([n for n in objects if n["category"] == group])
        if len(seg):
            ax.add_collection3d(Line3DCollection(seg, colors=colour, linewidths=0.5, alpha=0.45))
    for kind in VIEW_EDGES:
        seg = layout.edge_segments(data, pos, kind)
        if len(seg):
            st = RELATIONS[kind]
            ax.add_collection3d(
                Line3DCollection(
                    seg,
                    colors=st.colour,
                    linewidths=st.width * 0.4,
                    linestyles=st.linestyle,
                    alpha=st.opacity,
                )
            )
    for layer, st in LAYERS.items():
        nodes = [n for n in data["nodes"] if n["layer"] == layer]
        if not nodes:
            continue
        p = np.array([pos[n["id"]] for n in nodes])
        c = [CATEGORIES[n["category"]][0] for n in nodes] if layer == "object" else st.colour
        ax.scatter(
            *p.T,
            s=st.size * 3,
            c=c,
            marker=st.marker,
            edgecolors="white",
            linewidths=0.4,
            depthshade=False,
        )
        if layer in ("room", "building"):
            for n, (x, y, z) in zip(nodes, p, strict=True):
                ax.text(x, y, z + 0.12, n["label"], fontsize=9, ha="center", color=st.colour)
    q = data["query"]
    if q and q["hits"]:
        p = np.array([pos[h["node_id"]] for h in q["hits"]])
        ax.scatter(
            *p.T, s=160, facecolors="none", edgecolors=QUERY_COLOUR, linewidths=2, depthshade=False
        )
    lo, hi = layout.extent(data, pos)
    ax.set_box_aspect(np.maximum(hi - lo, 0.5), zoom=1.1)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.view_init(elev=26, azim=-58)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.zaxis.set_major_locator(MaxNLocator(5))  # a flat scene's short z axis stays legible
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.965, 0.969, 0.984, 1.0))


def _legend(fig: Figure, data: dict[str, Any]) -> None:
    """One legend for both panels: object kinds present, layers, relations, states shown."""
    objects = _objects(data)
    groups = [g for g in CATEGORIES if any(n["category"] == g for n in objects)]
    badges = [s for s in STATES if any(s in n["badges"] for n in objects)]
    dot = {"marker": "o", "linestyle": "none", "markersize": 7}
    handles = [Line2D([], [], color=CATEGORIES[g][0], label=g, **dot) for g in groups]
    handles += [
        Line2D(
            [],
            [],
            color=LAYERS[layer].colour,
            marker=LAYERS[layer].marker,
            linestyle="none",
            markersize=7,
            label=LAYERS[layer].title,
        )
        for layer in ("place", "room", "building")
        if any(n["layer"] == layer for n in data["nodes"])
    ]
    handles += [
        Line2D(
            [],
            [],
            color=RELATIONS[k].colour,
            linestyle=RELATIONS[k].linestyle,
            linewidth=2,
            label=RELATIONS[k].title,
        )
        for k in ("on", "in", "connected_to", "contains")
    ]
    handles += [Line2D([], [], color=STATES[s].colour, label=f"state: {s}", **dot) for s in badges]
    if data["query"]:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                markerfacecolor="none",
                markeredgecolor=QUERY_COLOUR,
                markeredgewidth=2,
                linestyle="none",
                markersize=11,
                label="query hit",
            )
        )
    if data["agent"]["last_pose"] is not None:
        handles.append(Line2D([], [], color=AGENT_COLOUR, marker=">", label="agent (last pose)"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 9),
        fontsize=9,
        frameon=False,
    )
