"""The embedded LLM (SmolLM2-135M-Instruct on llama.cpp, 127.0.0.1) as the planner, with and
without memory context in its prompt and with and without the plan verifier, on ALFRED
valid-seen tasks started with `start_episode`; the agent sees only what it sees.

Per configuration: success rate (SR), goal conditions met (GC), THOR actions (steps) and failed
ones, LLM calls, tokens (prompt + completion), latency per call, plans the verifier rejected,
and what ended the episodes. A 135M model plans badly; the point of the table is that the
verifier, the call budget and the step budget keep it safe and bounded, and what it costs.

Run: .venv/bin/python experiments/llm_local.py [--tasks 8] [--type pick_and_place_simple]
     [--max-steps 150] [--max-calls 8]
"""

from __future__ import annotations

import argparse
import re
import statistics
from collections import Counter

from alfred_splits import print_counts
from tqdm import tqdm

from embodmem import EmbodiedMemory
from embodmem.config import MemoryConfig
from embodmem.planning import Agent, EpisodeResult
from embodmem.planning.llm_client import ChatClient, Completion
from embodmem.planning.llm_planner import make_llm_planner
from embodmem.planning.local_llm import LocalServer
from sim.offline import OfflineController
from sim.tasks import Task, format_table, load_alfred_default

CONFIGS = (  # (row name, memory_mode, verifier)
    ("memory + verifier", "collapsed", True),
    ("memory, no verifier", "collapsed", False),
    ("no memory + verifier", None, True),
    ("no memory, no verifier", None, False),
)
_IDS = re.compile(r"\b[A-Z][0-9]+\b|[A-Z][A-Za-z]+\|[-+0-9.|A-Za-z_]+|\d+(\.\d+)?")


def sample(task_type: str, n: int) -> list[Task]:
    """The first `n` valid-seen tasks of a type, one per scene first (deterministic)."""
    tasks = [t for t in load_alfred_default() if t.task_type == task_type]
    seen: set[str] = set()
    firsts = [t for t in tasks if not (t.scene in seen or seen.add(t.scene))]
    rest = [t for t in tasks if t not in firsts]
    return (firsts + rest)[:n]


class TimedChat:
    """A `Chat` that keeps the latency of every completion it passes on."""

    def __init__(self, chat: ChatClient) -> None:
        self.chat = chat
        self.latencies: list[float] = []

    def complete(self, messages: list[dict[str, str]], schema: dict | None = None) -> Completion:
        """The wrapped client's completion, its latency recorded."""
        completion = self.chat.complete(messages, schema)
        self.latencies.append(completion.latency_s)
        return completion


def row(results: list[EpisodeResult], latencies: list[float]) -> dict[str, object]:
    """One table row over a configuration's episodes."""
    return {
        "episodes": len(results),
        "SR %": round(100 * sum(r.success for r in results) / len(results), 1),
        "GC %": round(
            100 * sum(r.goal.met for r in results) / sum(r.goal.total for r in results), 1
        ),
        "steps": round(statistics.mean(r.steps for r in results), 1),
        "failed": round(statistics.mean(r.failed_actions for r in results), 1),
        "LLM calls": round(statistics.mean(r.llm_calls for r in results), 1),
        "tokens/ep": round(statistics.mean(r.llm_tokens for r in results)),
        "s/call (median)": round(statistics.median(latencies), 2) if latencies else 0.0,
        "wall s/ep": round(statistics.mean(r.wall_s for r in results), 1),
        "rejected/ep": round(
            statistics.mean(sum(bool(p.rejected) for p in r.plans) for r in results), 1
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--type", default="pick_and_place_simple")
    ap.add_argument("--max-steps", type=int, default=150)
    ap.add_argument("--max-calls", type=int, default=8)
    ap.add_argument("--budget-tokens", type=int, default=800, help="memory context tokens")
    args = ap.parse_args()
    tasks = sample(args.type, args.tasks)
    table: dict[str, dict[str, object]] = {}
    reasons: Counter[str] = Counter()
    envs: dict[str, OfflineController] = {}
    with LocalServer() as server:
        print(f"model {server.model} at {server.base_url}")
        for name, mode, verifier in CONFIGS:
            chat = TimedChat(ChatClient(server.base_url, server.model, max_tokens=256))
            planner = make_llm_planner(
                chat=chat,
                memory_mode=mode,
                max_calls=args.max_calls,
                budget_tokens=args.budget_tokens,
            )
            results = []
            for task in tqdm(tasks, desc=name, unit="ep"):
                env = envs.setdefault(task.scene, OfflineController(task.scene))
                memory = EmbodiedMemory(MemoryConfig(embedder="hashing"))
                agent = Agent(planner, memory, env, verifier=verifier)
                result = agent.run(task, max_steps=args.max_steps)
                results.append(result)
                if not result.success:
                    reasons[f"{name}: {_IDS.sub('<n>', result.reason)[:90]}"] += 1
            table[name] = row(results, chat.latencies)
    print(
        f"\nLLM planner on {len(tasks)} valid-seen {args.type} tasks: max_steps={args.max_steps}, "
        f"max_calls={args.max_calls}, memory context budget {args.budget_tokens} tokens"
    )
    print(format_table(table))
    print_counts("what ended the failed episodes (count):", reasons, 20)


if __name__ == "__main__":
    main()
