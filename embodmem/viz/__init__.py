"""Pictures of the memory: an interactive offline HTML page and a static PNG of a memory state.

    from embodmem.viz import render
    render(memory, html="kitchen.html", png="kitchen.png", query="something to drink from")

The rooms, one concern each: `style` (the one colour table, shared with RViz markers),
`scene_data` (memory -> plain dicts, one memory state), `layout` (where things are drawn),
`html` (plotly page) and `png` (matplotlib). plotly and matplotlib are imported only when a
page or picture is made, so `import embodmem.viz` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from embodmem import validate
from embodmem.errors import ValidationError
from embodmem.store import atomic_write
from embodmem.viz.scene_data import DEFAULT_MAX_VOXELS, scene_data

if TYPE_CHECKING:
    from embodmem.memory import EmbodiedMemory

__all__ = ["DEFAULT_MAX_VOXELS", "render", "scene_data"]

MAX_EXPLODE = 100.0  # m: a layer offset beyond this is a typo


def render(
    memory: EmbodiedMemory,
    html: str | Path | None = None,
    png: str | Path | None = None,
    query: str | None = None,
    explode: float = 0.0,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    title: str = "memory",
    rrd: str | Path | None = None,
) -> list[Path]:
    """Write the HTML page, the PNG and/or the rerun recording (`rrd`, needs rerun-sdk) of
    `memory`; each is made first and its file replaced atomically, so a failure leaves no
    half-written output. Returns the paths written. An empty scene graph (nothing to draw)
    raises `ValidationError`."""
    if html is None and png is None and rrd is None:
        raise ValidationError("outputs", None, "give an HTML, a PNG or a rerun (.rrd) path")
    explode = validate.finite_float("explode", explode, MAX_EXPLODE)
    if explode < 0:
        raise ValidationError("explode", explode, "expected a layer offset >= 0 m")
    max_voxels = validate.int64("max_voxels", max_voxels, minimum=0)
    if len(memory.scene_graph) == 0:
        raise ValidationError("memory", title, "the scene graph is empty: nothing to draw")
    data = scene_data(memory, max_voxels, query)
    outputs: list[tuple[Path, bytes]] = []
    if html is not None:
        from embodmem.viz.html import render_html

        outputs.append((Path(html), render_html(data, explode, title).encode("utf-8")))
    if png is not None:
        from embodmem.viz.png import render_png

        outputs.append((Path(png), render_png(data, explode, title)))
    for path, payload in outputs:
        atomic_write(path, payload)
    written = [path for path, _ in outputs]
    if rrd is not None:  # the optional rerun backend (rerun-sdk)
        from embodmem.viz.rerun_export import write_rrd

        written.append(write_rrd(data, rrd))
    return written
