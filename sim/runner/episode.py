"""One suite episode run to a JSON record (`run_episode`), in whichever process runs it.

Each process keeps the loaded suite and an offline controller for each of the last
`MAX_SCENES` scenes, so a worker seldom pays for scene loading twice. The record carries what
`summary` needs and what a reader of episodes.jsonl wants: ids, outcome, steps, goal
conditions, subtasks, tokens, memory hit rate, wall time, the config hash, seed and versions.
With `viz`, the first episodes also carry their memory trace (`embodmem.trace`), which the
runner writes to the run folder's states/ and viz/ instead of episodes.jsonl.
"""

from __future__ import annotations

import platform
import random
import time
from typing import Any

import embodmem
from embodmem.config import MemoryConfig
from embodmem.memory import EmbodiedMemory
from embodmem.planning import Agent, make_planner
from embodmem.planning.cassette import RecordingClient, ReplayClient
from embodmem.planning.llm_client import Chat
from embodmem.planning.protocol import Planner
from embodmem.trace import MemoryTrace
from sim.offline import OfflineController
from sim.runner.config import PERCEIVE, RunConfig
from sim.suites import Suite, SuiteEpisode, load_suite
from sim.tasks.references import EpisodeLog

_SUITES: dict[str, Suite] = {}
_ENVS: dict[str, OfflineController] = {}
MAX_SCENES = 8  # controllers a process keeps loaded
TRACE = "trace"  # record key of a recorded episode's memory trace


def suite_of(name: str) -> Suite:
    """The suite, loaded once per process."""
    if name not in _SUITES:
        _SUITES[name] = load_suite(name)
    return _SUITES[name]


def make_run_planner(config: RunConfig) -> Planner:
    """The planner a run configuration names."""
    if config.planner == "symbolic":
        return make_planner("symbolic", use_experience=config.experience == "on")
    if config.replay is not None:  # answers from the cassette, no endpoint
        chat: Chat = ReplayClient(config.replay)
    else:
        chat = make_planner("llm", base_url=config.base_url, model=config.model).chat
        if config.record is not None:
            chat = RecordingClient(chat, config.record)
    return make_planner("llm", chat=chat, memory_mode=config.context)


def run_episode(config: RunConfig, index: int) -> dict[str, Any]:
    """Run episode `index` of the configured suite and return its record."""
    episode = suite_of(config.suite).episodes[index]
    env = _ENVS.pop(episode.scene, None)
    if env is None:
        if len(_ENVS) >= MAX_SCENES:  # drop the least recently used scene
            _ENVS.pop(next(iter(_ENVS))).stop()
        env = OfflineController(episode.scene)
    _ENVS[episode.scene] = env  # most recently used last
    memory = EmbodiedMemory(
        MemoryConfig(
            embedder=config.embedder,
            short_term_policy=config.policy,
            short_term_capacity=config.capacity,
        )
    )
    agent = Agent(
        make_run_planner(config),
        memory,
        env,
        perception=PERCEIVE[config.perception],
        learn=config.experience == "on",
        memory_scope=config.memory,
    )
    log = EpisodeLog()  # later tasks go on in the scene as the earlier ones left it
    trace = MemoryTrace(memory, episode.episode_id) if index < config.viz else None
    results = []
    for i, task in enumerate(episode.tasks):
        if i and episode.shuffle:  # a task stream: the world moves on between tasks
            shuffle_scene(
                env, episode.shuffle, seed=config.seed * 1_000_003 + episode.seed * 97 + i
            )
        if trace is not None:
            trace.begin_task(task.task_id, task.instruction)
        on_step = trace.on_step if trace is not None else None
        result = agent.run(log.track(task), config.max_steps, resume=i > 0, on_step=on_step)
        if trace is not None:
            trace.end_task(result)
        results.append(result)
    record = _record(config, index, episode, results, memory)
    if trace is not None:
        record[TRACE] = trace.to_dict()  # the runner writes it to states/, not episodes.jsonl
    return record


def shuffle_scene(env: OfflineController, share: float, seed: int) -> int:
    """Move a seeded `share` of the scene's pickupable objects to random places (THOR's
    InitialRandomSpawn, the others excluded); returns how many were chosen to move."""
    ids = sorted(o["objectId"] for o in env.last_event.metadata["objects"] if o.get("pickupable"))
    rng = random.Random(seed)
    moving = set(rng.sample(ids, round(share * len(ids))))
    event = env.step(
        action="InitialRandomSpawn",
        randomSeed=seed % 2**31,
        excludedObjectIds=[k for k in ids if k not in moving],
    )
    if not event.metadata.get("lastActionSuccess"):
        raise RuntimeError(f"InitialRandomSpawn failed: {event.metadata.get('errorMessage')}")
    return len(moving)


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
