"""The memory as RViz markers: the picture the HTML viewer draws, in visualization_msgs.

Node records, edges and drawn positions come from `embodmem.viz` (`scene_data`, `layout`), the
colours from its style table, so RViz and the HTML/PNG pictures agree. Objects are boxes (a
sphere when the memory has no box), places, rooms and the building spheres lifted by
`layer_offset` metres per layer level; every node has a text label and each relation kind is one
line list. The array starts with DELETEALL, so each publication replaces the last one whole.
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from embodmem.memory import EmbodiedMemory
from embodmem.viz.layout import display_positions
from embodmem.viz.scene_data import edge_records, node_records
from embodmem.viz.style import CATEGORIES, LAYERS, RELATIONS, rgba

NODE_SCALE = 0.03  # m per unit of the style table's marker size (an object sphere is 0.15 m)
LINE_SCALE = 0.01  # m per unit of the style table's line width
TEXT_HEIGHT = 0.08  # m: height of a label's capital letters
BOX_ALPHA = 0.5
MIN_EDGE = 0.01  # m: thinnest box edge drawn


def colour(hex_colour: str, alpha: float = 1.0) -> ColorRGBA:
    """A style-table colour as std_msgs/ColorRGBA."""
    r, g, b, a = rgba(hex_colour, alpha)
    return ColorRGBA(r=r, g=g, b=b, a=a)


def _point(p: Any) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _marker(header: Header, ns: str, marker_id: int, kind: int) -> Marker:
    return Marker(
        header=header, ns=ns, id=marker_id, type=kind, action=Marker.ADD, lifetime=Duration()
    )


def _box(header: Header, marker_id: int, node: dict[str, Any]) -> Marker:
    """An object's oriented box (edges of at least 1 cm, so flat things stay visible)."""
    box = node["bbox"]
    m = _marker(header, "objects", marker_id, Marker.CUBE)
    m.pose.position = _point(box["center"])
    qx, qy, qz, qw = box["rotation"]
    m.pose.orientation = Quaternion(x=qx, y=qy, z=qz, w=qw)
    sx, sy, sz = (max(e, MIN_EDGE) for e in box["size"])
    m.scale = Vector3(x=sx, y=sy, z=sz)
    m.color = colour(CATEGORIES[node["category"]][0], BOX_ALPHA)
    return m


def _sphere(header: Header, marker_id: int, layer: str, kind: int = Marker.SPHERE) -> Marker:
    """A sphere (or sphere list) sized and coloured like the layer's marker in the style table."""
    m = _marker(header, f"{layer}s", marker_id, kind)
    d = LAYERS[layer].size * NODE_SCALE
    m.scale = Vector3(x=d, y=d, z=d)
    m.color = colour(LAYERS[layer].colour)
    return m


def _label(header: Header, marker_id: int, node: dict[str, Any], at: Any) -> Marker:
    """A node's label with its state badges ("Fridge (open)"), facing the viewer."""
    m = _marker(header, "labels", marker_id, Marker.TEXT_VIEW_FACING)
    m.pose.position = _point(at)
    m.scale.z = TEXT_HEIGHT
    m.color = colour(LAYERS[node["layer"]].colour)
    badges = node.get("badges") or []
    m.text = node["label"] + (f" ({', '.join(badges)})" if badges else "")
    return m


def marker_array(memory: EmbodiedMemory, header: Header, layer_offset: float) -> MarkerArray:
    """Every node, label and relation of `memory` as one MarkerArray in `header`'s frame."""
    nodes = node_records(memory, memory.short_term.changes())
    pos = display_positions({"nodes": nodes}, layer_offset)
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    places = _sphere(header, 0, "place", Marker.SPHERE_LIST)  # one marker for all places
    for i, n in enumerate(nodes):
        p = pos[n["id"]]
        if n["layer"] == "place":
            places.points.append(_point(p))
            continue
        top = p[2]
        if n.get("bbox"):
            markers.append(_box(header, i, n))
            top = n["bbox"]["center"][2] + n["bbox"]["size"][2] / 2
        else:
            sphere = _sphere(header, i, n["layer"])
            sphere.pose.position = _point(p)
            if n["layer"] == "object":
                sphere.color = colour(CATEGORIES[n["category"]][0])
            markers.append(sphere)
        markers.append(_label(header, i, n, (p[0], p[1], top + TEXT_HEIGHT)))
    if places.points:
        markers.append(places)
    lines: dict[str, Marker] = {}
    for e in edge_records(memory.scene_graph):
        kind = e["type"]
        if kind not in lines:
            style = RELATIONS[kind]
            lines[kind] = _marker(header, f"relations/{kind}", 0, Marker.LINE_LIST)
            lines[kind].scale.x = style.width * LINE_SCALE
            lines[kind].color = colour(style.colour, style.opacity)
        lines[kind].points += [_point(pos[e["source"]]), _point(pos[e["target"]])]
    return MarkerArray(markers=markers + list(lines.values()))
