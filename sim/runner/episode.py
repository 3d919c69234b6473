"""One suite episode run to a JSON record (`run_episode`), in whichever process runs it.

Each process keeps the loaded suite and an offline controller for each of the last
`MAX_SCENES` scenes, so a worker seldom pays for scene loading twice. The record carries what
`summary` needs and what a reader of episodes.jsonl wants: ids, outcome, steps, goal
conditions, subtasks, tokens, memory hit rate, wall time, the config hash, seed and versions.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import embodmem
from embodmem.config import MemoryConfig
from embodmem.memory import EmbodiedMemory
from embodmem.planning import Agent, make_planner
from embodmem.planning.protocol import Planner
from sim.offline import OfflineController
from sim.runner.config import PERCEIVE, RunConfig
from sim.suites import Suite, SuiteEpisode, load_suite
from sim.tasks.session import Continued

_SUITES: dict[str, Suite] = {}
_ENVS: dict[str, OfflineController] = {}
MAX_SCENES = 8  # controllers a process keeps loaded


def suite_of(name: str) -> Suite:
    """The suite, loaded once per process."""
    if name not in _SUITES:
        _SUITES[name] = load_suite(name)
    return _SUITES[name]


def make_run_planner(config: RunConfig) -> Planner:
    """The planner a run configuration names."""
    if config.planner == "symbolic":
        return make_planner("symbolic", use_experience=config.experience == "on")
    return make_planner(
        "llm", base_url=config.base_url, model=config.model, memory_mode=config.context
    )


def run_episode(config: RunConfig, index: int) -> dict[str, Any]:
    """Run episode `index` of the configured suite and return its record."""
    episode = suite_of(config.suite).episodes[index]
    env = _ENVS.pop(episode.scene, None)
    if env is None:
        if len(_ENVS) >= MAX_SCENES:  # drop the least recently used scene
            _ENVS.pop(next(iter(_ENVS))).stop()
        env = OfflineController(episode.scene)
    _ENVS[episode.scene] = env  # most recently used last
    memory = EmbodiedMemory(MemoryConfig(embedder=config.embedder, short_term_policy=config.policy))
    agent = Agent(
        make_run_planner(config),
        memory,
        env,
        perception=PERCEIVE[config.perception],
        learn=config.experience == "on",
        memory_scope=config.memory,
    )
    results = [agent.run(episode.tasks[0], max_steps=config.max_steps)]
    for task in episode.tasks[1:]:  # composite: the scene and the agent go on as they are
        results.append(agent.run(Continued(task), max_steps=config.max_steps, resume=True))
    return _record(config, index, episode, results, memory)


def _record(
    config: RunConfig, index: int, episode: SuiteEpisode, results: list[Any], memory: EmbodiedMemory
) -> dict[str, Any]:
    first = episode.tasks[0]
    return {
        "index": index,
        "episode_id": episode.episode_id,
        "task_id": first.task_id if len(episode.tasks) == 1 else episode.episode_id,
        "task_ids": [t.task_id for t in episode.tasks],
        "category": episode.category,
        "task_type": first.task_type if len(episode.tasks) == 1 else episode.category,
        "scene": episode.scene,
        "success": all(r.success for r in results),
        "goal_conditions_met": sum(r.goal.met for r in results),
        "goal_conditions_total": sum(r.goal.total for r in results),
        "steps": sum(r.steps for r in results),
        "expert_steps": sum(t.expert_plan_length for t in episode.tasks),
        "failed_actions": sum(r.failed_actions for r in results),
        "llm_calls": sum(r.llm_calls for r in results),
        "llm_tokens": sum(r.llm_tokens for r in results),
        "memory_hit_rate": memory.short_term.hit_rate(),
        "recalled": sum(len(r.recalled) for r in results),
        "wall_s": round(sum(r.wall_s for r in results), 4),
        "reason": "; ".join(r.reason for r in results),
        "subtasks": [
            {
                "task_id": t.task_id,
                "task_type": t.task_type,
                "success": r.success,
                "steps": r.steps,
                "reason": r.reason,
            }
            for t, r in zip(episode.tasks, results, strict=True)
        ],
        "config_hash": config.config_hash,
        "seed": config.seed,
        "versions": {
            "embodmem": embodmem.__version__,
            "suite": suite_of(config.suite).version,
            "python": platform.python_version(),
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
