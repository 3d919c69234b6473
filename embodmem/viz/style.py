"""The one colour and style table of every memory picture (HTML, PNG, and later RViz markers).

Pure data, no imports beyond the standard library, so a ROS node can read it without plotly or
matplotlib. Colours are hex strings (`rgba` turns one into the 0..1 floats RViz wants).

- `LAYERS`: how a scene-graph layer's nodes look, and at which level an exploded view lifts it.
- `CATEGORIES`: object colours by kind of thing, keyed by `embodmem.lexicon` category words.
- `RELATIONS`: how each scene-graph edge kind is drawn.
- `STATES`: the object states shown as badges, each a (state field, value) test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LayerStyle:
    """Marker of one layer's nodes; an exploded view lifts the layer `level` x the offset."""

    colour: str
    size: float
    symbol: str  # plotly 3D marker symbol; `marker` is matplotlib's
    marker: str
    level: int
    title: str


@dataclass(frozen=True, slots=True)
class RelationStyle:
    """Line of one edge kind; `dash` is plotly's name, `linestyle` matplotlib's."""

    colour: str
    width: float
    dash: str
    linestyle: str
    title: str
    opacity: float = 1.0


@dataclass(frozen=True, slots=True)
class StateStyle:
    """A state badge: shown when the object's state `field` equals `value` (strings compared
    case-insensitively); `needs` names an attribute that must be true (isOpen of openables)."""

    field: str
    value: Any
    colour: str
    badge: str
    needs: str | None = None


LAYERS: dict[str, LayerStyle] = {
    "object": LayerStyle("#4c72b0", 5.0, "circle", "o", 0, "objects"),
    "place": LayerStyle("#55a868", 6.0, "diamond", "D", 1, "places"),
    "room": LayerStyle("#c44e52", 12.0, "square", "s", 2, "rooms"),
    "building": LayerStyle("#8172b2", 14.0, "square", "s", 3, "building"),
}

# Object colour groups (Okabe-Ito palette, readable by colour-blind viewers) and the lexicon's
# category words that fall in each; an object takes the group of its label's first category.
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "furniture": (
        "#8c8c8c",
        ("furniture", "structure", "surface", "storage", "seat", "table", "window covering"),
    ),
    "appliance": (
        "#0072b2",
        ("appliance", "electronics", "lighting", "control", "timepiece", "media"),
    ),
    "food": ("#e69f00", ("food", "vegetable", "fruit", "produce", "bakery", "condiment")),
    "kitchenware": (
        "#009e73",
        (
            "cutlery",
            "drinkware",
            "cookware",
            "container",
            "dishware",
            "utensil",
            "kitchen supply",
            "wrapping",
        ),
    ),
    "bathroom": (
        "#56b4e9",
        ("bathroom fixture", "plumbing fixture", "toiletry", "bathroom textile"),
    ),
    "cleaning": ("#cc79a7", ("cleaning supply", "cleaning tool", "waste", "laundry")),
    "other": ("#d55e00", ()),
}
CATEGORY_OF_WORD: dict[str, str] = {
    word: group for group, (_, words) in CATEGORIES.items() for word in words
}

RELATIONS: dict[str, RelationStyle] = {
    "on": RelationStyle("#dd8452", 3.0, "solid", "-", "on"),
    "in": RelationStyle("#937860", 3.0, "dash", "--", "in"),
    "near": RelationStyle("#b0b0b0", 1.0, "dot", ":", "near", 0.6),
    "contains": RelationStyle("#c9c9d9", 1.0, "solid", "-", "contains (layers)", 0.5),
    "connected_to": RelationStyle("#55a868", 4.0, "solid", "-", "connected"),
}

STATES: dict[str, StateStyle] = {
    "open": StateStyle("isOpen", True, "#2ca02c", "open", needs="openable"),
    "on": StateStyle("isToggled", True, "#ffbf00", "on", needs="toggleable"),
    "sliced": StateStyle("isSliced", True, "#9467bd", "sliced"),
    "hot": StateStyle("temperature", "hot", "#d62728", "hot"),
    "cold": StateStyle("temperature", "cold", "#1f77b4", "cold"),
    "dirty": StateStyle("isDirty", True, "#8c564b", "dirty"),
    "cooked": StateStyle("isCooked", True, "#ff7f0e", "cooked"),
    "filled": StateStyle("isFilledWithLiquid", True, "#17becf", "filled"),
    "held": StateStyle("isPickedUp", True, "#e377c2", "held"),
    "broken": StateStyle("isBroken", True, "#7f7f7f", "broken"),
}

QUERY_COLOUR = "#ffd400"  # rings round query hits
RETRIEVED_COLOUR = "#7b2fbe"  # rings round the nodes a plan named (episode playback)
AGENT_COLOUR = "#111111"
VOXEL_COLOURSCALE = "Greys"  # voxels coloured by height (plotly / matplotlib name)


def category_of(categories: tuple[str, ...]) -> str:
    """Colour group of a label from its lexicon categories (first known word wins)."""
    for word in categories:
        if word in CATEGORY_OF_WORD:
            return CATEGORY_OF_WORD[word]
    return "other"


def active_states(states: dict[str, Any], attributes: dict[str, Any]) -> list[str]:
    """Names of the `STATES` badges an object with these states and attributes shows."""
    out = []
    for name, s in STATES.items():
        value = states.get(s.field)
        if isinstance(value, str) and isinstance(s.value, str):
            hit = value.lower() == s.value
        else:
            hit = value is s.value if isinstance(s.value, bool) else value == s.value
        if hit and (s.needs is None or attributes.get(s.needs, True) is True):
            out.append(name)
    return out


def rgba(colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """A "#rrggbb" colour as (r, g, b, a) floats in 0..1 (RViz ColorRGBA, matplotlib)."""
    h = colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)
