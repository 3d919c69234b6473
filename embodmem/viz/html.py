"""One self-contained, offline HTML page of a memory state: an interactive 3D scene graph with
side panels (query hits, recent short-term changes, experience).

The page inlines plotly.js from the installed `plotly` package (no CDN, no network) and embeds
two JSON documents: the plotly figure (`#embodmem-figure`) and the scene data without the voxel
arrays (`#embodmem-data`, see `embodmem.viz.scene_data`). Traces carry `meta` (`kind`: nodes,
edges, boxes, voxels, badges, query, agent), so a script or a test can find what is drawn.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import orjson

from embodmem.viz import layout
from embodmem.viz.layout import time_text
from embodmem.viz.style import (
    AGENT_COLOUR,
    CATEGORIES,
    LAYERS,
    QUERY_COLOUR,
    RELATIONS,
    STATES,
    VOXEL_COLOURSCALE,
)

LABELS_UP_TO = 150  # object labels are written beside markers up to this many objects
BADGE_STEP = 0.07  # m between stacked state badges above an object
EDGE_ORDER = ("contains", "near", "in", "on", "connected_to")
HOVER_STATES = 6  # state fields listed in a node's hover text


def render_html(data: dict[str, Any], explode: float = 0.0, title: str = "memory") -> str:
    """The page for one memory state (`scene_data` output)."""
    panels = _query_panel(data) + _changes_panel(data) + experience_panel(data)
    return page(data, figure(data, explode), title, panels)


def page(
    data: dict[str, Any],
    fig: dict[str, Any],
    title: str,
    panels: str,
    script: str = "",
    header: str | None = None,
) -> str:
    """A page around a figure: header, side `panels` (HTML), notes, the embedded figure and
    scene data, plotly inlined, the common script and then `script`."""
    from plotly.offline import get_plotlyjs  # heavy: only when a page is made

    summary = {
        **data,
        "voxels": {k: v for k, v in data["voxels"].items() if k not in ("x", "y", "z")},
    }
    return _PAGE.format(
        title=html.escape(title),
        header=_header(data, title) if header is None else header,
        plotly=get_plotlyjs(),
        figure=script_json(fig),
        data=script_json(summary),
        panels=panels,
        notes="".join(f"<p>{html.escape(n)}</p>" for n in data["notes"]),
        script=_SCRIPT + script,
    )


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no "<" that could close or comment it)."""
    return orjson.dumps(value).replace(b"<", b"\\u003c").decode("utf-8")


# ------------------------------------------------------------------------------ figure
def figure(data: dict[str, Any], explode: float = 0.0) -> dict[str, Any]:
    """The plotly figure (traces and layout, plain dicts) of a memory state."""
    pos = layout.display_positions(data, explode)
    objects = [n for n in data["nodes"] if n["layer"] == "object"]
    traces = _voxels(data["voxels"])
    traces += _boxes(objects)
    traces += [_edges(data, pos, kind) for kind in EDGE_ORDER]
    traces += [_nodes(data, pos, layer) for layer in LAYERS]
    traces += _badges(objects, pos)
    traces += _query(data, pos)
    traces += _agent(data["agent"], explode)
    lo, hi = layout.extent(data, pos)
    span = np.maximum(hi - lo, 0.1)
    return {"data": [t for t in traces if t is not None], "layout": _layout(span / span.max())}


def _layout(aspect: np.ndarray) -> dict[str, Any]:
    """Scene axes in true proportions (`aspect`: extent per axis over the largest)."""
    axis = {
        "backgroundcolor": "#f6f7fb",
        "gridcolor": "#e3e5ee",
        "zerolinecolor": "#d0d3e0",
        "showspikes": False,
    }
    return {
        "scene": {
            "aspectmode": "manual",
            "aspectratio": dict(zip("xyz", aspect.round(4).tolist(), strict=True)),
            "xaxis": {**axis, "title": {"text": "x (m)"}},
            "yaxis": {**axis, "title": {"text": "y (m)"}},
            "zaxis": {**axis, "title": {"text": "z (m)"}},
            "camera": {"eye": {"x": -0.8, "y": -1.3, "z": 1.0}},
        },
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": "#ffffff",
        "legend": {
            "x": 0.01,
            "y": 0.99,
            "bgcolor": "rgba(255,255,255,0.85)",
            "bordercolor": "#d0d3e0",
            "borderwidth": 1,
            "font": {"size": 11},
            "itemsizing": "constant",
        },
        "hoverlabel": {"align": "left", "font": {"size": 12}},
        "uirevision": "embodmem",
    }


def _xyz(points: np.ndarray) -> dict[str, list[float]]:
    p = np.asarray(points, dtype=float).reshape(-1, 3).round(4)
    return {"x": p[:, 0].tolist(), "y": p[:, 1].tolist(), "z": p[:, 2].tolist()}


def _voxels(vox: dict[str, Any]) -> list[dict[str, Any]]:
    """Occupancy points, coloured by height; those above the plan cut (a ceiling, which
    would hide the room) in a second trace that starts hidden."""
    if not vox["shown"]:
        return []
    pts = np.column_stack([vox["x"], vox["y"], vox["z"]])
    cut = layout.cut_height(pts[:, 2])
    leaves = vox["depth"] == vox["leaf_depth"]
    unit = "voxels" if leaves else f"cells of {vox['cell_size']:.2f} m"
    out = []
    for part, name, visible in (
        (pts[pts[:, 2] <= cut], "occupancy", True),
        (pts[pts[:, 2] > cut], f"occupancy above {cut:.1f} m", "legendonly"),
    ):
        if not len(part):
            continue
        out.append(
            {
                "type": "scatter3d",
                "mode": "markers",
                "name": f"{name} ({len(part):,} {unit})",
                **_xyz(part),
                "marker": {
                    "size": 1.2 if leaves else 2.0,
                    "color": part[:, 2].round(3).tolist(),
                    "colorscale": VOXEL_COLOURSCALE,
                    "cmin": float(pts[:, 2].min()) - 1.5,  # lowest light grey, highest mid grey
                    "cmax": float(pts[:, 2].max()) + 1.0,
                    "opacity": 0.35,
                },
                "hoverinfo": "skip",
                "visible": visible,
                "meta": {"kind": "voxels", "count": len(part)},
            }
        )
    return out


def _boxes(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for group, (colour, _) in CATEGORIES.items():
        members = [n for n in objects if n["category"] == group and n.get("bbox")]
        if not members:
            continue
        x, y, z = layout.polyline(layout.box_segments(members))
        out.append(
            {
                "type": "scatter3d",
                "mode": "lines",
                "name": "oriented boxes",
                "legendgroup": "boxes",
                "showlegend": not out,  # one legend entry shows / hides every group
                "x": x,
                "y": y,
                "z": z,
                "line": {"color": colour, "width": 2},
                "opacity": 0.55,
                "hoverinfo": "skip",
                "meta": {"kind": "boxes", "category": group, "count": len(members)},
            }
        )
    return out


def _edges(data: dict[str, Any], pos: dict[str, np.ndarray], kind: str) -> dict[str, Any]:
    style = RELATIONS[kind]
    seg = layout.edge_segments(data, pos, kind)
    x, y, z = layout.polyline(seg)
    return {
        "type": "scatter3d",
        "mode": "lines",
        "name": f"{style.title} ({len(seg)})",
        "x": x,
        "y": y,
        "z": z,
        "line": {"color": style.colour, "width": style.width, "dash": style.dash},
        "opacity": style.opacity,
        "hoverinfo": "skip",
        "visible": True if kind != "near" else "legendonly",
        "meta": {"kind": "edges", "type": kind, "count": len(seg)},
    }


def _nodes(data: dict[str, Any], pos: dict[str, np.ndarray], layer: str) -> dict[str, Any] | None:
    nodes = [n for n in data["nodes"] if n["layer"] == layer]
    if not nodes:
        return None
    style = LAYERS[layer]
    names = {n["id"]: n["label"] for n in data["nodes"]}
    hits = {h["node_id"] for h in data["query"]["hits"]} if data["query"] else set()
    if layer == "object":
        colour: Any = [CATEGORIES[n["category"]][0] for n in nodes]
        with_text = len(nodes) <= LABELS_UP_TO or bool(hits)
        text = [n["label"] if len(nodes) <= LABELS_UP_TO or n["id"] in hits else "" for n in nodes]
    else:
        colour, with_text, text = style.colour, layer != "place", [n["label"] for n in nodes]
    return {
        "type": "scatter3d",
        "mode": "markers+text" if with_text else "markers",
        "name": f"{style.title} ({len(nodes)})",
        **_xyz(np.array([pos[n["id"]] for n in nodes])),
        "text": text,
        "textposition": "top center",
        "textfont": {"size": 9 if layer == "object" else 13, "color": "#333344"},
        "hovertext": [hover_text(n, names) for n in nodes],
        "hoverinfo": "text",
        "customdata": [n["id"] for n in nodes],
        "marker": {
            "size": style.size,
            "color": colour,
            "symbol": style.symbol,
            "line": {"color": "#ffffff", "width": 0.5},
        },
        "meta": {"kind": "nodes", "layer": layer, "count": len(nodes)},
    }


def _badges(objects: list[dict[str, Any]], pos: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    out = []
    for name, style in STATES.items():
        members = [(n, n["badges"].index(name)) for n in objects if name in n["badges"]]
        if not members:
            continue
        pts = np.array([pos[n["id"]] + (0, 0, BADGE_STEP * (i + 1)) for n, i in members])
        out.append(
            {
                "type": "scatter3d",
                "mode": "markers",
                "name": f"state: {name} ({len(members)})",
                "legendgroup": "states",
                **_xyz(pts),
                "marker": {"size": 4, "color": style.colour, "symbol": "circle"},
                "hovertext": [f"{n['label']} {n['id']}: {style.badge}" for n, _ in members],
                "hoverinfo": "text",
                "meta": {"kind": "badges", "state": name, "count": len(members)},
            }
        )
    return out


def _query(data: dict[str, Any], pos: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    q = data["query"]
    if not q or not q["hits"]:
        return []
    hits = q["hits"]
    return [
        {
            "type": "scatter3d",
            "mode": "markers+text",
            "name": f"query: {q['text']!r} ({len(hits)})",
            **_xyz(np.array([pos[h["node_id"]] for h in hits])),
            "text": [f"#{h['rank']}" for h in hits],
            "textposition": "bottom center",
            "textfont": {"size": 11, "color": "#7a6000"},
            "marker": {
                "size": 16,
                "color": QUERY_COLOUR,
                "opacity": 0.55,
                "symbol": "circle",
                "line": {"color": "#7a6000", "width": 2},
            },
            "hovertext": [
                f"#{h['rank']} {h['label']} {h['node_id']}<br>score {h['score']:.3f}"
                f"<br>{'; '.join(h['why'])}"
                for h in hits
            ],
            "hoverinfo": "text",
            "customdata": [h["node_id"] for h in hits],
            "meta": {"kind": "query", "count": len(hits)},
        }
    ]


def _agent(agent: dict[str, Any], explode: float) -> list[dict[str, Any]]:
    pose = agent["last_pose"]
    if pose is None:
        return []
    p = np.array(pose["position"], dtype=float)
    p[2] += explode * LAYERS["place"].level
    tip = p + 0.45 * np.array([math.cos(pose["yaw"]), math.sin(pose["yaw"]), 0.0])
    return [
        {
            "type": "scatter3d",
            "mode": "lines+markers",
            "name": "agent (last pose)",
            **_xyz(np.array([p, tip])),
            "line": {"color": AGENT_COLOUR, "width": 6},
            "marker": {"size": [7, 3], "color": AGENT_COLOUR, "symbol": "diamond"},
            "hovertext": [f"agent, last pose; yaw {math.degrees(pose['yaw']):.0f}°"] * 2,
            "hoverinfo": "text",
            "meta": {"kind": "agent", "count": 1},
        }
    ]


# ------------------------------------------------------------------------------- text
def value_text(value: Any, limit: int = 48) -> str:
    """A state value in a few characters (positions with 2 decimals, long lists cut)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, float) for v in value):
        text = "(" + ", ".join(f"{v:.2f}" for v in value) + ")"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v).split("|")[0] for v in value) or "[]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_text(c: dict[str, Any]) -> str:
    """`field: before -> after (cause)` of one change record."""
    cause = f" ({c['cause']})" if c.get("cause") else ""
    return f"{c['field']}: {value_text(c['before'])} → {value_text(c['after'])}{cause}"


def hover_text(n: dict[str, Any], labels: dict[str, str]) -> str:
    """What hovering a node shows: label and id, then what the memory knows about it
    (`labels`: node id -> label, to name its support)."""
    e = html.escape
    lines = [f"<b>{e(n['label'])}</b> {n['id']} ({n['layer']})"]
    if n["layer"] == "object":
        if n["source_id"]:
            lines.append(f"source: {e(n['source_id'])}")
        if n["support"]:
            parent = n["support"]["id"]
            lines.append(f"{n['support']['kind']} {e(labels.get(parent, ''))} {parent}")
        if n["badges"]:
            lines.append("states: " + ", ".join(n["badges"]))
        shown = [
            f"{k}={e(value_text(v, 28))}"
            for k, v in n["states"].items()
            if v not in (None, False, []) and k != "parentReceptacles"
        ][:HOVER_STATES]
        if shown:
            lines.append(" ".join(shown))
        flags = [k for k, v in n["attributes"].items() if v is True]
        if flags:
            lines.append("can: " + ", ".join(flags))
        lines.append(
            f"first seen {time_text(n['first_seen_ns'])}, last seen "
            f"{time_text(n['last_seen_ns'])} ({n['observation_count']}x)"
        )
        if n["last_absent_ns"] is not None:
            lines.append(f"last seen absent {time_text(n['last_absent_ns'])}")
        if n["history"]:
            lines.append(f"recent changes ({n['changes_total']}):")
            lines += [f"  {time_text(c['time_ns'])} {e(change_text(c))}" for c in n["history"][-4:]]
        lines.append("in short-term buffer" if n["buffered"] else "long-term only")
    elif n["layer"] == "place":
        lines.append(
            f"visited {n['visit_count']}x, first {time_text(n['first_seen_ns'])}, last "
            f"{time_text(n['last_seen_ns'])}" + (" (agent here)" if n["current"] else "")
        )
    elif "first_seen_ns" in n:
        lines.append(
            f"first seen {time_text(n['first_seen_ns'])}, last {time_text(n['last_seen_ns'])}"
        )
    return "<br>".join(lines)


# ------------------------------------------------------------------------------ panels
def _header(data: dict[str, Any], title: str) -> str:
    return f"<h1>{html.escape(title)}</h1><p>{' · '.join(layout.summary_facts(data))}</p>"


def _table(head: list[str], rows: list[list[str]], attrs: list[str] | None = None) -> str:
    """An HTML table; cells are already escaped; `attrs` adds attributes to each row."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        f"<tr{(' ' + attrs[i]) if attrs else ''}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
        for i, r in enumerate(rows)
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _query_panel(data: dict[str, Any]) -> str:
    q = data["query"]
    if not q:
        return ""
    e = html.escape
    rows = [
        [str(h["rank"]), e(f"{h['label']} {h['node_id']}"), f"{h['score']:.3f}"] for h in q["hits"]
    ]
    attrs = [f'data-node="{h["node_id"]}"' for h in q["hits"]]
    body = _table(["#", "object", "score"], rows, attrs) if rows else "<p>no hits</p>"
    return f'<section id="query"><h2>Query: “{e(q["text"])}”</h2>{body}</section>'


def _changes_panel(data: dict[str, Any]) -> str:
    e = html.escape
    changes = data["changes"][::-1]  # newest first
    rows = [
        [time_text(c["time_ns"]), e(f"{c['label'] or ''} {c['node_id']}"), e(change_text(c))]
        for c in changes
    ]
    attrs = [f'data-node="{c["node_id"]}"' for c in changes]
    body = _table(["time", "object", "change"], rows, attrs) if rows else "<p>no changes</p>"
    return (
        f'<section id="changes"><h2>Short-term changes ({len(rows)}, newest first)</h2>'
        f'<div class="scroll">{body}</div></section>'
    )


def experience_panel(data: dict[str, Any]) -> str:
    e = html.escape
    exp = data["experience"]
    rows = [
        [
            f"{e(ep['task'])}<br><small>{e(ep['task_type'])}</small>",
            '<span class="ok">✓</span>' if ep["success"] else '<span class="bad">✗</span>',
            str(ep["steps"]),
            str(len(ep["failures"])),
        ]
        for ep in exp["episodes"]
    ]
    episodes = _table(["task", "ok", "steps", "failures"], rows) if rows else "<p>none yet</p>"
    prior_rows = [
        [
            e(p["type"]),
            e(", ".join(f"{r} {share:.0%}" for r, share in p["receptacles"][:4])),
            e(", ".join(f"{r} {share:.0%}" for r, share in p["rooms"][:3])),
        ]
        for p in exp["priors"]
    ]
    priors = _table(["type", "found on / in", "rooms"], prior_rows) if prior_rows else "<p>none</p>"
    return (
        f'<section id="experience"><h2>Experience: {len(rows)} episodes</h2>'
        f'<div class="scroll">{episodes}</div><h3>Where each type was found</h3>'
        f'<div class="scroll">{priors}</div></section>'
    )


_SCRIPT = """
const fig = JSON.parse(document.getElementById('embodmem-figure').textContent);
const gd = document.getElementById('scene');
// A row of a side table marks its object in the 3D view (one "selected" ring).
const where = {};
fig.data.forEach(t => (t.meta && t.meta.kind === 'nodes') && t.customdata.forEach(
  (id, i) => { where[id] = [t.x[i], t.y[i], t.z[i]]; }));
fig.data.push({type: 'scatter3d', mode: 'markers', name: 'selected', x: [], y: [], z: [],
  marker: {size: 20, color: 'rgba(0,0,0,0)', line: {color: '#e4002b', width: 4}},
  hoverinfo: 'skip', showlegend: false, meta: {kind: 'selected', count: 0}});
const selected = fig.data.length - 1;
Plotly.newPlot(gd, fig.data, fig.layout, {responsive: true, displaylogo: false,
  toImageButtonOptions: {format: 'png', filename: 'embodmem-memory', scale: 2}})
  .then(() => { document.body.dataset.ready = 'true'; });  // for scripts driving the page
document.querySelectorAll('tr[data-node]').forEach(row => row.addEventListener('click', () => {
  const p = where[row.dataset.node];
  document.querySelectorAll('tr.on').forEach(r => r.classList.remove('on'));
  row.classList.add('on');
  if (p) Plotly.restyle(gd, {x: [[p[0]]], y: [[p[1]]], z: [[p[2]]]}, [selected]);
}));
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="embodmem viz">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · embodmem</title>
<style>
* {{ box-sizing: border-box; }}
body {{ margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #222233; background: #ffffff; height: 100vh; display: flex; flex-direction: column; }}
header {{ padding: 8px 14px; border-bottom: 1px solid #e3e5ee; background: #fafbfe; }}
header h1 {{ font-size: 16px; margin: 0; }} header p {{ margin: 2px 0 0; color: #555566; }}
main {{ flex: 1; display: flex; min-height: 0; }}
#scene {{ flex: 1; min-width: 0; }}
aside {{ width: 420px; overflow-y: auto; border-left: 1px solid #e3e5ee; padding: 0 12px;
  background: #fcfcfe; }}
h2 {{ font-size: 14px; margin: 14px 0 6px; }} h3 {{ font-size: 13px; margin: 10px 0 4px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12px; }}
th, td {{ text-align: left; padding: 2px 6px; border-bottom: 1px solid #eceef4;
  vertical-align: top; overflow-wrap: break-word; }}
th {{ white-space: nowrap; }}
#changes td:first-child {{ white-space: nowrap; }} small {{ color: #777788; }}
th {{ position: sticky; top: 0; background: #f1f2f8; }}
tr[data-node] {{ cursor: pointer; }} tr[data-node]:hover, tr.on {{ background: #fff4c2; }}
.scroll {{ max-height: 32vh; overflow-y: auto; }}
.ok {{ color: #1a7f37; font-weight: bold; }} .bad {{ color: #cf222e; font-weight: bold; }}
footer {{ padding: 4px 14px; color: #777788; font-size: 11px; border-top: 1px solid #e3e5ee; }}
footer p {{ margin: 0; }}
</style>
<script>{plotly}</script>
</head>
<body>
<header>{header}</header>
<main><div id="scene"></div><aside>{panels}</aside></main>
<footer>{notes}</footer>
<script type="application/json" id="embodmem-figure">{figure}</script>
<script type="application/json" id="embodmem-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
