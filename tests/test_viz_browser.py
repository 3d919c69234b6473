"""The `embodmem viz` page as a person sees it: opened in headless Chromium (selenium driving
/usr/bin/chromium; `make setup` installs the Debian packages chromium and chromium-driver)."""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embodmem.viz import render, scene_data
from tests.helpers import kitchen_memory

webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--enable-unsafe-swiftshader",  # software WebGL for plotly's 3D scene (no GPU here)
    "--window-size=1400,900",
)
pytestmark = pytest.mark.browser

# The screen point of a node: a scene annotation placed on it is laid out by plotly itself.
NODE_ON_SCREEN = """
const [label, done] = arguments;
const gd = document.getElementById('scene');
const i = gd.data.findIndex(t => t.meta && t.meta.kind === 'nodes' && t.meta.layer === 'object');
const t = gd.data[i], j = t.text.indexOf(label);
const only = gd.data.map((_, k) => k === i);  // nothing in front of the objects
Plotly.restyle(gd, {visible: only})
  .then(() => Plotly.relayout(gd, {'scene.annotations':
    [{x: t.x[j], y: t.y[j], z: t.z[j], text: '+', showarrow: false}]}))
  .then(function wait() {
    const mark = gd.querySelector('.annotation-text');
    if (!mark) return new Promise(r => setTimeout(r, 50)).then(wait);
    const r = mark.getBoundingClientRect();
    return Plotly.relayout(gd, {'scene.annotations': []})
      .then(() => done([r.x + r.width / 2, r.y + r.height / 2]));
  })
  .catch(e => done(String(e)));
"""
COUNTS = """
const gd = document.getElementById('scene');
const of = kind => gd._fullData.filter(t => t.meta && t.meta.kind === kind);
return {
  nodes: of('nodes').reduce((n, t) => n + t._length, 0),
  edges: of('edges').reduce((n, t) => n + t._length / 3, 0),
  voxels: of('voxels').reduce((n, t) => n + t._length, 0),
  query: of('query').map(t => t.customdata),
  canvas: gd.querySelectorAll('canvas').length,
};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, started once for this module and always stopped."""
    driver_path = shutil.which("chromedriver")
    if not Path(CHROMIUM).exists() or driver_path is None:
        pytest.skip("chromium / chromium-driver not installed (make setup installs them)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_script_timeout(25)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The kitchen memory's page with a query, and the scene data it was made from."""
    mem = kitchen_memory(shared_data)
    out = tmp_path_factory.mktemp("browser") / "kitchen.html"
    render(mem, html=out, query="apple", title="FloorPlan1")
    return out, scene_data(mem, query="apple")


def open_page(browser: Any, path: Path) -> None:
    browser.get(path.as_uri())
    browser.execute_async_script(
        "const done = arguments[0];"
        "(function wait() { document.body.dataset.ready ? done() : setTimeout(wait, 50); })();"
    )


def test_page_draws_the_memory_and_hover_names_a_node(
    browser: Any, page: tuple[Path, dict], tmp_path: Path
) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    path, data = page
    open_page(browser, path)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    counts = browser.execute_script(COUNTS)
    assert counts["nodes"] == len(data["nodes"]) and counts["edges"] == len(data["edges"])
    assert counts["voxels"] == data["voxels"]["shown"] and counts["canvas"] >= 1
    assert counts["query"][0][0] == data["query"]["hits"][0]["node_id"]
    assert "Put a chilled apple on the counter." in browser.find_element(By.ID, "experience").text

    where = browser.execute_async_script(NODE_ON_SCREEN, "Fridge")
    assert isinstance(where, list), where
    hover = ""
    for dx in (0, 1, -1, 2):  # a real mouse move; the pick buffer may need a second event
        action = ActionBuilder(browser)
        action.pointer_action.move_to_location(int(where[0]) + dx, int(where[1]))
        action.perform()
        hover = browser.execute_script(
            "const h = document.querySelector('#scene .hovertext'); return h && h.textContent;"
        )
        if hover:
            break
    assert hover and hover.startswith("Fridge O") and "isOpen: True → False" in hover

    shot = tmp_path / "kitchen-page.png"
    assert browser.save_screenshot(str(shot))
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24])[0] >= 1000
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_recorded_episode_plays_back(browser: Any, tmp_path: Path) -> None:
    """`run-suite --viz 1` writes a playback page; stepping it shows memory as it was then."""
    from selenium.webdriver.common.by import By

    from embodmem.cli import main
    from embodmem.trace import load_trace

    out = tmp_path / "run"
    args = ["run-suite", "--suite", "complex", "--episodes", "1", "--viz", "1", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    doc = load_trace(out / "states" / "00000.json")
    open_page(browser, out / "viz" / "00000.html")
    known: dict[str, Any] = {}
    plan = None
    for k, frame in enumerate(doc["frames"]):  # a step whose latest plan names remembered nodes
        known.update(frame["new"])
        for node_id in frame["gone"]:
            known.pop(node_id, None)
        plan = (frame.get("plans") or [plan])[-1]
        text = f"{plan['shown']} {' '.join(plan['plan'])}" if plan else ""
        named = {n for n in re.findall(r"\bO\d+\b", text) if n in known}
        if k >= 5 and named:
            break
    assert named
    drawn = browser.execute_script(
        "window.embodmemShow(arguments[0]); const gd = document.getElementById('scene');"
        "return gd.data.find(t => t.meta && t.meta.kind === 'playback').x.length;",
        k,
    )
    assert drawn == len(known) > 0
    label = browser.find_element(By.ID, "frame-label").text
    assert label.startswith(f"step {k} of {len(doc['frames']) - 1}")
    assert "→" in browser.find_element(By.ID, "frame-plan").text  # the planner's answer
    ringed = browser.execute_script(
        "const gd = document.getElementById('scene');"
        "return gd.data.find(t => t.meta && t.meta.kind === 'playback-planned').x.length;"
    )
    assert ringed == len(named)
    assert browser.save_screenshot(str(tmp_path / "playback.png"))
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
