"""`embodmem viz` and `embodmem.viz`: the scene data, the offline HTML page, the PNG, bad input.

The memory is the real FloorPlan1 kitchen (`helpers.kitchen_memory`: the scene, a walk, a
recorded episode, box-surface points, two past episodes)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embodmem import EmbodiedMemory, MemoryConfig, Observation, Pose
from embodmem.cli import main
from embodmem.viz import render, scene_data
from embodmem.viz.html import figure
from embodmem.viz.scene_data import voxel_cloud
from embodmem.viz.style import STATES, active_states
from tests.helpers import box_object, kitchen_memory, scene_observation


@pytest.fixture(scope="module")
def kitchen(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kitchen memory saved as a JSON snapshot."""
    path = tmp_path_factory.mktemp("viz") / "kitchen.json"
    kitchen_memory(shared_data).save(path)
    return path


@pytest.fixture(scope="module")
def memory(kitchen: Path) -> EmbodiedMemory:
    return EmbodiedMemory.load(kitchen)


def embedded(page: str, name: str) -> Any:
    """A JSON document the page embeds (`embodmem-figure` or `embodmem-data`)."""
    m = re.search(rf'<script type="application/json" id="embodmem-{name}">(.*?)</script>', page)
    assert m is not None, name
    return json.loads(m.group(1))


def traces(fig: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [t for t in fig["data"] if t.get("meta", {}).get("kind") == kind]


def drawn_segments(fig: dict[str, Any]) -> int:
    """Edges drawn: each is two points and a gap in an edge trace."""
    return sum(len(t["x"]) // 3 for t in traces(fig, "edges"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_import_embodmem_stays_light() -> None:
    code = (
        "import sys, embodmem, embodmem.cli, embodmem.viz, embodmem.viz.style; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('plotly', 'matplotlib')]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_scene_data_is_plain_json_of_every_room(memory: EmbodiedMemory) -> None:
    data = scene_data(memory)
    json.dumps(data, allow_nan=False)  # plain lists and dicts, nothing numpy, no NaN
    g = memory.scene_graph
    layers = [n["layer"] for n in data["nodes"]]
    assert len(layers) == len(g)
    assert layers.count("object") == len(g.objects()) == 77
    assert layers.count("place") == len(g.places()) > 1
    assert len(data["edges"]) == len(list(g.iter_edges()))
    assert {e["type"] for e in data["edges"]} == {"on", "in", "near", "contains", "connected_to"}
    by_label = {n["label"]: n for n in data["nodes"] if n["layer"] == "object"}
    fridge, apple = by_label["Fridge"], by_label["Apple"]
    # The recorded episode opened and closed the fridge and moved the apple.
    assert [c["field"] for c in fridge["history"]].count("isOpen") == 2
    assert fridge["history"][-1]["cause"] == "CloseObject" and "open" not in fridge["badges"]
    assert apple["changes_total"] >= 4 and "held" in apple["badges"]
    assert fridge["support"]["kind"] == "on" and len(fridge["bbox"]["corners"]) == 8
    assert fridge["first_seen_ns"] == 0 < fridge["last_seen_ns"]
    assert len(data["changes"]) == len(memory.short_term.changes())
    room = next(n for n in data["nodes"] if n["layer"] == "room")
    assert room["label"] == "kitchen" and room["derived"]
    assert data["agent"]["last_pose"] is not None and data["agent"]["trajectory"] is None
    priors = {p["type"]: p["receptacles"] for p in data["experience"]["priors"]}
    assert priors["Apple"] == [["CounterTop", 0.5], ["Fridge", 0.5]]
    assert [e["success"] for e in data["experience"]["episodes"]] == [True, False]
    assert data["voxels"]["shown"] == len(memory.octree) > 1000


def test_voxels_level_of_detail(memory: EmbodiedMemory) -> None:
    full = voxel_cloud(memory.octree)
    assert full["shown"] == full["total"] and full["depth"] == full["leaf_depth"]
    assert len(full["object"]) == full["shown"] and max(full["object"]) > 0
    coarse = voxel_cloud(memory.octree, max_voxels=300)
    assert 0 < coarse["shown"] <= 300 and coarse["depth"] < coarse["leaf_depth"]
    assert sum(coarse["count"]) == coarse["total"] and coarse["object"] is None
    assert coarse["cell_size"] > full["cell_size"]
    assert voxel_cloud(memory.octree, max_voxels=0)["shown"] == 0


def test_state_badges_follow_the_style_table() -> None:
    states = {"isOpen": True, "temperature": "Cold", "isSliced": True, "isToggled": True}
    assert active_states(states, {"openable": True, "toggleable": False}) == [
        "open",
        "sliced",
        "cold",
    ]
    assert set(STATES) >= {"open", "on", "sliced", "hot", "cold", "dirty"}


def test_html_is_self_contained_and_draws_the_graph(
    kitchen: Path, memory: EmbodiedMemory, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "kitchen.html"
    assert main(["viz", str(kitchen), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", page, flags=re.S)
    assert not re.search(r"https?:|//", markup)  # the page itself fetches nothing
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js is inlined
    data, fig = embedded(page, "data"), embedded(page, "figure")
    assert len(data["nodes"]) == len(memory.scene_graph)
    assert len(data["edges"]) == len(list(memory.scene_graph.iter_edges()))
    assert sum(len(t["x"]) for t in traces(fig, "nodes")) == len(data["nodes"])
    assert drawn_segments(fig) == len(data["edges"])
    assert sum(t["meta"]["count"] for t in traces(fig, "voxels")) == len(memory.octree)
    assert "x" not in data["voxels"]  # voxel arrays travel once, in the figure
    objects = next(t for t in traces(fig, "nodes") if t["meta"]["layer"] == "object")
    fridge = objects["text"].index("Fridge")
    assert "isOpen: True → False (CloseObject)" in objects["hovertext"][fridge]
    assert "Short-term changes (28, newest first)" in page
    assert "Put a chilled apple on the counter." in page and "CounterTop 50%" in page


def test_query_highlights_the_hits(kitchen: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "q.html", tmp_path / "q.png"
    args = ["viz", str(kitchen), "--out", str(out), "--png", str(png), "--query", "apple"]
    assert main(args) == 0
    page = out.read_text(encoding="utf-8")
    hits = embedded(page, "data")["query"]["hits"]
    assert hits[0]["label"] == "Apple" and hits[0]["rank"] == 1
    (ring,) = traces(embedded(page, "figure"), "query")
    assert ring["customdata"][0] == hits[0]["node_id"] and ring["text"][0] == "#1"
    assert "Query: “apple”" in page and f'data-node="{hits[0]["node_id"]}"' in page
    assert png_size(png.read_bytes())[0] > 1000


def test_explode_lifts_each_layer(memory: EmbodiedMemory) -> None:
    data = scene_data(memory)
    flat, exploded = figure(data), figure(data, explode=2.0)

    def z_of(fig: dict[str, Any], layer: str) -> np.ndarray:
        (t,) = [t for t in traces(fig, "nodes") if t["meta"]["layer"] == layer]
        return np.array(t["z"])

    for layer, lift in (("object", 0.0), ("place", 2.0), ("room", 4.0), ("building", 6.0)):
        assert np.allclose(z_of(exploded, layer) - z_of(flat, layer), lift, atol=1e-3)
    assert z_of(flat, "room").min() > z_of(flat, "object").max()


def test_png_is_a_plan_and_3d_picture(kitchen: Path, tmp_path: Path) -> None:
    out = tmp_path / "kitchen.png"
    assert main(["viz", str(kitchen), "--png", str(out), "--explode"]) == 0
    width, height = png_size(out.read_bytes())
    assert 1500 <= width <= 2500 and 700 <= height <= 1300 and width > 1.6 * height
    assert b"embodmem viz" in out.read_bytes()[:200]
    assert [p.name for p in tmp_path.iterdir()] == ["kitchen.png"]  # no temp files left


@pytest.fixture()
def empty_snapshot(tmp_path: Path) -> Path:
    return EmbodiedMemory().save(tmp_path / "empty.json")


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("missing", "missing.json"),
        ("corrupt", "corrupt.json"),
        ("empty", "empty.json"),
        ("parent is a file", "blocker"),
        ("out is a folder", "folder"),
        ("not html", "notes.html"),
        ("wrong suffix", "out.png"),
        ("no output", "--out"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    case: str,
    named: str,
    kitchen: Path,
    empty_snapshot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    snapshot, out = kitchen, tmp_path / "out.html"
    if case == "missing":
        snapshot = tmp_path / "missing.json"
    elif case == "corrupt":
        snapshot = tmp_path / "corrupt.json"
        snapshot.write_bytes(kitchen.read_bytes()[:5000])
    elif case == "empty":
        snapshot = empty_snapshot
    elif case == "parent is a file":
        (tmp_path / "blocker").write_text("x")
        out = tmp_path / "blocker" / "out.html"
    elif case == "out is a folder":
        out = tmp_path / "folder.html"
        out.mkdir()
        named = "folder.html"
    elif case == "not html":
        out = tmp_path / "notes.html"
        out.write_text("my notes, not a page")
    elif case == "wrong suffix":
        out = tmp_path / "out.png"
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    args = ["viz", str(snapshot)] + ([] if case == "no output" else ["--out", str(out)])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("embodmem viz: error:") and named in err
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_a_failed_render_leaves_old_outputs_untouched(
    kitchen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    html, png = tmp_path / "k.html", tmp_path / "k.png"
    html.write_text("<!DOCTYPE html><p>an older page</p>")

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("embodmem.viz.png.render_png", broken)
    assert main(["viz", str(kitchen), "--out", str(html), "--png", str(png)]) == 70
    assert "renderer crashed" in capsys.readouterr().err
    assert html.read_text() == "<!DOCTYPE html><p>an older page</p>" and not png.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.html"]


def test_a_memory_without_points_or_poses(tmp_path: Path) -> None:
    """What `ingest-thor` of a scene dump gives: objects only, no occupancy, no agent."""
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    mem.integrate(scene_observation("FloorPlan1"))
    html, png = tmp_path / "plain.html", tmp_path / "plain.png"
    render(mem, html=html, png=png)
    fig = embedded(html.read_text(encoding="utf-8"), "figure")
    assert not traces(fig, "voxels") and not traces(fig, "agent")
    assert sum(len(t["x"]) for t in traces(fig, "nodes")) == len(mem.scene_graph)
    assert png_size(png.read_bytes())[0] > 1000


def test_force_replaces_a_file_that_is_not_a_page(kitchen: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes.html"
    out.write_text("my notes")
    assert main(["viz", str(kitchen), "--out", str(out), "--force"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["viz", str(kitchen), "--out", str(out)]) == 0  # our page: replaced freely


def test_sqlite_store_snapshot(memory: EmbodiedMemory, tmp_path: Path) -> None:
    store = memory.save(tmp_path / "run.sqlite")
    assert main(["viz", str(store), "--out", str(tmp_path / "run.html")]) == 0
    assert len(embedded((tmp_path / "run.html").read_text(), "data")["nodes"]) == len(
        memory.scene_graph
    )


def big_memory() -> EmbodiedMemory:
    """2,000 objects (1,000 counters, each with a mug on it) and 200k occupied voxels."""
    objects = []
    for i in range(1000):
        x, y = 1.2 * (i % 32), 1.2 * (i // 32)
        objects.append(
            box_object("CounterTop", (x, y, 0.0), (x + 0.8, y + 0.6, 0.9), f"c{i}", receptacle=True)
        )
        objects.append(box_object("Mug", (x + 0.3, y + 0.2, 0.9), (x + 0.4, y + 0.3, 1.0), f"m{i}"))
    rng = np.random.default_rng(0)
    points = rng.random((202_000, 3)) * (38.4, 38.4, 2.5)
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    mem.integrate(Observation(0, tuple(objects), agent_pose=Pose((0.5, 0.5, 0.9)), points=points))
    return mem


def test_two_thousand_objects_and_200k_voxels(tmp_path: Path) -> None:
    mem = big_memory()
    assert len(mem.scene_graph.objects()) == 2000 and len(mem.octree) >= 200_000
    html, png = tmp_path / "big.html", tmp_path / "big.png"
    assert render(mem, html=html, png=png, title="big") == [html, png]
    page = html.read_text(encoding="utf-8")
    fig = embedded(page, "figure")
    assert 150_000 <= sum(t["meta"]["count"] for t in traces(fig, "voxels")) <= 200_000  # the cap
    assert sum(len(t["x"]) for t in traces(fig, "nodes")) == 2000 + 1  # and the one place
    assert drawn_segments(fig) == len(list(mem.scene_graph.iter_edges())) >= 3000
    assert html.stat().st_size < 30e6  # a page a browser opens
    assert png_size(png.read_bytes())[0] > 1000
