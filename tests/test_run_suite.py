"""`embodmem run-suite` and `compare`: suites, the runner's output folder, resuming, crashed
workers, bad input, and the Ray backend on a real local Ray instance (slow)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from embodmem.cli import main
from sim.offline import OfflineController
from sim.runner import ConfigError, ResultsError, RunConfig, read_episodes, run_suite
from sim.runner import local as runner_local
from sim.runner.episode import run_episode
from sim.suites import SuiteError, load_suite
from sim.tasks.references import EpisodeLog

SUITE = "alfred-valid-seen"


def outcomes(out: Path) -> list[tuple]:
    """(task, success, steps, conditions met) of a run folder's episodes, in suite order."""
    rs = sorted(read_episodes(out), key=lambda r: r["index"])
    return [(r["task_id"], r["success"], r["steps"], r["goal_conditions_met"]) for r in rs]


def run_cli(out: Path, *extra: str) -> int:
    return main(["run-suite", "--suite", SUITE, "--out", str(out), "--quiet", *extra])


def test_run_suite_writes_the_interface_files(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "run"
    assert run_cli(out, "--episodes", "3", "--workers", "2", "--memory", "full") == 0
    records = [orjson.loads(x) for x in (out / "episodes.jsonl").read_bytes().splitlines()]
    assert sorted(r["index"] for r in records) == [0, 1, 2]
    suite = load_suite(SUITE)
    assert {r["task_id"] for r in records} == {e.episode_id for e in suite.episodes[:3]}
    for r in records:
        for key in ("task_id", "success", "steps", "goal_conditions_met", "goal_conditions_total"):
            assert key in r
        assert r["steps"] > 0 and r["config_hash"] and r["versions"]["embodmem"]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["SR"] == pytest.approx(sum(r["success"] for r in records) / 3)
    assert summary["steps"] == pytest.approx(sum(r["steps"] for r in records) / 3)
    for key in ("GC", "PLW_SR", "PLW_GC"):
        assert 0.0 <= summary[key] <= 1.0
    assert (out / "summary.md").read_text().count("|") > 10
    assert (out / "summary.csv").read_text().startswith("row,episodes,SR")
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert "SR %" in capsys.readouterr().out


def test_workers_give_the_same_records_as_one_process(tmp_path: Path) -> None:
    one, two = RunConfig(episodes=4), RunConfig(episodes=4, workers=2)
    assert one.config_hash == two.config_hash  # workers do not change results
    run_suite(one, tmp_path / "a", progress=False)
    run_suite(two, tmp_path / "b", progress=False)

    assert outcomes(tmp_path / "a") == outcomes(tmp_path / "b")


def test_resume_skips_finished_episodes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_suite(RunConfig(episodes=2), out, progress=False)
    first = (out / "episodes.jsonl").read_bytes()
    run_suite(RunConfig(episodes=2), out, progress=False)
    assert (out / "episodes.jsonl").read_bytes() == first  # nothing re-run
    run_suite(RunConfig(episodes=3), out, progress=False)
    assert [r["index"] for r in read_episodes(out)] == [0, 1, 2]
    assert run_suite(RunConfig(episodes=2), out, progress=False)["all"]["episodes"] == 2
    with pytest.raises(ResultsError, match="another configuration"):
        run_suite(RunConfig(episodes=3, memory="none"), out, progress=False)


def test_a_corrupt_results_file_is_reported_not_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "episodes.jsonl").write_bytes(b'{"index": 0, "task_id": "x"\n')
    before = (out / "episodes.jsonl").read_bytes()
    assert run_cli(out, "--episodes", "1") == 2
    err = capsys.readouterr().err
    assert "episodes.jsonl:1" in err and "not a JSON line" in err
    assert (out / "episodes.jsonl").read_bytes() == before


def _crashing(config: RunConfig, index: int) -> dict:
    """Episode 1 kills its worker once; episode 2 kills it every time."""
    marker = Path(os.environ["EMBODMEM_TEST_MARKER"])
    if index == 2 or (index == 1 and not marker.exists()):
        marker.touch()
        os._exit(3)
    return run_episode(config, index)


def test_a_crashed_worker_is_retried_once_and_reported(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("EMBODMEM_TEST_MARKER", str(tmp_path / "crashed"))
    monkeypatch.setattr(runner_local, "run_episode", _crashing)
    table = run_suite(RunConfig(episodes=4, workers=2), tmp_path / "run", progress=False)
    assert sorted(r["index"] for r in read_episodes(tmp_path / "run")) == [0, 1, 3]
    assert table["all"]["episodes"] == 3
    summary = orjson.loads((tmp_path / "run" / "summary.json").read_bytes())
    assert summary["config"]["failed_episodes"] == ["#2: its worker process died"]
    assert "#2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "value", "listed"),
    [
        ("--suite", "alfred-nope", "alfred-valid-seen"),
        ("--suite", "alfred:/no/such/file.jsonl", "no such ALFRED file"),
    ],
)
def test_unknown_suites_list_the_valid_ones(tmp_path: Path, capsys, option, value, listed):
    assert main(["run-suite", option, value, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert listed in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_names_and_overrides_are_refused() -> None:
    with pytest.raises(ConfigError, match="fifo, lru, lfu, mem4nav, relevance"):
        RunConfig(policy="random")
    with pytest.raises(ConfigError, match="symbolic, llm"):
        RunConfig(planner="gpt")
    with pytest.raises(ConfigError, match="none, stm, ltm, full"):
        RunConfig(memory="some")
    with pytest.raises(ConfigError, match="workers"):
        RunConfig(workers=0)
    with pytest.raises(ConfigError, match="capacity"):
        RunConfig(capacity=0)
    with pytest.raises(ConfigError, match="key=value"):
        RunConfig().with_overrides(["colour=red"])
    assert RunConfig().with_overrides(["max_steps=50", "memory=stm"]).max_steps == 50
    with pytest.raises(SuiteError, match="unknown suite"):
        load_suite("kitchen-party")


def test_run_suite_help_lists_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run-suite", "--help"])
    text = capsys.readouterr().out
    for opt in (
        "--suite",
        "--planner",
        "--memory",
        "--experience",
        "--policy",
        "--context",
        "--perception",
        "--episodes",
        "--workers",
        "--backend",
        "--seed",
        "--out",
        "--capacity",
        "--record",
        "--replay",
    ):
        assert opt in text


def test_config_file_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("run:\n  memory: stm\n  max_steps: 300\n")
    out = tmp_path / "run"
    assert run_cli(out, "--config", str(cfg), "--episodes", "1", "max_steps=200") == 0
    run = orjson.loads((out / "run.json").read_bytes())
    assert (run["memory"], run["max_steps"]) == ("stm", 200)
    cfg.write_text("run:\n  memroy: stm\n")
    assert run_cli(tmp_path / "x", "--config", str(cfg)) == 2


def test_compare_prints_ratios_and_plots(tmp_path: Path, capsys) -> None:
    run_suite(RunConfig(episodes=2), tmp_path / "full", progress=False)
    run_suite(RunConfig(episodes=2, memory="none"), tmp_path / "none", progress=False)
    plot = tmp_path / "cmp.png"
    args = ["compare", str(tmp_path / "none"), str(tmp_path / "full"), "--plot", str(plot)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "memory=none" in text and "memory=full" in text and "x)" in text
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["compare", str(tmp_path / "none")]) == 2
    assert main(["compare", str(tmp_path / "none"), str(tmp_path / "missing")]) == 2


def test_an_unreachable_ray_address_fails_fast(tmp_path: Path, capsys) -> None:
    pytest.importorskip("ray")
    t0 = time.perf_counter()
    code = run_cli(
        tmp_path / "o", "--episodes", "1", "--backend", "ray", "--address", "127.0.0.1:9"
    )
    assert code == 2 and time.perf_counter() - t0 < 20
    assert "no Ray cluster answers there" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    run_suite(RunConfig(episodes=4, workers=2), tmp_path / "local", progress=False)
    run_suite(RunConfig(episodes=4, workers=2, backend="ray"), tmp_path / "ray", progress=False)

    assert outcomes(tmp_path / "local") == outcomes(tmp_path / "ray")


def test_the_category_suites_span_every_room_type() -> None:
    for name in ("simple", "composite"):
        suite = load_suite(name)
        assert len(suite.episodes) >= 40
        rooms = {int(e.scene.removeprefix("FloorPlan")) // 100 for e in suite.episodes}
        assert rooms == {0, 2, 3, 4}
    for e in load_suite("composite").episodes:
        assert 2 <= len(e.tasks) <= 4 and len({t.scene for t in e.tasks}) == 1
        assert len({t.task_type for t in e.tasks}) == len(e.tasks)
        objects = {t.goal.targets["object"].removesuffix("Sliced") for t in e.tasks}
        assert len(objects) == 1  # the later tasks act on the object type of the first


def test_a_composite_episode_goes_on_where_the_first_task_left_off(tmp_path: Path) -> None:
    config = RunConfig(suite="composite", episodes=1)
    record = run_episode(config, 0)
    episode = load_suite("composite").episodes[0]
    assert record["task_ids"] == [t.task_id for t in episode.tasks]
    subs = record["subtasks"]
    assert [s["task_id"] for s in subs] == record["task_ids"]
    assert record["steps"] == sum(s["steps"] for s in subs)
    assert record["success"] == all(s["success"] for s in subs)


def test_a_continued_task_keeps_the_scene_and_the_pose() -> None:
    first, second = load_suite("composite").episodes[0].tasks[:2]
    env = OfflineController(first.scene)
    log = EpisodeLog()
    log.track(first).start(env)
    env.step(action="RotateRight")
    env.step(action="MoveAhead")
    before = env.last_event.metadata
    session = log.track(second).start(env)
    after = session.event.metadata
    assert after["agent"]["position"] == before["agent"]["position"]
    assert [o["position"] for o in after["objects"]] == [o["position"] for o in before["objects"]]
    assert session.spec.task_id == second.task_id
    env.stop()


def test_an_llm_run_recorded_to_a_cassette_replays_without_the_endpoint(tmp_path: Path) -> None:
    """`--planner llm` against an OpenAI-compatible server (a scripted one on 127.0.0.1),
    recorded; the replay needs no server and gives the same episodes."""
    from llm_server import MODEL, plan, scripted_server

    cassette = tmp_path / "calls.jsonl"
    with scripted_server() as server:
        server.script(*[plan({"skill": "explore"}) for _ in range(80)])
        args = ["--planner", "llm", "--base-url", server.base_url, "--model", MODEL]
        assert (
            run_cli(
                tmp_path / "live",
                *args,
                "--record",
                str(cassette),
                "--episodes",
                "2",
                "max_steps=40",
            )
            == 0
        )
        asked = len(server.requests)
    assert asked > 0 and len(cassette.read_text().splitlines()) == asked
    assert (
        run_cli(
            tmp_path / "replayed",
            "--planner",
            "llm",
            "--replay",
            str(cassette),
            "--episodes",
            "2",
            "max_steps=40",
        )
        == 0
    )
    assert outcomes(tmp_path / "replayed") == outcomes(tmp_path / "live")
    live = sorted(read_episodes(tmp_path / "live"), key=lambda r: r["index"])
    assert all(r["llm_calls"] > 0 and r["llm_tokens"] > 0 for r in live)
