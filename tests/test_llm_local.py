"""The embedded model for real: SmolLM2-135M-Instruct on llama.cpp's OpenAI-compatible server
(127.0.0.1, started and stopped here) plans ALFRED valid-seen episodes through the real
`openai` client, with and without memory context and with and without the plan verifier.

A 135M model plans badly; what must hold is that the episode stays bounded (LLM calls, THOR
actions), ends with a clear reason, counts its tokens, and that with the verifier on nothing
from a rejected plan is executed. `experiments/llm_local.py` reports the figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embodmem import EmbodiedMemory, MemoryConfig
from embodmem.planning import Agent, make_planner
from embodmem.planning.local_llm import LocalServer
from sim.offline import OfflineController
from sim.tasks import Task, load_alfred_default

TASK = "trial_T20190907_164104_229696"  # FloorPlan224: pick one thing, put it somewhere
MAX_CALLS, MAX_STEPS = 3, 60
# How an LLM episode may end (agent and planner reasons), besides success.
ENDINGS = ("done", "LLM call budget spent", "max_steps", "plan rejected", "stuck", "gave up")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """The embedded model's server, for this module only."""
    with LocalServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def task() -> Task:
    return next(t for t in load_alfred_default() if t.task_id == TASK)


def test_the_embedded_model_answers_one_planning_call(server: LocalServer, task: Task) -> None:
    planner = make_planner("llm", base_url=server.base_url, model=server.model, max_calls=1)
    agent = Agent(planner, EmbodiedMemory(MemoryConfig(embedder="hashing")), OfflineController())
    result = agent.run(task, max_steps=MAX_STEPS)
    assert result.llm_calls == 1
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.steps <= MAX_STEPS and result.reason


@pytest.mark.slow
@pytest.mark.parametrize("memory_mode", ["collapsed", None], ids=["memory", "no-memory"])
@pytest.mark.parametrize("verifier", [True, False], ids=["verifier", "no-verifier"])
def test_an_llm_episode_stays_bounded_and_ends_with_a_reason(
    server: LocalServer, task: Task, memory_mode: str | None, verifier: bool
) -> None:
    planner = make_planner(
        "llm",
        base_url=server.base_url,
        model=server.model,
        memory_mode=memory_mode,
        max_calls=MAX_CALLS,
        budget_tokens=800,
    )
    memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    result = Agent(planner, memory, OfflineController(), verifier=verifier).run(
        task, max_steps=MAX_STEPS
    )
    assert 1 <= result.llm_calls <= MAX_CALLS
    assert result.steps <= MAX_STEPS and result.steps == len(result.log)
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.success or any(e in result.reason for e in ENDINGS), result.reason
    if verifier:  # skills run only from plans that passed
        passed = sum(len(p.plan) for p in result.plans if not p.rejected)
        assert len(result.skills) <= passed
    else:
        assert not any(p.rejected for p in result.plans)
    # Whatever the model said, the memory took in every observation and stayed consistent.
    assert memory.stats()["observations"] == result.steps + 1
