"""The memory trace of an episode: one frame per THOR action, rebuilding memory's objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodmem import EmbodiedMemory
from embodmem.config import MemoryConfig
from embodmem.errors import SnapshotError
from embodmem.planning import Agent, make_planner
from embodmem.trace import MemoryTrace, load_trace, save_trace
from sim.offline import OfflineController
from sim.suites import load_suite
from sim.tasks.references import EpisodeLog


@pytest.fixture(scope="module")
def traced() -> tuple[MemoryTrace, list, EmbodiedMemory]:
    episode = load_suite("complex").episodes[1]
    env = OfflineController(episode.scene)
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    agent = Agent(make_planner("symbolic"), memory, env)
    trace, log, results = MemoryTrace(memory, episode.episode_id), EpisodeLog(), []
    for i, task in enumerate(episode.tasks):
        trace.begin_task(task.task_id, task.instruction)
        results.append(agent.run(log.track(task), 400, resume=i > 0, on_step=trace.on_step))
        trace.end_task(results[-1])
    env.stop()
    return trace, results, memory


def test_one_frame_per_action_and_the_last_state_is_the_memory(traced) -> None:
    trace, results, memory = traced
    assert len(trace.frames) == 1 + sum(r.steps for r in results)
    last = trace.state_at(len(trace.frames) - 1)
    assert {k: v["label"] for k, v in last.items()} == {
        n.node_id: n.label for n in memory.scene_graph.objects()
    }
    node = memory.scene_graph.objects()[0]
    assert last[node.node_id]["position"] == pytest.approx(list(node.position), abs=0.03)
    firsts = [i for i, f in enumerate(trace.frames) if node.node_id in f["new"]]
    assert len(firsts) == 1  # appears once, when first seen


def test_tasks_and_plans_are_placed_on_their_frames(traced) -> None:
    trace, results, _ = traced
    assert [t["success"] for t in trace.tasks] == [r.success for r in results]
    plans = [p for f in trace.frames for p in f.get("plans", [])]
    assert len(plans) == sum(len(r.plans) for r in results)
    second = trace.tasks[1]
    assert trace.frames[second["frame"] - 1].get("plans")  # planned before its first action
    changes = sum(len(f["changes"]) for f in trace.frames)
    assert changes >= 2  # at least the pick-up and the put-down


def test_a_trace_round_trips_and_a_bad_file_is_refused(traced, tmp_path: Path) -> None:
    trace, _, _ = traced
    path = save_trace(trace.to_dict(), tmp_path / "t.json")
    doc = load_trace(path)
    assert len(doc["frames"]) == len(trace.frames)
    assert EmbodiedMemory.from_dict(doc["memory"]).stats() == trace.memory.stats()
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(SnapshotError, match="bad.json"):
        load_trace(tmp_path / "bad.json")
    with pytest.raises(SnapshotError, match="missing.json"):
        load_trace(tmp_path / "missing.json")


def test_run_suite_viz_records_the_first_episodes_only(tmp_path: Path) -> None:
    from embodmem.cli import main

    args = ["run-suite", "--suite", "complex", "--episodes", "2", "--viz", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert [p.name for p in (tmp_path / "states").iterdir()] == ["00000.json"]
    page = (tmp_path / "viz" / "00000.html").read_text()
    assert 'id="embodmem-trace"' in page and "<script src=" not in page
    episodes = (tmp_path / "episodes.jsonl").read_text()
    assert '"trace"' not in episodes  # the trace goes to states/, not into the results
    assert main(["viz", str(tmp_path), "--episode", "1", "--out", str(tmp_path / "x.html")]) == 2
