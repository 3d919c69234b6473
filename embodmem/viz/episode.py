"""One offline HTML page of a recorded episode (`embodmem.trace`): Khronos-style playback of
how memory evolved.

The 3D view starts on the episode's last memory state (the same figure as a snapshot page).
A slider and a play button step through the frames (the last state fades behind): the objects
memory held after that step are drawn at the positions it had for them then, what appeared or
moved at that step is ringed, so are the nodes the latest plan named (what the planner
retrieved and used), the agent is drawn where it stood; the side panel shows the
step's action and outcome, the task under way, the changes logged and what the planner was
shown and answered at its latest decision. Frames travel as deltas, replayed in the page.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from embodmem.errors import ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.store import atomic_write
from embodmem.viz.html import experience_panel, figure, page, script_json
from embodmem.viz.scene_data import DEFAULT_MAX_VOXELS, scene_data
from embodmem.viz.style import AGENT_COLOUR, QUERY_COLOUR, RETRIEVED_COLOUR


def render_episode(
    trace: dict[str, Any], path: str | Path, max_voxels: int = DEFAULT_MAX_VOXELS
) -> Path:
    """Write the playback page of a trace (`MemoryTrace.to_dict` / `load_trace`) atomically."""
    frames = trace.get("frames") or []
    if not frames:
        raise ValidationError("trace.frames", [], "the trace has no recorded step")
    memory = EmbodiedMemory.from_dict(trace["memory"])
    data = scene_data(memory, max_voxels)
    data["notes"] = [
        f"{len(frames) - 1} steps recorded; the slider replays what memory held after each."
    ]
    fig = figure(data)
    fig["data"] += _playback_traces()
    title = str(trace.get("title") or "episode")
    panels = _playback_panel(trace) + experience_panel(data)
    body = page(data, fig, title, panels, _SCRIPT, header=_header(trace, title))
    body = body.replace(
        "</body>",
        f'<script type="application/json" id="embodmem-trace">{script_json(_compact(trace))}'
        "</script>\n<script>startPlayback();</script>\n</body>",
    )
    out = Path(path)
    atomic_write(out, body.encode("utf-8"))
    return out


def _compact(trace: dict[str, Any]) -> dict[str, Any]:
    """What the page replays: tasks and frames, without the memory snapshot."""
    return {"tasks": trace.get("tasks", []), "frames": trace["frames"]}


def _playback_traces() -> list[dict[str, Any]]:
    """The traces the page fills at each step (empty and hidden until the slider moves)."""
    return [
        _empty_trace(
            "memory at this step", "playback", {"size": 4, "color": "#333344"}, hover="text"
        ),
        _empty_trace("appeared or moved", "playback-changed", _ring(11, QUERY_COLOUR)),
        _empty_trace("named by the planner", "playback-planned", _ring(15, RETRIEVED_COLOUR)),
        _empty_trace(
            "agent", "playback-agent", {"size": 7, "color": AGENT_COLOUR, "symbol": "diamond"}
        ),
    ]


def _ring(size: int, colour: str) -> dict[str, Any]:
    return {"size": size, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": 3}}


def _empty_trace(name: str, kind: str, marker: dict[str, Any], hover: str = "skip") -> dict:
    trace: dict[str, Any] = {"type": "scatter3d", "mode": "markers", "name": name}
    trace |= {"x": [], "y": [], "z": [], "hoverinfo": hover, "marker": marker}
    trace |= {"meta": {"kind": kind}, "visible": False}
    if hover == "text":
        trace["text"] = []
    return trace


def _header(trace: dict[str, Any], title: str) -> str:
    tasks = trace.get("tasks") or []
    done = sum(bool(t.get("success")) for t in tasks)
    steps = len(trace["frames"]) - 1
    return (
        f"<h1>{html.escape(title)}</h1><p>{len(tasks)} task(s), {done} done · {steps} THOR "
        "actions · drag the slider or press play to watch memory evolve</p>"
    )


def _playback_panel(trace: dict[str, Any]) -> str:
    last = len(trace["frames"]) - 1
    rows = "".join(
        f"<li>{html.escape(str(t.get('instruction', '')))} "
        f"<span class='{'ok' if t.get('success') else 'bad'}'>"
        f"{'done' if t.get('success') else html.escape(str(t.get('reason', '')))}</span></li>"
        for t in trace.get("tasks") or []
    )
    return (
        '<section id="playback"><h2>Playback</h2>'
        f'<input id="frame" type="range" min="0" max="{last}" value="{last}" '
        'style="width:100%">'
        '<p><button id="play" type="button">play</button> '
        '<span id="frame-label"></span></p>'
        '<div id="frame-info"></div>'
        f"<h3>Tasks</h3><ol>{rows}</ol>"
        '<h3>Planner at its latest decision</h3><pre id="frame-plan" '
        'style="white-space:pre-wrap;max-height:30vh;overflow-y:auto"></pre></section>'
    )


_SCRIPT = """
function startPlayback() {
  const trace = JSON.parse(document.getElementById('embodmem-trace').textContent);
  const frames = trace.frames;
  const kinds = {};
  gd.data.forEach((t, i) => { if (t.meta && t.meta.kind) kinds[t.meta.kind] = i; });
  const slider = document.getElementById('frame');
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'})[c]);
  const others = gd.data.map((t, i) => i).filter(i => !String(
    (gd.data[i].meta || {}).kind || '').startsWith('playback'));
  let dimmed = false;
  function show(k) {
    if (!dimmed) { Plotly.restyle(gd, {opacity: 0.15}, others); dimmed = true; }
    slider.value = k;
    const objects = {};
    let plan = null, agent = null;
    for (let i = 0; i <= k; i++) {
      const f = frames[i];
      for (const [id, rec] of Object.entries(f.new)) objects[id] = {...rec};
      for (const [id, pos] of Object.entries(f.moved)) if (objects[id]) objects[id].position = pos;
      for (const id of f.gone) delete objects[id];
      if (f.plans && f.plans.length) plan = f.plans[f.plans.length - 1];
      if (f.agent) agent = f.agent;
    }
    const f = frames[k], ids = Object.keys(objects);
    const changed = [...Object.keys(f.new), ...Object.keys(f.moved)].filter(id => objects[id]);
    const xyz = list => [0, 1, 2].map(a => list.map(id => objects[id].position[a]));
    const [x, y, z] = xyz(ids), [cx, cy, cz] = xyz(changed);
    Plotly.restyle(gd, {x: [x], y: [y], z: [z], visible: true,
      text: [ids.map(id => objects[id].label + ' ' + id)]}, [kinds['playback']]);
    Plotly.restyle(gd, {x: [cx], y: [cy], z: [cz], visible: true}, [kinds['playback-changed']]);
    const named = plan ? [...new Set((plan.shown + ' ' + plan.plan.join(' '))
      .match(/\\bO\\d+\\b/g) || [])].filter(id => objects[id]) : [];
    const [px, py, pz] = xyz(named);
    Plotly.restyle(gd, {x: [px], y: [py], z: [pz], visible: true}, [kinds['playback-planned']]);
    Plotly.restyle(gd, {x: [agent ? [agent[0]] : []], y: [agent ? [agent[1]] : []],
      z: [agent ? [agent[2]] : []], visible: true}, [kinds['playback-agent']]);
    const task = trace.tasks.filter(t => t.frame <= Math.max(k, 1)).pop();
    document.getElementById('frame-label').textContent =
      `step ${k} of ${frames.length - 1} · ${ids.length} objects in memory`;
    const outcome = k === 0 ? '' : (f.success ? 'ok' : 'failed: ' + esc(f.error));
    const changes = f.changes.map(c => `<li>${esc(c.node_id)} ${esc(c.field)}: ` +
      `${esc(JSON.stringify(c.before))} → ${esc(JSON.stringify(c.after))}</li>`).join('');
    document.getElementById('frame-info').innerHTML =
      `<p><b>${esc(f.action)}</b> ${esc(JSON.stringify(f.args || {}))} ${outcome}</p>` +
      (task ? `<p>task: ${esc(task.instruction)}</p>` : '') +
      `<p>${Object.keys(f.new).length} new, ${Object.keys(f.moved).length} moved, ` +
      `${f.gone.length} forgotten; in view: ${(f.visible || []).length}</p>` +
      (changes ? `<ul>${changes}</ul>` : '');
    document.getElementById('frame-plan').textContent = plan ?
      (plan.shown + '\\n→ ' + plan.plan.join(', ') + (plan.rejected ? '\\nrejected: ' +
      plan.rejected : '')) : '(no plan yet)';
    document.body.dataset.frame = String(k);
  }
  slider.addEventListener('input', () => show(Number(slider.value)));
  let timer = null;
  document.getElementById('play').addEventListener('click', e => {
    if (timer) { clearInterval(timer); timer = null; e.target.textContent = 'play'; return; }
    if (Number(slider.value) >= frames.length - 1) slider.value = 0;
    e.target.textContent = 'pause';
    timer = setInterval(() => {
      const k = Number(slider.value) + 1;
      if (k >= frames.length) { clearInterval(timer); timer = null;
        document.getElementById('play').textContent = 'play'; return; }
      slider.value = k; show(k);
    }, 120);
  });
  window.embodmemShow = show;  // for scripts driving the page
}
"""
